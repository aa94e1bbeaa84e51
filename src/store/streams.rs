//! The coordinator's tables: streams of sources, what each stream should be doing, and where
//! each source of each stream got to (its checkpoints), so a restart or a resume continues
//! where it stopped.
//!
//! The tables are the coordinator's control surface as well as its memory: a command changes
//! a stream's status here, and every running coordinator sees the change at its next look at
//! [`revision`]. A stream's `revision` is the moment (microseconds) of its last change, so the
//! largest one and the count of streams tell a poller whether anything changed.
//!
//! A source's changes become rows of the events table ([`change_events`]), each under a key
//! made of what changed and the version it changed to, written in one transaction with the
//! source's checkpoints ([`record_changes`]): a source killed at any moment either wrote a
//! change and moved past it, or did neither.

use std::time::{SystemTime, UNIX_EPOCH};

use super::error::StoreError;
use super::events::{event_key, insert_events, EventRow, EventTime};
use super::schema::Db;
use super::sql::{time_placeholder, time_text, Param};
use super::time::Timestamp;
use super::url::Dialect;
use crate::record::{RecordRef, RecordSet};

/// The statuses of a stream.
pub mod status {
    /// Created, never started.
    pub const PENDING: &str = "pending";
    /// Its sources run.
    pub const ACTIVE: &str = "active";
    /// Its sources are stopped; their checkpoints are kept.
    pub const PAUSED: &str = "paused";
    /// Its sources are stopped and their checkpoints cleared.
    pub const STOPPED: &str = "stopped";
    /// A source restarted too often; the reason says which and why.
    pub const FAILED: &str = "failed";
    /// Every status.
    pub const ALL: [&str; 5] = [PENDING, ACTIVE, PAUSED, STOPPED, FAILED];
}

/// One source, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    /// Its name, unique among sources.
    pub name: String,
    /// Its kind (`zone_directory`, `zone_transfer`, ...).
    pub kind: String,
    /// Its settings, as JSON text.
    pub config: String,
    /// Seconds between its looks at what it watches.
    pub poll_interval: f64,
    /// `permanent`, `transient` or `temporary`.
    pub restart: String,
}

/// One stream and its sources.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    /// Its name.
    pub name: String,
    /// One of [`status::ALL`].
    pub status: String,
    /// Why it has that status, when it says (a failure's reason).
    pub reason: Option<String>,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// When it was last stopped (microseconds; 0: never): a coordinator that finds it active
    /// under another epoch than its workers began in starts them anew, even if it never saw
    /// the stream stopped.
    pub epoch: i64,
    /// Its sources, by name.
    pub sources: Vec<SourceRow>,
}

/// One checkpoint: where a source got to with one item (a zone file, a zone, a list).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// What it is about (a file name, a zone name, empty for the source as a whole).
    pub item: String,
    /// Where the source got to (a fingerprint, a serial, an offset).
    pub position: String,
    /// What the source keeps to compare the next version with (a zone's records).
    pub state: Option<String>,
}

/// The statements of the coordination tables.
pub fn coordination_schema(dialect: Dialect) -> Result<Vec<String>, StoreError> {
    let (time, long_text, double) = match dialect {
        Dialect::Sqlite => ("TEXT", "TEXT", "REAL"),
        Dialect::Postgres => ("TIMESTAMPTZ", "TEXT", "DOUBLE PRECISION"),
        Dialect::MySql => ("DATETIME(6)", "LONGTEXT", "DOUBLE"),
    };
    // Key columns are short enough for MySQL's 3072-byte index limit in utf8mb4.
    Ok(vec![
        format!(
            "CREATE TABLE IF NOT EXISTS streams (
                name VARCHAR(190) NOT NULL PRIMARY KEY,
                status VARCHAR(16) NOT NULL,
                reason {long_text} NULL,
                created_at {time} NOT NULL,
                updated_at {time} NOT NULL,
                revision BIGINT NOT NULL,
                epoch BIGINT NOT NULL DEFAULT 0
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS sources (
                name VARCHAR(190) NOT NULL PRIMARY KEY,
                kind VARCHAR(64) NOT NULL,
                config {long_text} NOT NULL,
                poll_interval {double} NOT NULL,
                restart VARCHAR(16) NOT NULL,
                created_at {time} NOT NULL
            )"
        ),
        "CREATE TABLE IF NOT EXISTS stream_sources (
                stream VARCHAR(190) NOT NULL,
                source VARCHAR(190) NOT NULL,
                PRIMARY KEY (stream, source)
            )"
        .to_string(),
        format!(
            "CREATE TABLE IF NOT EXISTS source_checkpoints (
                stream VARCHAR(190) NOT NULL,
                source VARCHAR(190) NOT NULL,
                item VARCHAR(380) NOT NULL,
                position {long_text} NOT NULL,
                state {long_text} NULL,
                updated_at {time} NOT NULL,
                PRIMARY KEY (stream, source, item)
            )"
        ),
    ])
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
}

