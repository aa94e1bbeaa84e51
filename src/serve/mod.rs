//! The built-in authoritative server: stored records (or a directory of zone files) answered
//! over UDP and TCP with hickory-server.
//!
//! Every SOA owner is a zone apex; every other record belongs to the closest apex above it
//! (records under no apex are not served, and counted). Each zone is a hickory in-memory zone
//! handler, which gives the authoritative semantics: AA, NXDOMAIN and NODATA with the SOA,
//! CNAME chains within the zone, wildcards, TC over UDP and TCP for large answers.
//!
//! Reloading builds a whole new catalog and swaps it in, so a query sees either the old
//! records or the new ones, never a mix. A poller reloads when the source changes (a cheap
//! fingerprint: the table's row count and newest `last_seen`, or the zone files' sizes and
//! times).

pub mod py;
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use sqlx::{AssertSqlSafe, Row};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::store::url::validate_identifier;
use crate::store::{Db, StoreUrl};
use crate::zone::parser::{parse_file, ParseOptions};

/// Where the served records come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A records table of a store.
    Store {
        /// The store.
        url: StoreUrl,
        /// The records table (checked as an identifier).
        table: String,
    },
    /// Zone files (`*.zone`, the origin from the file name, or `$ORIGIN` inside).
    ZonesDir(PathBuf),
}

/// What a load found.
#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    /// Zones served.
    pub zones: usize,
    /// Records served.
    pub records: usize,
    /// Records not served (under no SOA, or not representable), with the first reasons.
    pub skipped: usize,
    /// Up to 10 reasons for skipped records.
    pub skip_reasons: Vec<String>,
}

/// One stored record, as text.
struct TextRecord {
    name: String,
    rtype: String,
    ttl: u32,
    rdata: String,
}

async fn read_source(source: &Source) -> Result<Vec<TextRecord>, String> {
    match source {
        Source::Store { url, table } => {
            let table = validate_identifier(table)?;
            let mut db = Db::connect_existing(url).await.map_err(|e| e.message)?;
            let sql = format!("SELECT name, type, ttl, rdata FROM {table}");
            macro_rules! fetch {
                ($connection:expr) => {
                    sqlx::query(AssertSqlSafe(sql.clone()))
                        .fetch_all($connection)
                        .await
                        .and_then(|rows| {
                            rows.iter()
                                .map(|row| {
                                    Ok(TextRecord {
                                        name: row.try_get(0)?,
                                        rtype: row.try_get(1)?,
                                        ttl: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
                                        rdata: row.try_get(3)?,
                                    })
                                })
                                .collect::<Result<Vec<_>, sqlx::Error>>()
                        })
                };
            }
            let rows = match &mut db {
                Db::Sqlite(connection, _) => fetch!(connection),
                Db::Postgres(connection) => fetch!(connection),
                Db::MySql(connection) => fetch!(connection),
            };
            db.close().await;
            rows.map_err(|e| format!("reading {table} from {}: {e}", url.redacted()))
        }
        Source::ZonesDir(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || read_zone_files(&dir))
                .await
                .map_err(|e| format!("reading zone files: {e}"))?
        }
    }
}

/// The zone files of `dir`, sorted by name, with their origins from the file names.
fn zone_files(dir: &std::path::Path) -> Result<Vec<(PathBuf, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(origin) = file_name.strip_suffix(".zone") {
            files.push((path.clone(), format!("{}.", origin.trim_end_matches('.'))));
        }
    }
    files.sort();
    Ok(files)
}

fn read_zone_files(dir: &std::path::Path) -> Result<Vec<TextRecord>, String> {
    let mut records = Vec::new();
    for (path, origin) in zone_files(dir)? {
        let options = ParseOptions {
            origin: Some(origin),
            ..ParseOptions::default()
        };
        let parsed = parse_file(&path, &options).map_err(|e| e.to_string())?;
        records.extend(parsed.records.iter().map(|record| TextRecord {
            name: record.name.to_string(),
            rtype: record.rtype.to_string(),
            ttl: record.ttl,
            rdata: record.rdata.to_string(),
        }));
    }
    Ok(records)
}

/// A cheap summary of the source that changes when its records do.
async fn fingerprint(source: &Source) -> Result<String, String> {
    match source {
        Source::Store { url, table } => {
            let table = validate_identifier(table)?;
            let mut db = Db::connect_existing(url).await.map_err(|e| e.message)?;
            let counted = db
                .counts(&format!(
                    "SELECT CAST(MAX(last_seen) AS CHAR(40)), COUNT(*) FROM {table}"
                ))
                .await;
            db.close().await;
            // MAX() of an empty table is NULL, which does not read as text.
            Ok(format!("{:?}", counted.unwrap_or_default()))
        }
        Source::ZonesDir(dir) => {
            let mut summary = String::new();
            for (path, _) in zone_files(dir)? {
                let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                summary.push_str(&format!("{}:{}:{:?};", path.display(), meta.len(), modified));
            }
            Ok(summary)
        }
    }
}

