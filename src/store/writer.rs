//! The batch writer: record sets in, deduplicated batches out, one transaction per batch.
//!
//! Producers hand whole record sets to a bounded channel and wait when it is full, so memory
//! stays bounded however fast they are. One task owns the connection: it gathers rows until a
//! batch is full or the flush interval passes, drops duplicates inside the batch (the last
//! copy wins), and upserts the batch in one transaction in the store's fastest way:
//! - PostgreSQL: stored keys looked up, new rows by binary COPY, stored ones in one UPDATE;
//! - SQLite: prepared single-row statements: look the key up, then insert or update in place;
//! - MySQL: stored keys looked up, multi-row INSERTs sized to `max_allowed_packet`, UPDATEs by
//!   key.
//!
//! While batches hold only new records, a batch is first inserted as it is (a plain COPY on
//! PostgreSQL), and goes the careful way only when a key turns out to be stored. Writing a
//! record again only refreshes its TTL and `last_seen`, so writes are idempotent; the counters
//! tell added, refreshed (another TTL) and unchanged rows apart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;
use tokio::sync::{mpsc, oneshot};

use super::error::{sqlite_kind, StoreError, StoreErrorKind};
use super::schema::{records_table, Db, WriteTurn};
use super::time::Timestamp;
use super::url::{validate_identifier, Dialect, StoreUrl};
use crate::record::rdata::typed;
use crate::record::{RecordRef, RecordSet, RecordType};

/// How a writer batches.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Where to write.
    pub url: StoreUrl,
    /// The records table.
    pub table: String,
    /// Rows per transaction.
    pub batch_size: usize,
    /// Longest time a row waits before its batch is written anyway.
    pub flush_interval: Duration,
    /// Stored with every row written (where the records came from).
    pub source: Option<String>,
    /// Record sets buffered ahead of the writer before producers wait.
    pub channel_capacity: usize,
    /// Connections writing batches side by side (PostgreSQL and MySQL; SQLite uses one).
    pub connections: usize,
}

/// What a writer has done so far.
#[derive(Debug, Default)]
pub struct WriteCounters {
    /// Records handed to the writer.
    pub received: AtomicU64,
    /// Rows sent to the store (after deduplication), in committed batches.
    pub written: AtomicU64,
    /// Records dropped as duplicates of another in the same batch.
    pub deduplicated: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Tries repeated after a transient failure (a lost connection, a deadlock).
    pub retried: AtomicU64,
    /// Rows the store rejected, recorded in `dead_letters`.
    pub dead_lettered: AtomicU64,
    /// Of the rows written: new keys.
    pub added: AtomicU64,
    /// Of the rows written: stored before with another TTL.
    pub refreshed: AtomicU64,
    /// Of the rows written: stored before as they are (only `last_seen` moved).
    pub unchanged: AtomicU64,
    /// Set while batches hold only new records: batches then try a plain insert (a COPY on
    /// PostgreSQL) first. Starts set, since a writer usually begins on new data.
    pub all_new: std::sync::atomic::AtomicBool,
}

impl WriteCounters {
    fn count(&self, upserted: Upserted) {
        let Upserted {
            added,
            refreshed,
            unchanged,
        } = upserted;
        self.written
            .fetch_add(added + refreshed + unchanged, Ordering::Relaxed);
        self.added.fetch_add(added, Ordering::Relaxed);
        self.refreshed.fetch_add(refreshed, Ordering::Relaxed);
        self.unchanged.fetch_add(unchanged, Ordering::Relaxed);
    }
}

/// The unique key of a record: SHA-256 of name, type and rdata.
pub fn record_key(record: &RecordRef<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(record.name.as_bytes());
    hasher.update([0]);
    match record.rtype.mnemonic() {
        Some(mnemonic) => hasher.update(mnemonic.as_bytes()),
        None => hasher.update(record.rtype.to_string().as_bytes()),
    }
    hasher.update([0]);
    hasher.update(record.rdata.as_bytes());
    hasher.finalize().into()
}

fn preference(record: &RecordRef<'_>) -> Option<i32> {
    match record.rtype {
        RecordType::MX | RecordType::KX | RecordType::AFSDB => {
            typed::preference_and_name(record.rdata).map(|(preference, _)| i32::from(preference))
        }
        RecordType::SRV => typed::srv(record.rdata).map(|(priority, ..)| i32::from(priority)),
        _ => None,
    }
}

/// Rows waiting to be written: record sets and which of their records, deduplicated by key.
#[derive(Default)]
struct Pending {
    sets: Vec<Arc<RecordSet>>,
    /// (set, record) per key, the last copy of a record winning.
    rows: Vec<(u32, u32, [u8; 32])>,
    by_key: HashMap<[u8; 32], usize>,
}

impl Pending {
    fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds every record of `set`; returns how many were duplicates of rows already pending.
    fn add(&mut self, set: Arc<RecordSet>) -> u64 {
        let set_index = self.sets.len() as u32;
        let mut duplicates = 0;
        for (index, record) in set.iter().enumerate() {
            let key = record_key(&record);
            let row = (set_index, index as u32, key);
            match self.by_key.get(&key) {
                Some(&at) => {
                    self.rows[at] = row;
                    duplicates += 1;
                }
                None => {
                    self.by_key.insert(key, self.rows.len());
                    self.rows.push(row);
                }
            }
        }
        self.sets.push(set);
        duplicates
    }

