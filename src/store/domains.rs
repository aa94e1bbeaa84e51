//! The `domains` job table: which names to resolve, and how each went.
//!
//! A domain is `new` when added, `queued` once a publisher has put it on the queue, and then
//! `resolved`, `nxdomain` or `failed` when a worker reports it. It is due again when it was
//! never resolved, when its last resolution is older than the maximum age, or when it failed
//! fewer times in a row than allowed. Every statement binds its values; the SQL differs per
//! dialect only in placeholders, timestamps and the upsert clause.

use std::time::Duration;

use super::error::StoreError;
use super::schema::Db;
use super::sql::{time_placeholder, time_text, Param};
use super::time::Timestamp;
use super::url::Dialect;

/// A domain's state.
pub mod status {
    /// Added, never published.
    pub const NEW: &str = "new";
    /// On the queue, waiting for a worker.
    pub const QUEUED: &str = "queued";
    /// A nameserver answered for it.
    pub const RESOLVED: &str = "resolved";
    /// It does not exist.
    pub const NXDOMAIN: &str = "nxdomain";
    /// No usable answer (timeouts, SERVFAIL, ...); `last_error` says which.
    pub const FAILED: &str = "failed";
}

/// When a domain is due for publishing.
#[derive(Debug, Clone, Copy)]
pub struct DuePolicy {
    /// Resolved (or NXDOMAIN) longer ago than this: due again.
    pub max_age: Duration,
    /// Failed fewer times in a row than this: due again.
    pub max_attempts: u32,
    /// Queued longer ago than this: its message is taken for lost, and it is due again
    /// (None: a queued domain waits for its worker however long).
    pub requeue_after: Option<Duration>,
}

/// Most rows in one multi-row statement (5 values each stays far below every store's limit).
const ROWS_PER_STATEMENT: usize = 1000;

/// Adds `names` (already checked, absolute, lowercase) as `new`; names already present are
/// left as they are. Returns how many were added.
pub async fn add(db: &mut Db, names: &[String]) -> Result<u64, StoreError> {
    let dialect = db.dialect();
    let statements = names.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let values = vec!["(?)"; chunk.len()].join(", ");
        let sql = match dialect {
            Dialect::MySql => format!("INSERT IGNORE INTO domains (name) VALUES {values}"),
            _ => format!("INSERT INTO domains (name) VALUES {values} ON CONFLICT (name) DO NOTHING"),
        };
        let params = chunk.iter().map(|name| Param::Text(name.clone())).collect();
        (sql, params)
    });
    db.run_in_transaction(statements).await
}

/// The condition a due domain meets; binds the age cutoff, the attempt limit and the requeue
/// cutoff, in that order.
fn due_condition(dialect: Dialect) -> String {
    let cutoff = time_placeholder(dialect);
    format!(
        "(status = 'new' \
          OR (status IN ('resolved', 'nxdomain') AND last_resolved_at < {cutoff}) \
          OR (status = 'failed' AND attempts < ?) \
          OR (status = 'queued' AND queued_at < {cutoff}))"
    )
}

fn due_params(dialect: Dialect, policy: DuePolicy) -> Vec<Param> {
    let now = Timestamp::now();
    // Without a requeue cutoff, one no row can be older than: the SQL stays the same.
    let requeue_cutoff = policy
        .requeue_after
        .map_or(Timestamp::EPOCH, |after| now.minus(after));
    vec![
        Param::Text(time_text(dialect, now.minus(policy.max_age))),
        Param::Int(i64::from(policy.max_attempts)),
        Param::Text(time_text(dialect, requeue_cutoff)),
    ]
}

/// Up to `limit` due domains with ids above `after`, in id order (keyset pagination: the
/// next page starts after the last id of this one).
pub async fn due(
    db: &mut Db,
    after: i64,
    limit: u32,
    policy: DuePolicy,
) -> Result<Vec<(i64, String)>, StoreError> {
    let dialect = db.dialect();
    let sql = format!(
        "SELECT id, name FROM domains WHERE id > ? AND {} ORDER BY id LIMIT ?",
        due_condition(dialect)
    );
    let mut params = vec![Param::Int(after)];
    params.extend(due_params(dialect, policy));
    params.push(Param::Int(i64::from(limit)));
    db.ids_and_names(&sql, &params).await
}

/// How many domains are due.
pub async fn count_due(db: &mut Db, policy: DuePolicy) -> Result<u64, StoreError> {
    let dialect = db.dialect();
    let sql = format!(
        "SELECT CAST(COUNT(*) AS {}), 'due' FROM domains WHERE {}",
        if dialect == Dialect::MySql {
            "SIGNED"
        } else {
            "BIGINT"
        },
        due_condition(dialect)
    );
    let rows = db.ids_and_names(&sql, &due_params(dialect, policy)).await?;
    Ok(rows
        .first()
        .map_or(0, |(count, _)| u64::try_from(*count).unwrap_or(0)))
}

