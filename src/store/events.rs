//! The events table: one row per event (a CloudEvent, a dnsmill bus event), written in batches,
//! each row under a key that is the same however often the event arrives, so a redelivered or
//! republished event is never a second row.
//!
//! A batch is one transaction of multi-row inserts that skip keys already stored
//! (`ON CONFLICT DO NOTHING`; MySQL: `ON DUPLICATE KEY UPDATE` of nothing, since `INSERT IGNORE`
//! would also turn bad data into warnings). A lost connection reconnects and tries the
//! transaction again, as [`super::batch::BatchStore`] does; data the store refuses fails the
//! call as [`StoreErrorKind::Rejected`], for the caller to find the row at fault.

use sqlx::AssertSqlSafe;

use super::error::{StoreError, StoreErrorKind};
use super::schema::Db;
use super::time::Timestamp;
use super::url::{validate_identifier, Dialect, StoreUrl};
use super::writer::{backoff, RECONNECT_TRIES};

/// Most rows per INSERT statement: nine values each, well under every store's limit on bound
/// values (SQLite's is 32,766).
const ROWS_PER_STATEMENT: usize = 1000;

/// Most bytes of event data per INSERT statement, well under MySQL's smallest usual
/// `max_allowed_packet` (4 MB).
const BYTES_PER_STATEMENT: usize = 1 << 20;

/// One event, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// What makes it this event and no other (SHA-256, hex): of the CloudEvent's source and
    /// id, of the message's `Nats-Msg-Id`, or of its stream and sequence.
    pub key: String,
    /// The event's own id.
    pub id: String,
    /// Who sent it.
    pub source: String,
    /// What happened (`type` in CloudEvents).
    pub kind: String,
    /// What it is about, when it says.
    pub subject: Option<String>,
    /// When it happened, when it says.
    pub time: Option<EventTime>,
    /// Its data, as JSON text.
    pub data: String,
    /// The stream it was read from.
    pub stream: String,
    /// Its sequence in that stream.
    pub sequence: u64,
}

/// When an event happened.
#[derive(Debug, Clone, Copy)]
pub struct EventTime(Timestamp);

impl PartialEq for EventTime {
    fn eq(&self, other: &Self) -> bool {
        self.0.text() == other.0.text()
    }
}

impl EventTime {
    /// An RFC 3339 moment; None when `text` is not one.
    pub fn parse(text: &str) -> Option<EventTime> {
        Timestamp::parse_rfc3339(text).map(EventTime)
    }

    /// Seconds since the epoch; None when out of every store's range.
    pub fn from_epoch_seconds(seconds: f64) -> Option<EventTime> {
        Timestamp::from_epoch_seconds(seconds).map(EventTime)
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
    pub fn text(&self) -> String {
        self.0.text()
    }
}

/// An event's key: SHA-256 of `parts` (what makes it this event), each ended by a zero byte,
/// in hex.
pub fn event_key(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    data_encoding::HEXLOWER.encode(&hasher.finalize())
}

/// The statement creating the events `table`.
pub fn events_table(dialect: Dialect, table: &str) -> Result<String, StoreError> {
    validate_identifier(table).map_err(StoreError::configuration)?;
    let (text, moment, json, now) = match dialect {
        Dialect::Postgres => ("TEXT", "TIMESTAMPTZ", "JSONB", "now()"),
        Dialect::MySql => ("VARCHAR(1024)", "DATETIME(6)", "JSON", "CURRENT_TIMESTAMP(6)"),
        Dialect::Sqlite => ("TEXT", "TEXT", "TEXT", "CURRENT_TIMESTAMP"),
    };
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         event_key CHAR(64) PRIMARY KEY, \
         id {text} NOT NULL, \
         source {text} NOT NULL, \
         type {text} NOT NULL, \
         subject {text}, \
         time {moment}, \
         data {json} NOT NULL, \
         stream {text} NOT NULL, \
         stream_sequence BIGINT NOT NULL, \
         received_at {moment} NOT NULL DEFAULT {now})"
    ))
}

/// The INSERT of `rows` rows into `table`, skipping stored keys.
fn insert_sql(dialect: Dialect, table: &str, rows: usize) -> String {
    const COLUMNS: usize = 9;
    let mut sql = format!(
        "INSERT INTO {table} (event_key, id, source, type, subject, time, data, stream, stream_sequence) VALUES "
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            let placeholder = match dialect {
                Dialect::Postgres => format!("${}", row * COLUMNS + column + 1),
                Dialect::MySql | Dialect::Sqlite => "?".to_string(),
            };
            match (dialect, column) {
                (Dialect::Postgres, 5) => sql.push_str(&format!("CAST({placeholder} AS TIMESTAMPTZ)")),
                (Dialect::Postgres, 6) => sql.push_str(&format!("CAST({placeholder} AS JSONB)")),
                _ => sql.push_str(&placeholder),
            }
        }
        sql.push(')');
    }
    sql.push_str(match dialect {
        Dialect::MySql => " ON DUPLICATE KEY UPDATE event_key = event_key",
        Dialect::Postgres | Dialect::Sqlite => " ON CONFLICT (event_key) DO NOTHING",
    });
    sql
}

/// One connection that writes batches of events.
pub struct EventStore {
    db: Option<Db>,
    url: StoreUrl,
    table: String,
    /// Set while a transaction is open: still set at the next call, the call that opened it
    /// was dropped half-way, and the connection is not used again.
    in_transaction: bool,
}