    fn record(&self, row: &(u32, u32, [u8; 32])) -> Option<RecordRef<'_>> {
        self.sets.get(row.0 as usize)?.get(row.1 as usize)
    }
}

enum Command {
    Write(Arc<RecordSet>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
    Close,
}

/// A running writer: send record sets, flush, close. Shareable between threads.
pub struct Writer {
    commands: mpsc::Sender<Command>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<Result<(), StoreError>>>>,
    /// Why the writing task stopped early, for the calls that come after.
    stopped: Arc<std::sync::Mutex<Option<StoreError>>>,
    /// Counters, readable at any time.
    pub counters: Arc<WriteCounters>,
}

impl Writer {
    /// Connects, brings the schema up to date, and starts the writing task on the current
    /// runtime.
    pub async fn open(config: WriterConfig) -> Result<Writer, StoreError> {
        validate_identifier(&config.table).map_err(StoreError::configuration)?;
        let mut db = Db::connect(&config.url).await?;
        super::schema::migrate(&mut db).await?;
        db.execute(&records_table(db.dialect(), &config.table)?).await?;
        // SQLite has one writer at a time whatever the connections; servers take batches
        // side by side.
        let mut connections = vec![db];
        if config.url.dialect != Dialect::Sqlite {
            for _ in 1..config.connections.max(1) {
                connections.push(Db::connect(&config.url).await?);
            }
        }
        let (commands, receiver) = mpsc::channel(config.channel_capacity.max(1));
        let counters = Arc::new(WriteCounters::default());
        counters.all_new.store(true, Ordering::Relaxed);
        let stopped = Arc::new(std::sync::Mutex::new(None));
        let task = {
            let (counters, stopped) = (Arc::clone(&counters), Arc::clone(&stopped));
            tokio::spawn(async move {
                let result = run(connections, config, receiver, counters).await;
                if let Err(error) = &result {
                    *stopped.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(error.clone());
                }
                result
            })
        };
        Ok(Writer {
            commands,
            task: std::sync::Mutex::new(Some(task)),
            stopped,
            counters,
        })
    }

    /// Queues `records`; waits while the queue is full.
    pub async fn write(&self, records: Arc<RecordSet>) -> Result<(), StoreError> {
        self.counters
            .received
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.commands
            .send(Command::Write(records))
            .await
            .map_err(|_| self.stop_reason())
    }

    /// Why the writer no longer takes records.
    fn stop_reason(&self) -> StoreError {
        match &*self.stopped.lock().unwrap_or_else(|poison| poison.into_inner()) {
            Some(error) => error.clone().context("the writer has stopped"),
            None => StoreError::other("the writer is closed"),
        }
    }

    /// Writes everything queued so far; returns once it is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.commands
            .send(Command::Flush(done))
            .await
            .map_err(|_| self.stop_reason())?;
        wait.await
            .map_err(|_| StoreError::other("the writer stopped while flushing"))?
    }

    /// Writes everything queued and stops; closing again does nothing.
    pub async fn close(&self) -> Result<(), StoreError> {
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        let Some(task) = task else {
            return Ok(());
        };
        // If the task already ended (on an error) the command has nowhere to go; its result
        // below says why.
        let _ = self.commands.send(Command::Close).await;
        task.await
            .map_err(|e| StoreError::other(format!("the writer task failed: {e}")))?
    }
}

async fn run(
    connections: Vec<Db>,
    config: WriterConfig,
    mut commands: mpsc::Receiver<Command>,
    counters: Arc<WriteCounters>,
) -> Result<(), StoreError> {
    let batch_size = config.batch_size;
    let flush_interval = config.flush_interval;
    let mut pool = Connections::new(connections, config, counters.clone());
    let mut pending = Pending::default();
    let mut deadline = None;
    loop {
        let command = match deadline {
            Some(at) => match tokio::time::timeout_at(at, commands.recv()).await {
                Ok(command) => command,
                Err(_) => {
                    pool.submit(std::mem::take(&mut pending)).await?;
                    deadline = None;
                    continue;
                }
            },
            None => commands.recv().await,
        };
        match command {
            Some(Command::Write(set)) => {
                let duplicates = pending.add(set);
                counters.deduplicated.fetch_add(duplicates, Ordering::Relaxed);
                if pending.len() >= batch_size {
                    pool.submit(std::mem::take(&mut pending)).await?;
                    deadline = None;
                } else if deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + flush_interval);
                }
            }
            Some(Command::Flush(done)) => {
                let submitted = pool.submit(std::mem::take(&mut pending)).await;
                let result = match submitted {
                    Ok(()) => pool.drain().await,
                    Err(error) => Err(error),
                };
                deadline = None;
                let failed = result.is_err();
                let _ = done.send(result.clone());
                if failed {
                    return result;
                }
            }
            Some(Command::Close) | None => {
                let submitted = pool.submit(std::mem::take(&mut pending)).await;
                let result = match submitted {
                    Ok(()) => pool.drain().await,
                    Err(error) => Err(error),
                };
                pool.close().await;
                return result;
            }
        }
    }
}