/// Marks the domains with these ids that are still due under `policy` `queued`, in one
/// transaction.
pub async fn mark_queued(db: &mut Db, ids: &[i64], policy: DuePolicy) -> Result<u64, StoreError> {
    let dialect = db.dialect();
    let statements = ids.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        // Only domains still due: one a worker resolved since the page was read (its message
        // was taken at once) keeps the outcome it has.
        let sql = format!(
            "UPDATE domains SET status = 'queued', queued_at = {} WHERE id IN ({placeholders}) AND {}",
            time_placeholder(dialect),
            due_condition(dialect)
        );
        let mut params = vec![Param::Text(time_text(dialect, Timestamp::now()))];
        params.extend(chunk.iter().map(|id| Param::Int(*id)));
        params.extend(due_params(dialect, policy));
        (sql, params)
    });
    db.run_in_transaction(statements).await
}

/// Returns every `queued` domain to `new` (after the queue was purged); returns how many.
pub async fn reset_queued(db: &mut Db) -> Result<u64, StoreError> {
    db.run("UPDATE domains SET status = 'new' WHERE status = 'queued'", &[])
        .await
}

/// How one domain's resolution went, from all its (name, type) results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One of [`status`]'s values.
    pub status: &'static str,
    /// For `failed`: the statuses and types that failed.
    pub error: Option<String>,
}

/// Records each domain's outcome: status, time, error; `attempts` counts failures in a row
/// (a success sets it back to 0). Domains not in the table yet are added. One transaction.
pub async fn record_outcomes(db: &mut Db, outcomes: &[(String, Outcome)]) -> Result<u64, StoreError> {
    let _turn = db.begin_write().await?;
    match upsert_outcomes(db, outcomes).await {
        Ok(recorded) => {
            db.commit().await?;
            Ok(recorded)
        }
        Err(error) => {
            let _ = db.execute("ROLLBACK").await;
            Err(error)
        }
    }
}

/// [`record_outcomes`] inside a transaction the caller holds.
pub async fn upsert_outcomes(db: &mut Db, outcomes: &[(String, Outcome)]) -> Result<u64, StoreError> {
    let dialect = db.dialect();
    let now = time_text(dialect, Timestamp::now());
    let time = time_placeholder(dialect);
    let upsert = match dialect {
        Dialect::MySql => {
            "ON DUPLICATE KEY UPDATE \
             attempts = IF(VALUES(status) = 'failed', attempts + 1, 0), \
             status = VALUES(status), last_resolved_at = VALUES(last_resolved_at), \
             last_error = VALUES(last_error)"
        }
        _ => {
            "ON CONFLICT (name) DO UPDATE SET \
             attempts = CASE WHEN excluded.status = 'failed' THEN domains.attempts + 1 ELSE 0 END, \
             status = excluded.status, last_resolved_at = excluded.last_resolved_at, \
             last_error = excluded.last_error"
        }
    };
    let mut recorded = 0;
    for chunk in outcomes.chunks(ROWS_PER_STATEMENT) {
        let row = format!("(?, ?, ?, {time}, ?)");
        let values = vec![row.as_str(); chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO domains (name, status, attempts, last_resolved_at, last_error) VALUES {values} {upsert}"
        );
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (name, outcome) in chunk {
            params.push(Param::Text(name.clone()));
            params.push(Param::Text(outcome.status.to_string()));
            params.push(Param::Int(i64::from(outcome.status == status::FAILED)));
            params.push(Param::Text(now.clone()));
            params.push(Param::MaybeText(outcome.error.clone()));
        }
        db.run(&sql, &params).await?;
        recorded += chunk.len() as u64;
    }
    Ok(recorded)
}

/// A page of due domains, made into the queue messages that carry them.
#[derive(Debug, Default)]
pub struct DuePage {
    /// The page's domain ids, to mark `queued` once the messages are on the queue.
    pub ids: Vec<i64>,
    /// One message body per batch of domains.
    pub bodies: Vec<Vec<u8>>,
    /// The last id of the page: the next page starts after it.
    pub last_id: i64,
}

/// How the domains of a page are made into message bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    /// dnsmill's batch messages of at most this many domains each.
    Batches(usize),
    /// One domain per message, the whole body, for the workers users run today.
    Bare,
}

