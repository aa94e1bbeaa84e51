//! The work pipeline's core: a batch of domains from the work queue is resolved and stored
//! by one call, its answer records and its domains' outcomes in one transaction, so a worker
//! crosses into Rust once per batch and acks after that commit.
//!
//! Storing is a task of its own that owns the store connection. Batches that finish resolving
//! while it is busy wait for it, and it then stores them together, in one transaction (a group
//! commit): every commit rewrites each index page its rows touch, and with random keys a batch
//! touches most of them, so the commits saved are most of the cost of small batches. Each
//! caller still gets its reply only after the commit that holds its batch. When the store
//! rejects a group's outcomes, its batches are stored one by one, so only the batch at fault
//! fails.
//!
//! The queue itself, the publisher's and the workers' loops are Python (`dnsmill.pipeline`);
//! the message bodies they carry are made and read by [`crate::store::domains`].

mod outcomes;
pub(crate) mod py;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

pub use outcomes::outcomes;

use crate::error::Error;
use crate::record::name::domain_name;
use crate::record::{RecordSet, RecordType};
use crate::resolve::{resolve_list, Progress, ResolverConfig, Run};
use crate::store::batch::{BatchStore, StoredBatch};
use crate::store::domains::Outcome;
use crate::store::{StoreError, StoreErrorKind, StoreUrl};

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

/// Rows a group commit gathers at most before it writes (about 25 batches of 100 domains).
const GROUP_ROWS: usize = 100_000;

/// A resolved batch waiting for the store, with where its result goes.
struct StoreRequest {
    records: Arc<RecordSet>,
    outcomes: Vec<(String, Outcome)>,
    reply: oneshot::Sender<Result<StoredBatch, StoreError>>,
}

/// Resolves batches of domains and stores each in one transaction, shared with the batches
/// that wait for the store at the same time.
pub struct BatchJob {
    resolver: ResolverConfig,
    types: Vec<RecordType>,
    /// To the storing task; None once closed.
    requests: std::sync::Mutex<Option<mpsc::Sender<StoreRequest>>>,
    storing: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl BatchJob {
    /// Connects to the store at `url`, prepares `table` for the answers and starts the
    /// storing task on the current runtime.
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
        let (requests, received) = mpsc::channel(64);
        let storing = tokio::spawn(store_batches(store, received));
        Ok(BatchJob {
            resolver,
            types,
            requests: std::sync::Mutex::new(Some(requests)),
            storing: tokio::sync::Mutex::new(Some(storing)),
        })
    }

    /// Resolves `names` and stores the answers and outcomes in one transaction. Names that are
    /// not domain names are reported, not stored. `cancel` stops the resolving, and then
    /// nothing is stored.
    pub async fn process(&self, names: Vec<String>, cancel: Arc<AtomicBool>) -> Result<BatchReport, Error> {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
            .ok_or_else(|| Error::Store(StoreError::other("the batch job is closed")))?;
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
        // Once handed over, the batch is the storing task's: if this caller goes away (an
        // asyncio task cancelled), its transaction still ends in a commit or a rollback.
        let (reply, stored) = oneshot::channel();
        let request = StoreRequest {
            records: Arc::clone(&table.answers),
            outcomes,
            reply,
        };
        let stopped = || Error::Store(StoreError::other("the batch job's storing task has stopped"));
        requests.send(request).await.map_err(|_| stopped())?;
        let stored = stored.await.map_err(|_| stopped())??;
        report.store_seconds = storing.elapsed().as_secs_f64();
        report.records = stored.records;
        report.dead_lettered = stored.dead_lettered;
        report.retried = stored.retried;
        Ok(report)
    }

    /// Waits for the batches in hand (those still resolving included) to be stored, then
    /// closes the store connection; processing after this is an error.
    pub async fn close(&self) {
        drop(
            self.requests
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .take(),
        );
        if let Some(storing) = self.storing.lock().await.take() {
            if let Err(failure) = storing.await {
                tracing::error!("the storing task of a batch job failed: {failure}");
            }
        }
    }
}

/// The storing task: takes the next request and every other one already waiting (up to
/// [`GROUP_ROWS`] rows), stores them in one transaction and answers each.
async fn store_batches(mut store: BatchStore, mut requests: mpsc::Receiver<StoreRequest>) {
    while let Some(first) = requests.recv().await {
        let mut rows = first.records.len();
        let mut group = vec![first];
        while rows < GROUP_ROWS {
            match requests.try_recv() {
                Ok(next) => {
                    rows += next.records.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        tracing::debug!(
            "storing {} batches ({rows} records) in one transaction",
            group.len()
        );
        if let [only] = group.as_slice() {
            let result = store.store(&[&*only.records], &only.outcomes, true).await;
            if let Some(request) = group.pop() {
                let _ = request.reply.send(result);
            }
            continue;
        }
        let sets: Vec<&RecordSet> = group.iter().map(|request| &*request.records).collect();
        let outcomes: Vec<(String, Outcome)> = group
            .iter()
            .flat_map(|request| request.outcomes.iter().cloned())
            .collect();
        match store.store(&sets, &outcomes, false).await {
            Ok(stored) => {
                for (index, request) in group.into_iter().enumerate() {
                    // Each batch's own share; the group's retries are told once, with the
                    // first batch, so that sums stay true.
                    let share = StoredBatch {
                        records: stored.records_per_set.get(index).copied().unwrap_or(0),
                        outcomes: request.outcomes.len() as u64,
                        dead_lettered: 0,
                        retried: if index == 0 { stored.retried } else { 0 },
                        records_per_set: Vec::new(),
                    };
                    let _ = request.reply.send(Ok(share));
                }
            }
            // The store is down: every batch of the group would fail the same way.
            Err(error)
                if matches!(
                    error.kind,
                    StoreErrorKind::Transient | StoreErrorKind::Unavailable
                ) =>
            {
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
            // Something in one batch's data: each on its own, so only the batch at fault fails
            // (and rejected records are looked for once, in their own batch).
            Err(error) => {
                tracing::debug!(
                    "a group of {} batches failed ({error}); storing them one by one",
                    group.len()
                );
                for request in group {
                    let result = store.store(&[&*request.records], &request.outcomes, true).await;
                    let _ = request.reply.send(result);
                }
            }
        }
    }
    store.close().await;
}