/// The writer's connections: batches go to whichever is free, so with more than one the
/// store works on several batches at once (each still one transaction of its own).
struct Connections {
    idle: Vec<Db>,
    busy: tokio::task::JoinSet<(Db, Result<(), StoreError>)>,
    config: Arc<WriterConfig>,
    counters: Arc<WriteCounters>,
}

impl Connections {
    fn new(connections: Vec<Db>, config: WriterConfig, counters: Arc<WriteCounters>) -> Self {
        Connections {
            idle: connections,
            busy: tokio::task::JoinSet::new(),
            config: Arc::new(config),
            counters,
        }
    }

    /// Starts writing `pending` on a free connection, waiting for one if all are busy.
    async fn submit(&mut self, mut pending: Pending) -> Result<(), StoreError> {
        if pending.len() == 0 {
            return Ok(());
        }
        let mut db = match self.idle.pop() {
            Some(db) => db,
            None => self.next_done().await?,
        };
        let (config, counters) = (Arc::clone(&self.config), Arc::clone(&self.counters));
        self.busy.spawn(async move {
            let result = write_pending(&mut db, &config, &mut pending, &counters).await;
            (db, result)
        });
        Ok(())
    }

    /// The connection of the next batch to finish, or that batch's failure.
    async fn next_done(&mut self) -> Result<Db, StoreError> {
        match self.busy.join_next().await {
            Some(Ok((db, Ok(())))) => Ok(db),
            Some(Ok((_, Err(error)))) => Err(error),
            Some(Err(error)) => Err(StoreError::other(format!("a write task failed: {error}"))),
            None => Err(StoreError::other("the writer has no connection left")),
        }
    }

    /// Waits until every batch started has committed.
    async fn drain(&mut self) -> Result<(), StoreError> {
        while !self.busy.is_empty() {
            let db = self.next_done().await?;
            self.idle.push(db);
        }
        Ok(())
    }

    async fn close(mut self) {
        let _ = self.drain().await;
        for db in self.idle.drain(..) {
            db.close().await;
        }
    }
}

async fn write_pending(
    db: &mut Db,
    config: &WriterConfig,
    pending: &mut Pending,
    counters: &WriteCounters,
) -> Result<(), StoreError> {
    if pending.len() == 0 {
        return Ok(());
    }
    let batch = std::mem::take(pending);
    let now = Timestamp::now();
    let rows: Vec<Row<'_>> = batch
        .rows
        .iter()
        .filter_map(|row| {
            batch.record(row).map(|record| Row {
                key: row.2,
                preference: preference(&record),
                record,
            })
        })
        .collect();
    for chunk in rows.chunks(config.batch_size.max(1)) {
        write_recovering(db, config, chunk, now, counters).await?;
        counters.batches.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Why a write failed, as far as what to do next goes.
#[derive(Debug)]
pub(super) enum Failure {
    /// The connection or the server failed, or the transaction lost a race: try again.
    Transient(String),
    /// The store rejected the data itself: find the rows it rejects.
    Data(String),
    /// Anything else (the schema, permissions): stop.
    Fatal(StoreError),
    /// A plain COPY met a key already stored.
    Duplicate(String),
}

/// Sorts a driver error into what to do about it.
fn classify(context: &str, error: sqlx::Error) -> Failure {
    Failure::from(StoreError::from_sqlx(context, error))
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        match error.kind {
            StoreErrorKind::Transient => Failure::Transient(error.message),
            StoreErrorKind::Rejected => Failure::Data(error.message),
            _ => Failure::Fatal(error),
        }
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        match failure {
            Failure::Transient(text) | Failure::Duplicate(text) => StoreError::transient(text),
            Failure::Data(text) => StoreError::rejected(text),
            Failure::Fatal(error) => error,
        }
    }
}

/// Tries to reconnect after a transient failure before giving up on the store.
pub(super) const RECONNECT_TRIES: u32 = 8;

/// How long to wait before try `failures` (from 1) after a transient failure: 100 ms,
/// doubling, at most 5 s (about 15 s over all the tries).
pub(super) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(6);
    (Duration::from_millis(100) * 2u32.pow(doublings)).min(Duration::from_secs(5))
}

