//! The hot loop: deliveries in, batches written, acks out.
//!
//! Per stream, one task reads deliveries (pulls of up to `pull` messages, kept topped up by
//! the client) and appends each to the batch of the first route whose subject takes it. A
//! batch is written when it holds `batch_size` messages or its first has waited
//! `batch_timeout`, by a task of its own on one of the route's connections, so reading goes on
//! while batches commit; when every connection is busy, reading waits (the back-pressure that
//! keeps memory bounded).
//!
//! A batch task turns its messages into rows (off the runtime's workers), dead-letters the
//! ones that mean nothing, writes the rest in one transaction and acks them after the commit.
//! The store refusing the data splits the batch in halves until the messages at fault are
//! found and dead-lettered. The store failing (down, timing out) trips the breaker: reading
//! pauses, and the batch is tried again after a growing pause in smaller parts, its deliveries
//! kept alive meanwhile; the first commit closes the breaker. On stop, reading ends, the
//! batches in hand are written and acked, and what cannot be written is given back.

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::MessagesErrorKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self, AckKind, Context};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::jetstream::{consumer_config, dead_letter, ensure_consumer, ensure_streams, settle, Origin};
use super::processors::{MessageView, Output, Processor, Rows};
use super::{subject_matches, IngestConfig, RouteConfig, RouteStats, Stats, StreamConfig};
use crate::error::Error;
use crate::record::RecordSet;
use crate::store::batch::BatchStore;
use crate::store::events::{EventRow, EventStore};
use crate::store::{StoreError, StoreErrorKind};

/// Longest pause between two tries of a batch while the store is down.
const MAX_PROBE_PAUSE: Duration = Duration::from_secs(30);

/// Delay of a delivery given back (the store is down, the writer is stopping) the first time;
/// it doubles with each delivery.
const GIVE_BACK_DELAY: Duration = Duration::from_secs(5);

/// Runs the writer until `stop` is cancelled (then drains) or a fault no retry mends (a
/// consumer deleted, the store refusing the table): connects, makes or checks the streams and
/// consumers, opens the route's connections, and reads every stream.
pub async fn run(config: IngestConfig, stats: Arc<Stats>, stop: CancellationToken) -> Result<(), Error> {
    if config.streams.is_empty() || config.routes.is_empty() {
        return Err(Error::Config(
            "the event writer needs at least one stream and one route".into(),
        ));
    }
    let client = super::jetstream::connect(&config.nats_url).await?;
    let context = jetstream::new(client.clone());
    let largest_batch = config
        .routes
        .iter()
        .map(|route| route.batch_size)
        .max()
        .unwrap_or(1);
    let pull = largest_batch.clamp(100, 10_000);
    // Room for every batch a route may hold or write at once, and one pull more.
    let max_ack_pending = config
        .routes
        .iter()
        .map(|route| route.batch_size * (config.connections_per_route + 1))
        .sum::<usize>()
        + pull;
    let mut consumers = Vec::with_capacity(config.streams.len());
    for stream in &config.streams {
        ensure_streams(&context, stream).await?;
        let wanted = consumer_config(stream, i64::try_from(max_ack_pending).unwrap_or(i64::MAX));
        consumers.push(ensure_consumer(&context, stream, wanted).await?);
    }
    let mut routes = Vec::with_capacity(config.routes.len());
    for (index, route) in config.routes.iter().enumerate() {
        routes.push(Arc::new(Route::open(index, route, &config).await?));
    }
    let shared = Arc::new(Shared {
        context,
        stats,
        stop,
        routes,
    });
    shared.stats.running.store(true, Ordering::Relaxed);
    let mut readers = JoinSet::new();
    for (index, (stream, consumer)) in config.streams.iter().zip(consumers).enumerate() {
        readers.spawn(read_stream(
            Arc::clone(&shared),
            index,
            Arc::new(stream.clone()),
            consumer,
            pull,
        ));
    }
    let mut outcome = Ok(());
    while let Some(done) = readers.join_next().await {
        if let Err(error) = flatten(done) {
            // One stream failing stops them all: the process exits with the reason.
            shared.stop.cancel();
            if outcome.is_ok() {
                outcome = Err(error);
            }
        }
    }
    shared.stats.running.store(false, Ordering::Relaxed);
    // The acks are on their way; make sure they left before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(5), client.flush()).await;
    for route in &shared.routes {
        for sink in route.sinks.lock().await.iter_mut() {
            sink.close().await;
        }
    }
    outcome
}

