//! Connections and the schema: versioned migrations dnsmill applies itself, in each dialect.
//!
//! Records are unique on (name, type, rdata). The key is kept as one column, `record_key`, the
//! SHA-256 of the three: the same rule in all three databases, a 32-byte index entry however
//! long the rdata (a B-tree entry on the text itself fails for long TXT records in PostgreSQL
//! and cannot hold them at all in MySQL).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ConnectOptions, Row};

use super::error::StoreError;
use super::url::{validate_identifier, Dialect, StoreUrl};

/// One open connection to a store.
pub enum Db {
    /// SQLite, with the write gate of its file.
    Sqlite(SqliteConnection, WriteGate),
    /// PostgreSQL.
    Postgres(PgConnection),
    /// MySQL or MariaDB.
    MySql(MySqlConnection),
}

fn failed(what: &str, error: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(what, error)
}

impl Db {
    /// Opens `url`; a SQLite file is created when missing and put in WAL mode. Statements are
    /// not logged: a batch is meant to take long, and the writer reports its own progress.
    pub async fn connect(url: &StoreUrl) -> Result<Db, StoreError> {
        Db::open(url, true).await
    }

    /// [`Db::connect`] for reading what is there: a SQLite file that does not exist is an
    /// error instead of a new, empty database.
    pub async fn connect_existing(url: &StoreUrl) -> Result<Db, StoreError> {
        Db::open(url, false).await
    }