/// Writes `rows` in one transaction. A transient failure reconnects (with exponential
/// backoff) and tries again; a rejected batch is split in halves until the rows the store
/// rejects are found, which go to `dead_letters` with the store's reason while the rest
/// commits. When the store stays unreachable the writer stops with a clear error.
pub(super) async fn write_recovering(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
    counters: &WriteCounters,
) -> Result<(), StoreError> {
    // Halves still to write, depth first, so rows commit in input order.
    let mut todo: Vec<&[Row<'_>]> = vec![rows];
    let mut failures_in_a_row = 0u32;
    while let Some(part) = todo.pop() {
        match write_once(db, config, part, now, counters).await {
            Ok(upserted) => {
                failures_in_a_row = 0;
                counters.count(upserted);
            }
            Err(Failure::Data(reason)) if part.len() > 1 => {
                let (first, second) = part.split_at(part.len() / 2);
                todo.push(second);
                todo.push(first);
                tracing::debug!("a batch was rejected ({reason}); splitting it");
            }
            Err(Failure::Data(reason)) => {
                dead_letter(db, &part[0], &reason, now).await?;
                counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
            }
            Err(Failure::Transient(reason) | Failure::Duplicate(reason)) => {
                failures_in_a_row += 1;
                counters.retried.fetch_add(1, Ordering::Relaxed);
                if failures_in_a_row > RECONNECT_TRIES {
                    return Err(StoreError::new(
                        StoreErrorKind::Unavailable,
                        format!(
                            "{} is unavailable; gave up after {RECONNECT_TRIES} retries: {reason}",
                            config.url.redacted()
                        ),
                    ));
                }
                tracing::warn!("write failed ({reason}); reconnecting, try {failures_in_a_row}");
                tokio::time::sleep(backoff(failures_in_a_row)).await;
                if let Ok(fresh) = Db::connect(&config.url).await {
                    *db = fresh;
                }
                todo.push(part);
            }
            Err(Failure::Fatal(error)) => return Err(error),
        }
    }
    Ok(())
}

/// One attempt: the rows in one transaction, rolled back on any failure.
async fn write_once(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
    counters: &WriteCounters,
) -> Result<Upserted, Failure> {
    if counters.all_new.load(Ordering::Relaxed) {
        // The last batch was all new records, so this one probably is too: inserting them
        // needs no key lookups. A stored key makes it fail on the unique index, and the batch
        // then goes the careful way.
        let _turn = begin_transaction(db).await?;
        match insert_new(db, config, rows, now).await {
            Ok(()) => return commit(db).await.map(|()| Upserted::all_added(rows.len())),
            Err(Failure::Duplicate(_)) => {
                rollback(db).await;
                counters.all_new.store(false, Ordering::Relaxed);
            }
            Err(failure) => {
                rollback(db).await;
                return Err(failure);
            }
        }
    }
    let _turn = begin_transaction(db).await?;
    match upsert_rows(db, config, rows, now).await {
        Ok(upserted) => {
            commit(db).await?;
            counters
                .all_new
                .store(upserted.added == rows.len() as u64, Ordering::Relaxed);
            Ok(upserted)
        }
        Err(failure) => {
            rollback(db).await;
            Err(failure)
        }
    }
}

pub(super) async fn begin_transaction(db: &mut Db) -> Result<WriteTurn, Failure> {
    db.begin_write_raw()
        .await
        .map_err(|e| classify("starting a transaction", e))
}

pub(super) async fn commit(db: &mut Db) -> Result<(), Failure> {
    match db.execute_raw("COMMIT").await {
        Ok(()) => Ok(()),
        Err(error) => {
            // A COMMIT that failed (SQLite BUSY) leaves the transaction open: end it, so the
            // connection can start the next one.
            rollback(db).await;
            Err(classify("committing", error))
        }
    }
}

/// Ends a failed transaction. The connection may be gone: the failure that led here is what
/// matters, so this one's own error is not.
pub(super) async fn rollback(db: &mut Db) {
    let _ = db.execute_raw("ROLLBACK").await;
}

/// Records a row the store rejected, with the store's reason, in `dead_letters`.
async fn dead_letter(db: &mut Db, row: &Row<'_>, reason: &str, now: Timestamp) -> Result<(), Failure> {
    let payload = serde_json::to_string(&row.record).unwrap_or_default();
    let (sql, stamp) = match db.dialect() {
        Dialect::Postgres => (
            "INSERT INTO dead_letters (kind, payload, reason, created_at) \
             VALUES ($1, $2, $3, CAST($4 AS TIMESTAMPTZ))",
            format!("{}+00", now.text()),
        ),
        Dialect::Sqlite | Dialect::MySql => (
            "INSERT INTO dead_letters (kind, payload, reason, created_at) VALUES (?, ?, ?, ?)",
            now.text(),
        ),
    };
    macro_rules! insert {
        ($connection:expr) => {
            sqlx::query(sql)
                .bind("record")
                .bind(&payload)
                .bind(reason)
                .bind(&stamp)
                .execute(&mut *$connection)
                .await
                .map(|_| ())
        };
    }
    let result = match db {
        Db::Postgres(connection) => insert!(connection),
        Db::Sqlite(connection, _) => insert!(connection),
        Db::MySql(connection) => insert!(connection),
    };
    result.map_err(|e| classify("recording a dead letter", e))
}

/// The rows of every set in `records`, one per key (the last copy of a record wins), in input
/// order; and how many distinct records each set holds.
pub(super) fn rows_of<'a>(records: &[&'a RecordSet]) -> (Vec<Row<'a>>, Vec<u64>) {
    let total = records.iter().map(|set| set.len()).sum();
    let mut rows: Vec<Row<'a>> = Vec::with_capacity(total);
    let mut by_key: HashMap<[u8; 32], usize> = HashMap::with_capacity(total);
    let mut distinct = Vec::with_capacity(records.len());
    for set in records {
        let mut in_this_set = std::collections::HashSet::with_capacity(set.len());
        for record in set.iter() {
            let row = Row {
                key: record_key(&record),
                preference: preference(&record),
                record,
            };
            in_this_set.insert(row.key);
            match by_key.get(&row.key) {
                Some(&at) => rows[at] = row,
                None => {
                    by_key.insert(row.key, rows.len());
                    rows.push(row);
                }
            }
        }
        distinct.push(in_this_set.len() as u64);
    }
    (rows, distinct)
}

