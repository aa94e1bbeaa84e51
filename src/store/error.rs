//! Store errors, sorted by what a caller should do about them.
//!
//! A worker that meets a lost connection retries; a batch the store rejects goes to the dead
//! letters; a wrong schema or configuration stops the service; a store that stayed down after
//! the writer's own retries is reported as such. The kind travels with the message to Python,
//! where each kind is a subclass of `StoreError`.

use std::fmt;

/// What a caller can do about a failed store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The connection was lost, the server is busy or a transaction lost a race: try again.
    Transient,
    /// The store rejected the data itself (a constraint, a value too long): retrying the same
    /// data fails the same way.
    Rejected,
    /// The schema or the configuration is wrong (a bad URL or table name, a missing table,
    /// permissions): nothing will work until someone fixes it.
    Configuration,
    /// The store stayed unreachable through every retry.
    Unavailable,
    /// Anything else (a closed writer, an unexpected answer).
    Other,
}

/// A failed store operation: its kind and a message that names the store and the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// What a caller can do about it.
    pub kind: StoreErrorKind,
    /// What failed, and where.
    pub message: String,
}

impl StoreError {
    /// An error of `kind`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// A transient failure.
    pub fn transient(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Transient, message)
    }

    /// Data the store rejected.
    pub fn rejected(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Rejected, message)
    }

    /// A schema or configuration problem.
    pub fn configuration(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Configuration, message)
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Other, message)
    }

    /// A driver error met while doing `context`, sorted by [`classify`].
    pub fn from_sqlx(context: &str, error: sqlx::Error) -> StoreError {
        let kind = classify(&error);
        StoreError::new(kind, format!("{context}: {error}"))
    }

    /// The same error with `context` in front of its message.
    pub fn context(self, context: &str) -> StoreError {
        StoreError::new(self.kind, format!("{context}: {}", self.message))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// Sorts a driver error by what to do about it, from the error class each database reports.
pub(super) fn classify(error: &sqlx::Error) -> StoreErrorKind {
    let database = match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => return StoreErrorKind::Transient,
        sqlx::Error::Configuration(_) | sqlx::Error::ColumnNotFound(_) | sqlx::Error::TypeNotFound { .. } => {
            return StoreErrorKind::Configuration
        }
        sqlx::Error::Database(database) => database,
        _ => return StoreErrorKind::Other,
    };
    let code = database.code().map(|code| code.into_owned()).unwrap_or_default();
    if let Some(mysql) = database.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return match mysql.number() {
            // Deadlock, lock wait timeout, connection killed, shutdown, gone away, lost,
            // too many connections, query interrupted, statement over its time limit
            // (MariaDB's max_statement_time, MySQL's max_execution_time).
            1205 | 1213 | 1927 | 1053 | 2006 | 2013 | 1040 | 1317 | 1969 | 3024 => StoreErrorKind::Transient,
            // Too long, bad string, out of range, null, bad date, check constraints.
            1406 | 1366 | 1264 | 1048 | 1292 | 3819 | 4025 | 1265 => StoreErrorKind::Rejected,
            // Access denied, unknown database, no such table or column.
            1044 | 1045 | 1049 | 1142 | 1146 | 1054 => StoreErrorKind::Configuration,
            _ => StoreErrorKind::Other,
        };
    }
    if database.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse().map_or(StoreErrorKind::Other, sqlite_kind);
    }
    // PostgreSQL SQLSTATE: connection (08), serialization and deadlock (40), insufficient
    // resources (53), operator intervention such as pg_terminate_backend (57), lock not
    // available; cardinality (21: one statement updating a row twice), data exceptions (22)
    // and integrity constraints (23); authorization (28),
    // invalid catalog (3D) and syntax or access rule violations such as a missing table (42).
    match code.get(..2).unwrap_or_default() {
        "08" | "40" | "53" | "57" => StoreErrorKind::Transient,
        _ if code == "55P03" => StoreErrorKind::Transient,
        "21" | "22" | "23" => StoreErrorKind::Rejected,
        "28" | "3D" | "42" => StoreErrorKind::Configuration,
        _ => StoreErrorKind::Other,
    }
}

/// The kind of a SQLite result code (primary or extended).
pub(super) fn sqlite_kind(code: i32) -> StoreErrorKind {
    match code & 0xff {
        // BUSY, LOCKED
        5 | 6 => StoreErrorKind::Transient,
        // TOOBIG, CONSTRAINT, MISMATCH
        18..=20 => StoreErrorKind::Rejected,
        // ERROR (no such table, syntax), READONLY, CANTOPEN, AUTH, NOTADB
        1 | 8 | 14 | 23 | 26 => StoreErrorKind::Configuration,
        _ => StoreErrorKind::Other,
    }
}