/// A time column as RFC 3339 text in UTC.
fn time_text_of(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Postgres => {
            format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        }
        Dialect::MySql => format!("DATE_FORMAT({column}, '%Y-%m-%dT%H:%i:%s.%fZ')"),
        Dialect::Sqlite => format!("(replace({column}, ' ', 'T') || 'Z')"),
    }
}

fn number_text(dialect: Dialect, expression: &str) -> String {
    match dialect {
        Dialect::MySql => format!("CAST({expression} AS CHAR)"),
        Dialect::Postgres | Dialect::Sqlite => format!("CAST({expression} AS TEXT)"),
    }
}

fn insert_ignoring(dialect: Dialect, table: &str, columns: &str, values: &str, key: &str) -> String {
    match dialect {
        Dialect::MySql => format!("INSERT IGNORE INTO {table} ({columns}) VALUES ({values})"),
        _ => format!("INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO NOTHING"),
    }
}

/// Deletes the sources no stream uses any more.
const FORGET_UNUSED_SOURCES: &str =
    "DELETE FROM sources WHERE name NOT IN (SELECT source FROM stream_sources)";

/// The statement marking `stream` changed now (for a coordinator's next look).
fn touched(dialect: Dialect, stream: &str) -> (String, Vec<Param>) {
    (
        format!(
            "UPDATE streams SET updated_at = {}, revision = ? WHERE name = ?",
            time_placeholder(dialect)
        ),
        vec![
            now_param(dialect),
            Param::Int(now_micros()),
            Param::Text(stream.to_string()),
        ],
    )
}

fn now_param(dialect: Dialect) -> Param {
    Param::Text(time_text(dialect, Timestamp::now()))
}

/// Creates the stream `name` as `pending`; false when it exists.
pub async fn create_stream(db: &mut Db, name: &str) -> Result<bool, StoreError> {
    let dialect = db.dialect();
    let at = time_placeholder(dialect);
    let sql = insert_ignoring(
        dialect,
        "streams",
        "name, status, created_at, updated_at, revision",
        &format!("?, ?, {at}, {at}, ?"),
        "name",
    );
    let params = [
        Param::Text(name.to_string()),
        Param::Text(status::PENDING.to_string()),
        now_param(dialect),
        now_param(dialect),
        Param::Int(now_micros()),
    ];
    Ok(db.run(&sql, &params).await? > 0)
}

/// Deletes the stream `name`, its links and checkpoints, and the sources no other stream
/// uses; false when there was no such stream.
pub async fn delete_stream(db: &mut Db, name: &str) -> Result<bool, StoreError> {
    let stream = || vec![Param::Text(name.to_string())];
    let statements = [
        ("DELETE FROM source_checkpoints WHERE stream = ?", stream()),
        ("DELETE FROM stream_sources WHERE stream = ?", stream()),
        (FORGET_UNUSED_SOURCES, vec![]),
        ("DELETE FROM streams WHERE name = ?", stream()),
    ];
    let mut affected = 0;
    let _turn = db.begin_write().await?;
    for (index, (sql, params)) in statements.into_iter().enumerate() {
        match db.run(sql, &params).await {
            Ok(rows) if index == 3 => affected = rows,
            Ok(_) => {}
            Err(error) => {
                let _ = db.execute("ROLLBACK").await;
                return Err(error);
            }
        }
    }
    db.commit().await?;
    Ok(affected > 0)
}

