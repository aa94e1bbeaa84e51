//! What a resolution run produces: one row per (name, type) with its status, and the answer
//! records of all rows in one record set.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::record::{RecordRef, RecordSet, RecordSetBuilder, RecordType, Span};
use crate::zone::writer::write_csv_field;

/// How one query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Status {
    /// Answered with records of the asked type.
    NoError,
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no records of the asked type.
    NoData,
    /// The server failed (after the retries, when those are on).
    ServFail,
    /// The server refused (after the retries, when those are on).
    Refused,
    /// No acceptable reply within the tries.
    Timeout,
    /// Any other failure: another rcode, a malformed reply, a failed TCP exchange.
    Error,
    /// The name is not a valid domain name; nothing was sent.
    Invalid,
}

impl Status {
    /// Every status, in order.
    pub const ALL: [Status; 8] = [
        Status::NoError,
        Status::NxDomain,
        Status::NoData,
        Status::ServFail,
        Status::Refused,
        Status::Timeout,
        Status::Error,
        Status::Invalid,
    ];

    /// The name users see.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NoError => "NOERROR",
            Status::NxDomain => "NXDOMAIN",
            Status::NoData => "NODATA",
            Status::ServFail => "SERVFAIL",
            Status::Refused => "REFUSED",
            Status::Timeout => "TIMEOUT",
            Status::Error => "ERROR",
            Status::Invalid => "INVALID",
        }
    }

    /// The status named `text` (any case).
    pub fn from_name(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One query's outcome.
#[derive(Debug, Clone, Copy)]
pub struct ResultRow {
    /// Position in the input: name number × number of types + type number.
    pub index: u64,
    /// The name queried (A-labels, lowercase, absolute), or the input as given when invalid.
    pub name: Span,
    /// The type asked for.
    pub qtype: RecordType,
    /// How it ended.
    pub status: Status,
    /// Tries sent (UDP and TCP).
    pub attempts: u8,
    /// The response code of the reply used, if any.
    pub rcode: Option<u16>,
    /// The nameserver whose reply was used (index into the run's list).
    pub server: Option<u16>,
    /// From the first try to the end, microseconds.
    pub elapsed_us: u32,
    /// First answer record in the answers set.
    pub answers_start: u32,
    /// Number of answer records.
    pub answers_len: u32,
    /// Why, for ERROR and INVALID.
    pub detail: Option<Span>,
}

/// Results being collected; the answers' text and the query names share one arena.
#[derive(Debug, Default)]
pub struct ResultsBuilder {
    /// Answer records, and the names and details the rows point at.
    pub answers: RecordSetBuilder,
    /// The rows, in completion order.
    pub rows: Vec<ResultRow>,
}

impl ResultsBuilder {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Moves `other`'s rows after this builder's.
    pub fn append(&mut self, other: ResultsBuilder) {
        let row_base = self.answers.len() as u32;
        let arena_base = self.answers.append(other.answers);
        self.rows.extend(other.rows.into_iter().map(|row| ResultRow {
            name: row.name.after_adoption(arena_base),
            detail: row.detail.map(|detail| detail.after_adoption(arena_base)),
            answers_start: row.answers_start + row_base,
            ..row
        }));
    }

    /// Moves the rows at input position `bound` and after into a builder of their own
    /// (their text and answers copied), leaving the earlier ones here.
    pub fn split_off_from(&mut self, bound: u64) -> ResultsBuilder {
        let mut rest = ResultsBuilder::default();
        let rows = std::mem::take(&mut self.rows);
        for row in rows {
            if row.index < bound {
                self.rows.push(row);
                continue;
            }
            let name = rest.answers.push_text(self.answers.span_text(row.name));
            let detail = row
                .detail
                .map(|detail| rest.answers.push_text(self.answers.span_text(detail)));
            let answers_start = rest.answers.len() as u32;
            let first = row.answers_start as usize;
            for record in (first..first + row.answers_len as usize).filter_map(|at| self.answers.get(at)) {
                let owner = rest.answers.push_text(record.name);
                rest.answers
                    .push_with_name(owner, record.rtype, record.class, record.ttl, |out| {
                        out.push_str(record.rdata)
                    });
            }
            rest.rows.push(ResultRow {
                name,
                detail,
                answers_start,
                ..row
            });
        }
        rest
    }

    /// The finished table, rows in input order and answers in the order of their rows.
    pub fn finish(mut self, servers: Arc<[SocketAddr]>, stats: RunStats) -> ResultTable {
        put_in_input_order(&mut self.rows);
        let answers = self.answers.finish();
        let mut order = Vec::with_capacity(answers.len());
        for row in &mut self.rows {
            let start = row.answers_start as usize;
            row.answers_start = order.len() as u32;
            order.extend(start..start + row.answers_len as usize);
        }
        ResultTable {
            answers: Arc::new(answers.gather(order)),
            rows: self.rows,
            servers,
            stats,
        }
    }
}

/// Sorts `rows` by input position. A whole run's rows are the positions 0..n once each, which
/// a single pass puts in place; anything else (a part of a run) is sorted.
fn put_in_input_order(rows: &mut Vec<ResultRow>) {
    let mut placed: Vec<Option<ResultRow>> = Vec::new();
    placed.resize_with(rows.len(), || None);
    let mut strays = Vec::new();
    for row in std::mem::take(rows) {
        match usize::try_from(row.index)
            .ok()
            .and_then(|index| placed.get_mut(index))
        {
            Some(slot @ None) => *slot = Some(row),
            _ => strays.push(row),
        }
    }
    rows.extend(placed.into_iter().flatten());
    if !strays.is_empty() {
        rows.append(&mut strays);
        rows.sort_unstable_by_key(|row| row.index);
    }
}

/// Puts rows that complete out of order back in input order: a row waits until every row
/// before it has completed. Every input position ends in exactly one row, so the wait ends.
#[derive(Debug, Default)]
pub struct InputOrder {
    /// The input position of the next row to hand on.
    next: u64,
    /// Rows completed but not yet handed on.
    held: ResultsBuilder,
}

impl InputOrder {
    /// Takes rows in completion order; returns those now in sequence (possibly none). Rows are
    /// handed on once at least `at_least` are in sequence, or once they are most of those held
    /// (so each held row is copied a bounded number of times while it waits).
    pub fn push(&mut self, rows: ResultsBuilder, at_least: usize) -> ResultsBuilder {
        self.held.append(rows);
        let mut positions: Vec<u64> = self.held.rows.iter().map(|row| row.index).collect();
        positions.sort_unstable();
        let in_sequence = positions
            .iter()
            .zip(self.next..)
            .take_while(|(position, wanted)| **position == *wanted)
            .count();
        if in_sequence == 0 || (in_sequence < at_least && in_sequence * 4 < positions.len()) {
            return ResultsBuilder::default();
        }
        self.next += in_sequence as u64;
        if in_sequence == positions.len() {
            return std::mem::take(&mut self.held);
        }
        let rest = self.held.split_off_from(self.next);
        std::mem::replace(&mut self.held, rest)
    }

    /// Whatever is still held, at the end of the run.
    pub fn finish(&mut self) -> ResultsBuilder {
        std::mem::take(&mut self.held)
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Tries sent over UDP.
    pub sent: u64,
    /// Tries repeated over TCP after a truncated reply.
    pub tcp: u64,
    /// Tries that timed out (each may have been retried).
    pub timeouts: u64,
    /// Replies for no query in flight (late replies to tries already answered or given up).
    pub unmatched: u64,
    /// Replies from the wrong address or for another question, dropped.
    pub spoofed: u64,
    /// Seconds from start to the last result.
    pub elapsed: f64,
    /// Tries sent over UDP to each nameserver (by its index in the configuration).
    pub sent_to: Vec<u64>,
    /// Replies accepted from each nameserver.
    pub answered_by: Vec<u64>,
}

impl RunStats {
    /// Adds another lane's counters.
    pub fn add(&mut self, other: &RunStats) {
        self.sent += other.sent;
        self.tcp += other.tcp;
        self.timeouts += other.timeouts;
        self.unmatched += other.unmatched;
        self.spoofed += other.spoofed;
        for (mine, theirs) in [
            (&mut self.sent_to, &other.sent_to),
            (&mut self.answered_by, &other.answered_by),
        ] {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (count, more) in mine.iter_mut().zip(theirs) {
                *count += more;
            }
        }
    }

    /// Counts a try sent to nameserver `server`.
    pub fn count_sent(&mut self, server: usize) {
        bump(&mut self.sent_to, server);
    }

    /// Counts a reply accepted from nameserver `server`.
    pub fn count_answered(&mut self, server: usize) {
        bump(&mut self.answered_by, server);
    }

    /// The indexes of the nameservers that were asked and never answered.
    pub fn silent_servers(&self) -> Vec<usize> {
        self.sent_to
            .iter()
            .enumerate()
            .filter(|(server, sent)| **sent > 0 && self.answered_by.get(*server).copied().unwrap_or(0) == 0)
            .map(|(server, _)| server)
            .collect()
    }
}

fn bump(counts: &mut Vec<u64>, at: usize) {
    if counts.len() <= at {
        counts.resize(at + 1, 0);
    }
    counts[at] += 1;
}

/// The results of a finished run, in input order.
#[derive(Debug, Clone)]
pub struct ResultTable {
    /// Answer records of all rows, in row order.
    pub answers: Arc<RecordSet>,
    /// One row per (name, type).
    pub rows: Vec<ResultRow>,
    /// The nameservers rows refer to.
    pub servers: Arc<[SocketAddr]>,
    /// Counters.
    pub stats: RunStats,
}

impl ResultTable {
    /// The query name of a row.
    pub fn name(&self, row: &ResultRow) -> &str {
        self.answers.span_text(row.name)
    }

    /// Why a row failed, for ERROR and INVALID.
    pub fn detail(&self, row: &ResultRow) -> Option<&str> {
        row.detail.map(|span| self.answers.span_text(span))
    }

    /// The answer records of a row.
    pub fn answers(&self, row: &ResultRow) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        let start = row.answers_start as usize;
        (start..start + row.answers_len as usize).filter_map(|index| self.answers.get(index))
    }

    /// The CNAME chain from the query name: each alias's target, in order.
    pub fn cname_chain(&self, row: &ResultRow) -> Vec<&str> {
        let mut chain = Vec::new();
        let mut current = self.name(row);
        // A chain is as long as the CNAMEs in the answer; more steps would mean a loop.
        for _ in 0..row.answers_len {
            let next = self
                .answers(row)
                .find(|record| record.rtype == RecordType::CNAME && record.name == current);
            match next {
                Some(record) if row.qtype != RecordType::CNAME => {
                    chain.push(record.rdata);
                    current = record.rdata;
                }
                _ => break,
            }
        }
        chain
    }

    /// The nameserver whose reply a row used.
    pub fn server(&self, row: &ResultRow) -> Option<SocketAddr> {
        row.server
            .and_then(|index| self.servers.get(usize::from(index)).copied())
    }

    /// Rows per status.
    pub fn count_by_status(&self) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rows {
            *counts.entry(row.status).or_insert(0) += 1;
        }
        counts
    }

    /// Consecutive pieces of at most `size` rows each.
    pub fn chunks(&self, size: usize) -> Vec<ResultTable> {
        let size = size.max(1);
        (0..self.rows.len().div_ceil(size))
            .map(|chunk| self.subset(&self.rows[chunk * size..((chunk + 1) * size).min(self.rows.len())]))
            .collect()
    }

    /// The rows `keep` accepts (answers shared, not copied).
    pub fn filter(&self, mut keep: impl FnMut(&ResultRow) -> bool) -> ResultTable {
        let rows: Vec<ResultRow> = self.rows.iter().filter(|row| keep(row)).copied().collect();
        self.subset(&rows)
    }

    /// A table of `rows` (taken from this one), answers shared.
    fn subset(&self, rows: &[ResultRow]) -> ResultTable {
        let mut order = Vec::new();
        let rows = rows
            .iter()
            .map(|&(mut row)| {
                let start = row.answers_start as usize;
                row.answers_start = order.len() as u32;
                order.extend(start..start + row.answers_len as usize);
                row
            })
            .collect();
        ResultTable {
            answers: Arc::new(self.answers.gather(order)),
            rows,
            servers: Arc::clone(&self.servers),
            stats: self.stats.clone(),
        }
    }
}