/// Up to `limit` due domains with ids above `after`, as message bodies in `format`.
pub async fn due_page(
    db: &mut Db,
    after: i64,
    limit: u32,
    format: MessageFormat,
    policy: DuePolicy,
) -> Result<DuePage, StoreError> {
    let rows = due(db, after, limit, policy).await?;
    let mut page = DuePage {
        last_id: rows.last().map_or(after, |(id, _)| *id),
        ..DuePage::default()
    };
    page.ids = rows.iter().map(|(id, _)| *id).collect();
    page.bodies = match format {
        MessageFormat::Batches(size) => rows
            .chunks(size.max(1))
            .map(|chunk| encode_batch(chunk.iter().map(|(_, name)| name.as_str())))
            .collect(),
        // Stored names are absolute; today's tools send them without the final dot.
        MessageFormat::Bare => rows
            .iter()
            .map(|(_, name)| name.strip_suffix('.').unwrap_or(name).as_bytes().to_vec())
            .collect(),
    };
    Ok(page)
}

/// A work-queue message: a batch of domains to resolve, one bare domain, or the request that
/// the worker which takes it stops. On the wire, JSON: `{"kind": "domains", "domains":
/// [...]}` or `{"kind": "stop"}`, so other producers and consumers can speak it too; and, as
/// the publishers users run today send them, a bare domain as UTF-8 text, or `__STOP__`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchMessage {
    /// Names to resolve (as given; the worker checks each).
    Domains(Vec<String>),
    /// One domain, the whole body of its message: workers gather these into batches.
    Bare(String),
    /// The worker that takes this finishes.
    Stop,
}

/// The stop message of the publishers users run today.
const BARE_STOP: &[u8] = b"__STOP__";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum WireMessage {
    Domains { domains: Vec<String> },
    Stop,
}

/// The body of a batch message for `names`.
pub fn encode_batch<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'b> {
        kind: &'static str,
        domains: Vec<&'b str>,
    }
    let body = Body {
        kind: "domains",
        domains: names.collect(),
    };
    // Serialising strings and a static key into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The body of a stop message.
pub fn encode_stop() -> Vec<u8> {
    br#"{"kind":"stop"}"#.to_vec()
}

/// Reads a message body; the error says what is wrong with it.
pub fn decode_batch(body: &[u8]) -> Result<BatchMessage, String> {
    let text = body.trim_ascii();
    if text == BARE_STOP {
        return Ok(BatchMessage::Stop);
    }
    if !text.starts_with(b"{") {
        // Not JSON: a bare domain, the whole body. One that is not a domain name is a message
        // no worker can ever handle, so it is refused here, to be dead-lettered.
        let name = std::str::from_utf8(text).map_err(|_| "not JSON, nor UTF-8 text".to_string())?;
        crate::record::name::domain_name(name).map_err(|reason| {
            format!(
                "not JSON, nor one domain name ({reason}): {:?}",
                name.chars().take(80).collect::<String>()
            )
        })?;
        return Ok(BatchMessage::Bare(name.to_string()));
    }
    match serde_json::from_slice::<WireMessage>(body) {
        Ok(WireMessage::Domains { domains }) => Ok(BatchMessage::Domains(domains)),
        Ok(WireMessage::Stop) => Ok(BatchMessage::Stop),
        Err(error) if error.is_syntax() || error.is_eof() => Err(format!("not JSON: {error}")),
        Err(error) => Err(format!(
            r#"not a batch (expected {{"kind": "domains", "domains": [names]}} or {{"kind": "stop"}}): {error}"#
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_messages_round_trip() {
        let body = encode_batch(["a.example.", "b.example."].into_iter());
        assert_eq!(
            body,
            br#"{"kind":"domains","domains":["a.example.","b.example."]}"#
        );
        assert_eq!(
            decode_batch(&body),
            Ok(BatchMessage::Domains(vec![
                "a.example.".into(),
                "b.example.".into()
            ]))
        );
        assert_eq!(decode_batch(&encode_stop()), Ok(BatchMessage::Stop));
    }

    #[test]
    fn bare_domains_and_the_bare_stop_are_read_as_todays_publishers_send_them() {
        assert_eq!(
            decode_batch(b"example.com"),
            Ok(BatchMessage::Bare("example.com".into()))
        );
        assert_eq!(
            decode_batch(b"  b\xc3\xbccher.example\n"),
            Ok(BatchMessage::Bare("bücher.example".into()))
        );
        assert_eq!(decode_batch(b"__STOP__"), Ok(BatchMessage::Stop));
        for (body, reason) in [
            (&b"two words"[..], "not JSON, nor one domain name"),
            (b"", "not JSON, nor one domain name"),
            (b"\x00garbage", "control character"),
            (b"\xff\xfe", "not JSON, nor UTF-8"),
        ] {
            let error = decode_batch(body).unwrap_err();
            assert!(error.contains(reason), "{body:?}: {error}");
        }
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        assert!(decode_batch(b"{not json").unwrap_err().starts_with("not JSON"));
        assert!(decode_batch(br#"{"kind":"other"}"#)
            .unwrap_err()
            .starts_with("not a batch"));
        assert!(decode_batch(br#"{"kind":"domains","domains":[1]}"#)
            .unwrap_err()
            .starts_with("not a batch"));
    }
}
