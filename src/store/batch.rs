//! A resolved batch stored in one transaction: its answer records and its domains' outcomes
//! commit together or not at all, so a worker acks a message only when both are in.
//!
//! A lost connection reconnects (with backoff) and tries the whole transaction again; a store
//! that stays down is [`StoreErrorKind::Unavailable`]. When the store rejects some records,
//! the batch falls back to the writer's careful path: records in halves until the rejected
//! ones are found and dead-lettered with the store's reason, then the outcomes; nothing the
//! store accepts is lost.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::domains::{upsert_outcomes, Outcome};
use super::error::{StoreError, StoreErrorKind};
use super::schema::{migrate, records_table, Db};
use super::time::Timestamp;
use super::url::{validate_identifier, StoreUrl};
use super::writer::{
    backoff, begin_transaction, commit, insert_new, rollback, rows_of, upsert_rows, write_recovering,
    Failure, Row, WriteCounters, WriterConfig, RECONNECT_TRIES,
};
use crate::record::RecordSet;

/// What storing one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// Distinct records written (new or refreshed).
    pub records: u64,
    /// Records the store rejected, now in `dead_letters`.
    pub dead_lettered: u64,
    /// Domain outcomes recorded.
    pub outcomes: u64,
    /// Transactions tried again after a transient failure.
    pub retried: u64,
    /// Distinct records of each set stored, in the order given.
    pub records_per_set: Vec<u64>,
}

/// One connection that stores resolved batches.
pub struct BatchStore {
    db: Option<Db>,
    config: WriterConfig,
    closed: bool,
    /// Set while a transaction is open on `db`: still set at the next call, it means the call
    /// that opened it was dropped half-way, and the connection must not be used again.
    in_transaction: bool,
    /// The last batch's records were all new: this one's probably are too, and are inserted
    /// without looking their keys up (a stored key fails the insert, and the batch goes the
    /// careful way), as the writer does.
    all_new: bool,
}

impl BatchStore {
    /// Connects to `url`, brings the schema up to date and creates the records `table`.
    pub async fn open(url: StoreUrl, table: &str, source: Option<String>) -> Result<BatchStore, StoreError> {
        validate_identifier(table).map_err(StoreError::configuration)?;
        let mut db = Db::connect(&url).await?;
        migrate(&mut db).await?;
        db.execute(&records_table(db.dialect(), table)?).await?;
        let config = WriterConfig {
            url,
            table: table.to_string(),
            batch_size: usize::MAX,
            flush_interval: Duration::from_secs(1),
            source,
            channel_capacity: 1,
            connections: 1,
        };
        Ok(BatchStore {
            db: Some(db),
            config,
            closed: false,
            in_transaction: false,
            all_new: true,
        })
    }

    /// Stores the records of every set in `records` and `outcomes` in one transaction (see
    /// the module notes for failures). Without `careful`, data the store rejects fails the
    /// call (as [`StoreErrorKind::Rejected`]) instead of being looked for and set aside: for a
    /// caller that will store the parts one by one.
    pub async fn store(
        &mut self,
        records: &[&RecordSet],
        outcomes: &[(String, Outcome)],
        careful: bool,
    ) -> Result<StoredBatch, StoreError> {
        let (rows, records_per_set) = rows_of(records);
        let outcomes = &last_outcome_per_domain(outcomes);
        let now = Timestamp::now();
        let mut stored = StoredBatch {
            records_per_set,
            ..StoredBatch::default()
        };
        loop {
            let attempt = match self.connection().await {
                Ok(()) => match self.db.as_mut() {
                    Some(db) => {
                        self.in_transaction = true;
                        let result =
                            store_once(db, &self.config, &rows, outcomes, now, &mut self.all_new).await;
                        self.in_transaction = false;
                        result
                    }
                    None => Err(Failure::Fatal(StoreError::other(
                        "the batch store has no connection",
                    ))),
                },
                Err(error) => Err(Failure::from(error)),
            };
            match attempt {
                Ok(()) => {
                    stored.records = rows.len() as u64;
                    stored.outcomes = outcomes.len() as u64;
                    return Ok(stored);
                }
                Err(Failure::Data(reason)) if careful => {
                    tracing::debug!("a batch was rejected ({reason}); storing it the careful way");
                    return self.store_carefully(&rows, outcomes, now, stored).await;
                }
                Err(Failure::Data(reason)) => return Err(StoreError::rejected(reason)),
                Err(Failure::Transient(reason) | Failure::Duplicate(reason)) => {
                    stored.retried += 1;
                    if stored.retried > u64::from(RECONNECT_TRIES) {
                        return Err(StoreError::new(
                            StoreErrorKind::Unavailable,
                            format!(
                                "{} is unavailable; gave up after {RECONNECT_TRIES} retries: {reason}",
                                self.config.url.redacted()
                            ),
                        ));
                    }
                    tracing::warn!(
                        "storing a batch failed ({reason}); reconnecting, try {}",
                        stored.retried
                    );
                    let failures = u32::try_from(stored.retried).unwrap_or(u32::MAX);
                    tokio::time::sleep(backoff(failures)).await;
                    // The next turn of the loop connects afresh.
                    if let Some(old) = self.db.take() {
                        old.close().await;
                    }
                }
                Err(Failure::Fatal(error)) => return Err(error),
            }
        }
    }

