//! The resolution engine: lanes of long-lived UDP sockets on the shared tokio runtime.
//!
//! Each lane owns one socket (its own random source port), its in-flight table keyed by
//! transaction id, its timers and its share of the concurrency limit, so lanes share nothing on
//! the hot path but the input queue and, when limits are set, the rate buckets. A reply is
//! accepted only when its source address, id and question all match a try in flight.
//!
//! Speed without tuning comes from two feedback loops per lane:
//! - an in-flight window that grows while replies keep up and their round trips stay short,
//!   shrinks a little when round trips grow (replies queueing somewhere) and halves on loss
//!   (once per loss episode), capped by `concurrency`;
//! - a retransmission timer per nameserver from the measured round trips (RFC 6298), so a lost
//!   datagram is retried after a few round trips rather than after the full `timeout`. The
//!   earlier tries stay registered, so a reply to any of them completes the query.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::config::ResolverConfig;
use super::message::{canonical_rdata, encode_query, message_id, rcode, AnswerScratch, Response};
use super::results::{ResultRow, ResultTable, ResultsBuilder, RunStats, Status};
use crate::datagrams::{Inbox, Outbox, MAX_BATCH};
use crate::record::name::{query_name, write_name};
use crate::record::RecordType;

/// Names handed to the engine, numbered from `first` in input order.
#[derive(Debug, Default)]
pub struct NameBatch {
    /// Number of the first name.
    pub first: u64,
    /// The names as given.
    pub names: Vec<String>,
}

/// Progress counters, read by whoever reports progress.
#[derive(Debug, Default)]
pub struct Progress {
    /// Queries finished (any status).
    pub done: AtomicU64,
    /// Tries sent.
    pub sent: AtomicU64,
    /// Names taken from the input.
    pub names: AtomicU64,
}

/// Everything one run shares between its lanes.
pub struct Run {
    /// Settings; `nameservers` is not empty.
    pub config: ResolverConfig,
    /// Types asked for every name.
    pub types: Vec<RecordType>,
    /// Set to stop: lanes give up their queries and end.
    pub cancel: Arc<AtomicBool>,
    /// Counters for progress reports.
    pub progress: Arc<Progress>,
    /// Rows per batch sent to the output.
    pub batch_rows: usize,
    /// How many names the input holds, when that is known up front (for progress reports).
    pub total_names: Option<usize>,
}

/// Resolves `names` for every type of `run` into one table, in input order: for callers that
/// hold the whole list (a batch from a work queue).
pub async fn resolve_list(run: Arc<Run>, names: Vec<String>) -> Result<ResultTable, String> {
    let (sender, input) = mpsc::channel(16);
    let feeder = tokio::spawn(feed_list(names, sender, run.config.sockets));
    let table = collect(run, input).await;
    feeder.await.map_err(|e| format!("name feeder failed: {e}"))?;
    table
}

/// Sends `names` to the engine in batches of at most [`NAMES_PER_BATCH`]; ends with the list
/// or when the engine stops reading. A lane takes whole batches, so a short list is cut into
/// a batch per lane (in one batch it would keep the other lanes and their sockets idle), and
/// the batches get smaller towards the end of a long one, so that the lanes run out of names
/// together rather than one lane working through a last long batch alone.
pub async fn feed_list(names: Vec<String>, sender: mpsc::Sender<NameBatch>, lanes: usize) {
    let lanes = lanes.max(1);
    let per_batch = names.len().div_ceil(lanes).clamp(1, NAMES_PER_BATCH);
    let mut remaining = names.len();
    let mut first = 0u64;
    let mut names = names.into_iter();
    while remaining > 0 {
        let size = remaining
            .div_ceil(lanes * 4)
            .clamp(LEAST_NAMES_PER_BATCH.min(per_batch), per_batch);
        let batch: Vec<String> = names.by_ref().take(size).collect();
        remaining -= batch.len();
        let count = batch.len() as u64;
        if sender.send(NameBatch { first, names: batch }).await.is_err() {
            return;
        }
        first += count;
    }
}

/// Names per batch handed to the engine.
pub const NAMES_PER_BATCH: usize = 1024;
/// The smallest batches, at the end of a list.
const LEAST_NAMES_PER_BATCH: usize = 32;

/// Runs the engine over `input`, collecting every result into one table in input order.
pub async fn collect(run: Arc<Run>, input: mpsc::Receiver<NameBatch>) -> Result<ResultTable, String> {
    let servers: Arc<[SocketAddr]> = run.config.nameservers.clone().into();
    let (output, mut results) = mpsc::channel(64);
    let engine = tokio::spawn(resolve(run, input, output));
    let mut all = ResultsBuilder::default();
    while let Some(batch) = results.recv().await {
        all.append(batch);
    }
    let stats = engine.await.map_err(|e| format!("resolver task failed: {e}"))??;
    Ok(all.finish(servers, stats))
}

/// Fewest retransmission timeout, whatever the measured round trips.
const MIN_RTO: Duration = Duration::from_millis(10);
/// How often an idle lane checks for cancellation and flushes partial output.
const TICK: Duration = Duration::from_millis(50);
/// Largest UDP payload read.
const MAX_UDP: usize = 65_535;
/// Batches of replies taken back to back before the lane looks at its other work.
const RECEIVE_ROUNDS: usize = 4;

