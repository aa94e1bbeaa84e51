//! The event writer's core: JetStream streams drained into tables in batches, every message
//! written once or set aside with its reason, never dropped.
//!
//! - [`jetstream`]: the streams and the durable pull consumer, made or checked at start (a live
//!   consumer that differs is updated or refused with the difference), dead letters, acks;
//! - [`processors`]: what a message means, as rows (records, results, events, or a custom one);
//! - [`engine`]: per stream, one task reads deliveries and sorts them into per-route batches;
//!   a batch full or old enough is written by a task of its own (one transaction), and its
//!   deliveries are acked only after the commit. Data the store refuses is found by halving
//!   and dead-lettered; a store that is down trips the [`Breaker`], which stops the reading
//!   while the batches in hand are retried in smaller parts, their deliveries kept alive.
//!
//! It knows nothing of Python: `py` is the binding, and a custom processor arrives as a
//! [`processors::Custom`].

pub mod engine;
pub mod jetstream;
pub mod processors;
pub(crate) mod py;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::StoreUrl;
use processors::Processor;

/// A stream the writer drains.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Its name.
    pub name: String,
    /// The subjects it holds (made with these when missing).
    pub subjects: Vec<String>,
    /// The durable consumer every writer process shares.
    pub durable: String,
    /// Where messages that cannot be written go.
    pub dead_letter_subject: String,
    /// Deliveries of a message before it is dead-lettered.
    pub max_deliver: u32,
    /// How long a delivery may stay unsettled before it is delivered again.
    pub ack_wait: Duration,
}

/// Which processor writes the messages of some subjects, in what batches.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// The subjects (`*` one token, `>` the rest).
    pub subject: String,
    /// What the messages mean.
    pub processor: Processor,
    /// The table its rows go to.
    pub table: String,
    /// Messages per batch.
    pub batch_size: usize,
    /// Longest a message waits for its batch to fill.
    pub batch_timeout: Duration,
}

/// Everything the writer needs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The NATS server.
    pub nats_url: String,
    /// The store written to.
    pub store: StoreUrl,
    /// The streams.
    pub streams: Vec<StreamConfig>,
    /// The routes, tried in order.
    pub routes: Vec<RouteConfig>,
    /// Batches of one route written side by side, each on its own connection.
    pub connections_per_route: usize,
}

/// Whether `subject` is one of `pattern`'s (`*` one token, `>` one or more at the end).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut patterns = pattern.split('.');
    let mut tokens = subject.split('.');
    loop {
        match (patterns.next(), tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(expected), Some(token)) if expected == token => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// What one route has done.
#[derive(Debug, Default)]
pub struct RouteStats {
    /// Messages taken.
    pub messages: AtomicU64,
    /// Rows written (records, outcomes, events; a row written again counts again).
    pub rows: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Time spent writing batches, microseconds.
    pub batch_micros: AtomicU64,
    /// Messages acked after their batch's commit.
    pub acked: AtomicU64,
    /// Messages dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Deliveries given back (on stopping with the store down, or a dead letter not stored).
    pub naks: AtomicU64,
    /// Messages that arrived delivered before.
    pub redeliveries: AtomicU64,
    /// Writes retried after the store failed.
    pub retries: AtomicU64,
}

/// What one stream has done.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Deliveries received.
    pub received: AtomicU64,
    /// Messages in the stream not yet delivered to the consumer, as of the last delivery.
    pub lag: AtomicU64,
    /// Messages no route takes (dead-lettered).
    pub unrouted: AtomicU64,
    /// Errors reading deliveries (missed heartbeats, a lost connection).
    pub read_errors: AtomicU64,
}

/// Stops the reading while the store is down: opened by a write that failed for the store's
/// sake, closed by the next one that commits. The writes of the batches in hand are the probes.
#[derive(Debug)]
pub struct Breaker {
    open: tokio::sync::watch::Sender<bool>,
    /// Times it opened.
    pub opened: AtomicU64,
    since: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            open: tokio::sync::watch::Sender::new(false),
            opened: AtomicU64::new(0),
            since: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }
}

impl Breaker {
    /// Opens it (if closed) for `reason`.
    pub fn trip(&self, reason: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
        let was_open = self.open.send_replace(true);
        if !was_open {
            self.opened.fetch_add(1, Ordering::Relaxed);
            *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            tracing::warn!("the store is down ({reason}); reading paused until a write commits");
        }
    }

    /// Closes it (if open): a write committed.
    pub fn reset(&self) {
        if self.open.send_replace(false) {
            *self.since.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::info!("the store is back; reading again");
        }
    }

    /// Whether reading is paused.
    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Returns once it is closed.
    pub async fn closed(&self) {
        let mut state = self.open.subscribe();
        let _ = state.wait_for(|open| !open).await;
    }

    /// Seconds it has been open (0 when closed).
    pub fn open_seconds(&self) -> f64 {
        self.since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(0.0, |since| since.elapsed().as_secs_f64())
    }

    /// Why it last opened.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The writer's counters, readable while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Per route, in the configured order.
    pub routes: Vec<(String, RouteStats)>,
    /// Per stream.
    pub streams: Vec<(String, StreamStats)>,
    /// The store breaker.
    pub breaker: Breaker,
    /// Set once every stream reads (consumers checked, connections open).
    pub running: AtomicBool,
}

impl Stats {
    /// Counters for `config`'s routes and streams, all zero.
    pub fn for_config(config: &IngestConfig) -> Stats {
        Stats {
            routes: config
                .routes
                .iter()
                .map(|route| (route.subject.clone(), RouteStats::default()))
                .collect(),
            streams: config
                .streams
                .iter()
                .map(|stream| (stream.name.clone(), StreamStats::default()))
                .collect(),
            ..Stats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_as_nats_matches_them() {
        assert!(subject_matches("dns.records", "dns.records"));
        assert!(subject_matches("dns.*", "dns.records"));
        assert!(!subject_matches("dns.*", "dns.records.a"));
        assert!(subject_matches("dns.>", "dns.records.a"));
        assert!(!subject_matches("dns.>", "dns"));
        assert!(!subject_matches("dns.records", "dns"));
        assert!(subject_matches(">", "anything.at.all"));
    }
}