/// How the rows of a batch met the store.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Upserted {
    /// Rows whose key was not stored yet.
    pub added: u64,
    /// Rows stored before with another TTL: the TTL and `last_seen` were updated.
    pub refreshed: u64,
    /// Rows stored before as they are: only `last_seen` moved.
    pub unchanged: u64,
}

impl Upserted {
    fn all_added(rows: usize) -> Upserted {
        Upserted {
            added: rows as u64,
            ..Upserted::default()
        }
    }
}

/// A batch's rows sorted by what the store holds for their keys.
struct Sorted<'r, 'a> {
    added: Vec<&'r Row<'a>>,
    refreshed: Vec<&'r Row<'a>>,
    unchanged: Vec<&'r Row<'a>>,
}

impl<'r, 'a> Sorted<'r, 'a> {
    /// `stored` maps each stored key among the rows' to its stored TTL.
    fn new(rows: &'r [Row<'a>], stored: &HashMap<Vec<u8>, i64>) -> Self {
        let mut sorted = Sorted {
            added: Vec::new(),
            refreshed: Vec::new(),
            unchanged: Vec::new(),
        };
        for row in rows {
            match stored.get(&row.key[..]) {
                None => sorted.added.push(row),
                Some(&ttl) if ttl == i64::from(row.record.ttl) => sorted.unchanged.push(row),
                Some(_) => sorted.refreshed.push(row),
            }
        }
        sorted
    }

    fn counts(&self) -> Upserted {
        Upserted {
            added: self.added.len() as u64,
            refreshed: self.refreshed.len() as u64,
            unchanged: self.unchanged.len() as u64,
        }
    }
}

/// Writes `rows` inside the transaction the caller holds, in the store's fastest careful way:
/// keys already stored are looked up first, new rows are inserted, stored ones have their TTL
/// (when it changed) and `last_seen` updated. Inserting only keys that were not stored takes
/// no locks on the gaps between keys (MySQL's `ON DUPLICATE KEY UPDATE` does, and two
/// connections loading a fresh table then deadlock on each other's gaps); a concurrent writer
/// that inserts one of the keys in between makes the insert fail on the unique key, and the
/// batch is tried again.
pub(super) async fn upsert_rows(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
) -> Result<Upserted, Failure> {
    match db {
        Db::Postgres(_) => upsert_postgres(db, config, rows, now).await,
        Db::Sqlite(connection, _) => upsert_sqlite(connection, config, rows, now).await,
        Db::MySql(_) => upsert_mysql(db, config, rows, now).await,
    }
}

/// Inserts `rows`, expected to be all new, without looking their keys up: a stored key is
/// [`Failure::Duplicate`], and the batch then goes the careful way.
pub(super) async fn insert_new(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
) -> Result<(), Failure> {
    if rows.is_empty() {
        return Ok(());
    }
    let all: Vec<&Row<'_>> = rows.iter().collect();
    match db {
        Db::Postgres(connection) => copy_rows(connection, config, &all, now).await,
        Db::Sqlite(connection, _) => {
            let table = &config.table;
            let sql = format!("INSERT INTO {table} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)");
            with_sqlite(connection, &format!("writing to {table}"), |sqlite, context| {
                let mut insert = sqlite.prepare(&sql).map_err(|e| classify_sqlite(context, e))?;
                for row in in_key_order(&all) {
                    insert
                        .execute(sqlite_values(row, config, &now))
                        .map_err(|error| match error.sqlite_error() {
                            Some(sqlite)
                                if sqlite.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                            {
                                Failure::Duplicate(format!("{context}: {error}"))
                            }
                            _ => classify_sqlite(context, error),
                        })?;
                }
                Ok(())
            })
            .await
        }
        Db::MySql(_) => insert_mysql(db, config, &all, now).await,
    }
}

/// Rows sorted by key: every writer takes row locks in the same order, and SQLite's B-tree
/// pages are visited in order.
fn in_key_order<'r, 'a>(rows: &[&'r Row<'a>]) -> Vec<&'r Row<'a>> {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable_by_key(|row| row.key);
    sorted
}

/// One row to write.
pub(super) struct Row<'a> {
    key: [u8; 32],
    record: RecordRef<'a>,
    preference: Option<i32>,
}

const COLUMNS: &str = "record_key, name, type, ttl, rdata, preference, source, first_seen, last_seen";
const COLUMN_COUNT: usize = 9;