/// Adds `source` to the stream `stream`. A source of that name must be the same source
/// (kind, settings, interval, restart type); a stream that does not exist is an error.
pub async fn add_source(db: &mut Db, stream: &str, source: &SourceRow) -> Result<(), StoreError> {
    let dialect = db.dialect();
    let exists = db
        .text_rows(
            "SELECT name FROM streams WHERE name = ?",
            &[Param::Text(stream.to_string())],
        )
        .await?;
    if exists.is_empty() {
        return Err(StoreError::configuration(format!("no stream named {stream:?}")));
    }
    let stored = db
        .text_rows(
            &format!(
                "SELECT kind, config, {}, restart FROM sources WHERE name = ?",
                number_text(dialect, "poll_interval")
            ),
            &[Param::Text(source.name.clone())],
        )
        .await?;
    if let Some(row) = stored.first() {
        let same = row[0].as_deref() == Some(source.kind.as_str())
            && row[1].as_deref() == Some(source.config.as_str())
            && row[2].as_deref().and_then(|text| text.parse::<f64>().ok()) == Some(source.poll_interval)
            && row[3].as_deref() == Some(source.restart.as_str());
        if !same {
            return Err(StoreError::configuration(format!(
                "a source named {:?} exists with other settings (kind {}, settings {}); give this one another name",
                source.name,
                row[0].as_deref().unwrap_or("?"),
                row[1].as_deref().unwrap_or("?"),
            )));
        }
    }
    let at = time_placeholder(dialect);
    let insert_source = insert_ignoring(
        dialect,
        "sources",
        "name, kind, config, poll_interval, restart, created_at",
        &format!("?, ?, ?, ?, ?, {at}"),
        "name",
    );
    let link = insert_ignoring(
        dialect,
        "stream_sources",
        "stream, source",
        "?, ?",
        "stream, source",
    );
    let statements = vec![
        (
            insert_source,
            vec![
                Param::Text(source.name.clone()),
                Param::Text(source.kind.clone()),
                Param::Text(source.config.clone()),
                Param::Real(source.poll_interval),
                Param::Text(source.restart.clone()),
                now_param(dialect),
            ],
        ),
        (
            link,
            vec![Param::Text(stream.to_string()), Param::Text(source.name.clone())],
        ),
        touched(dialect, stream),
    ];
    db.run_in_transaction(statements.into_iter()).await?;
    Ok(())
}

/// Takes the source `source` out of the stream `stream`, with its checkpoints there; false
/// when it was not in it.
pub async fn remove_source(db: &mut Db, stream: &str, source: &str) -> Result<bool, StoreError> {
    let dialect = db.dialect();
    let pair = || vec![Param::Text(stream.to_string()), Param::Text(source.to_string())];
    let rows = db
        .text_rows(
            "SELECT source FROM stream_sources WHERE stream = ? AND source = ?",
            &pair(),
        )
        .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let statements = vec![
        (
            "DELETE FROM source_checkpoints WHERE stream = ? AND source = ?".to_string(),
            pair(),
        ),
        (
            "DELETE FROM stream_sources WHERE stream = ? AND source = ?".to_string(),
            pair(),
        ),
        (FORGET_UNUSED_SOURCES.to_string(), vec![]),
        touched(dialect, stream),
    ];
    db.run_in_transaction(statements.into_iter()).await?;
    Ok(true)
}