/// One row as users see it (JSON lines, dicts).
#[derive(Debug, Serialize)]
pub struct ResultView<'a> {
    /// Query name.
    pub name: &'a str,
    /// Query type.
    #[serde(rename = "type")]
    pub qtype: String,
    /// Status name.
    pub status: &'static str,
    /// Response code, when a reply was used.
    pub rcode: Option<u16>,
    /// Answer records.
    pub answers: Vec<RecordRef<'a>>,
    /// CNAME targets from the query name on.
    pub cname_chain: Vec<&'a str>,
    /// `IP:PORT` of the nameserver whose reply was used.
    pub nameserver: Option<String>,
    /// Tries sent.
    pub attempts: u8,
    /// Milliseconds from the first try to the end.
    pub elapsed_ms: f64,
    /// Why, for ERROR and INVALID.
    pub error: Option<&'a str>,
}

/// Output formats of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// One JSON object per (name, type).
    JsonLines,
    /// CSV, one row per (name, type); answers as a JSON array in one column.
    Csv,
    /// One line per answer record, `owner type rdata`, as massdns' simple form: for grep and
    /// awk. A query without answers prints nothing.
    Text,
}

impl std::str::FromStr for ResultFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Ok(ResultFormat::JsonLines),
            "csv" => Ok(ResultFormat::Csv),
            "text" | "txt" => Ok(ResultFormat::Text),
            other => Err(format!("unknown format '{other}' (use jsonl, csv or text)")),
        }
    }
}