/// MySQL: the stored keys looked up with a consistent read (no locks), new rows inserted by
/// multi-row INSERTs sized to `max_allowed_packet`, stored ones updated by key.
async fn upsert_mysql(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
) -> Result<Upserted, Failure> {
    let Db::MySql(connection) = db else {
        unreachable!("only MySQL batches come here")
    };
    let table = &config.table;
    let mut stored = HashMap::new();
    let keys: Vec<&[u8]> = rows.iter().map(|row| &row.key[..]).collect();
    for chunk in keys.chunks(10_000) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT record_key, ttl FROM {table} WHERE record_key IN ({placeholders})");
        let mut query = sqlx::query_as::<_, (Vec<u8>, i64)>(AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(*key);
        }
        let found = query
            .fetch_all(&mut *connection)
            .await
            .map_err(|e| classify(&format!("looking up keys in {table}"), e))?;
        stored.extend(found);
    }
    let sorted = Sorted::new(rows, &stored);
    if !sorted.added.is_empty() {
        insert_mysql(db, config, &sorted.added, now).await?;
    }
    let Db::MySql(connection) = db else {
        unreachable!("only MySQL batches come here")
    };
    let now_text = now.text();
    // Stored rows by their new TTL (a batch holds few distinct TTLs): one UPDATE per TTL.
    let mut by_ttl: std::collections::BTreeMap<Option<u32>, Vec<&[u8]>> = std::collections::BTreeMap::new();
    for row in in_key_order(&sorted.refreshed) {
        by_ttl.entry(Some(row.record.ttl)).or_default().push(&row.key[..]);
    }
    for row in in_key_order(&sorted.unchanged) {
        by_ttl.entry(None).or_default().push(&row.key[..]);
    }
    for (ttl, keys) in &by_ttl {
        for chunk in keys.chunks(10_000) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let set = if ttl.is_some() {
                "ttl = ?, last_seen = ?"
            } else {
                "last_seen = ?"
            };
            let sql = format!("UPDATE {table} SET {set} WHERE record_key IN ({placeholders})");
            let mut query = sqlx::query(AssertSqlSafe(sql));
            if let Some(ttl) = ttl {
                query = query.bind(i64::from(*ttl));
            }
            query = query.bind(now_text.as_str());
            for key in chunk {
                query = query.bind(*key);
            }
            query
                .execute(&mut *connection)
                .await
                .map_err(|e| classify(&format!("refreshing {table}"), e))?;
        }
    }
    Ok(sorted.counts())
}

/// MySQL: multi-row INSERTs with bound values, as many rows per statement as the server takes
/// (65535 placeholders and `max_allowed_packet`). A stored key is [`Failure::Duplicate`].
async fn insert_mysql(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[&Row<'_>],
    now: Timestamp,
) -> Result<(), Failure> {
    let Db::MySql(connection) = db else {
        unreachable!("only MySQL batches come here")
    };
    let table = &config.table;
    let packet: Option<i64> = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
        .fetch_optional(&mut *connection)
        .await
        .map_err(|e| classify("reading max_allowed_packet", e))?;
    // Half the server's packet limit leaves room for the protocol's own framing.
    let bytes_per_statement = packet
        .and_then(|bytes| usize::try_from(bytes).ok())
        .unwrap_or(4 << 20)
        / 2;
    let now_text = now.text();
    let source = config.source.as_deref();
    // Input order, not key order: zones come sorted by name, and so the rows reach the name
    // index in order (new keys take no row locks another writer could wait on).
    let failure = |error: sqlx::Error| match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            Failure::Duplicate(format!("inserting into {table}: {error}"))
        }
        _ => classify(&format!("writing to {table}"), error),
    };
    for chunk in statement_chunks(rows, 65_535 / COLUMN_COUNT, bytes_per_statement) {
        let placeholders = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO {table} ({COLUMNS}) VALUES {placeholders}");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(&row.key[..])
                .bind(row.record.name)
                .bind(row.record.rtype.to_string())
                .bind(i64::from(row.record.ttl))
                .bind(row.record.rdata)
                .bind(row.preference)
                .bind(source)
                .bind(now_text.as_str())
                .bind(now_text.as_str());
        }
        query.execute(&mut *connection).await.map_err(failure)?;
    }
    Ok(())
}

/// Runs `write` on the SQLite handle sqlx opened, locked for the duration, so the
/// transaction sqlx began is the one it writes in.
///
/// In-process SQLite has no round trips to save, so prepared single-row statements stepped
/// once per row are its fastest way: multi-row statements would cost a statement journal (a
/// copy of every page the statement touches, kept in case a later row of it fails) on top of
/// a copy of every bound value.
async fn with_sqlite<T>(
    connection: &mut sqlx::sqlite::SqliteConnection,
    context: &str,
    write: impl FnOnce(&rusqlite::Connection, &str) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut handle = connection.lock_handle().await.map_err(|e| classify(context, e))?;
    let raw = handle.as_raw_handle().as_ptr();
    // Stepping SQLite blocks this thread for the whole batch: let the runtime move its other
    // tasks elsewhere meanwhile.
    tokio::task::block_in_place(|| {
        // SAFETY: `raw` is the open handle `handle` keeps locked for this borrow of the
        // connection; the borrowed rusqlite connection is dropped (without closing the
        // handle) before `handle` is.
        let borrowed =
            unsafe { rusqlite::Connection::from_handle(raw) }.map_err(|e| classify_sqlite(context, e))?;
        write(&borrowed, context)
    })
}