    async fn open(url: &StoreUrl, create: bool) -> Result<Db, StoreError> {
        let context = || format!("cannot connect to {}", url.redacted());
        match url.dialect {
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(&url.url)
                    .map_err(|e| failed(&context(), e))?
                    .create_if_missing(create)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(url.statement_timeout.unwrap_or(Duration::from_secs(30)))
                    // Batches touch index pages all over the file: keep them in memory (the
                    // default cache of 2 MB rereads them from the OS for every row).
                    .pragma("cache_size", "-262144")
                    .pragma("temp_store", "memory")
                    .pragma("mmap_size", "1073741824")
                    // A batch dirties pages all over the record-key and name indexes, and every
                    // commit appends each dirty page to the WAL. Checkpointing after 64 MiB of
                    // WAL rather than 4 MiB copies a page back once per many commits instead of
                    // once per commit; 8 KiB pages (for files created here) halve the pages a
                    // batch touches. Together: 98k to 126k rows/s writing 1M records, and 80k
                    // to about 200k rows/s for 17k-record batches into a 173k-record table.
                    .pragma("wal_autocheckpoint", "8192")
                    .page_size(8192)
                    .disable_statement_logging();
                if !create && !Path::new(options.get_filename()).exists() {
                    return Err(StoreError::configuration(format!(
                        "{}: no such file (create it with `dnsmill db init`, or check the path)",
                        url.redacted()
                    )));
                }
                let connection = within(url, options.connect()).await?;
                Ok(Db::Sqlite(connection, write_gate(options.get_filename())))
            }
            Dialect::Postgres => {
                let mut options = PgConnectOptions::from_str(&url.url)
                    .map_err(|e| failed(&context(), e))?
                    .disable_statement_logging();
                if let Some(timeout) = url.statement_timeout {
                    options = options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
                }
                Ok(Db::Postgres(within(url, options.connect()).await?))
            }
            Dialect::MySql => {
                let options = MySqlConnectOptions::from_str(&url.url)
                    .map_err(|e| failed(&context(), e))?
                    .disable_statement_logging();
                let mut connection = within(url, options.connect()).await?;
                if let Some(timeout) = url.statement_timeout {
                    limit_statement_time(&mut connection, timeout)
                        .await
                        .map_err(|e| failed(&context(), e))?;
                }
                Ok(Db::MySql(connection))
            }
        }
    }

    /// Closes the connection cleanly, so it is gone when this returns (SQLite then has
    /// checkpointed and removed its WAL files, and other processes see a quiet file).
    pub async fn close(self) {
        use sqlx::Connection;
        let _ = match self {
            Db::Sqlite(connection, _) => connection.close().await,
            Db::Postgres(connection) => connection.close().await,
            Db::MySql(connection) => connection.close().await,
        };
    }

    /// The dialect of this connection.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
            Db::MySql(_) => Dialect::MySql,
        }
    }

    /// Opens a write transaction, held open by the returned turn's owner until COMMIT or
    /// ROLLBACK. On SQLite this process's writers to one file first wait their turn here, in
    /// arrival order: SQLite's own busy handler polls with sleeps of up to 100 ms, so a waiting
    /// writer would often sleep on well past the moment the lock came free.
    pub async fn begin_write_raw(&mut self) -> Result<WriteTurn, sqlx::Error> {
        let turn = match self {
            Db::Sqlite(_, gate) => Some(Arc::clone(gate).lock_owned().await),
            Db::Postgres(_) | Db::MySql(_) => None,
        };
        self.execute_raw(begin(self.dialect())).await?;
        Ok(WriteTurn(turn))
    }

    /// [`Db::begin_write_raw`] with the error as text.
    pub async fn begin_write(&mut self) -> Result<WriteTurn, StoreError> {
        self.begin_write_raw()
            .await
            .map_err(|e| failed("starting a transaction", e))
    }

    /// Commits the open transaction; when that fails (SQLite BUSY), rolls it back so the
    /// connection can start the next one, and returns the commit's error.
    pub async fn commit(&mut self) -> Result<(), StoreError> {
        match self.execute_raw("COMMIT").await {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = self.execute_raw("ROLLBACK").await;
                Err(failed("committing", error))
            }
        }
    }

    /// Runs SQL text that takes no values (DDL, transaction control).
    pub async fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
        self.execute_raw(sql)
            .await
            .map_err(|e| failed(&first_line(sql), e))
    }

    /// [`Db::execute`], keeping the driver's error for whoever must judge it.
    pub async fn execute_raw(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let query = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        match self {
            Db::Sqlite(connection, _) => query.execute(connection).await.map(|_| ()),
            Db::Postgres(connection) => query.execute(connection).await.map(|_| ()),
            Db::MySql(connection) => query.execute(connection).await.map(|_| ()),
        }
    }

    /// Rows of (text, count) from a query with no parameters.
    pub async fn counts(&mut self, sql: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = AssertSqlSafe(sql.to_string());
        let rows: Result<Vec<(String, i64)>, sqlx::Error> = match self {
            Db::Sqlite(connection, _) => sqlx::query(sql).fetch_all(connection).await.and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            }),
            Db::Postgres(connection) => sqlx::query(sql).fetch_all(connection).await.and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            }),
            Db::MySql(connection) => sqlx::query(sql).fetch_all(connection).await.and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            }),
        };
        rows.map_err(|e| failed("reading counts", e))
    }
}

/// Sets the longest a statement may run on a MySQL-protocol connection: MariaDB's
/// `max_statement_time` (seconds, every statement), else MySQL's `max_execution_time`
/// (milliseconds; MySQL applies it to SELECTs only).
async fn limit_statement_time(
    connection: &mut MySqlConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    // Numbers only: the text is made here, from a parsed duration.
    let mariadb = format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64());
    if connection
        .execute(sqlx::raw_sql(AssertSqlSafe(mariadb)))
        .await
        .is_ok()
    {
        return Ok(());
    }
    let mysql = format!("SET SESSION max_execution_time = {}", timeout.as_millis());
    connection
        .execute(sqlx::raw_sql(AssertSqlSafe(mysql)))
        .await
        .map(drop)
}