struct Shared {
    context: Context,
    stats: Arc<Stats>,
    stop: CancellationToken,
    routes: Vec<Arc<Route>>,
}

impl Shared {
    fn route_stats(&self, route: usize) -> &RouteStats {
        &self.stats.routes[route].1
    }
}

/// A route and its connections: a permit per connection, a connection per permit.
struct Route {
    index: usize,
    config: RouteConfig,
    sinks: tokio::sync::Mutex<Vec<Sink>>,
    slots: Arc<Semaphore>,
}

impl Route {
    async fn open(index: usize, config: &RouteConfig, ingest: &IngestConfig) -> Result<Route, Error> {
        let connections = ingest.connections_per_route.max(1);
        let mut sinks = Vec::with_capacity(connections);
        for _ in 0..connections {
            sinks.push(Sink::open(config, ingest).await?);
        }
        Ok(Route {
            index,
            config: config.clone(),
            sinks: tokio::sync::Mutex::new(sinks),
            slots: Arc::new(Semaphore::new(connections)),
        })
    }
}

/// A connection writing one route's rows.
enum Sink {
    Records(BatchStore),
    Events(EventStore),
}

impl Sink {
    async fn open(route: &RouteConfig, ingest: &IngestConfig) -> Result<Sink, Error> {
        let store = ingest.store.clone();
        Ok(match route.processor.output() {
            Output::Records => {
                let source = format!("nats:{}", route.subject);
                Sink::Records(BatchStore::open(store, &route.table, Some(source)).await?)
            }
            Output::Events => Sink::Events(EventStore::open(store, &route.table).await?),
        })
    }

    /// Writes `rows` in one transaction; returns the rows written.
    async fn write(&mut self, rows: &[&Rows]) -> Result<u64, StoreError> {
        match self {
            Sink::Records(store) => {
                let mut sets: Vec<&RecordSet> = Vec::with_capacity(rows.len());
                let mut outcomes = Vec::new();
                for row in rows {
                    if let Rows::Records {
                        records,
                        outcomes: more,
                    } = row
                    {
                        sets.push(records);
                        outcomes.extend(more.iter().cloned());
                    }
                }
                let stored = store.store(&sets, &outcomes, false).await?;
                Ok(stored.records + stored.outcomes)
            }
            Sink::Events(store) => {
                let events: Vec<&EventRow> = rows
                    .iter()
                    .filter_map(|row| match row {
                        Rows::Events(events) => Some(events.iter()),
                        Rows::Records { .. } => None,
                    })
                    .flatten()
                    .collect();
                store.write(&events).await
            }
        }
    }

    async fn close(&mut self) {
        match self {
            Sink::Records(store) => store.close().await,
            Sink::Events(store) => store.close().await,
        }
    }
}

/// A batch being gathered.
#[derive(Default)]
struct Gathering {
    messages: Vec<jetstream::Message>,
    since: Option<Instant>,
}