/// The bound values of a row for SQLite's INSERT (`?8` serves as both timestamps).
fn sqlite_values<'v>(
    row: &'v Row<'_>,
    config: &'v WriterConfig,
    now: &'v Timestamp,
) -> impl rusqlite::Params + 'v {
    (
        &row.key[..],
        row.record.name,
        row.record.rtype.to_string(),
        i64::from(row.record.ttl),
        row.record.rdata,
        row.preference,
        config.source.as_deref(),
        now.text(),
    )
}

/// SQLite: each row's key looked up, then inserted, or its TTL and `last_seen` updated in
/// place (by row id, so the key index is not searched twice).
async fn upsert_sqlite(
    connection: &mut sqlx::sqlite::SqliteConnection,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
) -> Result<Upserted, Failure> {
    let table = &config.table;
    let all: Vec<&Row<'_>> = rows.iter().collect();
    with_sqlite(connection, &format!("writing to {table}"), |sqlite, context| {
        let prepare = |sql: String| sqlite.prepare(&sql).map_err(|e| classify_sqlite(context, e));
        let mut lookup = prepare(format!("SELECT id, ttl FROM {table} WHERE record_key = ?1"))?;
        let mut insert = prepare(format!(
            "INSERT INTO {table} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"
        ))?;
        let mut refresh = prepare(format!(
            "UPDATE {table} SET ttl = ?2, last_seen = ?3 WHERE id = ?1"
        ))?;
        let mut touch = prepare(format!("UPDATE {table} SET last_seen = ?2 WHERE id = ?1"))?;
        let now_text = now.text();
        let mut upserted = Upserted::default();
        for row in in_key_order(&all) {
            let stored: Option<(i64, i64)> = lookup
                .query_row([&row.key[..]], |found| Ok((found.get(0)?, found.get(1)?)))
                .optional()
                .map_err(|e| classify_sqlite(context, e))?;
            let ttl = i64::from(row.record.ttl);
            let stepped = match stored {
                None => {
                    upserted.added += 1;
                    insert.execute(sqlite_values(row, config, &now))
                }
                Some((id, stored_ttl)) if stored_ttl == ttl => {
                    upserted.unchanged += 1;
                    touch.execute(rusqlite::params![id, now_text])
                }
                Some((id, _)) => {
                    upserted.refreshed += 1;
                    refresh.execute(rusqlite::params![id, ttl, now_text])
                }
            };
            stepped.map_err(|e| classify_sqlite(context, e))?;
        }
        Ok(upserted)
    })
    .await
}

/// [`classify`] for an error from a statement stepped directly on the SQLite handle.
fn classify_sqlite(context: &str, error: rusqlite::Error) -> Failure {
    let kind = match error.sqlite_error() {
        Some(sqlite) => sqlite_kind(sqlite.extended_code),
        None => StoreErrorKind::Other,
    };
    Failure::from(StoreError::new(kind, format!("{context}: {error}")))
}