/// Sets the status of the stream `stream` (and its reason, None to clear it), only while its
/// status is `expected` when given; false when there is no such stream (or it had another).
pub async fn set_status(
    db: &mut Db,
    stream: &str,
    status: &str,
    reason: Option<&str>,
    expected: Option<&str>,
) -> Result<bool, StoreError> {
    if !status::ALL.contains(&status) {
        return Err(StoreError::configuration(format!(
            "unknown stream status {status:?} (known: {})",
            status::ALL.join(", ")
        )));
    }
    let dialect = db.dialect();
    let now = now_micros();
    // A stop starts a new epoch: what ran before it does not go on after the next start.
    let stopped = status == status::STOPPED;
    let sql = format!(
        "UPDATE streams SET status = ?, reason = ?, updated_at = {}, revision = ?{} WHERE name = ?{}",
        time_placeholder(dialect),
        if stopped { ", epoch = ?" } else { "" },
        if expected.is_some() { " AND status = ?" } else { "" }
    );
    let mut params = vec![
        Param::Text(status.to_string()),
        Param::MaybeText(reason.map(str::to_string)),
        now_param(dialect),
        Param::Int(now),
    ];
    if stopped {
        params.push(Param::Int(now));
    }
    params.push(Param::Text(stream.to_string()));
    if let Some(expected) = expected {
        params.push(Param::Text(expected.to_string()));
    }
    Ok(db.run(&sql, &params).await? > 0)
}

/// Every stream with its sources, by name.
pub async fn streams(db: &mut Db) -> Result<Vec<StreamRow>, StoreError> {
    let dialect = db.dialect();
    let stream_rows = db
        .text_rows(
            &format!(
                "SELECT name, status, reason, {}, {}, {} FROM streams ORDER BY name",
                time_text_of(dialect, "created_at"),
                time_text_of(dialect, "updated_at"),
                number_text(dialect, "epoch")
            ),
            &[],
        )
        .await?;
    let source_rows = db
        .text_rows(
            &format!(
                "SELECT l.stream, s.name, s.kind, s.config, {}, s.restart \
                 FROM stream_sources l JOIN sources s ON s.name = l.source ORDER BY l.stream, s.name",
                number_text(dialect, "s.poll_interval")
            ),
            &[],
        )
        .await?;
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut streams: Vec<StreamRow> = stream_rows
        .iter()
        .map(|row| StreamRow {
            name: text(&row[0]),
            status: text(&row[1]),
            reason: row[2].clone(),
            created_at: text(&row[3]),
            updated_at: text(&row[4]),
            epoch: row[5].as_deref().and_then(|t| t.parse().ok()).unwrap_or(0),
            sources: Vec::new(),
        })
        .collect();
    for row in &source_rows {
        if let Some(stream) = streams.iter_mut().find(|s| Some(&s.name) == row[0].as_ref()) {
            stream.sources.push(SourceRow {
                name: text(&row[1]),
                kind: text(&row[2]),
                config: text(&row[3]),
                poll_interval: row[4].as_deref().and_then(|t| t.parse().ok()).unwrap_or(0.0),
                restart: text(&row[5]),
            });
        }
    }
    Ok(streams)
}

/// The latest change to any stream (microseconds), the number of streams, and a sum of every
/// stream's revision: when none moved, nothing a coordinator acts on changed (the sum catches
/// a change stamped by a clock behind the latest).
pub async fn revision(db: &mut Db) -> Result<(i64, i64, i64), StoreError> {
    let dialect = db.dialect();
    let rows = db
        .text_rows(
            &format!(
                "SELECT {}, {}, {} FROM streams",
                number_text(dialect, "COALESCE(MAX(revision), 0)"),
                number_text(dialect, "COUNT(*)"),
                // Each term under 2^30: no sum of them overflows.
                number_text(dialect, "COALESCE(SUM(revision % 1000000007), 0)")
            ),
            &[],
        )
        .await?;
    let number = |column: usize| {
        rows.first()
            .and_then(|row| row[column].as_deref())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0)
    };
    Ok((number(0), number(1), number(2)))
}

/// The checkpoints of `source` in `stream`.
pub async fn checkpoints(db: &mut Db, stream: &str, source: &str) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = db
        .text_rows(
            "SELECT item, position, state FROM source_checkpoints WHERE stream = ? AND source = ? ORDER BY item",
            &[Param::Text(stream.to_string()), Param::Text(source.to_string())],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|mut row| Checkpoint {
            state: row[2].take(),
            position: row[1].take().unwrap_or_default(),
            item: row[0].take().unwrap_or_default(),
        })
        .collect())
}