/// The CSV header row.
pub const CSV_HEADER: &str =
    "name,type,status,rcode,nameserver,attempts,elapsed_ms,answers,cname_chain,error\n";

impl ResultTable {
    /// Row `index` as users see it.
    pub fn view(&self, index: usize) -> Option<ResultView<'_>> {
        let row = self.rows.get(index)?;
        Some(ResultView {
            name: self.name(row),
            qtype: row.qtype.to_string(),
            status: row.status.as_str(),
            rcode: row.rcode,
            answers: self.answers(row).collect(),
            cname_chain: self.cname_chain(row),
            nameserver: self.server(row).map(|address| address.to_string()),
            attempts: row.attempts,
            elapsed_ms: f64::from(row.elapsed_us) / 1000.0,
            error: self.detail(row),
        })
    }

    /// Writes every row in `format`; the CSV header only when `header`.
    pub fn write(&self, format: ResultFormat, header: bool, out: impl Write) -> io::Result<()> {
        let mut out = io::BufWriter::with_capacity(1 << 16, out);
        if format == ResultFormat::Csv && header {
            out.write_all(CSV_HEADER.as_bytes())?;
        }
        for index in 0..self.rows.len() {
            let Some(view) = self.view(index) else { continue };
            match format {
                ResultFormat::JsonLines => {
                    serde_json::to_writer(&mut out, &view)?;
                    out.write_all(b"\n")?;
                }
                ResultFormat::Csv => {
                    write_csv_field(view.name, &mut out)?;
                    write!(out, ",{},{},", view.qtype, view.status)?;
                    if let Some(rcode) = view.rcode {
                        write!(out, "{rcode}")?;
                    }
                    write!(
                        out,
                        ",{},{},{:.3},",
                        view.nameserver.as_deref().unwrap_or(""),
                        view.attempts,
                        view.elapsed_ms
                    )?;
                    write_csv_field(&serde_json::to_string(&view.answers)?, &mut out)?;
                    out.write_all(b",")?;
                    write_csv_field(&serde_json::to_string(&view.cname_chain)?, &mut out)?;
                    out.write_all(b",")?;
                    write_csv_field(view.error.unwrap_or(""), &mut out)?;
                    out.write_all(b"\n")?;
                }
                ResultFormat::Text => {
                    for record in &view.answers {
                        writeln!(out, "{} {} {}", record.name, record.rtype, record.rdata)?;
                    }
                }
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordClass;

    /// A batch of rows at `positions`, each answered with one A record naming its position.
    fn rows_at(positions: &[u64]) -> ResultsBuilder {
        let mut batch = ResultsBuilder::default();
        for &position in positions {
            let name = batch.answers.push_text(&format!("n{position}.example."));
            let answers_start = batch.answers.len() as u32;
            let owner = batch.answers.push_text(&format!("n{position}.example."));
            batch
                .answers
                .push_with_name(owner, RecordType::A, RecordClass::IN, 60, |out| {
                    out.push_str(&format!("192.0.2.{position}"))
                });
            batch.rows.push(ResultRow {
                index: position,
                name,
                qtype: RecordType::A,
                status: Status::NoError,
                attempts: 1,
                rcode: Some(0),
                server: None,
                elapsed_us: 0,
                answers_start,
                answers_len: 1,
                detail: None,
            });
        }
        batch
    }

    fn handed_on(rows: ResultsBuilder) -> Vec<(u64, String, String)> {
        let table = rows.finish(Arc::from(Vec::new()), RunStats::default());
        table
            .rows
            .iter()
            .map(|row| {
                let answer = table.answers(row).next().map(|record| record.rdata.to_owned());
                (row.index, table.name(row).to_owned(), answer.unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn a_finished_table_is_in_input_order_whether_or_not_it_starts_at_zero() {
        let whole: Vec<u64> = vec![3, 0, 4, 1, 2];
        let out = handed_on(rows_at(&whole));
        assert_eq!(
            out,
            (0..5)
                .map(|n| (n, format!("n{n}.example."), format!("192.0.2.{n}")))
                .collect::<Vec<_>>()
        );
        // A later part of a run: positions past the row count.
        let out = handed_on(rows_at(&[12, 10, 11, 2]));
        let positions: Vec<u64> = out.iter().map(|row| row.0).collect();
        assert_eq!(positions, [2, 10, 11, 12]);
        assert_eq!(out[3].2, "192.0.2.12", "rows keep their own answers");
    }

    #[test]
    fn rows_wait_for_those_before_them_and_keep_their_answers() {
        let mut order = InputOrder::default();
        assert!(order.push(rows_at(&[1, 2, 5]), 1).is_empty(), "0 is still out");
        let out = handed_on(order.push(rows_at(&[0, 4]), 1));
        assert_eq!(
            out,
            (0..3)
                .map(|n| (n, format!("n{n}.example."), format!("192.0.2.{n}")))
                .collect::<Vec<_>>()
        );
        let out = handed_on(order.push(rows_at(&[3]), 1));
        assert_eq!(out.iter().map(|row| row.0).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(out[2].2, "192.0.2.5", "a held row's answers were copied with it");
        assert!(order.finish().is_empty());
    }

    #[test]
    fn few_rows_in_sequence_wait_for_more_unless_they_are_most_of_those_held() {
        let mut order = InputOrder::default();
        let held_back: Vec<u64> = (2..20).collect();
        assert!(order.push(rows_at(&held_back), 100).is_empty());
        assert!(
            order.push(rows_at(&[0]), 100).is_empty(),
            "1 of 19 in sequence: wait"
        );
        assert_eq!(handed_on(order.push(rows_at(&[1]), 100)).len(), 20);
    }
}