/// hickory's record for a stored one.
fn to_hickory(record: &TextRecord) -> Result<Record, String> {
    let name = Name::from_ascii(&record.name).map_err(|e| format!("{}: {e}", record.name))?;
    let rtype =
        RecordType::from_str(&record.rtype).map_err(|e| format!("{} {}: {e}", record.name, record.rtype))?;
    let rdata = RData::try_from_str(rtype, &record.rdata)
        .map_err(|e| format!("{} {} {}: {e}", record.name, record.rtype, record.rdata))?;
    let mut converted = Record::from_rdata(name, record.ttl, rdata);
    converted.dns_class = DNSClass::IN;
    Ok(converted)
}

/// Builds the catalog of every zone in `records`.
fn build_catalog(records: &[TextRecord]) -> (Catalog, LoadStats) {
    let mut stats = LoadStats::default();
    let skip = |stats: &mut LoadStats, reason: String| {
        stats.skipped += 1;
        if stats.skip_reasons.len() < 10 {
            stats.skip_reasons.push(reason);
        }
    };
    // Apexes and their serials first, so every record can find its zone.
    let mut zones: HashMap<String, (InMemoryZoneHandler, u32)> = HashMap::new();
    for record in records.iter().filter(|r| r.rtype == "SOA") {
        let serial = record
            .rdata
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let Ok(origin) = Name::from_ascii(&record.name) else {
            skip(&mut stats, format!("{}: not a valid zone name", record.name));
            continue;
        };
        zones.entry(record.name.to_ascii_lowercase()).or_insert_with(|| {
            (
                InMemoryZoneHandler::empty(origin, ZoneType::Primary, AxfrPolicy::Deny),
                serial,
            )
        });
    }
    // The SOA goes in before the rest of its zone.
    let soa_first = records
        .iter()
        .filter(|r| r.rtype == "SOA")
        .chain(records.iter().filter(|r| r.rtype != "SOA"));
    for record in soa_first {
        let Some(apex) = closest_apex(&record.name, &zones) else {
            skip(
                &mut stats,
                format!("{} {}: under no zone's SOA", record.name, record.rtype),
            );
            continue;
        };
        let converted = match to_hickory(record) {
            Ok(converted) => converted,
            Err(reason) => {
                skip(&mut stats, reason);
                continue;
            }
        };
        if let Some((zone, serial)) = zones.get_mut(&apex) {
            if zone.upsert_mut(converted, *serial) {
                stats.records += 1;
            } else {
                skip(
                    &mut stats,
                    format!(
                        "{} {}: not accepted (a CNAME beside other data, or a repeat)",
                        record.name, record.rtype
                    ),
                );
            }
        }
    }
    let mut catalog = Catalog::new();
    stats.zones = zones.len();
    for (apex, (zone, _)) in zones {
        if let Ok(name) = Name::from_ascii(&apex) {
            let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
            catalog.upsert(LowerName::new(&name), vec![handler]);
        }
    }
    (catalog, stats)
}

/// The apex in `zones` closest above (or at) `name`.
fn closest_apex<T>(name: &str, zones: &HashMap<String, T>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let mut candidate = lower.as_str();
    loop {
        if zones.contains_key(candidate) {
            return Some(candidate.to_string());
        }
        let (_, parent) = candidate.split_once('.')?;
        if parent.is_empty() {
            return zones.contains_key(".").then(|| ".".to_string());
        }
        candidate = parent;
    }
}

/// Loads `source` into a fresh catalog.
pub async fn load(source: &Source) -> Result<(Catalog, LoadStats), String> {
    let records = read_source(source).await?;
    tokio::task::spawn_blocking(move || build_catalog(&records))
        .await
        .map_err(|e| format!("building zones: {e}"))
}

/// What is being served: the zones, and the answers given from them so far (UDP).
struct Served {
    catalog: Catalog,
    answers: udp::AnswerCache,
}

/// The records being served, swapped whole on reload (with an empty answer cache), and a
/// generation number that a reload bumps, so the UDP loops see with one atomic load per query
/// whether what they hold is still current.
#[derive(Clone)]
struct Swappable {
    current: Arc<RwLock<(u64, Arc<Served>)>>,
    generation: Arc<AtomicU64>,
}