/// `connecting`, given at most the URL's connect timeout: a server that accepts and never
/// answers fails like one that refuses.
async fn within<C>(
    url: &StoreUrl,
    connecting: impl std::future::Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, StoreError> {
    let context = || format!("cannot connect to {}", url.redacted());
    match tokio::time::timeout(url.connect_timeout, connecting).await {
        Ok(connected) => connected.map_err(|e| failed(&context(), e)),
        Err(_) => Err(StoreError::transient(format!(
            "{}: no answer within {} s (connect_timeout)",
            context(),
            url.connect_timeout.as_secs_f64()
        ))),
    }
}

fn first_line(sql: &str) -> String {
    sql.trim().lines().next().unwrap_or_default().to_string()
}

/// The records table, named `table`, in `dialect`.
pub fn records_table(dialect: Dialect, table: &str) -> Result<String, StoreError> {
    let table = validate_identifier(table).map_err(StoreError::configuration)?;
    Ok(match dialect {
        Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id INTEGER PRIMARY KEY,
                record_key BLOB NOT NULL UNIQUE,
                name TEXT NOT NULL,
                type TEXT NOT NULL,
                ttl INTEGER NOT NULL,
                rdata TEXT NOT NULL,
                preference INTEGER,
                source TEXT,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {table}_name ON {table} (name, type);"
        ),
        // One index does both jobs: the key (unique, as record_key is the hash of name, type
        // and rdata) led by (name, type), which serves lookups by name. No id column: a
        // sequence, a second and a third index cost every row of a load.
        Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                name TEXT NOT NULL,
                type TEXT NOT NULL,
                record_key BYTEA NOT NULL,
                ttl BIGINT NOT NULL,
                rdata TEXT NOT NULL,
                preference INTEGER,
                source TEXT,
                first_seen TIMESTAMPTZ NOT NULL,
                last_seen TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (name, type, record_key)
            )"
        ),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id BIGINT AUTO_INCREMENT PRIMARY KEY,
                record_key BINARY(32) NOT NULL UNIQUE,
                name VARCHAR(1024) NOT NULL,
                type VARCHAR(16) NOT NULL,
                ttl BIGINT NOT NULL,
                rdata MEDIUMTEXT NOT NULL,
                preference INT NULL,
                source VARCHAR(255) NULL,
                first_seen DATETIME(6) NOT NULL,
                last_seen DATETIME(6) NOT NULL,
                INDEX {table}_name (name(191), type)
            ) CHARACTER SET utf8mb4"
        ),
    })
}

/// One step of the schema.
struct Migration {
    version: i64,
    description: &'static str,
    /// The statements, per dialect.
    statements: fn(Dialect) -> Result<Vec<String>, StoreError>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "records, domains and dead letters",
        statements: first_schema,
    },
    Migration {
        version: 2,
        description: "when each domain was queued",
        statements: queued_at,
    },
    Migration {
        version: 3,
        description: "coordinator streams, sources and checkpoints",
        statements: super::streams::coordination_schema,
    },
];

/// `domains.queued_at`: a domain queued longer ago than the publisher's `requeue_after` lost
/// its message (a broker lost it, or it was dead-lettered) and is published again. Domains
/// queued before the column existed count from now.
fn queued_at(dialect: Dialect) -> Result<Vec<String>, StoreError> {
    let time = match dialect {
        Dialect::Sqlite => "TEXT",
        Dialect::Postgres => "TIMESTAMPTZ",
        Dialect::MySql => "DATETIME(6)",
    };
    let now = super::time::Timestamp::now().literal(dialect);
    Ok(vec![
        format!("ALTER TABLE domains ADD COLUMN queued_at {time} NULL"),
        format!("UPDATE domains SET queued_at = {now} WHERE status = 'queued'"),
    ])
}

fn first_schema(dialect: Dialect) -> Result<Vec<String>, StoreError> {
    let (serial, text, time, key) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "TEXT", "TEXT", "TEXT"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "TEXT", "TIMESTAMPTZ", "TEXT"),
        Dialect::MySql => (
            "BIGINT AUTO_INCREMENT PRIMARY KEY",
            "MEDIUMTEXT",
            "DATETIME(6)",
            "VARCHAR(1024)",
        ),
    };
    Ok(vec![
        records_table(dialect, "dns_records")?,
        format!(
            "CREATE TABLE IF NOT EXISTS domains (
                id {serial},
                name {key} NOT NULL UNIQUE,
                status VARCHAR(16) NOT NULL DEFAULT 'new',
                attempts INTEGER NOT NULL DEFAULT 0,
                last_resolved_at {time} NULL,
                last_error {text} NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS dead_letters (
                id {serial},
                kind VARCHAR(64) NOT NULL,
                payload {text} NOT NULL,
                reason {text} NOT NULL,
                created_at {time} NOT NULL
            )"
        ),
    ])
}

