//! Zone transfers from a primary over TCP: the SOA serial it serves, the whole zone (AXFR,
//! RFC 5936), and only what changed since a serial (IXFR, RFC 1995).
//!
//! A transfer ends with the zone as it now is and what changed from the zone the caller
//! held: an IXFR's deletion and addition sets are applied in order to that zone, an AXFR is
//! compared with it. A primary that answers an IXFR with the whole zone (it keeps no history
//! that far back) is handled as an AXFR; one that answers with its SOA alone has nothing
//! newer. Records are read into the record model (names lowercased, rdata canonical), so they
//! compare equal to the same records parsed from a zone file.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::message::{canonical_rdata, rcode, Response};
use crate::record::name::{query_name, write_name};
use crate::record::{Record, RecordClass, RecordSet, RecordType};

/// How a zone was brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// The whole zone came (AXFR, or an IXFR the primary answered with the whole zone).
    Full,
    /// Only the changes came (IXFR).
    Incremental,
    /// The primary has nothing newer than the serial held.
    Current,
}

impl TransferKind {
    /// `axfr`, `ixfr` or `current`.
    pub fn name(self) -> &'static str {
        match self {
            TransferKind::Full => "axfr",
            TransferKind::Incremental => "ixfr",
            TransferKind::Current => "current",
        }
    }
}

/// The outcome of a transfer.
#[derive(Debug)]
pub struct Transferred {
    /// How the zone came.
    pub kind: TransferKind,
    /// The zone's serial now.
    pub serial: u32,
    /// The zone as it now is.
    pub zone: RecordSet,
    /// Records in the zone now that the zone held before did not have.
    pub added: RecordSet,
    /// Records the zone held before that it no longer has.
    pub removed: RecordSet,
}

/// The zone a caller already holds, to ask only for what changed since.
pub struct Known<'a> {
    /// Its serial.
    pub serial: u32,
    /// Its records.
    pub records: &'a RecordSet,
}