/// Reads one stream until stop, then writes what it holds and waits for its batches.
async fn read_stream(
    shared: Arc<Shared>,
    index: usize,
    stream: Arc<StreamConfig>,
    consumer: PullConsumer,
    pull: usize,
) -> Result<(), Error> {
    let stats = &shared.stats.streams[index].1;
    let mut gathering: Vec<Gathering> = shared.routes.iter().map(|_| Gathering::default()).collect();
    let mut writes: JoinSet<Result<(), Error>> = JoinSet::new();
    let mut deliveries = None;
    let mut failures = 0u32;
    let outcome: Result<(), Error> = loop {
        let deadline = gathering
            .iter()
            .zip(&shared.routes)
            .filter_map(|(batch, route)| batch.since.map(|since| since + route.config.batch_timeout))
            .min();
        if shared.stats.breaker.is_open() {
            // The store is down: read nothing more until a batch in hand commits. The pull
            // subscription goes, or its client would keep pulling deliveries nobody reads
            // (they return to the durable after their ack wait, and are read again later).
            deliveries = None;
            tokio::select! {
                _ = shared.stop.cancelled() => break Ok(()),
                _ = shared.stats.breaker.closed() => {}
                _ = sleep_until(deadline), if deadline.is_some() => {
                    write_expired(&shared, &stream, &mut gathering, &mut writes).await;
                }
                Some(done) = writes.join_next(), if !writes.is_empty() => {
                    if let Err(error) = flatten(done) {
                        break Err(error);
                    }
                }
            }
            continue;
        }
        let Some(messages) = deliveries.as_mut() else {
            match consumer
                .stream()
                .max_messages_per_batch(pull)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
            {
                Ok(opened) => {
                    deliveries = Some(opened);
                    failures = 0;
                }
                Err(error) => {
                    failures += 1;
                    stats.read_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("stream {}: cannot read ({error}); trying again", stream.name);
                    if pause_unless_stopped(&shared.stop, pause_after(failures)).await {
                        break Ok(());
                    }
                }
            }
            continue;
        };
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break Ok(()),
            Some(done) = writes.join_next(), if !writes.is_empty() => {
                if let Err(error) = flatten(done) {
                    break Err(error);
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                write_expired(&shared, &stream, &mut gathering, &mut writes).await;
            }
            next = messages.next() => match next {
                Some(Ok(message)) => {
                    failures = 0;
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    if let Ok(info) = message.info() {
                        stats.lag.store(info.pending, Ordering::Relaxed);
                    }
                    let subject = message.subject.as_str();
                    match shared.routes.iter().find(|route| subject_matches(&route.config.subject, subject)) {
                        Some(route) => {
                            let batch = &mut gathering[route.index];
                            batch.since.get_or_insert_with(Instant::now);
                            batch.messages.push(message);
                            if batch.messages.len() >= route.config.batch_size {
                                start_write(&shared, route, &stream, batch, &mut writes, true).await;
                            }
                        }
                        None => {
                            stats.unrouted.fetch_add(1, Ordering::Relaxed);
                            let (context, stream) = (shared.context.clone(), Arc::clone(&stream));
                            writes.spawn(async move {
                                let reason = format!("no route takes subject {}", message.subject);
                                dead_letter_each(&context, &stream, "none", &[(&message, delivery_of(&message), reason)]).await;
                                Ok(())
                            });
                        }
                    }
                }
                Some(Err(error)) => {
                    stats.read_errors.fetch_add(1, Ordering::Relaxed);
                    if error.kind() == MessagesErrorKind::ConsumerDeleted {
                        break Err(Error::Queue(format!(
                            "stream {}: consumer {} was deleted while the writer read it",
                            stream.name, stream.durable
                        )));
                    }
                    // Missed heartbeats and a lost connection: the client pulls again once
                    // it is back; nothing delivered is lost (unacked deliveries come back).
                    failures += 1;
                    tracing::warn!("stream {}: {error}", stream.name);
                    if failures > 3 {
                        deliveries = None;
                        if pause_unless_stopped(&shared.stop, pause_after(failures)).await {
                            break Ok(());
                        }
                    }
                }
                None => deliveries = None,
            }
        }
    };
    // No more pulls: what the client holds unread comes back to the durable after its ack wait.
    drop(deliveries);
    if outcome.is_err() {
        // The other streams stop too, and batches waiting out a store outage give up.
        shared.stop.cancel();
    }
    // Whatever is in hand is written (and acked) before returning.
    for route in &shared.routes {
        start_write(
            &shared,
            route,
            &stream,
            &mut gathering[route.index],
            &mut writes,
            false,
        )
        .await;
    }
    let mut outcome = outcome;
    while let Some(done) = writes.join_next().await {
        if let Err(error) = flatten(done) {
            shared.stop.cancel();
            if outcome.is_ok() {
                outcome = Err(error);
            }
        }
    }
    outcome
}