impl Swappable {
    fn new(catalog: Catalog) -> Swappable {
        Swappable {
            current: Arc::new(RwLock::new((0, Arc::new(Served::new(catalog))))),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// What is served, and its generation.
    fn current(&self) -> (u64, Arc<Served>) {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (current.0, Arc::clone(&current.1))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn replace(&self, catalog: Catalog) {
        let served = Arc::new(Served::new(catalog));
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = current.0 + 1;
        *current = (generation, served);
        // Published while the lock is held: whoever sees the new number reads the new records.
        self.generation.store(generation, Ordering::Release);
    }
}

impl Served {
    fn new(catalog: Catalog) -> Served {
        Served {
            catalog,
            answers: udp::AnswerCache::default(),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Swappable {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let (_, served) = self.current();
        served
            .catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// Counters of a running server.
#[derive(Debug, Default)]
pub struct ServeCounters {
    /// Loads done (the first included).
    pub loads: AtomicU64,
    /// The last load's figures.
    pub last: Mutex<LoadStats>,
    /// Per UDP socket: queries, and how many of them the answer cache served.
    pub udp: Vec<Arc<udp::UdpCounters>>,
}

impl ServeCounters {
    /// UDP queries received, and of them answered from cache.
    pub fn udp_queries(&self) -> (u64, u64) {
        self.udp.iter().fold((0, 0), |(queries, cached), lane| {
            (
                queries + lane.queries.load(Ordering::Relaxed),
                cached + lane.from_cache.load(Ordering::Relaxed),
            )
        })
    }
}

/// A running authoritative server.
pub struct AuthServer {
    /// The address it answers on (UDP and TCP).
    pub address: SocketAddr,
    source: Source,
    handler: Swappable,
    /// Counters.
    pub counters: Arc<ServeCounters>,
    shutdown: tokio_util::sync::CancellationToken,
    serving: Mutex<Option<JoinHandle<()>>>,
    udp_loops: Mutex<Vec<JoinHandle<()>>>,
    poller: Mutex<Option<JoinHandle<()>>>,
    last_fingerprint: Arc<tokio::sync::Mutex<String>>,
}

/// How long a TCP connection may sit idle.
const TCP_IDLE: Duration = Duration::from_secs(10);

impl AuthServer {
    /// Loads `source` and answers on `listen` (port 0: any free port, the same for UDP and
    /// TCP); with `poll`, reloads when the source changes.
    pub async fn start(
        source: Source,
        listen: SocketAddr,
        poll: Option<Duration>,
    ) -> Result<Arc<AuthServer>, String> {
        let first_fingerprint = fingerprint(&source).await?;
        let (catalog, stats) = load(&source).await?;
        let (udp, tcp) = bind_all(listen).await?;
        let address = tcp.local_addr().map_err(|e| e.to_string())?;
        let handler = Swappable::new(catalog);
        // A receive loop per core, all on the one socket: whichever is free takes the next
        // batch, so the work spreads over the cores however few clients there are. (Sockets
        // of their own with SO_REUSEPORT would split clients by a hash of their address, and
        // a handful of busy clients can land on one socket and leave the other cores idle.)
        let udp = Arc::new(udp);
        let loops = std::thread::available_parallelism().map_or(1, |n| n.get());
        let counters = Arc::new(ServeCounters {
            loads: AtomicU64::new(1),
            last: Mutex::new(stats),
            udp: (0..loops).map(|_| Arc::default()).collect(),
        });
        // hickory's server takes TCP; UDP has its own loops (see `udp`).
        let mut server = Server::new(handler.clone());
        server.register_listener(tcp, TCP_IDLE, 32);
        let shutdown = server.shutdown_token().clone();
        let udp_loops = counters
            .udp
            .iter()
            .map(|lane| {
                tokio::spawn(udp::answer_udp(
                    Arc::clone(&udp),
                    handler.clone(),
                    Arc::clone(lane),
                    shutdown.clone(),
                ))
            })
            .collect();
        let serving = tokio::spawn(async move {
            if let Err(error) = server.block_until_done().await {
                tracing::warn!("the DNS server stopped: {error}");
            }
        });
        let running = Arc::new(AuthServer {
            address,
            source,
            handler,
            counters,
            shutdown,
            serving: Mutex::new(Some(serving)),
            udp_loops: Mutex::new(udp_loops),
            poller: Mutex::new(None),
            last_fingerprint: Arc::new(tokio::sync::Mutex::new(first_fingerprint)),
        });
        tracing::info!("serving {} on {address}", describe(&running.source));
        if let Some(every) = poll {
            let weak = Arc::downgrade(&running);
            let poller = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(server) = weak.upgrade() else { break };
                    if let Err(error) = server.reload_if_changed().await {
                        tracing::warn!("reloading the served records failed: {error}");
                    }
                }
            });
            *running.poller.lock().unwrap_or_else(|p| p.into_inner()) = Some(poller);
        }
        Ok(running)
    }

    /// Loads the source again and serves the new records; returns the load's figures.
    pub async fn reload(&self) -> Result<LoadStats, String> {
        let mut last = self.last_fingerprint.lock().await;
        let now = fingerprint(&self.source).await?;
        let (catalog, stats) = load(&self.source).await?;
        self.handler.replace(catalog);
        *last = now;
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        *self.counters.last.lock().unwrap_or_else(|p| p.into_inner()) = stats.clone();
        tracing::info!("reloaded: {} zones, {} records", stats.zones, stats.records);
        Ok(stats)
    }

    /// [`AuthServer::reload`] when the source's fingerprint changed since the last load.
    pub async fn reload_if_changed(&self) -> Result<bool, String> {
        let changed = *self.last_fingerprint.lock().await != fingerprint(&self.source).await?;
        if changed {
            self.reload().await?;
        }
        Ok(changed)
    }

    /// Stops answering and waits until the sockets are closed.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let poller = self.poller.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(poller) = poller {
            poller.abort();
        }
        let serving = self.serving.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(serving) = serving {
            let _ = serving.await;
        }
        let udp_loops = std::mem::take(&mut *self.udp_loops.lock().unwrap_or_else(|p| p.into_inner()));
        for udp_loop in udp_loops {
            let _ = udp_loop.await;
        }
    }

    /// Whether it still answers.
    pub fn is_running(&self) -> bool {
        self.serving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Store { url, table } => format!("{table} of {}", url.redacted()),
        Source::ZonesDir(dir) => format!("the zones in {}", dir.display()),
    }
}

/// A UDP socket and a TCP listener on the same address; with port 0, on the same free port.
async fn bind_all(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), String> {
    let cannot = |e: std::io::Error| format!("cannot listen on {listen}: {e}");
    for _ in 0..20 {
        let udp = udp_socket(listen).map_err(cannot)?;
        let bound = udp.local_addr().map_err(cannot)?;
        let tcp = match TcpListener::bind(bound).await {
            Ok(tcp) => tcp,
            // A free UDP port whose TCP twin is taken: try another one.
            Err(_) if listen.port() == 0 => continue,
            Err(error) => return Err(cannot(error)),
        };
        return Ok((udp, tcp));
    }
    Err(format!(
        "cannot find a port free for both UDP and TCP on {}",
        listen.ip()
    ))
}

/// The UDP server socket, with large buffers.
fn udp_socket(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: the kernel caps these at its own limits.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, rtype: &str, rdata: &str) -> TextRecord {
        TextRecord {
            name: name.into(),
            rtype: rtype.into(),
            ttl: 300,
            rdata: rdata.into(),
        }
    }

    #[test]
    fn records_find_their_closest_zone_and_orphans_are_counted() {
        let records = vec![
            record("www.example.com.", "A", "192.0.2.1"),
            record(
                "example.com.",
                "SOA",
                "ns1.example.com. host.example.com. 5 7200 900 1209600 300",
            ),
            record(
                "sub.example.com.",
                "SOA",
                "ns1.example.com. host.example.com. 1 7200 900 1209600 300",
            ),
            record("a.sub.example.com.", "TXT", "\"in the child zone\""),
            record("elsewhere.net.", "A", "192.0.2.2"),
        ];
        let (catalog, stats) = build_catalog(&records);
        assert_eq!(stats.zones, 2);
        assert_eq!(stats.records, 4);
        assert_eq!(stats.skipped, 1);
        assert!(stats.skip_reasons[0].contains("elsewhere.net."));
        let child = LowerName::new(&Name::from_ascii("a.sub.example.com.").unwrap());
        assert!(catalog.find(&child).is_some());
    }

    #[test]
    fn closest_apex_walks_up_label_by_label() {
        let zones: HashMap<String, ()> = [
            ("example.com.".to_string(), ()),
            ("b.example.com.".to_string(), ()),
        ]
        .into();
        assert_eq!(
            closest_apex("a.b.example.com.", &zones).as_deref(),
            Some("b.example.com.")
        );
        assert_eq!(
            closest_apex("B.Example.COM.", &zones).as_deref(),
            Some("b.example.com.")
        );
        assert_eq!(
            closest_apex("c.example.com.", &zones).as_deref(),
            Some("example.com.")
        );
        assert_eq!(closest_apex("example.org.", &zones), None);
    }
}
