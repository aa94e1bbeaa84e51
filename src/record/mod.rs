//! The record model shared by every stage: one DNS record is (owner, type, class, TTL, rdata),
//! names absolute and lowercase, rdata in canonical presentation form.
//!
//! Large sets live in a [`RecordSet`]: text arenas plus a fixed-size row per record, so a
//! million records are a handful of allocations, cheap to filter and to hand across threads.

pub mod address;
mod bitmaps;
pub mod fields;
mod hip_ilnp;
mod legacy_rdata;
pub mod name;
pub mod rdata;
pub mod rtype;
mod svcb;
mod text;
mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

pub use rtype::{RecordClass, RecordType};

/// One record, owning its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Record {
    /// Owner name, absolute and lowercase.
    pub name: String,
    /// Record type.
    #[serde(rename = "type", serialize_with = "serialize_display")]
    pub rtype: RecordType,
    /// Record class.
    #[serde(serialize_with = "serialize_display")]
    pub class: RecordClass,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Canonical presentation rdata.
    pub rdata: String,
}

fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// A record borrowed from a [`RecordSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RecordRef<'a> {
    /// Owner name, absolute and lowercase.
    pub name: &'a str,
    /// Record type.
    #[serde(rename = "type", serialize_with = "serialize_display")]
    pub rtype: RecordType,
    /// Record class.
    #[serde(serialize_with = "serialize_display")]
    pub class: RecordClass,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Canonical presentation rdata.
    pub rdata: &'a str,
}

impl RecordRef<'_> {
    /// An owned copy.
    pub fn to_owned_record(&self) -> Record {
        Record {
            name: self.name.to_owned(),
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdata: self.rdata.to_owned(),
        }
    }
}

impl std::fmt::Display for RecordRef<'_> {
    /// The record as one zone-file line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.name, self.ttl, self.class, self.rtype, self.rdata
        )
    }
}

/// Where a piece of text sits among a set's arenas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
    arena: u16,
}

impl Span {
    /// The same text once its arenas have been adopted by a builder that held `arenas` before.
    pub fn after_adoption(self, arenas: u16) -> Span {
        Span {
            arena: self.arena + arenas,
            ..self
        }
    }
}

/// An arena is closed once it holds this many bytes. One write is a name or one record's rdata
/// (well under a megabyte), so offsets within an arena always fit in 32 bits.
const ARENA_LIMIT: usize = 1 << 31;

#[derive(Clone, Copy, Debug)]
struct Row {
    name: Span,
    rdata: Span,
    ttl: u32,
    rtype: RecordType,
    class: RecordClass,
}

/// An immutable, cheaply shareable set of records in input order.
#[derive(Clone, Debug, Default)]
pub struct RecordSet {
    arenas: Arc<Vec<String>>,
    rows: Vec<Row>,
}

impl RecordSet {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the set holds no record.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The record at `index`.
    pub fn get(&self, index: usize) -> Option<RecordRef<'_>> {
        self.rows.get(index).map(|row| self.view(row))
    }

    fn slice(&self, span: Span) -> &str {
        span_in(&self.arenas, span)
    }

    fn view(&self, row: &Row) -> RecordRef<'_> {
        RecordRef {
            name: self.slice(row.name),
            rtype: row.rtype,
            class: row.class,
            ttl: row.ttl,
            rdata: self.slice(row.rdata),
        }
    }

    /// Every record, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + '_ {
        self.rows.iter().map(|row| self.view(row))
    }

    /// The records `keep` accepts, sharing this set's text.
    pub fn filter(&self, mut keep: impl FnMut(&RecordRef<'_>) -> bool) -> RecordSet {
        let rows = self
            .rows
            .iter()
            .filter(|row| keep(&self.view(row)))
            .copied()
            .collect();
        RecordSet {
            arenas: Arc::clone(&self.arenas),
            rows,
        }
    }

    /// Records per type, ordered by type code.
    pub fn count_by_type(&self) -> BTreeMap<RecordType, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rows {
            *counts.entry(row.rtype).or_insert(0) += 1;
        }
        counts
    }

    /// Distinct owner names in order of first appearance.
    pub fn names(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        let mut names = Vec::new();
        let mut last: Option<Span> = None;
        for row in &self.rows {
            // Records of one owner are usually adjacent and share one span.
            if last == Some(row.name) {
                continue;
            }
            last = Some(row.name);
            let name = self.slice(row.name);
            if seen.insert(name) {
                names.push(name);
            }
        }
        names
    }

    /// Smallest and largest TTL, `None` when empty.
    pub fn ttl_range(&self) -> Option<(u32, u32)> {
        let mut ttls = self.rows.iter().map(|row| row.ttl);
        let first = ttls.next()?;
        Some(ttls.fold((first, first), |(lo, hi), ttl| (lo.min(ttl), hi.max(ttl))))
    }

    /// The text of a span written while the set was built.
    pub fn span_text(&self, span: Span) -> &str {
        self.slice(span)
    }

    /// The records at `indices`, in that order, sharing this set's text.
    pub fn gather(&self, indices: impl IntoIterator<Item = usize>) -> RecordSet {
        RecordSet {
            arenas: Arc::clone(&self.arenas),
            rows: indices.into_iter().map(|index| self.rows[index]).collect(),
        }
    }

    /// The records of this set that `other` does not hold, each once, in this set's order,
    /// sharing this set's text. Records are compared whole: owner, type, class, TTL and rdata
    /// (all canonical), so a TTL change is the old record gone and the new one come.
    pub fn difference(&self, other: &RecordSet) -> RecordSet {
        let theirs: HashSet<RecordRef<'_>> = other.iter().collect();
        let mut seen = HashSet::with_capacity(self.len());
        let kept: Vec<usize> = self
            .iter()
            .enumerate()
            .filter(|(_, record)| !theirs.contains(record) && seen.insert(*record))
            .map(|(index, _)| index)
            .collect();
        self.gather(kept)
    }

    /// Total bytes of record text held (names and rdata).
    pub fn text_bytes(&self) -> usize {
        self.arenas.iter().map(String::len).sum()
    }
}