/// Starts writing every batch whose first message has waited its route's `batch_timeout`.
async fn write_expired(
    shared: &Arc<Shared>,
    stream: &Arc<StreamConfig>,
    gathering: &mut [Gathering],
    writes: &mut JoinSet<Result<(), Error>>,
) {
    let now = Instant::now();
    for route in &shared.routes {
        let batch = &mut gathering[route.index];
        let due = batch
            .since
            .is_some_and(|since| since + route.config.batch_timeout <= now);
        if due && !start_write(shared, route, stream, batch, writes, true).await {
            return;
        }
    }
}

/// Starts writing `batch` on a free connection of `route`, waiting for one; false when
/// stopped while waiting (if `stoppable`), the batch then left where it is for the end of the
/// reading to write.
async fn start_write(
    shared: &Arc<Shared>,
    route: &Arc<Route>,
    stream: &Arc<StreamConfig>,
    batch: &mut Gathering,
    writes: &mut JoinSet<Result<(), Error>>,
    stoppable: bool,
) -> bool {
    if batch.messages.is_empty() {
        return true;
    }
    let slot = Arc::clone(&route.slots);
    let permit = if stoppable {
        tokio::select! {
            permit = slot.acquire_owned() => permit,
            _ = shared.stop.cancelled() => return false,
        }
    } else {
        slot.acquire_owned().await
    };
    let Ok(permit) = permit else {
        return false;
    };
    let messages = std::mem::take(batch).messages;
    let (shared, route, stream) = (Arc::clone(shared), Arc::clone(route), Arc::clone(stream));
    writes.spawn(write_batch(shared, route, stream, messages, permit));
    true
}

async fn write_batch(
    shared: Arc<Shared>,
    route: Arc<Route>,
    stream: Arc<StreamConfig>,
    messages: Vec<jetstream::Message>,
    permit: OwnedSemaphorePermit,
) -> Result<(), Error> {
    // A permit is a connection: one is always there for its holder.
    let Some(mut sink) = route.sinks.lock().await.pop() else {
        return Err(Error::Internal("a route's connection went missing".into()));
    };
    let outcome = write_with(&shared, &route, &stream, messages, &mut sink).await;
    route.sinks.lock().await.push(sink);
    drop(permit);
    outcome
}

/// One message's place in its batch and what became of it so far.
struct Parsed {
    rows: Rows,
    at: usize,
}