impl EventStore {
    /// Connects to `url` and creates the events `table` when missing.
    pub async fn open(url: StoreUrl, table: &str) -> Result<EventStore, StoreError> {
        let mut db = Db::connect(&url).await?;
        db.execute(&events_table(db.dialect(), table)?).await?;
        Ok(EventStore {
            db: Some(db),
            url,
            table: table.to_string(),
            in_transaction: false,
        })
    }

    /// Writes `rows` in one transaction; returns the rows the store says it wrote (those new;
    /// MySQL also counts the keys it found stored). A lost connection is
    /// retried (reconnecting, with backoff) and then [`StoreErrorKind::Unavailable`]; data
    /// the store refuses is [`StoreErrorKind::Rejected`] and nothing of the batch is kept.
    pub async fn write(&mut self, rows: &[&EventRow]) -> Result<u64, StoreError> {
        let mut failures = 0;
        loop {
            let attempt = match self.connection().await {
                Ok(()) => match self.db.as_mut() {
                    Some(db) => {
                        self.in_transaction = true;
                        let result = write_once(db, &self.table, rows).await;
                        self.in_transaction = false;
                        result
                    }
                    None => Err(StoreError::other("the event store has no connection")),
                },
                Err(error) => Err(error),
            };
            match attempt {
                Ok(added) => return Ok(added),
                Err(error) if error.kind == StoreErrorKind::Transient => {
                    failures += 1;
                    if failures > RECONNECT_TRIES {
                        return Err(StoreError::new(
                            StoreErrorKind::Unavailable,
                            format!(
                                "{} is unavailable; gave up after {RECONNECT_TRIES} retries: {}",
                                self.url.redacted(),
                                error.message
                            ),
                        ));
                    }
                    tracing::warn!(
                        "writing events failed ({}); reconnecting, try {failures}",
                        error.message
                    );
                    tokio::time::sleep(backoff(failures)).await;
                    if let Some(old) = self.db.take() {
                        old.close().await;
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Opens a new connection when a failure dropped the last one.
    async fn connection(&mut self) -> Result<(), StoreError> {
        if std::mem::take(&mut self.in_transaction) {
            // Dropping the connection rolls the abandoned transaction back on the server.
            self.db = None;
        }
        if self.db.is_none() {
            self.db = Some(Db::connect(&self.url).await?);
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(&mut self) {
        if let Some(db) = self.db.take() {
            db.close().await;
        }
    }
}

async fn write_once(db: &mut Db, table: &str, rows: &[&EventRow]) -> Result<u64, StoreError> {
    let _turn = db.begin_write().await?;
    match insert_events(db, table, rows).await {
        Ok(added) => {
            db.commit().await?;
            Ok(added)
        }
        Err(error) => {
            let _ = db.execute_raw("ROLLBACK").await;
            Err(error)
        }
    }
}

/// Inserts `rows` into `table` inside the transaction the caller holds, skipping stored keys,
/// in statements bounded by rows and bytes; returns the rows the store says it wrote.
pub async fn insert_events(db: &mut Db, table: &str, rows: &[&EventRow]) -> Result<u64, StoreError> {
    let mut added = 0;
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len()
            && end - start < ROWS_PER_STATEMENT
            && (end == start || bytes < BYTES_PER_STATEMENT)
        {
            bytes += rows[end].data.len() + rows[end].source.len() + rows[end].id.len();
            end += 1;
        }
        added += insert(db, table, &rows[start..end])
            .await
            .map_err(|error| StoreError::from_sqlx("writing events", error))?;
        start = end;
    }
    Ok(added)
}

async fn insert(db: &mut Db, table: &str, rows: &[&EventRow]) -> Result<u64, sqlx::Error> {
    let dialect = db.dialect();
    let sql = insert_sql(dialect, table, rows.len());
    let time = |row: &EventRow| {
        row.time.map(|time| match dialect {
            Dialect::Postgres => format!("{}+00", time.text()),
            Dialect::MySql | Dialect::Sqlite => time.text(),
        })
    };
    macro_rules! run {
        ($connection:expr) => {{
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for row in rows {
                query = query
                    .bind(row.key.as_str())
                    .bind(row.id.as_str())
                    .bind(row.source.as_str())
                    .bind(row.kind.as_str())
                    .bind(row.subject.as_deref())
                    .bind(time(row))
                    .bind(row.data.as_str())
                    .bind(row.stream.as_str())
                    .bind(i64::try_from(row.sequence).unwrap_or(i64::MAX));
            }
            query.execute($connection).await.map(|done| done.rows_affected())
        }};
    }
    match db {
        Db::Sqlite(connection, _) => run!(&mut *connection),
        Db::Postgres(connection) => run!(&mut *connection),
        Db::MySql(connection) => run!(&mut *connection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_skip_stored_keys_in_each_dialect() {
        let postgres = insert_sql(Dialect::Postgres, "events", 2);
        assert!(postgres.contains("($1, $2, $3, $4, $5, CAST($6 AS TIMESTAMPTZ), CAST($7 AS JSONB), $8, $9)"));
        assert!(postgres.contains("$18)"));
        assert!(postgres.ends_with("ON CONFLICT (event_key) DO NOTHING"));
        let mysql = insert_sql(Dialect::MySql, "events", 1);
        assert!(mysql.ends_with("(?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE event_key = event_key"));
        assert!(events_table(Dialect::Sqlite, "bad name").is_err());
    }
}