/// Consecutive pieces of `rows`, each within both limits (a row over the byte limit alone
/// still goes in a piece of its own, for the store to judge).
fn statement_chunks<'s, 'r, 'a>(
    rows: &'s [&'r Row<'a>],
    max_rows: usize,
    max_bytes: usize,
) -> Vec<&'s [&'r Row<'a>]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (index, row) in rows.iter().enumerate() {
        // Values travel as bound parameters: the text plus a little framing per value.
        let size = row.record.name.len() + row.record.rdata.len() + 128;
        if index > start && (index - start >= max_rows || bytes + size > max_bytes) {
            chunks.push(&rows[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

/// PostgreSQL: the keys already stored are looked up first; new rows go straight into the
/// table by binary COPY (no second pass through a staging table), and stored ones only have
/// their TTL and `last_seen` refreshed, in one UPDATE. A concurrent writer that inserts one of
/// the new keys in between makes the COPY fail on the unique key: the batch is then retried,
/// and the lookup sees the key.
async fn upsert_postgres(
    db: &mut Db,
    config: &WriterConfig,
    rows: &[Row<'_>],
    now: Timestamp,
) -> Result<Upserted, Failure> {
    let Db::Postgres(connection) = db else {
        unreachable!("only PostgreSQL batches come here")
    };
    let table = &config.table;
    // Looked up by the whole key, (name, type, record_key): the primary key of tables made by
    // this version, and indexed in those made before (unique record_key, an index on name).
    let (names, types, keys) = key_columns(rows.iter());
    let stored: HashMap<Vec<u8>, i64> = sqlx::query_as::<_, (Vec<u8>, i64)>(AssertSqlSafe(format!(
        "SELECT stored.record_key, stored.ttl FROM {table} AS stored \
         JOIN unnest($1::text[], $2::text[], $3::bytea[]) AS incoming(name, type, record_key) \
         ON stored.name = incoming.name AND stored.type = incoming.type \
         AND stored.record_key = incoming.record_key"
    )))
    .bind(&names)
    .bind(&types)
    .bind(&keys)
    .fetch_all(&mut *connection)
    .await
    .map_err(|e| classify(&format!("looking up keys in {table}"), e))?
    .into_iter()
    .collect();
    let sorted = Sorted::new(rows, &stored);
    if !sorted.added.is_empty() {
        copy_rows(connection, config, &sorted.added, now).await?;
    }
    let known: Vec<&Row<'_>> =
        in_key_order(&[sorted.refreshed.as_slice(), sorted.unchanged.as_slice()].concat());
    if !known.is_empty() {
        let (names, types, keys) = key_columns(known.iter().copied());
        let ttls: Vec<i64> = known.iter().map(|row| i64::from(row.record.ttl)).collect();
        let refresh = format!(
            "UPDATE {table} AS stored SET ttl = incoming.ttl, last_seen = CAST($5 AS TIMESTAMPTZ) \
             FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[]) \
             AS incoming(name, type, record_key, ttl) \
             WHERE stored.name = incoming.name AND stored.type = incoming.type \
             AND stored.record_key = incoming.record_key"
        );
        sqlx::query(AssertSqlSafe(refresh))
            .bind(&names)
            .bind(&types)
            .bind(&keys)
            .bind(&ttls)
            .bind(format!("{}+00", now.text()))
            .execute(&mut *connection)
            .await
            .map_err(|e| classify(&format!("refreshing {table}"), e))?;
    }
    Ok(sorted.counts())
}

/// The key columns of `rows` as arrays to bind: names, types (as stored) and record keys.
fn key_columns<'r, 'a: 'r>(
    rows: impl Iterator<Item = &'r Row<'a>>,
) -> (Vec<&'a str>, Vec<String>, Vec<&'r [u8]>) {
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut keys = Vec::new();
    for row in rows {
        names.push(row.record.name);
        types.push(row.record.rtype.to_string());
        keys.push(&row.key[..]);
    }
    (names, types, keys)
}

/// Binary COPY of `rows` into the table. A key already stored is [`Failure::Duplicate`]: in a
/// batch expected to be new, or added by a concurrent writer since the lookup; either way the
/// batch is worth another try the careful way.
async fn copy_rows(
    connection: &mut sqlx::PgConnection,
    config: &WriterConfig,
    rows: &[&Row<'_>],
    now: Timestamp,
) -> Result<(), Failure> {
    let table = &config.table;
    let failure = |error: sqlx::Error| match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            Failure::Duplicate(format!("COPY into {table}: {error}"))
        }
        _ => classify(&format!("COPY into {table}"), error),
    };
    let mut copy = connection
        .copy_in_raw(&format!("COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"))
        .await
        .map_err(|e| classify("starting COPY", e))?;
    copy.send(copy_binary(rows, config.source.as_deref(), now))
        .await
        .map_err(failure)?;
    copy.finish().await.map_err(failure)?;
    Ok(())
}

/// The rows in PostgreSQL's binary COPY format.
fn copy_binary(rows: &[&Row<'_>], source: Option<&str>, now: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + rows.len() * 160);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    let field = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let stamp = now.postgres_micros().to_be_bytes();
    for row in rows {
        out.extend_from_slice(&(COLUMN_COUNT as i16).to_be_bytes());
        field(&mut out, &row.key);
        field(&mut out, row.record.name.as_bytes());
        field(&mut out, row.record.rtype.to_string().as_bytes());
        field(&mut out, &i64::from(row.record.ttl).to_be_bytes());
        field(&mut out, row.record.rdata.as_bytes());
        match row.preference {
            Some(preference) => field(&mut out, &preference.to_be_bytes()),
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        match source {
            Some(source) => field(&mut out, source.as_bytes()),
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        field(&mut out, &stamp);
        field(&mut out, &stamp);
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_stay_within_row_and_byte_limits() {
        let set: RecordSet = (0..10)
            .map(|i| crate::record::Record {
                name: format!("n{i}."),
                rtype: RecordType::TXT,
                class: crate::record::RecordClass::IN,
                ttl: 1,
                rdata: "\"x\"".repeat(if i == 4 { 400 } else { 1 }),
            })
            .collect();
        let rows: Vec<Row<'_>> = set
            .iter()
            .map(|record| Row {
                key: record_key(&record),
                record,
                preference: None,
            })
            .collect();
        let rows: Vec<&Row<'_>> = rows.iter().collect();
        let sizes = |chunks: Vec<&[&Row<'_>]>| chunks.iter().map(|chunk| chunk.len()).collect::<Vec<_>>();
        assert_eq!(sizes(statement_chunks(&rows, 3, usize::MAX)), [3, 3, 3, 1]);
        // Row 4 is over the byte limit on its own: it gets a piece of its own.
        assert_eq!(sizes(statement_chunks(&rows, 100, 700)), [4, 1, 5]);
    }

    #[test]
    fn duplicates_in_a_batch_keep_the_last_copy() {
        let set: RecordSet = [
            "a. 60 IN A 192.0.2.1",
            "a. 300 IN A 192.0.2.1",
            "b. 60 IN A 192.0.2.1",
        ]
        .iter()
        .map(|line| {
            let parsed = crate::zone::parse_bytes(
                line.as_bytes(),
                "t".into(),
                None,
                &crate::zone::ParseOptions::default(),
            )
            .unwrap();
            parsed.records.get(0).unwrap().to_owned_record()
        })
        .collect();
        let mut pending = Pending::default();
        assert_eq!(pending.add(Arc::new(set)), 1);
        assert_eq!(pending.len(), 2);
        let first = pending.record(&pending.rows[0]).unwrap();
        assert_eq!((first.name, first.ttl), ("a.", 300));
    }
}