impl FromIterator<Record> for RecordSet {
    fn from_iter<I: IntoIterator<Item = Record>>(iter: I) -> Self {
        let mut builder = RecordSetBuilder::default();
        for record in iter {
            let name = builder.push_text(&record.name);
            builder.push_with_name(name, record.rtype, record.class, record.ttl, |out| {
                out.push_str(&record.rdata);
            });
        }
        builder.finish()
    }
}

fn span_in(arenas: &[String], span: Span) -> &str {
    let start = span.start as usize;
    &arenas[usize::from(span.arena)][start..start + span.len as usize]
}

/// Builds a [`RecordSet`], writing names and rdata straight into its arenas.
#[derive(Debug)]
pub struct RecordSetBuilder {
    /// Never empty; writes go to the last.
    arenas: Vec<String>,
    rows: Vec<Row>,
}

impl Default for RecordSetBuilder {
    fn default() -> Self {
        RecordSetBuilder {
            arenas: vec![String::new()],
            rows: Vec::new(),
        }
    }
}

impl RecordSetBuilder {
    /// Number of records pushed so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Makes room for `text` more bytes of arena and `rows` more records.
    pub fn reserve(&mut self, text: usize, rows: usize) {
        self.open_arena().reserve(text.min(ARENA_LIMIT));
        self.rows.reserve(rows);
    }

    /// The arena writes go to, a fresh one once the last is full.
    fn open_arena(&mut self) -> &mut String {
        if self.arenas.last().is_none_or(|arena| arena.len() >= ARENA_LIMIT) {
            self.arenas.push(String::new());
        }
        let last = self.arenas.len() - 1;
        &mut self.arenas[last]
    }

    /// Appends text to the arena and returns its span (for owner names used by several rows).
    pub fn push_text(&mut self, text: &str) -> Span {
        self.write_span(|out| out.push_str(text))
    }

    /// Appends whatever `write` produces to the arena and returns its span.
    pub fn write_span(&mut self, write: impl FnOnce(&mut String)) -> Span {
        let written: Result<Span, std::convert::Infallible> = self.try_write_span(|out| {
            write(out);
            Ok(())
        });
        let Ok(span) = written;
        span
    }

    /// Like [`RecordSetBuilder::write_span`], keeping nothing when `write` fails.
    fn try_write_span<E>(&mut self, write: impl FnOnce(&mut String) -> Result<(), E>) -> Result<Span, E> {
        let arena = self.open_arena();
        let start = arena.len();
        if let Err(error) = write(arena) {
            arena.truncate(start);
            return Err(error);
        }
        let len = arena.len() - start;
        Ok(Span {
            start: start as u32,
            len: len as u32,
            arena: (self.arenas.len() - 1) as u16,
        })
    }

    /// Adds a record whose owner is an existing span and whose rdata `write_rdata` appends.
    pub fn push_with_name(
        &mut self,
        name: Span,
        rtype: RecordType,
        class: RecordClass,
        ttl: u32,
        write_rdata: impl FnOnce(&mut String),
    ) {
        let written: Result<(), std::convert::Infallible> =
            self.try_push_with_name(name, rtype, class, ttl, |out| {
                write_rdata(out);
                Ok(())
            });
        let Ok(()) = written;
    }

    /// Adds a record whose rdata `write_rdata` appends, unless it fails; on failure nothing
    /// of the record is kept.
    pub fn try_push_with_name<E>(
        &mut self,
        name: Span,
        rtype: RecordType,
        class: RecordClass,
        ttl: u32,
        write_rdata: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let rdata = self.try_write_span(write_rdata)?;
        self.rows.push(Row {
            name,
            rdata,
            ttl,
            rtype,
            class,
        });
        Ok(())
    }

    /// Drops the records pushed after the first `len` (their text stays in the arena).
    pub fn truncate(&mut self, len: usize) {
        self.rows.truncate(len);
    }

    /// Moves every record of `other` after those of `self`. The text stays where it is: the
    /// other builder's arenas are adopted, not copied. Returns how many arenas `self` had, for
    /// [`Span::after_adoption`] on spans kept elsewhere.
    pub fn append(&mut self, other: RecordSetBuilder) -> u16 {
        let base = self.arenas.len() as u16;
        let moved = |span: Span| span.after_adoption(base);
        self.arenas.extend(other.arenas);
        self.rows.extend(other.rows.into_iter().map(|row| Row {
            name: moved(row.name),
            rdata: moved(row.rdata),
            ..row
        }));
        base
    }

    /// The text of a span written earlier.
    pub fn span_text(&self, span: Span) -> &str {
        span_in(&self.arenas, span)
    }

    /// The record pushed `index`-th.
    pub fn get(&self, index: usize) -> Option<RecordRef<'_>> {
        self.rows.get(index).map(|row| RecordRef {
            name: span_in(&self.arenas, row.name),
            rtype: row.rtype,
            class: row.class,
            ttl: row.ttl,
            rdata: span_in(&self.arenas, row.rdata),
        })
    }

    /// The finished set.
    pub fn finish(mut self) -> RecordSet {
        for arena in &mut self.arenas {
            arena.shrink_to_fit();
        }
        self.rows.shrink_to_fit();
        RecordSet {
            arenas: Arc::new(self.arenas),
            rows: self.rows,
        }
    }
}
