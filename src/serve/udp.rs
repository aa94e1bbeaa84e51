//! The UDP side of the server: one receive loop per socket, answering repeated questions from
//! a cache of encoded answers and everything else through the catalog.
//!
//! Going through hickory's catalog costs a decode, a zone lookup and an encode per query, which
//! held the server to about a third of NSD's rate. An authoritative answer depends only on the
//! question (name without regard to case, type, class), on whether the query carried EDNS, on
//! the header's RD and CD bits, and on the records loaded. So the loops keep the encoded
//! answers they have produced from the current records in one cache, keyed by the lowercased
//! question, and answer a repeat by copying it and patching in the query's ID, RD and CD bits,
//! the question as the client spelled it (the case a resolver randomised must come back), and
//! the client's EDNS payload size. A reload starts with an empty cache.
//!
//! Only plain queries take the cached path: one question, no records besides an OPT without
//! options, EDNS version 0, an answer that fits 512 bytes untruncated. Everything else (and the
//! first asking of each question) goes through the catalog exactly as hickory's own UDP loop
//! would, except that an answer too large for the client comes back as the header, the
//! question and the OPT record with TC set, rather than with partly written records after it.

use std::hash::BuildHasher;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hashbrown::{DefaultHashBuilder, HashTable};
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{Served, Swappable};
use crate::datagrams::{Inbox, Outbox, MAX_BATCH};

/// Header bytes and bits used below (RFC 1035 section 4.1.1).
const HEADER_LEN: usize = 12;
const QR: u8 = 0x80;
const OPCODE: u8 = 0x78;
const TC: u8 = 0x02;
const RD: u8 = 0x01;
const CD: u8 = 0x10;
const RCODE: u8 = 0x0f;
/// The length of an OPT record without options: root name, type, class, TTL, RDLENGTH.
const BARE_OPT_LEN: usize = 11;
const OPT_TYPE: [u8; 2] = 41u16.to_be_bytes();

/// Largest UDP answer without EDNS, and the least payload size an EDNS client may be sent to.
const CLASSIC_UDP_LIMIT: usize = 512;
/// Room for any query: larger datagrams are cut to this and then fail to decode.
const RECEIVE_BUFFER: usize = 4096;
/// Encoded answers kept (keys and values); past it the cache starts afresh, so a flood of
/// distinct names costs a bounded amount of memory.
const CACHE_BYTES: usize = 128 << 20;
/// Locks the cache is split over, so the loops rarely wait for each other.
const CACHE_SHARDS: usize = 16;
/// Batches answered back to back before the loop lets other tasks on its thread run.
const BURSTS: u32 = 8;

/// Counters of one receive loop (each loop has its own, so counting never shares a cache line).
#[derive(Debug, Default)]
pub struct UdpCounters {
    /// Queries received.
    pub queries: AtomicU64,
    /// Of them, answered from the answer cache.
    pub from_cache: AtomicU64,
}