/// Saves `checkpoints` of `source` in `stream` (replacing those of the same items) and
/// forgets those of `forgotten` items, in one transaction.
pub async fn save_checkpoints(
    db: &mut Db,
    stream: &str,
    source: &str,
    checkpoints: &[Checkpoint],
    forgotten: &[String],
) -> Result<(), StoreError> {
    let statements = checkpoint_statements(db.dialect(), stream, source, checkpoints, forgotten, false);
    db.run_in_transaction(statements.into_iter()).await?;
    Ok(())
}

/// Writes `events` and then saves `checkpoints` (forgetting `forgotten`) in one transaction:
/// a source's change and where it got to are stored together or not at all, so a source
/// killed at any moment resumes exactly after the last change it wrote. The checkpoints are
/// saved only while the stream is active: a write that finishes after the stream was stopped
/// (which cleared them) leaves none behind. Returns the events new to `events_table`.
pub async fn record_changes(
    db: &mut Db,
    events_table: &str,
    events: &[EventRow],
    stream: &str,
    source: &str,
    checkpoints: &[Checkpoint],
    forgotten: &[String],
) -> Result<u64, StoreError> {
    let statements = checkpoint_statements(db.dialect(), stream, source, checkpoints, forgotten, true);
    let rows: Vec<&EventRow> = events.iter().collect();
    let _turn = db.begin_write().await?;
    let written = async {
        let added = insert_events(db, events_table, &rows).await?;
        for (sql, params) in &statements {
            db.run(sql, params).await?;
        }
        Ok::<u64, StoreError>(added)
    }
    .await;
    match written {
        Ok(added) => {
            db.commit().await?;
            Ok(added)
        }
        Err(error) => {
            let _ = db.execute("ROLLBACK").await;
            Err(error)
        }
    }
}

/// The statements saving `checkpoints` and forgetting `forgotten`; with `while_active`, a
/// checkpoint is saved only if the stream is active then.
fn checkpoint_statements(
    dialect: Dialect,
    stream: &str,
    source: &str,
    checkpoints: &[Checkpoint],
    forgotten: &[String],
    while_active: bool,
) -> Vec<(String, Vec<Param>)> {
    let at = time_placeholder(dialect);
    let columns = "stream, source, item, position, state, updated_at";
    let values = if while_active {
        let from = if dialect == Dialect::MySql {
            " FROM DUAL"
        } else {
            ""
        };
        format!(
            "SELECT ?, ?, ?, ?, ?, {at}{from} WHERE EXISTS \
             (SELECT 1 FROM streams WHERE name = ? AND status = 'active')"
        )
    } else {
        format!("VALUES (?, ?, ?, ?, ?, {at})")
    };
    let sql = match dialect {
        Dialect::MySql => format!(
            "INSERT INTO source_checkpoints ({columns}) {values} \
             ON DUPLICATE KEY UPDATE position = VALUES(position), state = VALUES(state), updated_at = VALUES(updated_at)"
        ),
        _ => format!(
            "INSERT INTO source_checkpoints ({columns}) {values} \
             ON CONFLICT (stream, source, item) DO UPDATE SET position = excluded.position, \
             state = excluded.state, updated_at = excluded.updated_at"
        ),
    };
    let key = || vec![Param::Text(stream.to_string()), Param::Text(source.to_string())];
    let saves = checkpoints.iter().map(|checkpoint| {
        let mut params = key();
        params.extend([
            Param::Text(checkpoint.item.clone()),
            Param::Text(checkpoint.position.clone()),
            Param::MaybeText(checkpoint.state.clone()),
            now_param(dialect),
        ]);
        if while_active {
            params.push(Param::Text(stream.to_string()));
        }
        (sql.clone(), params)
    });
    let forgets = forgotten.iter().map(|item| {
        let mut params = key();
        params.push(Param::Text(item.clone()));
        (
            "DELETE FROM source_checkpoints WHERE stream = ? AND source = ? AND item = ?".to_string(),
            params,
        )
    });
    saves.chain(forgets).collect()
}