/// The serial of `zone`'s SOA at `server`.
pub async fn soa_serial(server: SocketAddr, zone: &str, timeout: Duration) -> Result<u32, String> {
    let exchange = async {
        let mut connection = connect(server).await?;
        let query = transfer_query(zone, RecordType::SOA, None)?;
        send(&mut connection, &query).await?;
        let message = receive(&mut connection).await?;
        let mut serial = None;
        read_records(&message, zone, |record| {
            if record.rtype == RecordType::SOA && serial.is_none() {
                serial = soa_serial_of(&record.rdata);
            }
        })?;
        serial.ok_or_else(|| "the answer holds no SOA record".to_string())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
        .map_err(|error| format!("SOA of {zone} from {server}: {error}"))
}

/// Transfers `zone` from `server`: IXFR from `known`'s serial when given, else AXFR.
/// `timeout` bounds each exchange. When the IXFR answer cannot be trusted (its changes do not
/// lead to the serial it announced, or the primary's serial went back behind the one held:
/// the zone was made anew), the whole zone is transferred and compared with `known` instead.
pub async fn transfer(
    server: SocketAddr,
    zone: &str,
    known: Option<Known<'_>>,
    timeout: Duration,
) -> Result<Transferred, String> {
    let since = known.as_ref().map(|known| known.serial);
    let reading = exchange(server, zone, since, timeout).await?;
    let held = known.as_ref().map(|known| known.records);
    match reading.finish(held) {
        Ok(done) if done.kind == TransferKind::Current && since.is_some_and(|since| since != done.serial) => {
            tracing::info!(
                "{zone} at {server}: serial {} is behind the {} held; transferring the whole zone",
                done.serial,
                since.unwrap_or(0)
            );
        }
        Ok(done) => return Ok(done),
        Err(problem) if since.is_some() => {
            tracing::warn!("IXFR of {zone} from {server}: {problem}; transferring the whole zone");
        }
        Err(problem) => return Err(format!("AXFR of {zone} from {server}: {problem}")),
    }
    exchange(server, zone, None, timeout)
        .await?
        .finish(held)
        .map_err(|problem| format!("AXFR of {zone} from {server}: {problem}"))
}

/// One transfer exchange: the query and every message of the answer.
async fn exchange(
    server: SocketAddr,
    zone: &str,
    since: Option<u32>,
    timeout: Duration,
) -> Result<Reading, String> {
    let kind = if since.is_some() { "IXFR" } else { "AXFR" };
    let exchange = async {
        let mut connection = connect(server).await?;
        let qtype = RecordType(if since.is_some() { 251 } else { 252 });
        send(&mut connection, &transfer_query(zone, qtype, since)?).await?;
        let mut reading = Reading::new(since);
        while !reading.done {
            let message = receive(&mut connection).await?;
            read_records(&message, zone, |record| reading.take(record))?;
            reading.message_ended();
        }
        Ok(reading)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{kind} of {zone} from {server}: not complete within {timeout:?}"))?
        .map_err(|error: String| format!("{kind} of {zone} from {server}: {error}"))
}

async fn connect(server: SocketAddr) -> Result<TcpStream, String> {
    TcpStream::connect(server)
        .await
        .map_err(|error| format!("cannot connect: {error}"))
}

async fn send(connection: &mut TcpStream, message: &[u8]) -> Result<(), String> {
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    connection
        .write_all(&framed)
        .await
        .map_err(|error| format!("cannot send the query: {error}"))
}

async fn receive(connection: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut length = [0u8; 2];
    connection
        .read_exact(&mut length)
        .await
        .map_err(|error| format!("the connection ended before the transfer did ({error})"))?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    connection
        .read_exact(&mut message)
        .await
        .map_err(|error| format!("the connection ended inside a message ({error})"))?;
    Ok(message)
}

/// A query for (`zone`, `qtype`, IN), without recursion; with `since`, the IXFR form: an SOA
/// carrying that serial in the authority section (RFC 1995 section 3).
fn transfer_query(zone: &str, qtype: RecordType, since: Option<u32>) -> Result<Vec<u8>, String> {
    let mut qname = Vec::with_capacity(64);
    query_name(zone, &mut qname).map_err(|error| format!("zone name {zone:?}: {error}"))?;
    let id = (std::process::id() as u16) ^ (qname.len() as u16).rotate_left(7);
    let mut out = Vec::with_capacity(64 + qname.len() * 2);
    for field in [id, 0, 1, 0, u16::from(since.is_some()), 0] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.extend_from_slice(&qname);
    out.extend_from_slice(&qtype.0.to_be_bytes());
    out.extend_from_slice(&RecordClass::IN.0.to_be_bytes());
    if let Some(serial) = since {
        out.extend_from_slice(&qname);
        out.extend_from_slice(&RecordType::SOA.0.to_be_bytes());
        out.extend_from_slice(&RecordClass::IN.0.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        // MNAME and RNAME (the root: they are not compared), the serial, four zero timers.
        out.extend_from_slice(&22u16.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&serial.to_be_bytes());
        out.extend_from_slice(&[0u8; 16]);
    }
    Ok(out)
}

/// Calls `take` with each answer record of `message`, after checking it is a good answer.
fn read_records(message: &[u8], zone: &str, mut take: impl FnMut(Record)) -> Result<(), String> {
    let response = Response::parse(message)?;
    if !response.is_response {
        return Err("the server sent a query, not an answer".into());
    }
    if response.rcode != rcode::NOERROR {
        return Err(match response.rcode {
            rcode::REFUSED => "REFUSED (is this client allowed to transfer the zone?)".to_string(),
            rcode::NXDOMAIN => format!("NXDOMAIN ({zone} does not exist there)"),
            9 => format!("NOTAUTH (the server is not authoritative for {zone})"),
            other => format!("rcode {other}"),
        });
    }
    response.for_each_answer(|owner, rtype, class, ttl, rdata| {
        let mut name = String::with_capacity(owner.len() + 1);
        write_name(owner, &mut name);
        let mut text = String::with_capacity(rdata.len() * 2);
        canonical_rdata(rtype, class, rdata, &mut text)
            .map_err(|error| format!("{name} {rtype}: {error}"))?;
        take(Record {
            name,
            rtype,
            class,
            ttl,
            rdata: text,
        });
        Ok(())
    })
}

/// The serial of SOA rdata in canonical text (`mname rname serial refresh retry expire min`).
pub fn soa_serial_of(rdata: &str) -> Option<u32> {
    rdata.split_ascii_whitespace().nth(2)?.parse().ok()
}

/// Reads the records of a transfer as they come and knows when it is complete.
struct Reading {
    /// The serial asked from (IXFR), if any.
    since: Option<u32>,
    /// The first SOA's serial: the zone's serial now.
    serial: Option<u32>,
    /// The records of the answer, the first SOA included, in order.
    records: Vec<Record>,
    /// Whether the answer is a list of changes (the second record is an SOA, in an IXFR).
    incremental: Option<bool>,
    /// In an incremental answer: SOAs seen after the first, which mark deletions and additions.
    markers: usize,
    /// Why the answer is not a transfer, when it is not.
    problem: Option<String>,
    done: bool,
}

impl Reading {
    fn new(since: Option<u32>) -> Reading {
        Reading {
            since,
            serial: None,
            records: Vec::new(),
            incremental: None,
            markers: 0,
            problem: None,
            done: false,
        }
    }

    fn take(&mut self, record: Record) {
        if self.done {
            return;
        }
        let Some(serial) = self.serial else {
            // The answer starts with the zone's SOA; anything else is not a transfer.
            match (record.rtype == RecordType::SOA)
                .then(|| soa_serial_of(&record.rdata))
                .flatten()
            {
                Some(serial) => self.serial = Some(serial),
                None => {
                    self.problem = Some(format!(
                        "the answer starts with {} {}, not the zone's SOA",
                        record.name, record.rtype
                    ));
                    self.done = true;
                }
            }
            self.records.push(record);
            return;
        };
        let is_soa = record.rtype == RecordType::SOA;
        if self.incremental.is_none() {
            // Changes open with the SOA of the serial asked from; a whole zone of one SOA
            // would show its own serial there.
            self.incremental =
                Some(is_soa && self.since.is_some() && soa_serial_of(&record.rdata) == self.since);
        }
        if self.incremental == Some(true) {
            if is_soa {
                // Markers alternate: one opens deletions, the next additions. An SOA of the
                // new serial where deletions would open ends the answer.
                if self.markers.is_multiple_of(2) && soa_serial_of(&record.rdata) == Some(serial) {
                    self.done = true;
                    return;
                }
                self.markers += 1;
            }
        } else if is_soa {
            // The closing SOA of a whole zone.
            self.done = true;
            return;
        }
        self.records.push(record);
    }

    /// After each message: an IXFR answered with the SOA alone is complete.
    fn message_ended(&mut self) {
        if self.records.len() == 1 && self.incremental.is_none() {
            if let (Some(since), Some(serial)) = (self.since, self.serial) {
                if !serial_newer(serial, since) {
                    self.done = true;
                }
            }
        }
    }

    /// The outcome, compared with the zone held (`before`, when there is one).
    fn finish(self, before: Option<&RecordSet>) -> Result<Transferred, String> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let serial = self.serial.unwrap_or(0);
        let before = before.cloned().unwrap_or_default();
        if self.records.len() == 1 && self.incremental.is_none() {
            return Ok(Transferred {
                kind: TransferKind::Current,
                serial,
                zone: before,
                added: RecordSet::default(),
                removed: RecordSet::default(),
            });
        }
        let (kind, zone) = if self.incremental == Some(true) {
            // The first record is the new SOA that heads the answer, not a change marker.
            let changes = self.records.into_iter().skip(1).collect();
            let zone = apply_changes(&before, changes);
            let now: Vec<u32> = zone
                .iter()
                .filter(|record| record.rtype == RecordType::SOA)
                .filter_map(|soa| soa_serial_of(soa.rdata))
                .collect();
            if now != [serial] {
                return Err(format!(
                    "its changes lead to SOA serials {now:?}, not to the serial {serial} it announced"
                ));
            }
            (TransferKind::Incremental, zone)
        } else {
            (TransferKind::Full, self.records.into_iter().collect())
        };
        Ok(Transferred {
            kind,
            serial,
            added: zone.difference(&before),
            removed: before.difference(&zone),
            zone,
        })
    }
}

/// `before` with an IXFR answer's sets applied in order. `records` is the answer without its
/// first and last SOA: then pairs of [SOA old, deletions..., SOA new, additions...].
fn apply_changes(before: &RecordSet, records: Vec<Record>) -> RecordSet {
    let mut zone: Vec<Record> = before.iter().map(|record| record.to_owned_record()).collect();
    let mut markers: usize = 0;
    let mut deletions: HashSet<Record> = HashSet::new();
    let mut additions: Vec<Record> = Vec::new();
    let flush = |zone: &mut Vec<Record>, deletions: &mut HashSet<Record>, additions: &mut Vec<Record>| {
        if !deletions.is_empty() {
            zone.retain(|record| !deletions.contains(record));
            deletions.clear();
        }
        zone.append(additions);
    };
    for record in records {
        let marker = record.rtype == RecordType::SOA;
        // Even markers open deletions, odd ones additions.
        let opens_deletions = marker && markers.is_multiple_of(2);
        if opens_deletions {
            // A new change set: apply the one before it.
            flush(&mut zone, &mut deletions, &mut additions);
        }
        let in_deletions = !markers.is_multiple_of(2) && !marker;
        if opens_deletions || in_deletions {
            // In deletions (the old SOA included, as the marker that opens them).
            deletions.insert(record);
        } else {
            additions.push(record);
        }
        if marker {
            markers += 1;
        }
    }
    flush(&mut zone, &mut deletions, &mut additions);
    zone.into_iter().collect()
}

/// RFC 1982 serial number arithmetic: whether `a` is newer than `b`.
pub fn serial_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Record {
        let mut parts = line.splitn(4, ' ');
        let name = parts.next().unwrap().to_string();
        let rtype = RecordType::from_text(parts.next().unwrap().as_bytes()).unwrap();
        let ttl = parts.next().unwrap().parse().unwrap();
        Record {
            name,
            rtype,
            class: RecordClass::IN,
            ttl,
            rdata: parts.next().unwrap().to_string(),
        }
    }

    fn soa(serial: u32) -> Record {
        record(&format!(
            "example.com. SOA 300 ns.example.com. admin.example.com. {serial} 3600 600 86400 300"
        ))
    }

    fn lines(set: &RecordSet) -> Vec<String> {
        let mut lines: Vec<String> = set.iter().map(|r| r.to_string()).collect();
        lines.sort();
        lines
    }

    #[test]
    fn an_ixfr_answer_is_applied_in_order() {
        let before: RecordSet = [
            soa(1),
            record("a.example.com. A 300 192.0.2.1"),
            record("b.example.com. A 300 192.0.2.2"),
        ]
        .into_iter()
        .collect();
        let mut reading = Reading::new(Some(1));
        for r in [
            soa(3),
            soa(1),
            record("a.example.com. A 300 192.0.2.1"),
            soa(2),
            record("c.example.com. A 300 192.0.2.3"),
            soa(2),
            record("c.example.com. A 300 192.0.2.3"),
            soa(3),
            record("d.example.com. A 300 192.0.2.4"),
            soa(3),
        ] {
            reading.take(r);
        }
        assert!(reading.done);
        let done = reading.finish(Some(&before)).unwrap();
        assert_eq!(done.kind, TransferKind::Incremental);
        assert_eq!(done.serial, 3);
        assert_eq!(
            lines(&done.added),
            vec![
                "d.example.com. 300 IN A 192.0.2.4".to_string(),
                soa(3).to_string_line()
            ]
        );
        assert_eq!(
            lines(&done.removed),
            vec![
                "a.example.com. 300 IN A 192.0.2.1".to_string(),
                soa(1).to_string_line()
            ]
        );
        assert_eq!(done.zone.len(), 3);
    }

    #[test]
    fn an_axfr_answer_ends_at_the_closing_soa_and_is_compared_with_the_zone_held() {
        let before: RecordSet = [soa(1), record("a.example.com. A 300 192.0.2.1")]
            .into_iter()
            .collect();
        let mut reading = Reading::new(Some(1));
        for r in [soa(2), record("b.example.com. A 300 192.0.2.2"), soa(2)] {
            reading.take(r);
        }
        assert!(reading.done);
        let done = reading.finish(Some(&before)).unwrap();
        assert_eq!(done.kind, TransferKind::Full);
        assert_eq!(lines(&done.added).len(), 2);
        assert_eq!(lines(&done.removed).len(), 2);
    }

    #[test]
    fn a_lone_soa_means_nothing_newer() {
        let before: RecordSet = [soa(5)].into_iter().collect();
        let mut reading = Reading::new(Some(5));
        reading.take(soa(5));
        reading.message_ended();
        assert!(reading.done);
        let done = reading.finish(Some(&before)).unwrap();
        assert_eq!(done.kind, TransferKind::Current);
        assert!(done.added.is_empty() && done.removed.is_empty());
    }

    #[test]
    fn an_answer_that_is_not_a_transfer_or_does_not_add_up_is_refused() {
        let mut reading = Reading::new(None);
        reading.take(record("a.example.com. A 300 192.0.2.1"));
        assert!(reading.done);
        assert!(reading.finish(None).unwrap_err().contains("not the zone's SOA"));
        // Changes that delete a record the zone held with another SOA: the result's SOA is
        // not the announced one.
        let before: RecordSet = [soa(1)].into_iter().collect();
        let mut reading = Reading::new(Some(1));
        for r in [soa(3), soa(1), soa(2), soa(3)] {
            reading.take(r);
        }
        assert!(reading.done);
        assert!(reading
            .finish(Some(&before))
            .unwrap_err()
            .contains("not to the serial 3"));
    }

    #[test]
    fn a_zone_of_one_soa_sent_whole_is_not_taken_for_changes() {
        let before: RecordSet = [soa(4)].into_iter().collect();
        let mut reading = Reading::new(Some(4));
        for r in [soa(5), soa(5)] {
            reading.take(r);
        }
        assert!(reading.done);
        let done = reading.finish(Some(&before)).unwrap();
        assert_eq!(done.kind, TransferKind::Full);
        assert_eq!(lines(&done.zone), vec![soa(5).to_string_line()]);
    }

    #[test]
    fn serials_wrap() {
        assert!(serial_newer(1, u32::MAX));
        assert!(!serial_newer(u32::MAX, 1));
        assert!(!serial_newer(7, 7));
    }

    trait Line {
        fn to_string_line(&self) -> String;
    }

    impl Line for Record {
        fn to_string_line(&self) -> String {
            format!(
                "{} {} {} {} {}",
                self.name, self.ttl, self.class, self.rtype, self.rdata
            )
        }
    }
}