    /// Opens a new connection when a failure dropped the last one.
    async fn connection(&mut self) -> Result<(), StoreError> {
        if self.closed {
            return Err(StoreError::other("the batch store is closed"));
        }
        if std::mem::take(&mut self.in_transaction) {
            // Dropping the connection rolls the abandoned transaction back on the server.
            self.db = None;
        }
        if self.db.is_none() {
            self.db = Some(Db::connect(&self.config.url).await?);
        }
        Ok(())
    }

    /// Records in halves until the rejected ones are found and dead-lettered, then outcomes.
    async fn store_carefully(
        &mut self,
        rows: &[Row<'_>],
        outcomes: &[(String, Outcome)],
        now: Timestamp,
        mut stored: StoredBatch,
    ) -> Result<StoredBatch, StoreError> {
        let counters = WriteCounters::default();
        let config = &self.config;
        let db = self
            .db
            .as_mut()
            .ok_or_else(|| StoreError::other("the batch store has no connection"))?;
        write_recovering(db, config, rows, now, &counters).await?;
        super::domains::record_outcomes(db, outcomes).await?;
        stored.records = counters.written.load(Ordering::Relaxed);
        stored.dead_lettered = counters.dead_lettered.load(Ordering::Relaxed);
        stored.retried += counters.retried.load(Ordering::Relaxed);
        stored.outcomes = outcomes.len() as u64;
        Ok(stored)
    }

    /// Closes the connection; storing after this is an error.
    pub async fn close(&mut self) {
        self.closed = true;
        if let Some(db) = self.db.take() {
            db.close().await;
        }
    }
}

/// One try: records and outcomes in one transaction, rolled back on any failure.
async fn store_once(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    outcomes: &[(String, Outcome)],
    now: Timestamp,
    all_new: &mut bool,
) -> Result<(), Failure> {
    if *all_new {
        let _turn = begin_transaction(db).await?;
        let written = async {
            insert_new(db, config, rows, now).await?;
            upsert_outcomes(db, outcomes).await.map_err(Failure::from)?;
            Ok(())
        }
        .await;
        match written {
            Ok(()) => return commit(db).await,
            Err(Failure::Duplicate(_)) => {
                rollback(db).await;
                *all_new = false;
            }
            Err(failure) => {
                rollback(db).await;
                return Err(failure);
            }
        }
    }
    let _turn = begin_transaction(db).await?;
    let written = async {
        let upserted = upsert_rows(db, config, rows, now).await?;
        upsert_outcomes(db, outcomes).await.map_err(Failure::from)?;
        Ok(upserted)
    }
    .await;
    match written {
        Ok(upserted) => {
            commit(db).await?;
            *all_new = upserted.added == rows.len() as u64;
            Ok(())
        }
        Err(failure) => {
            rollback(db).await;
            Err(failure)
        }
    }
}

/// `outcomes` with one per domain, the last one winning: a statement may not update one row
/// twice (PostgreSQL refuses it), and a group of batches can hold a domain twice (a message
/// redelivered beside its original).
fn last_outcome_per_domain(outcomes: &[(String, Outcome)]) -> Vec<(String, Outcome)> {
    let mut at: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(outcomes.len());
    let mut kept: Vec<(String, Outcome)> = Vec::with_capacity(outcomes.len());
    for (name, outcome) in outcomes {
        match at.get(name.as_str()) {
            Some(&index) => kept[index].1 = outcome.clone(),
            None => {
                at.insert(name, kept.len());
                kept.push((name.clone(), outcome.clone()));
            }
        }
    }
    kept
}