/// Answers the queries arriving on `socket` until `shutdown`: a batch of queries in, a batch
/// of answers out. Several loops may share the socket.
pub(super) async fn answer_udp(
    socket: Arc<UdpSocket>,
    catalogs: Swappable,
    counters: Arc<UdpCounters>,
    shutdown: CancellationToken,
) {
    let mut lane = Lane::new(catalogs, counters);
    let mut inbox = Inbox::new(MAX_BATCH, RECEIVE_BUFFER);
    let mut answers = Outbox::default();
    let mut reply = Vec::with_capacity(CLASSIC_UDP_LIMIT);
    let mut in_a_row = 0u32;
    loop {
        match inbox.try_receive(&socket) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                in_a_row = 0;
                tokio::select! {
                    ready = socket.readable() => match ready {
                        Ok(()) => continue,
                        Err(error) => {
                            tracing::warn!("the UDP socket failed: {error}");
                            break;
                        }
                    },
                    () = shutdown.cancelled() => break,
                }
            }
            // An ICMP error for an earlier answer, or a signal: the socket itself is fine.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset | ErrorKind::Interrupted
                ) =>
            {
                tracing::debug!("receiving a UDP query: {error}");
                continue;
            }
            // Anything else (out of memory, say) may last: look again a little later rather
            // than spin, and say so.
            Err(error) => {
                tracing::warn!("receiving a UDP query: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        }
        for (query, client) in inbox.datagrams() {
            // Port 0 cannot be answered; it is spoofed or broken.
            if client.port() == 0 {
                continue;
            }
            lane.answer(query, client, &mut reply).await;
            if !reply.is_empty() {
                answers.push(client, &reply);
            }
        }
        answers.flush(&socket).await;
        in_a_row += 1;
        if in_a_row == BURSTS {
            in_a_row = 0;
            if shutdown.is_cancelled() {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// One receive loop's view of the served records.
struct Lane {
    catalogs: Swappable,
    generation: u64,
    served: Arc<Served>,
    key: Vec<u8>,
    captured: Captured,
    counters: Arc<UdpCounters>,
}

impl Lane {
    fn new(catalogs: Swappable, counters: Arc<UdpCounters>) -> Lane {
        let (generation, served) = catalogs.current();
        Lane {
            catalogs,
            generation,
            served,
            key: Vec::with_capacity(300),
            captured: Captured::default(),
            counters,
        }
    }

    /// Puts the answer to `query` into `reply` (left empty when there is none to send).
    async fn answer(&mut self, query: &[u8], client: SocketAddr, reply: &mut Vec<u8>) {
        reply.clear();
        self.counters.queries.fetch_add(1, Ordering::Relaxed);
        if self.catalogs.generation() != self.generation {
            (self.generation, self.served) = self.catalogs.current();
        }
        let plain =
            PlainQuery::read(query, &mut self.key).map(|plain| (plain, self.served.answers.hash(&self.key)));
        if let Some((plain, hash)) = &plain {
            let found = self
                .served
                .answers
                .find(&self.key, *hash, |cached| plain.patch_into(query, cached, reply));
            if found.is_some() {
                self.counters.from_cache.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // Never answer a response: that would let two servers bounce packets between them.
        if query.len() < HEADER_LEN || query[2] & QR != 0 {
            return;
        }
        match Request::from_bytes(query.to_vec(), client, Protocol::Udp) {
            Ok(request) => {
                self.served
                    .catalog
                    .handle_request::<_, TokioTime>(&request, self.captured.clone())
                    .await;
                *reply = self.captured.take();
            }
            Err(_) => form_error(query, reply),
        }
        if let Some((plain, hash)) = plain {
            if let Some(canonical) = plain.cacheable(&self.key, reply) {
                self.served.answers.insert(&self.key, hash, canonical);
            }
        }
    }
}

/// Part of the cache: (key, encoded answer) pairs under one lock.
type Shard = RwLock<HashTable<(Box<[u8]>, Box<[u8]>)>>;

/// Encoded answers by cache key, shared by the receive loops, for one set of served records.
pub(super) struct AnswerCache {
    shards: Box<[Shard]>,
    hasher: DefaultHashBuilder,
    bytes: AtomicUsize,
}

impl Default for AnswerCache {
    fn default() -> AnswerCache {
        AnswerCache {
            shards: (0..CACHE_SHARDS).map(|_| RwLock::default()).collect(),
            hasher: DefaultHashBuilder::default(),
            bytes: AtomicUsize::new(0),
        }
    }
}

impl AnswerCache {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Shard {
        // The table uses the hash's top bits; the shard its low ones.
        &self.shards[(hash as usize) % CACHE_SHARDS]
    }

    /// `with` applied to the answer kept for `key`, if there is one.
    fn find<T>(&self, key: &[u8], hash: u64, with: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        shard
            .find(hash, |(kept, _)| **kept == *key)
            .map(|(_, answer)| with(answer))
    }

    fn insert(&self, key: &[u8], hash: u64, answer: Box<[u8]>) {
        let size = key.len() + answer.len();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size > CACHE_BYTES {
            for shard in &self.shards {
                shard.write().unwrap_or_else(|p| p.into_inner()).clear();
            }
            self.bytes.store(size, Ordering::Relaxed);
        }
        let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
        let hasher = &self.hasher;
        match shard.entry(
            hash,
            |(kept, _)| **kept == *key,
            |(kept, _)| hasher.hash_one(&**kept),
        ) {
            // Another loop answered the same question meanwhile.
            hashbrown::hash_table::Entry::Occupied(_) => {}
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert((key.into(), answer));
            }
        }
    }
}

/// A query the cache can answer, read straight from its bytes.
#[derive(Debug, PartialEq)]
struct PlainQuery {
    /// Where the question section ends.
    question_end: usize,
    /// The payload size of its OPT record, when it has one.
    edns_payload: Option<u16>,
}

impl PlainQuery {
    /// Reads `query`; on success `key` holds its cache key. `None` for anything that is not
    /// a plain query (see the module's comment): the catalog answers those.
    fn read(query: &[u8], key: &mut Vec<u8>) -> Option<PlainQuery> {
        key.clear();
        let header = query.get(..HEADER_LEN)?;
        if header[2] & (QR | OPCODE | TC) != 0 {
            return None;
        }
        let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
        let additionals = count(10);
        if count(4) != 1 || count(6) != 0 || count(8) != 0 || additionals > 1 {
            return None;
        }
        let mut at = HEADER_LEN;
        loop {
            let label = usize::from(*query.get(at)?);
            // Compression pointers and extended label types are not plain.
            if label > 63 {
                return None;
            }
            let end = at + 1 + label;
            key.extend(query.get(at..end)?.iter().map(u8::to_ascii_lowercase));
            at = end;
            if label == 0 {
                break;
            }
        }
        if key.len() > 255 {
            return None;
        }
        let question_end = at + 4;
        key.extend_from_slice(query.get(at..question_end)?);
        let edns_payload = if additionals == 1 {
            let opt = query.get(question_end..)?;
            // Root owner, type OPT, extended RCODE 0, version 0, no options, nothing after.
            let bare = opt.len() == BARE_OPT_LEN
                && opt[0] == 0
                && opt[1..3] == OPT_TYPE
                && opt[5] == 0
                && opt[6] == 0
                && opt[9..11] == [0, 0];
            if !bare {
                return None;
            }
            Some(u16::from_be_bytes([opt[3], opt[4]]))
        } else {
            if query.len() != question_end {
                return None;
            }
            None
        };
        key.push(u8::from(edns_payload.is_some()));
        Some(PlainQuery {
            question_end,
            edns_payload,
        })
    }

    /// The answer to this query from a cached one: the query's ID, RD and CD bits and
    /// question bytes, and its payload size echoed in the OPT record.
    fn patch_into(&self, query: &[u8], cached: &[u8], reply: &mut Vec<u8>) {
        reply.extend_from_slice(cached);
        reply[..2].copy_from_slice(&query[..2]);
        reply[2] = (reply[2] & !RD) | (query[2] & RD);
        reply[3] = (reply[3] & !CD) | (query[3] & CD);
        reply[HEADER_LEN..self.question_end].copy_from_slice(&query[HEADER_LEN..self.question_end]);
        if let Some(payload) = self.edns_payload {
            let at = reply.len() - BARE_OPT_LEN + 3;
            let echoed = payload.max(CLASSIC_UDP_LIMIT as u16);
            reply[at..at + 2].copy_from_slice(&echoed.to_be_bytes());
        }
    }

    /// The form of `answer` to keep, when any client asking this question may be sent it
    /// after [`PlainQuery::patch_into`]: small enough for every client, untruncated, a stable
    /// outcome (an answer, NXDOMAIN or REFUSED; not a failure), the question echoed, and the
    /// OPT record last and bare when the query had EDNS.
    fn cacheable(&self, key: &[u8], answer: &[u8]) -> Option<Box<[u8]>> {
        let question = key.get(..self.question_end - HEADER_LEN)?;
        let stable = matches!(answer.get(3)? & RCODE, 0 | 3 | 5);
        if answer.len() > CLASSIC_UDP_LIMIT
            || answer.len() < self.question_end
            || answer[2] & TC != 0
            || !stable
            || answer[4..6] != [0, 1]
            || !answer[HEADER_LEN..self.question_end].eq_ignore_ascii_case(question)
        {
            return None;
        }
        if self.edns_payload.is_some() {
            let opt = answer.get(answer.len().checked_sub(BARE_OPT_LEN)?..)?;
            if opt[0] != 0 || opt[1..3] != OPT_TYPE || opt[9..11] != [0, 0] {
                return None;
            }
        }
        let mut canonical: Box<[u8]> = answer.into();
        canonical[..2].fill(0);
        canonical[HEADER_LEN..self.question_end].copy_from_slice(question);
        Some(canonical)
    }
}

/// FORMERR for a query whose header reads but whose body does not, as hickory answers it: the
/// header alone, with the query's ID, opcode and RD bit.
fn form_error(query: &[u8], reply: &mut Vec<u8>) {
    reply.extend_from_slice(&query[..2]);
    reply.push(QR | (query[2] & (OPCODE | RD)));
    reply.push(1);
    reply.extend_from_slice(&[0; 8]);
}

/// A response handler that keeps the encoded answer for the receive loop to send (and cache).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait::async_trait]
impl ResponseHandler for Captured {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        // The catalog set the OPT payload to the client's (at least 512).
        let limit = response
            .edns()
            .map_or(CLASSIC_UDP_LIMIT, |edns| usize::from(edns.max_payload()));
        let has_opt = response.edns().is_some();
        let id = response.metadata().id;
        let mut bytes = Vec::with_capacity(CLASSIC_UDP_LIMIT);
        let mut encoder = BinEncoder::new(&mut bytes);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            Err(error) => {
                // As hickory does: a header-only SERVFAIL rather than silence.
                tracing::error!("encoding an answer: {error}");
                let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata,
                    counts: HeaderCounts::default(),
                };
                bytes.clear();
                bytes.extend_from_slice(&id.to_be_bytes());
                bytes.extend_from_slice(&[QR, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
                *self.0.lock().unwrap_or_else(|p| p.into_inner()) = bytes;
                return Ok(ResponseInfo::from(header));
            }
        };
        if bytes.len() > limit {
            truncate(&mut bytes, has_opt);
        }
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = bytes;
        Ok(info)
    }
}

/// Cuts an answer too large for UDP down to its header, question and OPT record, with TC set:
/// the client asks again over TCP and reads nothing half written. `has_opt`: the answer ends
/// with its OPT record (hickory writes it last when there is no signature).
fn truncate(answer: &mut Vec<u8>, has_opt: bool) {
    let mut at = HEADER_LEN;
    while let Some(&label) = answer.get(at) {
        at += 1 + usize::from(label);
        if label == 0 {
            break;
        }
    }
    let question_end = (at + 4).min(answer.len());
    let opt = answer
        .len()
        .checked_sub(BARE_OPT_LEN)
        .filter(|_| has_opt)
        .map(|start| answer[start..].to_vec())
        .filter(|opt| opt[0] == 0 && opt[1..3] == OPT_TYPE);
    answer.truncate(question_end);
    answer[2] |= TC;
    answer[6..12].fill(0);
    if let Some(opt) = opt {
        answer[11] = 1;
        answer.extend_from_slice(&opt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (dotted, absolute) of `rtype`, with or without a bare OPT record.
    /// `flags`: the header's third and fourth bytes.
    fn query(id: u16, flags: [u8; 2], name: &str, rtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&flags);
        q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
        for label in name.trim_end_matches('.').split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&rtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        if let Some(payload) = edns {
            q.extend_from_slice(&[0, 0, 41]);
            q.extend_from_slice(&payload.to_be_bytes());
            q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        q
    }

    #[test]
    fn plain_queries_key_on_the_lowercased_question_and_edns() {
        let mut upper = Vec::new();
        let mut lower = Vec::new();
        let read = PlainQuery::read(&query(7, [RD, 0], "WwW.Example.COM.", 1, None), &mut upper).unwrap();
        PlainQuery::read(&query(9, [0, 0], "www.example.com.", 1, None), &mut lower).unwrap();
        assert_eq!(upper, lower);
        assert_eq!(read.question_end, HEADER_LEN + 17 + 4);
        assert_eq!(read.edns_payload, None);
        let mut with_edns = Vec::new();
        let read = PlainQuery::read(
            &query(7, [0, 0], "www.example.com.", 1, Some(1232)),
            &mut with_edns,
        )
        .unwrap();
        assert_eq!(read.edns_payload, Some(1232));
        assert_ne!(with_edns, lower);
    }

    #[test]
    fn anything_unusual_is_left_to_the_catalog() {
        let mut key = Vec::new();
        let mut refused = |packet: Vec<u8>| assert_eq!(PlainQuery::read(&packet, &mut key), None);
        refused(query(1, [QR, 0], "a.example.", 1, None)); // a response
        refused(query(1, [0x28, 0], "a.example.", 1, None)); // opcode 5, an update
        refused(query(1, [0, 0], "a.example.", 1, None)[..20].to_vec()); // cut short
        let mut trailing = query(1, [0, 0], "a.example.", 1, None);
        trailing.push(0);
        refused(trailing);
        let mut version_1 = query(1, [0, 0], "a.example.", 1, Some(1232));
        let at = version_1.len() - 5;
        version_1[at] = 1;
        refused(version_1);
        let mut with_option = query(1, [0, 0], "a.example.", 1, Some(1232));
        let len = with_option.len();
        with_option[len - 1] = 4;
        with_option.extend_from_slice(&[0, 10, 0, 0]);
        refused(with_option);
        let mut pointer = query(1, [0, 0], "a.example.", 1, None);
        pointer[HEADER_LEN] = 0xc0;
        refused(pointer);
        let mut two_questions = query(1, [0, 0], "a.example.", 1, None);
        two_questions[5] = 2;
        refused(two_questions);
    }

    /// An answer as the catalog would encode it: the query's question, one A record, and the
    /// OPT record when asked with EDNS.
    fn answer_to(query: &[u8], plain: &PlainQuery) -> Vec<u8> {
        let mut answer = query[..plain.question_end].to_vec();
        answer[2] = QR | 0x04 | (query[2] & RD);
        answer[7] = 1;
        answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
        if let Some(payload) = plain.edns_payload {
            answer[11] = 1;
            answer.extend_from_slice(&[0, 0, 41]);
            answer.extend_from_slice(&payload.max(512).to_be_bytes());
            answer.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        answer
    }

    #[test]
    fn a_cached_answer_comes_back_with_the_askers_id_flags_case_and_payload() {
        let mut key = Vec::new();
        let first = query(0x1111, [RD, 0], "host.example.", 1, Some(4096));
        let plain = PlainQuery::read(&first, &mut key).unwrap();
        let cached = plain.cacheable(&key, &answer_to(&first, &plain)).unwrap();
        assert_eq!(cached[..2], [0, 0]);

        let second = query(0xbeef, [0, CD], "HoSt.ExAmPlE.", 1, Some(1232));
        let plain = PlainQuery::read(&second, &mut key).unwrap();
        let mut reply = Vec::new();
        plain.patch_into(&second, &cached, &mut reply);
        assert_eq!(reply, {
            let mut expected = answer_to(&second, &plain);
            expected[3] |= CD;
            expected
        });
        assert_eq!(reply[2] & RD, 0);
        assert_eq!(&reply[reply.len() - 8..reply.len() - 6], &1232u16.to_be_bytes());
    }

    #[test]
    fn failures_truncations_and_large_answers_are_not_cached() {
        let mut key = Vec::new();
        let asked = query(1, [0, 0], "host.example.", 1, None);
        let plain = PlainQuery::read(&asked, &mut key).unwrap();
        let good = answer_to(&asked, &plain);
        assert!(plain.cacheable(&key, &good).is_some());
        let mut servfail = good.clone();
        servfail[3] |= 2;
        assert!(plain.cacheable(&key, &servfail).is_none());
        let mut truncated = good.clone();
        truncated[2] |= TC;
        assert!(plain.cacheable(&key, &truncated).is_none());
        let mut large = good.clone();
        large.resize(CLASSIC_UDP_LIMIT + 1, 0);
        assert!(plain.cacheable(&key, &large).is_none());
        let mut other_question = good;
        other_question[HEADER_LEN + 1] = b'x';
        assert!(plain.cacheable(&key, &other_question).is_none());
    }

    #[test]
    fn truncation_keeps_the_header_question_and_opt_only() {
        let mut key = Vec::new();
        let asked = query(5, [0, 0], "host.example.", 16, Some(1232));
        let plain = PlainQuery::read(&asked, &mut key).unwrap();
        let mut answer = answer_to(&asked, &plain);
        let opt = answer[answer.len() - BARE_OPT_LEN..].to_vec();
        truncate(&mut answer, true);
        let mut expected = asked[..plain.question_end].to_vec();
        expected[2] = QR | 0x04 | TC;
        expected[11] = 1;
        expected.extend_from_slice(&opt);
        assert_eq!(answer, expected);

        let asked = query(5, [0, 0], "host.example.", 16, None);
        let plain = PlainQuery::read(&asked, &mut key).unwrap();
        let mut answer = answer_to(&asked, &plain);
        truncate(&mut answer, false);
        assert_eq!(answer.len(), plain.question_end);
        assert_eq!(answer[6..12], [0; 6]);
    }

    #[test]
    fn an_unreadable_body_gets_a_header_only_form_error() {
        let mut reply = Vec::new();
        form_error(&[0xab, 0xcd, RD, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9], &mut reply);
        assert_eq!(reply, [0xab, 0xcd, QR | RD, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
}
