//! The work pipeline's core: a batch of domains from the work queue is resolved and stored
//! by one call, its answer records and its domains' outcomes in one transaction, so a worker
//! crosses into Rust once per batch and acks after that one commit.
//!
//! The queue itself, the publisher's and the workers' loops are Python (`dnsmill.pipeline`);
//! the message bodies they carry are made and read by [`crate::store::domains`].

mod outcomes;
pub(crate) mod py;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use outcomes::outcomes;

use crate::error::Error;
use crate::record::name::domain_name;
use crate::record::RecordType;
use crate::resolve::{resolve_list, Progress, ResolverConfig, Run};
use crate::store::batch::BatchStore;
use crate::store::StoreUrl;

/// What processing one batch did.
#[derive(Debug, Default, Clone)]
pub struct BatchReport {
    /// Domains resolved.
    pub domains: u64,
    /// Names in the message that are not domain names, with why (kept out of the store).
    pub invalid: Vec<(String, String)>,
    /// Distinct answer records stored.
    pub records: u64,
    /// Records the store rejected, now in `dead_letters`.
    pub dead_lettered: u64,
    /// Domains by outcome (`resolved`, `nxdomain`, `failed`).
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Seconds spent resolving, and storing.
    pub resolve_seconds: f64,
    /// Seconds spent storing (waiting for the store included).
    pub store_seconds: f64,
    /// Store transactions tried again after a transient failure.
    pub retried: u64,
}

/// Resolves batches of domains and stores each in one transaction.
pub struct BatchJob {
    resolver: ResolverConfig,
    types: Vec<RecordType>,
    /// One connection: batches resolve side by side and take turns storing.
    store: Arc<tokio::sync::Mutex<BatchStore>>,
}

impl BatchJob {
    /// Connects to the store at `url` and prepares `table` for the answers.
    pub async fn open(
        resolver: ResolverConfig,
        types: Vec<RecordType>,
        url: StoreUrl,
        table: &str,
        source: Option<String>,
    ) -> Result<BatchJob, Error> {
        if types.is_empty() {
            return Err(Error::InvalidArgument("types is empty".into()));
        }
        let store = BatchStore::open(url, table, source).await?;
        Ok(BatchJob {
            resolver,
            types,
            store: Arc::new(tokio::sync::Mutex::new(store)),
        })
    }

    /// Resolves `names` and stores the answers and outcomes in one transaction. Names that are
    /// not domain names are reported, not stored. `cancel` stops the resolving.
    pub async fn process(&self, names: Vec<String>, cancel: Arc<AtomicBool>) -> Result<BatchReport, Error> {
        let mut report = BatchReport::default();
        let mut valid = Vec::with_capacity(names.len());
        for name in names {
            match domain_name(&name) {
                Ok(checked) => valid.push(checked),
                Err(reason) => report.invalid.push((name, reason)),
            }
        }
        report.domains = valid.len() as u64;
        let started = Instant::now();
        let run = Arc::new(Run {
            config: self.resolver.clone(),
            types: self.types.clone(),
            cancel,
            progress: Arc::new(Progress::default()),
            batch_rows: 1 << 14,
            total_names: Some(valid.len()),
        });
        let table = resolve_list(Arc::clone(&run), valid)
            .await
            .map_err(Error::Resolve)?;
        if run.cancel.load(Ordering::Relaxed) {
            // A stopped run has results for some names only: store none of it.
            return Err(Error::Interrupted);
        }
        let outcomes = outcomes(&table);
        for (_, outcome) in &outcomes {
            *report.outcomes.entry(outcome.status).or_default() += 1;
        }
        report.resolve_seconds = started.elapsed().as_secs_f64();
        let storing = Instant::now();
        // The transaction runs in a task of its own: if the caller goes away (an asyncio task
        // cancelled), it still ends in a commit or a rollback, never half-way.
        let store = Arc::clone(&self.store);
        let stored = tokio::spawn(async move { store.lock().await.store(&table.answers, &outcomes).await })
            .await
            .map_err(|e| Error::Internal(format!("storing a batch failed: {e}")))??;
        report.store_seconds = storing.elapsed().as_secs_f64();
        report.records = stored.records;
        report.dead_lettered = stored.dead_lettered;
        report.retried = stored.retried;
        Ok(report)
    }

    /// Closes the store connection.
    pub async fn close(&self) {
        self.store.lock().await.close().await;
    }
}