async fn write_with(
    shared: &Shared,
    route: &Route,
    stream: &StreamConfig,
    messages: Vec<jetstream::Message>,
    sink: &mut Sink,
) -> Result<(), Error> {
    let stats = shared.route_stats(route.index);
    let started = Instant::now();
    stats.messages.fetch_add(messages.len() as u64, Ordering::Relaxed);
    let processor = route.config.processor.clone();
    let stream_name = stream.name.clone();
    let messages = Arc::new(messages);
    // Every delivery of the batch is kept alive until it is settled, from here on: reading
    // it, writing it, waiting out the store (progress on one already settled is ignored).
    let every = (stream.ack_wait / 3).max(Duration::from_millis(100));
    let all: Vec<&jetstream::Message> = messages.iter().collect();
    let outcome = keep_alive(
        async {
            // Reading JSON and zone text is CPU work (a Python processor's too): off the
            // runtime's workers.
            let reading = Arc::clone(&messages);
            let (deliveries, processed) = tokio::task::spawn_blocking(move || {
                let deliveries: Vec<(u64, i64)> = reading.iter().map(delivery_of).collect();
                let views: Vec<MessageView<'_>> = reading
                    .iter()
                    .zip(&deliveries)
                    .map(|(message, &(sequence, _))| MessageView {
                        subject: message.subject.as_str(),
                        payload: &message.payload,
                        msg_id: message
                            .headers
                            .as_ref()
                            .and_then(|headers| headers.get("Nats-Msg-Id"))
                            .map(|value| value.as_str()),
                        stream: &stream_name,
                        sequence,
                    })
                    .collect();
                let processed = process_guarded(&processor, &views);
                (deliveries, processed)
            })
            .await
            .map_err(|e| Error::Internal(format!("a processor failed: {e}")))?;
            settle_batch(shared, route, stream, &messages, &deliveries, processed, sink).await
        },
        &all,
        every,
    )
    .await;
    if outcome.is_ok() {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.batch_micros.fetch_add(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    outcome
}

/// The processor over `views`; a processor that panics is run again message by message, so
/// the message it panics on is dead-lettered saying so and the rest go on.
fn process_guarded(processor: &Processor, views: &[MessageView<'_>]) -> Vec<Result<Rows, String>> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    catch_unwind(AssertUnwindSafe(|| processor.process(views))).unwrap_or_else(|_| {
        views
            .iter()
            .map(|view| {
                catch_unwind(AssertUnwindSafe(|| processor.process(std::slice::from_ref(view))))
                    .ok()
                    .and_then(|mut one| one.pop())
                    .unwrap_or_else(|| {
                        Err(format!(
                            "the {} processor failed on this message (a bug)",
                            processor.name()
                        ))
                    })
            })
            .collect()
    })
}

/// Dead-letters the messages that mean nothing, writes the rest (see the module notes), acks
/// what committed.
async fn settle_batch(
    shared: &Shared,
    route: &Route,
    stream: &StreamConfig,
    messages: &[jetstream::Message],
    deliveries: &[(u64, i64)],
    processed: Vec<Result<Rows, String>>,
    sink: &mut Sink,
) -> Result<(), Error> {
    let stats = shared.route_stats(route.index);
    let max_deliver = i64::from(stream.max_deliver);
    let mut rejected: Vec<(usize, String)> = Vec::new();
    let mut parsed: Vec<Parsed> = Vec::with_capacity(messages.len());
    for (at, result) in processed.into_iter().enumerate() {
        let delivered = deliveries[at].1;
        if delivered > 1 {
            stats.redeliveries.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            // Delivered over and over without being written: the writer died on it or timed
            // out each time. Set aside, so it stops coming back.
            _ if delivered > max_deliver => rejected.push((
                at,
                format!("delivered {delivered} times (max_deliver {max_deliver}) without being written"),
            )),
            Ok(rows) => parsed.push(Parsed { rows, at }),
            Err(reason) => rejected.push((at, reason)),
        }
    }
    let refused: Vec<Refused<'_>> = rejected
        .iter()
        .map(|(at, reason)| (&messages[*at], deliveries[*at], reason.clone()))
        .collect();
    let dead = dead_letter_each(&shared.context, stream, &route.config.subject, &refused).await;
    stats.dead_lettered.fetch_add(dead.stored, Ordering::Relaxed);
    stats.naks.fetch_add(dead.given_back, Ordering::Relaxed);

    let mut remaining: Vec<usize> = (0..parsed.len()).collect();
    let mut tries = 0u32;
    while !remaining.is_empty() {
        // After a failure the batch goes in smaller parts: a part that timed out may fit.
        let part_size = (remaining.len() >> tries.min(16)).max(1);
        let mut failed = None;
        let mut committed_any = false;
        let mut left = Vec::new();
        for part in remaining.chunks(part_size) {
            if failed.is_some() {
                left.extend_from_slice(part);
                continue;
            }
            let rows: Vec<(usize, &Rows)> = part.iter().map(|&p| (p, &parsed[p].rows)).collect();
            let written = write_splitting(sink, &rows).await;
            stats.rows.fetch_add(written.rows, Ordering::Relaxed);
            for &p in &written.committed {
                if settle(&messages[parsed[p].at], AckKind::Ack).await.is_err() {
                    // NATS is away: the rest would wait as long. They come back after their
                    // ack wait and are written again as the same rows.
                    break;
                }
                stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            let refused: Vec<Refused<'_>> = written
                .rejected
                .iter()
                .map(|(p, reason)| {
                    let at = parsed[*p].at;
                    (
                        &messages[at],
                        deliveries[at],
                        format!("the store refused it: {reason}"),
                    )
                })
                .collect();
            let dead = dead_letter_each(&shared.context, stream, &route.config.subject, &refused).await;
            stats.dead_lettered.fetch_add(dead.stored, Ordering::Relaxed);
            stats.naks.fetch_add(dead.given_back, Ordering::Relaxed);
            committed_any |= !written.committed.is_empty();
            if written.error.is_none() {
                // The store answered: it is up, whatever it thought of the data.
                shared.stats.breaker.reset();
            }
            if let Some(error) = written.error {
                left.extend(written.unwritten);
                failed = Some(error);
            }
        }
        remaining = left;
        let Some(error) = failed else {
            break;
        };
        let held: Vec<&jetstream::Message> = remaining.iter().map(|&p| &messages[parsed[p].at]).collect();
        match error.kind {
            StoreErrorKind::Transient | StoreErrorKind::Unavailable => {
                shared.stats.breaker.trip(&error.message);
                stats.retries.fetch_add(1, Ordering::Relaxed);
                // Parts shrink with each failure in a row; a commit between starts them over.
                tries = if committed_any { 1 } else { tries + 1 };
                let pause = pause_after(tries).min(MAX_PROBE_PAUSE);
                if !pause_unless_stopped(&shared.stop, pause).await {
                    continue;
                }
                // Stopping with the store down: the deliveries go back, to whoever is next.
                give_back(&held, stats).await;
                return Ok(());
            }
            _ => {
                give_back(&held, stats).await;
                return Err(Error::Store(
                    error.context(&format!("writing route {}", route.config.subject)),
                ));
            }
        }
    }
    Ok(())
}

/// What writing a part did.
#[derive(Default)]
struct Written {
    /// Committed (indices into the rows given).
    committed: Vec<usize>,
    /// Refused by the store, with its reason.
    rejected: Vec<(usize, String)>,
    /// Not written, when the store failed.
    unwritten: Vec<usize>,
    /// Rows written.
    rows: u64,
    /// Why the store failed (not for the data's sake).
    error: Option<StoreError>,
}

/// Writes `rows` in one transaction; when the store refuses the data, in halves, until each
/// refused row stands alone. Stops at the first failure that is not the data's.
async fn write_splitting(sink: &mut Sink, rows: &[(usize, &Rows)]) -> Written {
    let mut written = Written::default();
    let mut parts: Vec<Range<usize>> = Vec::new();
    parts.push(0..rows.len());
    while let Some(part) = parts.pop() {
        let batch: Vec<&Rows> = rows[part.clone()].iter().map(|(_, rows)| *rows).collect();
        match sink.write(&batch).await {
            Ok(count) => {
                written.rows += count;
                written.committed.extend(rows[part].iter().map(|(at, _)| *at));
            }
            // An error the store does not class (a JSON document nested too deep for MySQL, a
            // packet too large) is taken for the data's, as a refusal is: a message at fault
            // is set aside rather than stopping the writer over and over.
            Err(error) if data_fault(&error) && part.len() == 1 => {
                written.rejected.push((rows[part.start].0, error.message));
            }
            Err(error) if data_fault(&error) => {
                let middle = part.start + part.len() / 2;
                parts.push(middle..part.end);
                parts.push(part.start..middle);
            }
            Err(error) => {
                for range in std::iter::once(part).chain(parts.drain(..)) {
                    written.unwritten.extend(rows[range].iter().map(|(at, _)| *at));
                }
                written.error = Some(error);
                break;
            }
        }
    }
    written
}

fn data_fault(error: &StoreError) -> bool {
    matches!(error.kind, StoreErrorKind::Rejected | StoreErrorKind::Other)
}

/// Dead letters stored and deliveries given back instead.
#[derive(Default)]
struct DeadLettered {
    stored: u64,
    given_back: u64,
}

/// A message set aside: the delivery, its (stream sequence, deliveries), and why.
type Refused<'m> = (&'m jetstream::Message, (u64, i64), String);

/// The (stream sequence, deliveries) of a delivery.
fn delivery_of(message: &jetstream::Message) -> (u64, i64) {
    message
        .info()
        .map_or((0, 1), |info| (info.stream_sequence, info.delivered))
}

/// Dead-letters each message with its reason, all at once.
async fn dead_letter_each(
    context: &Context,
    stream: &StreamConfig,
    route: &str,
    refused: &[Refused<'_>],
) -> DeadLettered {
    let sent =
        futures_util::future::join_all(refused.iter().map(|(message, (sequence, delivered), reason)| {
            let (sequence, delivered) = (*sequence, *delivered);
            let origin = Origin {
                stream: &stream.name,
                sequence,
                delivered,
                route,
            };
            tracing::warn!(
                "dead-lettering {} #{sequence} ({}) to {}: {reason}",
                stream.name,
                message.subject,
                stream.dead_letter_subject
            );
            dead_letter(context, &stream.dead_letter_subject, message, origin, reason)
        }))
        .await;
    let mut done = DeadLettered::default();
    for result in sent {
        match result {
            Ok(()) => done.stored += 1,
            Err(error) => {
                tracing::warn!("{error}; the message is given back and will be dead-lettered again");
                done.given_back += 1;
            }
        }
    }
    done
}

/// Gives deliveries back to the stream, to be delivered again after a pause.
async fn give_back(messages: &[impl std::borrow::Borrow<jetstream::Message>], stats: &RouteStats) {
    for message in messages {
        let message = message.borrow();
        // 5 s, doubling with each delivery, at most a minute: never a hot loop.
        let delivered = u32::try_from(delivery_of(message).1.clamp(1, 5)).unwrap_or(1);
        let delay = (GIVE_BACK_DELAY * 2u32.pow(delivered - 1)).min(Duration::from_secs(60));
        let given = settle(message, AckKind::Nak(Some(delay))).await;
        if given.is_err() {
            break; // NATS is away: they come back after their ack wait all the same
        }
        stats.naks.fetch_add(1, Ordering::Relaxed);
    }
}

/// `work`, telling JetStream every `every` that `held` are still being worked on, so their
/// ack wait does not run out while a long batch commits or the store is down.
async fn keep_alive<F: Future>(work: F, held: &[&jetstream::Message], every: Duration) -> F::Output {
    tokio::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticks.tick() => {
                for message in held {
                    if settle(message, AckKind::Progress).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Waits `pause`; true if stopped first.
async fn pause_unless_stopped(stop: &CancellationToken, pause: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

/// 500 ms, doubling with each failure in a row, at most 30 s.
fn pause_after(failures: u32) -> Duration {
    (Duration::from_millis(500) * 2u32.pow(failures.saturating_sub(1).min(6))).min(MAX_PROBE_PAUSE)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn flatten(done: Result<Result<(), Error>, tokio::task::JoinError>) -> Result<(), Error> {
    done.map_err(|e| Error::Internal(format!("an ingest task failed: {e}")))?
}