/// Resolves every name of `input` for every type of `run`, sending results to `output` in
/// batches. Ends when the input is closed and every query has finished, or on cancellation.
pub async fn resolve(
    run: Arc<Run>,
    input: mpsc::Receiver<NameBatch>,
    output: mpsc::Sender<ResultsBuilder>,
) -> Result<RunStats, String> {
    let started = Instant::now();
    let input = Arc::new(tokio::sync::Mutex::new(input));
    let limits = Arc::new(RateLimits::new(&run.config));
    let lanes = run.config.sockets.max(1);
    let mut tasks = Vec::with_capacity(lanes);
    for lane_number in 0..lanes {
        let bind: SocketAddr = if run.config.nameservers[0].is_ipv6() {
            "[::]:0".parse().expect("a literal address")
        } else {
            "0.0.0.0:0".parse().expect("a literal address")
        };
        // With one nameserver the lanes' sockets are connected to it: the system then keeps
        // the route instead of looking it up for every datagram, and drops datagrams from any
        // other address before they are read.
        let peer = match run.config.nameservers[..] {
            [only] => Some(only),
            _ => None,
        };
        let socket = bind_udp(bind, peer).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        let window_cap = (run.config.concurrency / lanes).max(1);
        let outbox = peer.map(Outbox::connected_to).unwrap_or_default();
        let lane = Lane::new(
            Arc::clone(&run),
            (socket, outbox),
            window_cap,
            lane_number,
            Arc::clone(&limits),
        );
        tasks.push(tokio::spawn(lane.run(Arc::clone(&input), output.clone())));
    }
    drop(output);
    let mut stats = RunStats::default();
    for task in tasks {
        let lane_stats = task.await.map_err(|e| format!("a resolver lane failed: {e}"))??;
        stats.add(&lane_stats);
    }
    stats.elapsed = started.elapsed().as_secs_f64();
    for server in stats.silent_servers() {
        let sent = stats.sent_to.get(server).copied().unwrap_or(0);
        tracing::warn!(
            "nameserver {} never answered ({sent} queries sent to it)",
            run.config.nameservers[server]
        );
    }
    Ok(stats)
}

/// A UDP socket with buffers large enough for a full window of replies, connected to `peer`
/// when there is one.
fn bind_udp(address: SocketAddr, peer: Option<SocketAddr>) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps these at its own limits.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(1 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    if let Some(peer) = peer {
        socket.connect(&peer.into())?;
    }
    UdpSocket::from_std(socket.into())
}

/// Token buckets for the overall and per-nameserver query rates.
struct RateLimits {
    overall: Option<Mutex<TokenBucket>>,
    per_server: Vec<Mutex<TokenBucket>>,
}

impl RateLimits {
    fn new(config: &ResolverConfig) -> Self {
        RateLimits {
            overall: config.qps.map(|qps| Mutex::new(TokenBucket::new(qps))),
            per_server: match config.per_server_qps {
                Some(qps) => (0..config.nameservers.len())
                    .map(|_| Mutex::new(TokenBucket::new(qps)))
                    .collect(),
                None => Vec::new(),
            },
        }
    }

    fn is_unlimited(&self) -> bool {
        self.overall.is_none() && self.per_server.is_empty()
    }

    /// Takes a token for one query to `server`, or says how long until one is there.
    fn take(&self, server: usize, now: Instant) -> Result<(), Duration> {
        let mut overall = self.overall.as_ref().map(lock_bucket);
        let mut server = self.per_server.get(server).map(lock_bucket);
        let wait = [overall.as_deref_mut(), server.as_deref_mut()]
            .into_iter()
            .flatten()
            .map(|bucket| bucket.wait(now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        for bucket in [overall.as_deref_mut(), server.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            bucket.tokens -= 1.0;
        }
        Ok(())
    }
}

fn lock_bucket(bucket: &Mutex<TokenBucket>) -> std::sync::MutexGuard<'_, TokenBucket> {
    // A bucket holds plain numbers: one left behind by a panicking lane is still usable.
    bucket.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A rate as a bucket of tokens refilled continuously, holding at most a tenth of a second's.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        let burst = (rate / 10.0).max(1.0);
        TokenBucket {
            rate,
            burst,
            tokens: 1.0,
            refilled: Instant::now(),
        }
    }