/// Brings the schema up to date; returns the versions applied now (none if it was current).
pub async fn migrate(db: &mut Db) -> Result<Vec<i64>, StoreError> {
    let dialect = db.dialect();
    let time = match dialect {
        Dialect::Sqlite => "TEXT",
        Dialect::Postgres => "TIMESTAMPTZ",
        Dialect::MySql => "DATETIME(6)",
    };
    db.execute(&format!(
        "CREATE TABLE IF NOT EXISTS dnsmill_schema (
            version BIGINT NOT NULL PRIMARY KEY,
            description VARCHAR(255) NOT NULL,
            applied_at {time} NOT NULL
        )"
    ))
    .await?;
    let applied: Vec<i64> = db
        .counts("SELECT CAST(version AS CHAR(20)), version FROM dnsmill_schema")
        .await?
        .into_iter()
        .map(|(_, version)| version)
        .collect();
    let now = super::time::Timestamp::now();
    let mut newly = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let statements = (migration.statements)(dialect)?;
        // MySQL commits DDL implicitly; elsewhere the step and its record are one transaction.
        let _turn = db.begin_write().await?;
        for statement in &statements {
            db.execute(statement).await?;
        }
        let record = format!(
            "INSERT INTO dnsmill_schema (version, description, applied_at) VALUES ({}, '{}', {})",
            migration.version,
            migration.description,
            now.literal(dialect)
        );
        db.execute(&record).await?;
        db.commit().await?;
        newly.push(migration.version);
    }
    Ok(newly)
}

/// Write transactions on one SQLite file from this process take turns through its gate.
pub type WriteGate = Arc<tokio::sync::Mutex<()>>;

/// A write transaction's turn at its SQLite file; the next writer goes when it is dropped.
#[must_use = "the turn ends when it is dropped: keep it until COMMIT or ROLLBACK"]
pub struct WriteTurn(#[allow(dead_code)] Option<tokio::sync::OwnedMutexGuard<()>>);

/// The gate of the SQLite file at `file`, shared by every connection of this process to it.
fn write_gate(file: &Path) -> WriteGate {
    static GATES: LazyLock<Mutex<HashMap<PathBuf, Weak<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Mutex::default);
    let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let mut gates = GATES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(gate) = gates.get(&key).and_then(Weak::upgrade) {
        return gate;
    }
    gates.retain(|_, gate| gate.strong_count() > 0);
    let gate = WriteGate::default();
    gates.insert(key, Arc::downgrade(&gate));
    gate
}

/// The statement that opens a write transaction.
fn begin(dialect: Dialect) -> &'static str {
    match dialect {
        // Take the write lock at once rather than on the first write (no deadlock upgrades).
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres | Dialect::MySql => "BEGIN",
    }
}

/// What `dnsmill db stats` shows.
#[derive(Debug, Default, serde::Serialize)]
pub struct StoreStats {
    /// Records per type.
    pub records_by_type: Vec<(String, i64)>,
    /// Domains per status.
    pub domains_by_status: Vec<(String, i64)>,
    /// Dead letters per kind.
    pub dead_letters: Vec<(String, i64)>,
}

/// Counts in the store's tables.
pub async fn stats(db: &mut Db, table: &str) -> Result<StoreStats, StoreError> {
    let table = validate_identifier(table).map_err(StoreError::configuration)?;
    let count = match db.dialect() {
        Dialect::MySql => "CAST(COUNT(*) AS SIGNED)",
        _ => "COUNT(*)",
    };
    Ok(StoreStats {
        records_by_type: db
            .counts(&format!(
                "SELECT type, {count} FROM {table} GROUP BY type ORDER BY 2 DESC, 1"
            ))
            .await?,
        domains_by_status: db
            .counts(&format!(
                "SELECT status, {count} FROM domains GROUP BY status ORDER BY 1"
            ))
            .await?,
        dead_letters: db
            .counts(&format!(
                "SELECT kind, {count} FROM dead_letters GROUP BY kind ORDER BY 1"
            ))
            .await?,
    })
}