/// Forgets the checkpoints of `source` in `stream`, or of every source of it; returns how
/// many.
pub async fn clear_checkpoints(db: &mut Db, stream: &str, source: Option<&str>) -> Result<u64, StoreError> {
    match source {
        Some(source) => {
            db.run(
                "DELETE FROM source_checkpoints WHERE stream = ? AND source = ?",
                &[Param::Text(stream.to_string()), Param::Text(source.to_string())],
            )
            .await
        }
        None => {
            db.run(
                "DELETE FROM source_checkpoints WHERE stream = ?",
                &[Param::Text(stream.to_string())],
            )
            .await
        }
    }
}

/// Where an event came from, and the version of what it watches the change led to.
#[derive(Debug, Clone)]
pub struct ChangeOrigin<'a> {
    /// The stream.
    pub stream: &'a str,
    /// The source.
    pub source: &'a str,
    /// What changed (a zone).
    pub subject: &'a str,
    /// The version it changed to (a file's fingerprint, a zone's serial).
    pub version: &'a str,
}

/// The events of one change: a `dnsmill.record.added` or `dnsmill.record.removed` row per
/// record, keyed by the origin, the record and the version, so writing them twice writes them
/// once.
pub fn change_events(origin: &ChangeOrigin<'_>, added: &RecordSet, removed: &RecordSet) -> Vec<EventRow> {
    let mut rows = Vec::with_capacity(added.len() + removed.len());
    for (kind, records) in [
        ("dnsmill.record.added", added),
        ("dnsmill.record.removed", removed),
    ] {
        for record in records.iter() {
            let line = record.to_string();
            rows.push(source_event(origin, kind, record_data(origin, &record), &line));
        }
    }
    rows
}

/// One event (a record changed, `dnsmill.zone.transferred`, `dnsmill.domains.added`): `data`
/// is its JSON, `identity` what makes it this event and no other within its origin.
pub fn source_event(origin: &ChangeOrigin<'_>, kind: &str, data: String, identity: &str) -> EventRow {
    let key = event_key(&[
        "coordinator",
        origin.stream,
        origin.source,
        kind,
        origin.subject,
        origin.version,
        identity,
    ]);
    EventRow {
        id: key.clone(),
        key,
        source: format!("dnsmill:coordinator/{}/{}", origin.stream, origin.source),
        kind: kind.to_string(),
        subject: Some(origin.subject.to_string()),
        time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|since| EventTime::from_epoch_seconds(since.as_secs_f64())),
        data,
        stream: origin.stream.to_string(),
        sequence: 0,
    }
}

fn record_data(origin: &ChangeOrigin<'_>, record: &RecordRef<'_>) -> String {
    serde_json::json!({
        "zone": origin.subject,
        "version": origin.version,
        "record": record,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use crate::record::{RecordClass, RecordType};

    fn set(lines: &[(&str, &str)]) -> RecordSet {
        lines
            .iter()
            .map(|(name, rdata)| Record {
                name: name.to_string(),
                rtype: RecordType::A,
                class: RecordClass::IN,
                ttl: 300,
                rdata: rdata.to_string(),
            })
            .collect()
    }

    #[test]
    fn change_events_are_keyed_by_origin_record_and_version() {
        let origin = ChangeOrigin {
            stream: "zones",
            source: "dir",
            subject: "example.com.",
            version: "v2",
        };
        let added = set(&[("a.example.com.", "192.0.2.1")]);
        let removed = set(&[("b.example.com.", "192.0.2.2")]);
        let first = change_events(&origin, &added, &removed);
        let again = change_events(&origin, &added, &removed);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].key, again[0].key);
        assert_ne!(first[0].key, first[1].key);
        assert_eq!(first[0].kind, "dnsmill.record.added");
        assert!(first[0].data.contains("\"rdata\":\"192.0.2.1\""));
        let later = change_events(
            &ChangeOrigin {
                version: "v3",
                ..origin
            },
            &added,
            &removed,
        );
        assert_ne!(first[0].key, later[0].key);
    }

    #[test]
    fn the_schema_is_made_for_every_dialect() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let statements = coordination_schema(dialect).unwrap();
            assert_eq!(statements.len(), 4);
            assert!(statements[3].contains("PRIMARY KEY (stream, source, item)"));
        }
    }
}