    /// Refills, then the wait before a whole token is there (zero if one is).
    fn wait(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

/// Round-trip estimate for one nameserver (RFC 6298).
#[derive(Clone, Copy)]
struct RoundTrip {
    smoothed: Option<f64>,
    variation: f64,
}

impl RoundTrip {
    fn sample(&mut self, rtt: Duration) {
        let rtt = rtt.as_secs_f64();
        match self.smoothed {
            None => {
                self.smoothed = Some(rtt);
                self.variation = rtt / 2.0;
            }
            Some(smoothed) => {
                self.variation = 0.75 * self.variation + 0.25 * (smoothed - rtt).abs();
                self.smoothed = Some(0.875 * smoothed + 0.125 * rtt);
            }
        }
    }

    /// When to retry: the timeout until the first sample, then SRTT + 4 RTTVAR.
    fn retransmit_after(&self, ceiling: Duration) -> Duration {
        match self.smoothed {
            None => ceiling,
            Some(smoothed) => {
                Duration::from_secs_f64(smoothed + 4.0 * self.variation).clamp(MIN_RTO, ceiling)
            }
        }
    }
}

/// The adaptive in-flight window of one lane: slow start, then additive increase; halved on
/// loss, at most once per round of tries sent before the previous cut.
///
/// Loss alone is a late signal where buffers are deep (a local server, loopback): the window
/// would grow until every socket buffer on the way is full, each query would wait behind
/// thousands of others, and round trips past the retransmission timer would send queries
/// twice. So the window also watches the least round trip of each round (the replies that
/// come back until one to a try sent after the round began): when even the quickest reply of
/// a round took more than twice the least seen in the run plus [`QUEUE_ALLOWANCE`], every
/// reply waited in a queue somewhere, and the window is trimmed by a fifth (it says the queue
/// is long, not that anything was dropped) and does not grow until a round is quick again.
/// The least of a round, not each reply, decides: answers that are slow on their own (a
/// recursive resolver's cache misses, a distant second nameserver) come with quick ones.
///
/// A loss is a sign of congestion only while replies are coming back. When nothing has come
/// back since the last cut (or ever), the nameservers are silent rather than busy: shrinking
/// the window would leave a few queries at a time waiting out their whole timeout, so a silent
/// server would cost a timeout per window instead of one for the run. The window opens to its
/// cap instead, and every remaining query goes out and waits its timeout side by side.
struct Window {
    size: f64,
    threshold: f64,
    cap: f64,
    last_cut: Instant,
    replies_since_cut: u64,
    /// The least round trip seen in the run, and in the current round.
    least_round_trip: Option<Duration>,
    round_least: Option<Duration>,
    round_started: Instant,
    /// Whether the last round said replies wait in a queue.
    queueing: bool,
}

/// The queueing delay the window accepts on top of twice the least round trip: enough for a
/// busy machine's scheduling hiccups, small beside the retransmission timer's floor.
const QUEUE_ALLOWANCE: Duration = Duration::from_millis(4);
/// The least the window is trimmed to on delay.
const LEAST_WINDOW: f64 = 16.0;

impl Window {
    fn new(cap: usize) -> Self {
        let cap = cap as f64;
        Window {
            size: cap.min(16.0),
            threshold: cap,
            cap,
            last_cut: Instant::now(),
            replies_since_cut: 0,
            least_round_trip: None,
            round_least: None,
            round_started: Instant::now(),
            queueing: false,
        }
    }

    fn allows(&self, in_flight: usize) -> bool {
        (in_flight as f64) < self.size.floor().max(1.0)
    }

    /// A reply came; `timed` is its round trip and when its query was sent, for a reply to
    /// the first try (Karn's rule: a retried query's round trip is ambiguous).
    fn on_reply(&mut self, timed: Option<(Duration, Instant)>, now: Instant) {
        self.replies_since_cut += 1;
        if let Some((round_trip, sent)) = timed {
            let least = self
                .least_round_trip
                .map_or(round_trip, |least| least.min(round_trip));
            self.least_round_trip = Some(least);
            if sent > self.round_started {
                // A try sent after the round began came back: the round is over.
                if let Some(round_least) = self.round_least.take() {
                    self.queueing = round_least > least * 2 + QUEUE_ALLOWANCE;
                    if self.queueing && self.size > LEAST_WINDOW {
                        self.threshold = (self.size * 0.8).max(LEAST_WINDOW);
                        self.size = self.threshold;
                    }
                }
                self.round_started = now;
            }
            self.round_least = Some(
                self.round_least
                    .map_or(round_trip, |quickest| quickest.min(round_trip)),
            );
        }
        if self.queueing {
            return;
        }
        let growth = if self.size < self.threshold {
            1.0
        } else {
            1.0 / self.size
        };
        self.size = (self.size + growth).min(self.cap);
    }

    fn on_loss(&mut self, sent: Instant, now: Instant) {
        if sent <= self.last_cut {
            return; // the loss episode the last change already answered
        }
        if self.replies_since_cut == 0 {
            // Silence, not congestion: see the type's notes.
            self.size = self.cap;
            self.threshold = self.cap;
        } else {
            self.threshold = (self.size / 2.0).max(2.0);
            self.size = self.threshold;
        }
        self.last_cut = now;
        self.replies_since_cut = 0;
    }
}

/// The in-flight table's hasher. Its keys are transaction ids drawn at random, so a
/// multiplication spreads them well; the general-purpose hasher's flooding defence buys
/// nothing here.
type IdHasher = BuildHasherDefault<IdHash>;

#[derive(Default)]
struct IdHash(u64);

impl Hasher for IdHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u16(&mut self, id: u16) {
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One query: a name and a type.
struct Query {
    index: u64,
    /// The wire names of the query's batch; its own is `name_len` bytes at `name_at`.
    names: Arc<[u8]>,
    name_at: u32,
    name_len: u8,
    qtype: RecordType,
}

impl Query {
    /// The name asked for, in wire form.
    fn qname(&self) -> &[u8] {
        let start = self.name_at as usize;
        &self.names[start..start + usize::from(self.name_len)]
    }
}

/// A query in flight, and its tries.
struct Slot {
    query: Query,
    started: Instant,
    attempts: u8,
    first_server: usize,
    tries: Vec<u16>,
    /// Set while the query waits for a TCP exchange.
    over_tcp: bool,
    /// Bumped when the slot is reused, so stale timers and TCP results are ignored.
    generation: u32,
    active: bool,
}

/// One datagram sent and not yet answered.
struct Try {
    slot: u32,
    generation: u32,
    server: usize,
    sent: Instant,
    attempt: u8,
}

struct TcpOutcome {
    slot: u32,
    generation: u32,
    server: usize,
    reply: Result<Vec<u8>, String>,
}

struct Lane {
    run: Arc<Run>,
    socket: UdpSocket,
    limits: Arc<RateLimits>,
    window: Window,
    round_trips: Vec<RoundTrip>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    in_flight: usize,
    tries: HashMap<u16, Try, IdHasher>,
    /// Transaction ids: unpredictable, so an off-path spoofer must guess them.
    ids: rand::rngs::StdRng,
    timers: Timers,
    fresh: VecDeque<Query>,
    retries: VecDeque<u32>,
    input_closed: bool,
    next_server: usize,
    out: ResultsBuilder,
    last_flush: Instant,
    stats: RunStats,
    tcp_sender: mpsc::UnboundedSender<TcpOutcome>,
    tcp_receiver: mpsc::UnboundedReceiver<TcpOutcome>,
    tcp_pending: usize,
    /// Queries waiting to go out in one batch.
    outbox: Outbox,
    /// Counts not yet added to the run's progress.
    unreported: Unreported,
    /// Buffers for reading replies' answers.
    answer_scratch: AnswerScratch,
}

#[derive(Default)]
struct Unreported {
    sent: u64,
    done: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimerKey {
    id: u16,
    generation: u32,
    slot: u32,
}

/// The lane's retransmission and timeout timers, a queue in deadline order per nameserver and
/// kind of wait (after that server's retransmission timer, or the full timeout).
///
/// Within one queue every wait is the same or changes slowly (the round-trip estimate is
/// smoothed), so a new deadline almost always goes at the back and the earliest is at the
/// front: pushing and taking are constant time where a heap would be logarithmic, and the
/// lane sets a timer for every datagram it sends.
struct Timers {
    queues: Vec<VecDeque<(Instant, TimerKey)>>,
}

impl Timers {
    fn new(servers: usize) -> Timers {
        Timers {
            queues: (0..servers.max(1) * 2).map(|_| VecDeque::new()).collect(),
        }
    }

    fn push(&mut self, server: usize, full_timeout: bool, at: Instant, key: TimerKey) {
        let queue = &mut self.queues[server * 2 + usize::from(full_timeout)];
        // Behind the last deadline not after this one (after equal ones: first set, first due).
        let position = queue
            .iter()
            .rposition(|&(earlier, _)| earlier <= at)
            .map_or(0, |index| index + 1);
        queue.insert(position, (at, key));
    }

    /// The earliest deadline.
    fn next_due(&self) -> Option<Instant> {
        self.queues
            .iter()
            .filter_map(|queue| queue.front())
            .map(|&(at, _)| at)
            .min()
    }

    /// Takes a timer whose deadline is `now` or earlier, the earliest first.
    fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let queue = self
            .queues
            .iter_mut()
            .filter(|queue| queue.front().is_some_and(|&(at, _)| at <= now))
            .min_by_key(|queue| queue.front().map(|&(at, _)| at))?;
        queue.pop_front().map(|(_, key)| key)
    }
}

impl Lane {
    fn new(
        run: Arc<Run>,
        (socket, outbox): (UdpSocket, Outbox),
        window_cap: usize,
        number: usize,
        limits: Arc<RateLimits>,
    ) -> Self {
        let servers = run.config.nameservers.len();
        let (tcp_sender, tcp_receiver) = mpsc::unbounded_channel();
        Lane {
            window: Window::new(window_cap),
            round_trips: vec![
                RoundTrip {
                    smoothed: None,
                    variation: 0.0
                };
                servers
            ],
            run,
            socket,
            limits,
            slots: Vec::new(),
            free_slots: Vec::new(),
            in_flight: 0,
            tries: HashMap::default(),
            ids: rand::SeedableRng::from_os_rng(),
            timers: Timers::new(servers),
            fresh: VecDeque::new(),
            retries: VecDeque::new(),
            input_closed: false,
            next_server: number % servers.max(1),
            out: ResultsBuilder::default(),
            last_flush: Instant::now(),
            stats: RunStats::default(),
            tcp_sender,
            tcp_receiver,
            tcp_pending: 0,
            outbox,
            unreported: Unreported::default(),
            answer_scratch: AnswerScratch::default(),
        }
    }

    async fn run(
        mut self,
        input: Arc<tokio::sync::Mutex<mpsc::Receiver<NameBatch>>>,
        output: mpsc::Sender<ResultsBuilder>,
    ) -> Result<RunStats, String> {
        let mut inbox = Inbox::new(MAX_BATCH, MAX_UDP);
        loop {
            if self.run.cancel.load(Ordering::Relaxed) {
                break;
            }
            self.refill(&input);
            let rate_wait = self.queue_what_we_can();
            self.outbox.flush(&self.socket).await;
            self.report_progress();
            if self.input_closed && self.fresh.is_empty() && self.retries.is_empty() && self.in_flight == 0 {
                break;
            }
            if self.out.len() >= self.run.batch_rows || self.last_flush.elapsed() >= TICK * 2 {
                self.flush(&output).await?;
            }
            let idle = self.in_flight == 0 && self.fresh.is_empty() && self.retries.is_empty();
            let next_timer = self.timers.next_due();
            let mut wake = Instant::now() + TICK;
            if let Some(at) = next_timer {
                wake = wake.min(at);
            }
            if let Some(wait) = rate_wait {
                wake = wake.min(Instant::now() + wait);
            }
            tokio::select! {
                biased;
                ready = self.socket.readable() => {
                    if let Err(error) = ready {
                        tracing::debug!("UDP receive failed: {error}");
                    }
                    // Take what is queued, a batch per system call, without going back to the
                    // scheduler in between.
                    for _ in 0..RECEIVE_ROUNDS {
                        match inbox.try_receive(&self.socket) {
                            Ok(_) => {
                                let now = Instant::now();
                                for (datagram, from) in inbox.datagrams() {
                                    self.on_datagram(datagram, from, now);
                                }
                                if !inbox.was_full() {
                                    break;
                                }
                            }
                            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(error) => {
                                tracing::debug!("UDP receive failed: {error}");
                                break;
                            }
                        }
                    }
                }
                Some(outcome) = self.tcp_receiver.recv(), if self.tcp_pending > 0 => {
                    self.tcp_pending -= 1;
                    self.on_tcp(outcome);
                }
                batch = lock_and_receive(&input), if idle && !self.input_closed => {
                    self.take_batch(batch);
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            self.expire_timers(Instant::now());
        }
        if self.run.cancel.load(Ordering::Relaxed) {
            // Cancelled: what was in flight is dropped, not reported as timed out.
            self.tries.clear();
        }
        self.flush(&output).await?;
        self.report_progress();
        Ok(self.stats)
    }

    /// Adds what this lane did since the last report to the run's shared counters. Once per
    /// turn of the loop rather than per query: the lanes run on different threads, and a
    /// counter they all bump per query would bounce its cache line between the cores.
    fn report_progress(&mut self) {
        let progress = &self.run.progress;
        for (counter, unreported) in [
            (&progress.sent, &mut self.unreported.sent),
            (&progress.done, &mut self.unreported.done),
        ] {
            if *unreported > 0 {
                counter.fetch_add(std::mem::take(unreported), Ordering::Relaxed);
            }
        }
    }

    /// Takes more names when few queries are waiting, without waiting for them.
    fn refill(&mut self, input: &tokio::sync::Mutex<mpsc::Receiver<NameBatch>>) {
        if self.input_closed || self.fresh.len() >= self.window.size as usize + 64 {
            return;
        }
        let Ok(mut receiver) = input.try_lock() else {
            return;
        };
        match receiver.try_recv() {
            Ok(batch) => {
                drop(receiver);
                self.take_batch(Some(batch));
            }
            Err(mpsc::error::TryRecvError::Disconnected) => self.input_closed = true,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
    }

    fn take_batch(&mut self, batch: Option<NameBatch>) {
        let Some(batch) = batch else {
            self.input_closed = true;
            return;
        };
        let types = self.run.types.len() as u64;
        self.run
            .progress
            .names
            .fetch_add(batch.names.len() as u64, Ordering::Relaxed);
        // The batch's names in wire form, back to back in one allocation its queries share.
        let mut wire = Vec::with_capacity(batch.names.len() * 24);
        let mut valid = Vec::with_capacity(batch.names.len());
        for (offset, name) in batch.names.into_iter().enumerate() {
            let number = batch.first + offset as u64;
            let start = wire.len();
            match query_name(&name, &mut wire) {
                // A wire name is at most 255 bytes; a batch's names fit a u32 offset.
                Ok(()) => valid.push((number, start as u32, (wire.len() - start) as u8)),
                Err(reason) => {
                    wire.truncate(start);
                    let run = Arc::clone(&self.run);
                    for (type_number, &qtype) in run.types.iter().enumerate() {
                        let index = number * types + type_number as u64;
                        self.record_failure(index, &name, qtype, Status::Invalid, &reason, 0, None, 0);
                    }
                }
            }
        }
        let names: Arc<[u8]> = wire.into();
        for (number, name_at, name_len) in valid {
            for (type_number, &qtype) in self.run.types.iter().enumerate() {
                self.fresh.push_back(Query {
                    index: number * types + type_number as u64,
                    names: Arc::clone(&names),
                    name_at,
                    name_len,
                    qtype,
                });
            }
        }
    }

    /// Queues fresh queries and retries in the outbox while the window and the rate limits
    /// allow. Returns how long until the rate limits allow the next one, when they are what
    /// stops it.
    fn queue_what_we_can(&mut self) -> Option<Duration> {
        let now = Instant::now();
        loop {
            let retry = self.retries.front().copied();
            if retry.is_none() && (self.fresh.is_empty() || !self.window.allows(self.in_flight)) {
                return None;
            }
            let server = match retry {
                Some(slot_index) => {
                    let slot = &self.slots[slot_index as usize];
                    (slot.first_server + usize::from(slot.attempts)) % self.servers()
                }
                None => self.next_server,
            };
            if !self.limits.is_unlimited() {
                if let Err(wait) = self.limits.take(server, now) {
                    return Some(wait);
                }
            }
            let slot_index = match retry {
                Some(slot_index) => {
                    self.retries.pop_front();
                    slot_index
                }
                None => {
                    let query = self.fresh.pop_front().expect("checked above");
                    self.next_server = (self.next_server + 1) % self.servers();
                    self.open_slot(query, server, now)
                }
            };
            self.queue_try(slot_index, server, now);
        }
    }

    fn servers(&self) -> usize {
        self.run.config.nameservers.len()
    }

    fn open_slot(&mut self, query: Query, first_server: usize, now: Instant) -> u32 {
        self.in_flight += 1;
        match self.free_slots.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.query = query;
                slot.started = now;
                slot.attempts = 0;
                slot.first_server = first_server;
                slot.tries.clear();
                slot.over_tcp = false;
                slot.generation = slot.generation.wrapping_add(1);
                slot.active = true;
                index
            }
            None => {
                self.slots.push(Slot {
                    query,
                    started: now,
                    attempts: 0,
                    first_server,
                    tries: Vec::with_capacity(4),
                    over_tcp: false,
                    generation: 0,
                    active: true,
                });
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn queue_try(&mut self, slot_index: u32, server: usize, now: Instant) {
        let id = loop {
            let id: u16 = self.ids.random();
            if !self.tries.contains_key(&id) {
                break id;
            }
        };
        let slot = &mut self.slots[slot_index as usize];
        slot.attempts += 1;
        slot.tries.push(id);
        let attempt = slot.attempts;
        let last = u32::from(attempt) > self.run.config.retries;
        let edns_payload = self.run.config.edns_payload;
        self.outbox.push_with(self.run.config.nameservers[server], |out| {
            encode_query(id, slot.query.qname(), slot.query.qtype, edns_payload, out)
        });
        let generation = slot.generation;
        self.stats.sent += 1;
        self.stats.count_sent(server);
        self.unreported.sent += 1;
        self.tries.insert(
            id,
            Try {
                slot: slot_index,
                generation,
                server,
                sent: now,
                attempt,
            },
        );
        let wait = if last {
            self.run.config.timeout
        } else {
            self.round_trips[server].retransmit_after(self.run.config.timeout)
        };
        let key = TimerKey {
            id,
            generation,
            slot: slot_index,
        };
        // Waits of the full timeout (a last try, or no round trip measured yet) queue apart.
        self.timers
            .push(server, wait == self.run.config.timeout, now + wait, key);
    }

    fn on_datagram(&mut self, datagram: &[u8], from: SocketAddr, now: Instant) {
        let Some(id) = message_id(datagram) else {
            self.stats.spoofed += 1;
            return;
        };
        let Some(attempt) = self.tries.get(&id) else {
            self.stats.unmatched += 1;
            return;
        };
        let (slot_index, generation, server, sent, attempt_number) = (
            attempt.slot,
            attempt.generation,
            attempt.server,
            attempt.sent,
            attempt.attempt,
        );
        if from != self.run.config.nameservers[server] {
            self.stats.spoofed += 1;
            return;
        }
        let response = match Response::parse(datagram) {
            Ok(response) => response,
            Err(_) => {
                self.stats.spoofed += 1;
                return;
            }
        };
        let slot = &self.slots[slot_index as usize];
        if !slot.active || slot.generation != generation || !self.answers_question(&response, slot_index) {
            self.stats.spoofed += 1;
            return;
        }
        let first_try = attempt_number == 1 && slot.attempts == 1;
        if first_try {
            self.round_trips[server].sample(now - sent);
        }
        self.window.on_reply(first_try.then(|| (now - sent, sent)), now);
        self.stats.count_answered(server);
        self.on_response(slot_index, server, &response, now);
    }

    fn answers_question(&self, response: &Response<'_>, slot_index: u32) -> bool {
        let query = &self.slots[slot_index as usize].query;
        response.is_response
            && matches!(&response.question, Some((name, qtype, 1)) if *qtype == query.qtype.0 && name[..] == *query.qname())
    }

    /// A reply matched a query in flight: finish it, retry it, or go over TCP.
    fn on_response(&mut self, slot_index: u32, server: usize, response: &Response<'_>, now: Instant) {
        let config = &self.run.config;
        let slot = &self.slots[slot_index as usize];
        if response.truncated && config.tcp_fallback && !slot.over_tcp {
            self.start_tcp(slot_index, server);
            return;
        }
        let failed = matches!(response.rcode, rcode::SERVFAIL | rcode::REFUSED);
        if failed && config.retry_servfail && u32::from(slot.attempts) <= config.retries && !slot.over_tcp {
            self.forget_tries(slot_index);
            self.retries.push_back(slot_index);
            return;
        }
        self.finish_with_response(slot_index, server, response, now);
    }

    fn start_tcp(&mut self, slot_index: u32, server: usize) {
        self.forget_tries(slot_index);
        let slot = &mut self.slots[slot_index as usize];
        slot.over_tcp = true;
        slot.attempts = slot.attempts.saturating_add(1);
        let id: u16 = self.ids.random();
        let mut query = Vec::with_capacity(300);
        encode_query(
            id,
            slot.query.qname(),
            slot.query.qtype,
            self.run.config.edns_payload,
            &mut query,
        );
        let (generation, address, timeout) = (
            slot.generation,
            self.run.config.nameservers[server],
            self.run.config.timeout,
        );
        let sender = self.tcp_sender.clone();
        self.stats.tcp += 1;
        self.tcp_pending += 1;
        tokio::spawn(async move {
            let reply = match tokio::time::timeout(timeout, tcp_exchange(address, &query)).await {
                Ok(Ok(reply)) if message_id(&reply) == Some(id) => Ok(reply),
                Ok(Ok(_)) => Err("TCP reply with another id".to_string()),
                Ok(Err(error)) => Err(format!("TCP exchange with {address} failed: {error}")),
                Err(_) => Err(format!("TCP exchange with {address} timed out")),
            };
            let _ = sender.send(TcpOutcome {
                slot: slot_index,
                generation,
                server,
                reply,
            });
        });
    }

    fn on_tcp(&mut self, outcome: TcpOutcome) {
        let slot = &self.slots[outcome.slot as usize];
        if !slot.active || slot.generation != outcome.generation {
            return;
        }
        let now = Instant::now();
        match outcome.reply {
            Ok(reply) => match Response::parse(&reply) {
                Ok(response) if self.answers_question(&response, outcome.slot) => {
                    self.finish_with_response(outcome.slot, outcome.server, &response, now);
                }
                Ok(_) => {
                    self.finish_failed(outcome.slot, Status::Error, "TCP reply for another question", now)
                }
                Err(error) => self.finish_failed(
                    outcome.slot,
                    Status::Error,
                    &format!("bad TCP reply: {error}"),
                    now,
                ),
            },
            Err(error) => self.finish_failed(outcome.slot, Status::Error, &error, now),
        }
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            let Some(attempt) = self.tries.get(&key.id) else {
                continue;
            };
            if attempt.generation != key.generation || attempt.slot != key.slot {
                continue;
            }
            let slot = &self.slots[key.slot as usize];
            if !slot.active || slot.over_tcp {
                continue;
            }
            let sent = attempt.sent;
            self.stats.timeouts += 1;
            self.window.on_loss(sent, now);
            // Only the newest try's timer decides; older tries stay registered for late replies.
            if slot.tries.last() != Some(&key.id) {
                continue;
            }
            if u32::from(slot.attempts) <= self.run.config.retries {
                self.retries.push_back(key.slot);
            } else {
                self.finish_failed(key.slot, Status::Timeout, "", now);
            }
        }
    }

    fn forget_tries(&mut self, slot_index: u32) {
        let slot = &mut self.slots[slot_index as usize];
        for id in slot.tries.drain(..) {
            self.tries.remove(&id);
        }
    }

    fn close_slot(&mut self, slot_index: u32) {
        self.forget_tries(slot_index);
        let slot = &mut self.slots[slot_index as usize];
        slot.active = false;
        self.free_slots.push(slot_index);
        self.in_flight -= 1;
        self.unreported.done += 1;
    }

    fn finish_with_response(
        &mut self,
        slot_index: u32,
        server: usize,
        response: &Response<'_>,
        now: Instant,
    ) {
        let slot = &self.slots[slot_index as usize];
        let (index, qtype, attempts, started) =
            (slot.query.index, slot.query.qtype, slot.attempts, slot.started);
        let qname = slot.query.qname();
        let answers = &mut self.out.answers;
        let name = answers.write_span(|out| write_name(qname, out));
        let answers_start = answers.len();
        let mut has_type = false;
        let read =
            response.for_each_answer_in(&mut self.answer_scratch, |owner, rtype, class, ttl, rdata| {
                has_type |= rtype == qtype || qtype.0 == 255;
                // Most answers are for the name asked (both lowercase here): its text is written.
                let owner_name = if owner == qname {
                    name
                } else {
                    answers.write_span(|out| write_name(owner, out))
                };
                answers.try_push_with_name(owner_name, rtype, class, ttl, |out| {
                    canonical_rdata(rtype, class, rdata, out)
                })
            });
        let (status, detail) = match read {
            Err(error) => {
                answers.truncate(answers_start);
                (Status::Error, Some(format!("malformed answer: {error}")))
            }
            Ok(()) => match response.rcode {
                rcode::NOERROR if has_type => (Status::NoError, None),
                rcode::NOERROR => (Status::NoData, None),
                rcode::NXDOMAIN => (Status::NxDomain, None),
                rcode::SERVFAIL => (Status::ServFail, None),
                rcode::REFUSED => (Status::Refused, None),
                other => (Status::Error, Some(format!("response code {other}"))),
            },
        };
        let answers_len = answers.len() - answers_start;
        let detail = detail.map(|text| answers.push_text(&text));
        self.out.rows.push(ResultRow {
            index,
            name,
            qtype,
            status,
            attempts,
            rcode: Some(response.rcode),
            server: Some(server as u16),
            elapsed_us: micros(now - started),
            answers_start: answers_start as u32,
            answers_len: answers_len as u32,
            detail,
        });
        self.close_slot(slot_index);
    }

    fn finish_failed(&mut self, slot_index: u32, status: Status, detail: &str, now: Instant) {
        let slot = &self.slots[slot_index as usize];
        let (index, qtype, attempts, elapsed) = (
            slot.query.index,
            slot.query.qtype,
            slot.attempts,
            micros(now - slot.started),
        );
        let mut name = String::new();
        write_name(slot.query.qname(), &mut name);
        self.record_failure(index, &name, qtype, status, detail, attempts, None, elapsed);
        self.close_slot(slot_index);
    }

    #[allow(clippy::too_many_arguments)]
    fn record_failure(
        &mut self,
        index: u64,
        name: &str,
        qtype: RecordType,
        status: Status,
        detail: &str,
        attempts: u8,
        server: Option<u16>,
        elapsed_us: u32,
    ) {
        let answers = &mut self.out.answers;
        let name = answers.push_text(name);
        let detail = (!detail.is_empty()).then(|| answers.push_text(detail));
        let answers_start = answers.len() as u32;
        self.out.rows.push(ResultRow {
            index,
            name,
            qtype,
            status,
            attempts,
            rcode: None,
            server,
            elapsed_us,
            answers_start,
            answers_len: 0,
            detail,
        });
        if status == Status::Invalid {
            self.unreported.done += 1;
        }
    }

    async fn flush(&mut self, output: &mpsc::Sender<ResultsBuilder>) -> Result<(), String> {
        self.last_flush = Instant::now();
        if self.out.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.out);
        if output.send(batch).await.is_err() {
            // Nobody is reading any more: stop.
            self.run.cancel.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

async fn lock_and_receive(input: &tokio::sync::Mutex<mpsc::Receiver<NameBatch>>) -> Option<NameBatch> {
    input.lock().await.recv().await
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// One query over TCP: length-prefixed message out, length-prefixed message back (RFC 1035
/// 4.2.2).
async fn tcp_exchange(address: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(address).await?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut reply = vec![0u8; usize::from(len)];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_absolute_lowercase_a_labels() {
        let text = |name: &str| {
            let mut wire = Vec::new();
            query_name(name, &mut wire).map(|()| {
                let mut out = String::new();
                write_name(&wire, &mut out);
                out
            })
        };
        assert_eq!(text("Example.COM").unwrap(), "example.com.");
        assert_eq!(text("bücher.example.").unwrap(), "xn--bcher-kva.example.");
        assert!(text("").is_err());
        assert!(text("a b.example").is_err());
        assert!(text("a..example").is_err());
        assert!(text(&format!("{}.example", "x".repeat(64))).is_err());
        assert_eq!(
            text("a\\.example").unwrap(),
            "a\\.example.",
            "an escaped dot is in a label"
        );
        assert_eq!(
            text("a\\.").unwrap(),
            "a\\..",
            "and does not make the name absolute"
        );
        assert_eq!(text(".").unwrap(), ".");
        assert_eq!(text("@").unwrap(), "\\@.", "a one-label name, not an origin");
    }

    #[test]
    fn a_silent_server_opens_the_window_instead_of_closing_it() {
        let mut window = Window::new(1000);
        let sent = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        window.on_loss(sent, Instant::now());
        assert_eq!(window.size, 1000.0, "no reply ever came: every query may go out");
        for _ in 0..10 {
            window.on_reply(None, Instant::now());
        }
        let sent = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        window.on_loss(sent, Instant::now());
        assert_eq!(window.size, 500.0, "replies came: a loss is congestion again");
    }

    #[test]
    fn window_grows_on_replies_and_halves_once_per_loss_episode() {
        let mut window = Window::new(1000);
        let start = window.size;
        for _ in 0..100 {
            window.on_reply(None, Instant::now());
        }
        assert!(window.size > start);
        let before = window.size;
        let sent = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        window.on_loss(sent, Instant::now());
        assert_eq!(window.size, before / 2.0);
        window.on_loss(sent, Instant::now());
        assert_eq!(
            window.size,
            before / 2.0,
            "a second loss of the same episode does not cut again"
        );
    }

    #[test]
    fn a_round_of_only_slow_replies_trims_the_window_and_a_quick_reply_lets_it_grow() {
        let mut window = Window::new(1000);
        let start = Instant::now();
        let fast = Duration::from_micros(200);
        for _ in 0..200 {
            window.on_reply(Some((fast, start)), Instant::now());
        }
        assert_eq!(window.size, 216.0, "short round trips: slow start");
        let queued = fast * 2 + QUEUE_ALLOWANCE + Duration::from_millis(1);
        let round = |window: &mut Window, replies: &[Duration]| {
            std::thread::sleep(Duration::from_millis(1));
            let sent = Instant::now();
            for &round_trip in replies {
                window.on_reply(Some((round_trip, sent)), Instant::now());
            }
        };
        // The first reply of each call ends the round before it (the one sent earlier).
        round(&mut window, &[queued, queued, queued]);
        assert_eq!(
            window.size, 219.0,
            "the round that ended was quick: still growing"
        );
        round(&mut window, &[queued, queued]);
        let trimmed = window.size;
        assert!(
            (trimmed - 219.0 * 0.8).abs() < 1e-9,
            "{trimmed}: a round of slow replies only"
        );
        round(&mut window, &[queued, fast]);
        assert_eq!(
            window.size,
            trimmed * 0.8,
            "slow again (the quick one is in the new round)"
        );
        let trimmed = window.size;
        round(&mut window, &[queued]);
        assert!(
            window.size > trimmed && window.size < trimmed + 1.0,
            "a round with a quick reply: growing again, additively"
        );
    }

    #[test]
    fn slow_answers_among_quick_ones_do_not_trim_the_window() {
        let mut window = Window::new(1000);
        let (fast, slow) = (Duration::from_millis(1), Duration::from_millis(150));
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(1));
            let sent = Instant::now();
            for round_trip in [slow, fast, slow, slow] {
                window.on_reply(Some((round_trip, sent)), Instant::now());
            }
        }
        assert_eq!(
            window.size, 96.0,
            "a recursive resolver's cache misses are not a queue"
        );
    }

    #[test]
    fn timers_come_due_in_deadline_order_across_servers_and_kinds() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let key = |slot: u32| TimerKey {
            id: slot as u16,
            generation: 0,
            slot,
        };
        let mut timers = Timers::new(2);
        timers.push(0, false, at(30), key(1));
        timers.push(0, false, at(20), key(2)); // the estimate fell: goes before the first
        timers.push(1, false, at(10), key(3));
        timers.push(0, true, at(25), key(4));
        timers.push(0, false, at(30), key(5)); // same deadline as key 1: after it
        assert_eq!(timers.next_due(), Some(at(10)));
        assert_eq!(timers.pop_due(at(5)), None, "nothing is due yet");
        let mut due = Vec::new();
        while let Some(key) = timers.pop_due(at(100)) {
            due.push(key.slot);
        }
        assert_eq!(due, [3, 2, 4, 1, 5]);
        assert_eq!(timers.next_due(), None);
    }

    #[test]
    fn token_bucket_paces() {
        let mut bucket = TokenBucket::new(100.0);
        let now = Instant::now();
        assert!(bucket.wait(now).is_zero());
        bucket.tokens -= 1.0;
        let wait = bucket.wait(now);
        assert!(
            wait > Duration::from_millis(5) && wait <= Duration::from_millis(10),
            "{wait:?}"
        );
    }

    #[test]
    fn retransmit_timer_follows_round_trips() {
        let mut rtt = RoundTrip {
            smoothed: None,
            variation: 0.0,
        };
        assert_eq!(
            rtt.retransmit_after(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        for _ in 0..20 {
            rtt.sample(Duration::from_millis(20));
        }
        let rto = rtt.retransmit_after(Duration::from_secs(2));
        assert!(
            rto >= Duration::from_millis(20) && rto < Duration::from_millis(60),
            "{rto:?}"
        );
    }
}
