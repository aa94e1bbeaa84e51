//! Turns master-file entries into records: directives, owner and TTL inheritance, classes,
//! and the rdata of every type, with errors located to file, line and column.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::check::{check_zone, RecordPositions, Severity};
use super::generate::{expand_template, split_template_fields, GenerateRange};
use super::lexer::{Entry, LexError, Lexer, LineStart};
use crate::record::fields::{parse_ttl, Field, FieldError};
use crate::record::name::{parse_name, write_name};
use crate::record::rdata::{format_rdata, parse_rdata, typed};
use crate::record::{RecordClass, RecordSet, RecordSetBuilder, RecordType, Span};

/// Bounds that keep hostile input from exhausting memory or time.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest physical line, bytes.
    pub max_line_len: usize,
    /// Longest record (all its lines), bytes.
    pub max_entry_len: usize,
    /// Most records one `$GENERATE` may produce.
    pub max_generate: u64,
    /// Most records all the `$GENERATE` directives of one zone may produce together.
    pub max_generate_total: u64,
    /// Deepest `$INCLUDE` nesting.
    pub max_include_depth: u32,
    /// Errors kept in collect mode before parsing stops.
    pub max_errors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_len: 1 << 20,
            max_entry_len: 4 << 20,
            max_generate: 1 << 20,
            max_generate_total: 1 << 20,
            max_include_depth: 16,
            max_errors: 10_000,
        }
    }
}

/// How a large file is split to be parsed on several cores.
#[derive(Debug, Clone)]
pub struct Parallelism {
    /// Most parts parsed at once; `None` means one per available core.
    pub max_parts: Option<usize>,
    /// Smallest part worth a thread of its own, bytes.
    pub min_part_bytes: usize,
}

impl Parallelism {
    /// How many parts `len` bytes of input make.
    fn parts_for(&self, len: usize) -> usize {
        let most = len / self.min_part_bytes.max(1);
        if most <= 1 {
            // Most inputs (a message, a pushed zone) are small: no cores to count.
            return 1;
        }
        self.max_parts.unwrap_or_else(available_cores).min(most).max(1)
    }
}

/// The cores this process may use, read once: the standard library reads the cgroup files
/// afresh on every call, which costs more than parsing a small input.
fn available_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

impl Default for Parallelism {
    fn default() -> Self {
        Parallelism {
            max_parts: None,
            min_part_bytes: 4 << 20,
        }
    }
}

/// How to parse a zone.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Origin for relative names until a `$ORIGIN`; `None` means relative names are errors.
    pub origin: Option<String>,
    /// TTL for records that give none, as if the file began with `$TTL`.
    pub default_ttl: Option<u32>,
    /// Whether `$INCLUDE` may read other files.
    pub allow_include: bool,
    /// Keep going after errors (collecting them) instead of stopping at the first.
    pub collect_errors: bool,
    /// Bounds against hostile input.
    pub limits: Limits,
    /// Splitting of large files across cores (the result is the same either way).
    pub parallelism: Parallelism,
    /// Check the zone's content as BIND and Knot do once it parses (CNAME and other data, the
    /// apex's SOA and NS, glue, out-of-zone and occluded data): its errors join the syntax
    /// errors, its warnings go to [`ParsedZone::warnings`]. Parsing then keeps each record's
    /// position, which a plain parse does not pay for.
    pub check: bool,
}

/// A problem in a zone file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    /// The file (or `<string>` for text), as given.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ZoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            // About how the parse was asked for (a bad origin), not a place in the file.
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

impl std::error::Error for ZoneError {}

/// A parsed zone: the records, and in collect mode the errors met on the way.
#[derive(Debug, Default)]
pub struct ParsedZone {
    /// Every record accepted, in file order.
    pub records: RecordSet,
    /// Errors, in file order (empty unless collecting): the syntax errors, then those of the
    /// zone check when one was asked for and the syntax was clean.
    pub errors: Vec<ZoneError>,
    /// What the zone check warns about, in file order (empty unless checking).
    pub warnings: Vec<ZoneError>,
}

/// Why a parse gave up.
#[derive(Debug, thiserror::Error)]
pub enum ParseFailure {
    /// The zone text is wrong (stop mode, or too many errors).
    #[error("{0}")]
    Syntax(ZoneError),
    /// The zone file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Reads and parses a zone file.
pub fn parse_file(path: &Path, options: &ParseOptions) -> Result<ParsedZone, ParseFailure> {
    let input = read_on_every_core(path, &options.parallelism).map_err(|source| ParseFailure::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let label: Arc<str> = path.to_string_lossy().into();
    parse_bytes(&input, label, path.parent().map(Path::to_path_buf), options)
}

/// Reads a whole file; a large one in pieces side by side, since copying it out of the page
/// cache takes as long as a fair share of the parse.
fn read_on_every_core(path: &Path, parallelism: &Parallelism) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    use std::os::unix::fs::FileExt;

    let mut file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    let pieces = parallelism.parts_for(len);
    if pieces < 2 {
        let mut input = Vec::with_capacity(len.min(1 << 30));
        file.read_to_end(&mut input)?;
        return Ok(input);
    }
    let mut input = vec![0u8; len];
    let piece_len = len.div_ceil(pieces);
    std::thread::scope(|scope| {
        let mut pieces = input.chunks_mut(piece_len).enumerate();
        let (_, first) = pieces.next().expect("a file of two or more pieces has a first");
        let file = &file;
        let others: Vec<_> = pieces
            .map(|(index, piece)| scope.spawn(move || file.read_exact_at(piece, (index * piece_len) as u64)))
            .collect();
        file.read_exact_at(first, 0)?;
        others.into_iter().try_for_each(|other| {
            other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })?;
    // Whatever was appended since the size was taken belongs to the file too.
    file.seek(std::io::SeekFrom::Start(len as u64))?;
    file.read_to_end(&mut input)?;
    Ok(input)
}

/// Parses zone text; `label` names it in errors, `base_dir` anchors relative `$INCLUDE` paths.
///
/// A large input is cut at line starts into parts that are parsed on all cores at once. A part
/// after the first cannot know the state its predecessor leaves (origin, TTLs, previous owner,
/// zone class, whether the cut fell inside parentheses), so it starts from a guess read off the
/// lines before the cut and notes which of the guessed state it relied on. Its result is kept
/// only if the predecessor really stopped at the cut and agrees on everything relied on;
/// otherwise the part is parsed again from where the predecessor stopped. The records and
/// errors are therefore exactly those of a parse from start to end.
pub fn parse_bytes(
    input: &[u8],
    label: Arc<str>,
    base_dir: Option<PathBuf>,
    options: &ParseOptions,
) -> Result<ParsedZone, ParseFailure> {
    let initial = Carried::initial(options, &label)?;
    let cuts = cut_points(input, options);
    let dir = base_dir.as_deref();
    let end_of = |index: usize| cuts.get(index).copied().unwrap_or(input.len());
    let abandon = AtomicBool::new(false);
    let context = PartContext {
        input,
        label: &label,
        dir,
        options,
        abandon: &abandon,
    };
    let (first, guessed) = std::thread::scope(|scope| {
        let workers: Vec<_> = cuts
            .iter()
            .enumerate()
            .map(|(index, &cut)| {
                let (initial, context) = (&initial, &context);
                scope.spawn(move || {
                    let start = LineStart {
                        offset: cut,
                        line: line_number_at(input, cut),
                    };
                    let guess = guess_state_at(input, cut, initial);
                    context.parse(start, end_of(index + 1), guess, true)
                })
            })
            .collect();
        let first = context.parse(
            LineStart { offset: 0, line: 1 },
            end_of(0),
            initial.clone(),
            false,
        );
        if first.failure.is_some() {
            abandon.store(true, Ordering::Relaxed);
        }
        let guessed: Vec<Part> = workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        (first, guessed)
    });
    let mut zone = Assembly::new(first)?;
    for (index, part) in guessed.into_iter().enumerate() {
        let part = if zone.end.offset == cuts[index] && part.agrees_with(&zone.state) {
            part
        } else {
            tracing::debug!(
                line = zone.end.line,
                "{label}: part parsed again from its true start state"
            );
            context.parse(zone.end, end_of(index + 1), zone.state.clone(), false)
        };
        zone.absorb(part, options)?;
    }
    let mut parsed = ParsedZone {
        records: zone.builder.finish(),
        errors: zone.errors,
        warnings: Vec::new(),
    };
    // Records missing for a syntax error would make the content checks report what is not
    // wrong (a glue address on a bad line is "missing"), so they wait for clean syntax, as
    // BIND's and Knot's do.
    if let Some(positions) = zone.positions.filter(|_| parsed.errors.is_empty()) {
        let apex = initial.origin.as_deref().map(|wire| {
            let mut text = String::new();
            write_name(wire, &mut text);
            text
        });
        let mut unlisted = None;
        for finding in check_zone(&parsed.records, &positions, apex.as_deref(), &label) {
            match finding.severity {
                Severity::Error => collect_error(&mut parsed.errors, finding.problem, options)?,
                // Warnings never stop a parse, so they are bounded like errors another way.
                Severity::Warning if parsed.warnings.len() < options.limits.max_errors => {
                    parsed.warnings.push(finding.problem);
                }
                Severity::Warning => unlisted.get_or_insert((finding.problem, 0)).1 += 1,
            }
        }
        if let Some((first, count)) = unlisted {
            parsed.warnings.push(ZoneError {
                message: format!(
                    "{count} more warnings from here on are not listed (the limit is {})",
                    options.limits.max_errors
                ),
                ..first
            });
        }
    }
    Ok(parsed)
}

/// What every part of one parse shares.
struct PartContext<'a> {
    input: &'a [u8],
    label: &'a Arc<str>,
    dir: Option<&'a Path>,
    options: &'a ParseOptions,
    /// Set when the parse has failed before the later parts matter.
    abandon: &'a AtomicBool,
}

impl PartContext<'_> {
    /// Parses the entries that start in `start..stop_at`, beginning in `state`; with `guessed`,
    /// notes which parts of that state the entries relied on.
    fn parse(&self, start: LineStart, stop_at: usize, state: Carried, guessed: bool) -> Part {
        let mut parser = Parser::resume(self.options, state.clone(), guessed.then(Reliance::default));
        let span = stop_at.saturating_sub(start.offset);
        parser.builder.reserve(span, span / 40);
        if let Some(positions) = &mut parser.positions {
            positions.reserve(span / 40);
        }
        let limits = &self.options.limits;
        let mut lexer = Lexer::between(
            self.input,
            start,
            stop_at,
            limits.max_line_len,
            limits.max_entry_len,
        );
        let outcome = parser.parse_entries(&mut lexer, self.label, self.dir, 0, Some(self.abandon));
        Part {
            end: lexer.position(),
            guess: state,
            end_state: parser.state(),
            reliance: parser.reliance,
            failure: outcome.err(),
            builder: parser.builder,
            errors: parser.errors,
            positions: parser.positions,
            generates: parser.generates,
        }
    }
}

/// The records and errors of one part of a file, and how it ended.
struct Part {
    builder: RecordSetBuilder,
    errors: Vec<ZoneError>,
    /// Where each record was written, when checking.
    positions: Option<RecordPositions>,
    /// The part's `$GENERATE` directives, for the limit on the zone's total.
    generates: Vec<GenerateUse>,
    /// Why the part stopped early (first error in stop mode, too many errors, a read failure).
    failure: Option<ParseFailure>,
    /// Where the entry after the part's last one starts.
    end: LineStart,
    /// The state the part started from.
    guess: Carried,
    /// The state it left.
    end_state: Carried,
    /// For a guessed start, which of that state it relied on.
    reliance: Option<Reliance>,
}

impl Part {
    /// Whether this part, parsed from a guessed state, reads the same from `actual`.
    fn agrees_with(&self, actual: &Carried) -> bool {
        let Some(reliance) = &self.reliance else {
            return true;
        };
        let (guess, relied) = (&self.guess, |what: Inherited| reliance.relied[what as usize]);
        (!relied(Inherited::Origin) || guess.origin == actual.origin)
            && (!relied(Inherited::DefaultTtl) || guess.default_ttl == actual.default_ttl)
            && (!relied(Inherited::LastTtl) || guess.last_ttl == actual.last_ttl)
            && (!relied(Inherited::Owner) || guess.owner == actual.owner)
            && (!relied(Inherited::ZoneClass) || guess.zone_class == actual.zone_class)
    }
}

impl Part {
    /// The state this part leaves when it begins in `actual`: what it never replaced is still
    /// `actual`'s, not the guess's.
    fn end_state_after(self, actual: &Carried) -> Carried {
        let Some(reliance) = self.reliance else {
            return self.end_state;
        };
        let mine = |what: Inherited| reliance.replaced[what as usize];
        let end = self.end_state;
        Carried {
            origin: if mine(Inherited::Origin) {
                end.origin
            } else {
                actual.origin.clone()
            },
            default_ttl: if mine(Inherited::DefaultTtl) {
                end.default_ttl
            } else {
                actual.default_ttl
            },
            last_ttl: if mine(Inherited::LastTtl) {
                end.last_ttl
            } else {
                actual.last_ttl
            },
            owner: if mine(Inherited::Owner) {
                end.owner
            } else {
                actual.owner.clone()
            },
            zone_class: if mine(Inherited::ZoneClass) {
                end.zone_class
            } else {
                actual.zone_class
            },
        }
    }
}

/// The parts accepted so far, joined.
struct Assembly {
    builder: RecordSetBuilder,
    errors: Vec<ZoneError>,
    positions: Option<RecordPositions>,
    /// Records the `$GENERATE` directives so far asked for.
    generated: u64,
    end: LineStart,
    state: Carried,
}

impl Assembly {
    fn new(first: Part) -> Result<Self, ParseFailure> {
        if let Some(failure) = first.failure {
            return Err(failure);
        }
        // The first part began at the true start, so its own count is the zone's so far and
        // was held to the limit as it went.
        let generated = first.generates.iter().map(|used| used.count).sum();
        Ok(Assembly {
            builder: first.builder,
            errors: first.errors,
            positions: first.positions,
            generated,
            end: first.end,
            state: first.end_state,
        })
    }

    /// Joins the next part. Each part counted its `$GENERATE` records from zero, so the
    /// zone's total is held to its limit here, directive by directive, in file order among
    /// the part's errors: the failure is the one a single pass over the file would meet.
    fn absorb(&mut self, mut part: Part, options: &ParseOptions) -> Result<(), ParseFailure> {
        self.builder.append(std::mem::take(&mut part.builder));
        if let (Some(positions), Some(theirs)) = (&mut self.positions, part.positions.take()) {
            positions.append(theirs);
        }
        let mut errors = std::mem::take(&mut part.errors).into_iter();
        let mut taken = 0;
        for used in std::mem::take(&mut part.generates) {
            for error in errors.by_ref().take(used.errors_before - taken) {
                collect_error(&mut self.errors, error, options)?;
            }
            taken = used.errors_before;
            self.generated += used.count;
            let limit = options.limits.max_generate_total;
            if self.generated > limit {
                return Err(ParseFailure::Syntax(used.over_total(self.generated, limit)));
            }
        }
        for error in errors {
            collect_error(&mut self.errors, error, options)?;
        }
        if let Some(failure) = part.failure.take() {
            return Err(failure);
        }
        self.end = part.end;
        self.state = part.end_state_after(&self.state);
        Ok(())
    }
}

/// Offsets where parts after the first begin: line starts that open a record with an owner
/// name (so no part begins inside a record or relies on the previous owner), spread evenly.
fn cut_points(input: &[u8], options: &ParseOptions) -> Vec<usize> {
    let parts = options.parallelism.parts_for(input.len());
    let mut cuts: Vec<usize> = Vec::with_capacity(parts - 1);
    for index in 1..parts {
        let from = (input.len() / parts * index).max(cuts.last().map_or(0, |&cut| cut + 1));
        let found = memchr::memchr_iter(b'\n', &input[from.min(input.len())..])
            .take(4096)
            .map(|at| from + at + 1)
            .find(|&start| {
                input
                    .get(start)
                    .is_some_and(|&byte| !b" \t\r\n;$()\"".contains(&byte))
            });
        cuts.extend(found);
    }
    cuts
}

/// 1-based number of the line that starts at `offset`.
fn line_number_at(input: &[u8], offset: usize) -> u32 {
    let newlines = input[..offset].iter().filter(|&&byte| byte == b'\n').count();
    (newlines + 1) as u32
}

/// The state most likely in force at `offset`: the last `$ORIGIN` and `$TTL` before it, on
/// top of the state the file starts with. Wrong guesses only cost a second parse of a part.
fn guess_state_at(input: &[u8], offset: usize, initial: &Carried) -> Carried {
    let mut state = Carried {
        owner: None,
        last_ttl: None,
        zone_class: Some(RecordClass::IN),
        ..initial.clone()
    };
    let mut ttl = None;
    // Relative $ORIGINs build on the ones before them: collect back to an absolute one, then
    // apply them in file order.
    let mut origins = Vec::new();
    let mut origin_known = false;
    for (directive, argument) in directives_before(&input[..offset]) {
        if directive.eq_ignore_ascii_case(b"$TTL") && ttl.is_none() {
            ttl = parse_ttl(argument).ok();
        } else if directive.eq_ignore_ascii_case(b"$ORIGIN") && !origin_known {
            origins.push(argument);
            origin_known = argument.ends_with(b".") || origins.len() >= 64;
        }
        if ttl.is_some() && origin_known {
            break;
        }
    }
    state.default_ttl = ttl.or(state.default_ttl);
    for name in origins.into_iter().rev() {
        let mut wire = Vec::new();
        if parse_name(name, state.origin.as_deref(), &mut wire).is_ok() {
            state.origin = Some(wire);
        }
    }
    state
}

/// The directive lines of `text` (name and first argument), last first.
fn directives_before(text: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    memchr::memrchr_iter(b'$', text)
        .filter(move |&at| at == 0 || text[at - 1] == b'\n')
        .filter_map(move |at| {
            let line = &text[at..];
            let line = &line[..memchr::memchr2(b'\n', b';', line).unwrap_or(line.len())];
            let mut words = line
                .split(|byte| byte.is_ascii_whitespace())
                .filter(|word| !word.is_empty());
            Some((words.next()?, words.next()?))
        })
}

/// The parser state that passes from one entry to the next, and so from one part of a file
/// to the next.
#[derive(Debug, Clone, PartialEq)]
struct Carried {
    origin: Option<Vec<u8>>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    /// The previous owner, in presentation form.
    owner: Option<String>,
    zone_class: Option<RecordClass>,
}

impl Carried {
    /// The state a file starts in.
    fn initial(options: &ParseOptions, label: &Arc<str>) -> Result<Self, ParseFailure> {
        let origin = match &options.origin {
            None => None,
            Some(text) => {
                let absolute = if text.ends_with('.') {
                    text.clone()
                } else {
                    format!("{text}.")
                };
                let mut wire = Vec::new();
                // An origin is one token of a zone file: whitespace or a control character in
                // it is a mistake (a stray space, a pasted line), not a byte to keep escaped.
                let unescaped = text
                    .chars()
                    .find(|c| c.is_whitespace() || c.is_control())
                    .map(|c| format!("{:?} must be written as \\{:03}", c, u32::from(c)));
                let parsed = match unescaped {
                    Some(message) => Err(message),
                    None => parse_name(absolute.as_bytes(), None, &mut wire),
                };
                parsed.map_err(|message| {
                    ParseFailure::Syntax(ZoneError {
                        file: label.clone(),
                        line: 0,
                        column: 0,
                        message: format!("bad origin '{text}': {message}"),
                    })
                })?;
                Some(wire)
            }
        };
        Ok(Carried {
            origin,
            default_ttl: options.default_ttl,
            last_ttl: None,
            owner: None,
            zone_class: None,
        })
    }
}

/// The pieces of [`Carried`], for noting which of them a part relied on.
#[derive(Clone, Copy)]
enum Inherited {
    Origin,
    DefaultTtl,
    LastTtl,
    Owner,
    ZoneClass,
}

/// Which pieces of its starting state a part read before replacing them.
#[derive(Debug, Default, Clone, Copy)]
struct Reliance {
    relied: [bool; 5],
    replaced: [bool; 5],
}

/// Records an error in collect mode, or turns it into the failure that ends the parse.
fn collect_error(
    errors: &mut Vec<ZoneError>,
    error: ZoneError,
    options: &ParseOptions,
) -> Result<(), ParseFailure> {
    if !options.collect_errors {
        return Err(ParseFailure::Syntax(error));
    }
    if errors.len() >= options.limits.max_errors {
        return Err(ParseFailure::Syntax(ZoneError {
            message: format!(
                "more than {} errors, giving up (last: {})",
                options.limits.max_errors, error.message
            ),
            ..error
        }));
    }
    errors.push(error);
    Ok(())
}

struct Parser<'o> {
    options: &'o ParseOptions,
    builder: RecordSetBuilder,
    errors: Vec<ZoneError>,
    origin: Option<Vec<u8>>,
    /// Bumped whenever the origin changes, so a cached owner is not reused across origins.
    origin_generation: u64,
    owner: Option<Owner>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    zone_class: Option<RecordClass>,
    /// Set for a part parsed from a guessed state: what of that state it relied on.
    reliance: Option<Reliance>,
    /// Where each record was written; kept only when the zone is to be checked.
    positions: Option<RecordPositions>,
    /// The `$GENERATE` directives met, and what each asked for.
    generates: Vec<GenerateUse>,
    /// Records those directives asked for together.
    generated: u64,
    wire: Vec<u8>,
    scratch: Vec<u8>,
}

/// One `$GENERATE` directive's share of the zone's limit on generated records.
struct GenerateUse {
    /// Records the directive asked for.
    count: u64,
    /// Errors its parser had collected before it, to place it among them when parts join.
    errors_before: usize,
    /// Where its range is written.
    file: Arc<str>,
    line: u32,
    column: u32,
}

impl GenerateUse {
    /// The failure once this directive takes the zone's generated records to `total`.
    #[cold]
    fn over_total(&self, total: u64, limit: u64) -> ZoneError {
        ZoneError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: over_total_message(total, limit),
        }
    }
}

#[cold]
fn over_total_message(total: u64, limit: u64) -> String {
    format!(
        "$GENERATE would take the records generated in this zone to {total}, over the limit of \
         {limit} for all $GENERATE directives together"
    )
}

#[derive(Clone)]
struct Owner {
    span: Span,
    token: Vec<u8>,
    origin_generation: u64,
}

/// A record's header fields, once read.
#[derive(Clone, Copy)]
struct Header {
    ttl: Option<u32>,
    class: RecordClass,
    rtype: RecordType,
}

type Located = (usize, String);

impl<'o> Parser<'o> {
    /// A parser that continues from `state`.
    fn resume(options: &'o ParseOptions, state: Carried, reliance: Option<Reliance>) -> Self {
        let mut builder = RecordSetBuilder::default();
        let owner = state.owner.map(|text| Owner {
            span: builder.push_text(&text),
            // Never matches a field: the token this owner was written as is not known here.
            token: Vec::new(),
            origin_generation: u64::MAX,
        });
        Parser {
            options,
            builder,
            errors: Vec::new(),
            origin: state.origin,
            origin_generation: 0,
            owner,
            default_ttl: state.default_ttl,
            last_ttl: state.last_ttl,
            zone_class: state.zone_class,
            reliance,
            positions: options.check.then(RecordPositions::default),
            generates: Vec::new(),
            generated: 0,
            wire: Vec::with_capacity(512),
            scratch: Vec::with_capacity(256),
        }
    }

    /// The state the next entry would be parsed in.
    fn state(&self) -> Carried {
        Carried {
            origin: self.origin.clone(),
            default_ttl: self.default_ttl,
            last_ttl: self.last_ttl,
            owner: self
                .owner
                .as_ref()
                .map(|owner| self.builder.span_text(owner.span).to_string()),
            zone_class: self.zone_class,
        }
    }

    /// Notes that the entry being parsed depends on `what` as it was when the part began.
    fn rely_on(&mut self, what: Inherited) {
        if let Some(reliance) = &mut self.reliance {
            if !reliance.replaced[what as usize] {
                reliance.relied[what as usize] = true;
            }
        }
    }

    /// Notes that `what` has been given a value of this part's own; returns whether it had one
    /// before, for [`Parser::restore_replaced`].
    fn replace(&mut self, what: Inherited) -> bool {
        match &mut self.reliance {
            Some(reliance) => std::mem::replace(&mut reliance.replaced[what as usize], true),
            None => true,
        }
    }

    /// Undoes [`Parser::replace`] when a saved value of `what` is put back.
    fn restore_replaced(&mut self, what: Inherited, replaced: bool) {
        if let Some(reliance) = &mut self.reliance {
            reliance.replaced[what as usize] = replaced;
        }
    }

    /// Records an error; stops the parse unless collecting (and under the error limit).
    fn fail(&mut self, error: ZoneError) -> Result<(), ParseFailure> {
        collect_error(&mut self.errors, error, self.options)
    }

    /// Parses a whole (included) file.
    fn parse_source(
        &mut self,
        input: &[u8],
        label: &Arc<str>,
        dir: Option<&Path>,
        depth: u32,
    ) -> Result<(), ParseFailure> {
        let limits = &self.options.limits;
        let mut lexer = Lexer::new(input, limits.max_line_len, limits.max_entry_len);
        self.parse_entries(&mut lexer, label, dir, depth, None)
    }

    /// Parses every entry `lexer` yields; `abandon`, once set, ends the parse early.
    fn parse_entries(
        &mut self,
        lexer: &mut Lexer<'_>,
        label: &Arc<str>,
        dir: Option<&Path>,
        depth: u32,
        abandon: Option<&AtomicBool>,
    ) -> Result<(), ParseFailure> {
        let mut fields: Vec<Field<'_>> = Vec::with_capacity(16);
        loop {
            if abandon.is_some_and(|abandon| abandon.load(Ordering::Relaxed)) {
                return Ok(());
            }
            let entry = match lexer.next_entry(&mut fields) {
                Ok(Some(entry)) => entry,
                Ok(None) => return Ok(()),
                Err((
                    LexError {
                        line,
                        column,
                        message,
                    },
                    in_parens,
                )) => {
                    self.fail(ZoneError {
                        file: label.clone(),
                        line,
                        column,
                        message,
                    })?;
                    lexer.recover(in_parens);
                    continue;
                }
            };
            let at = |(index, message): Located| {
                let (line, column) = match fields.get(index) {
                    Some(field) => (field.line, field.column),
                    None => entry.end,
                };
                ZoneError {
                    file: label.clone(),
                    line,
                    column,
                    message,
                }
            };
            let result = if !entry.blank_owner && fields[0].text.first() == Some(&b'$') && !fields[0].quoted {
                self.directive(&fields, &entry, label, dir, depth)
            } else {
                self.record(&fields, &entry).map_err(DirectiveError::Here)
            };
            // Every record the entry made (one, a `$GENERATE`'s many, even those before one of
            // them failed) was written here; an `$INCLUDE`'s records placed themselves.
            let made = self.builder.len();
            if let Some(positions) = &mut self.positions {
                positions.fill_to(made, label, fields[0].line, fields[0].column);
            }
            match result {
                Ok(()) => {}
                Err(DirectiveError::Here(located)) => self.fail(at(located))?,
                Err(DirectiveError::Stop(located)) => return Err(ParseFailure::Syntax(at(located))),
                Err(DirectiveError::Nested(failure)) => match failure {
                    // An included file that went over the zone's `$GENERATE` total stops the
                    // includer too.
                    ParseFailure::Syntax(error)
                        if self.generated <= self.options.limits.max_generate_total =>
                    {
                        self.fail(error)?
                    }
                    failure => return Err(failure),
                },
            }
        }
    }

    fn owner_from_field(&mut self, field: &Field<'_>) -> Result<Span, Located> {
        if let Some(owner) = &self.owner {
            if owner.token == field.text && owner.origin_generation == self.origin_generation {
                return Ok(owner.span);
            }
        }
        self.rely_on(Inherited::Origin);
        let mut wire = std::mem::take(&mut self.scratch);
        wire.clear();
        let parsed = parse_name(field.text, self.origin.as_deref(), &mut wire);
        let span = parsed.map(|()| self.builder.write_span(|out| write_name(&wire, out)));
        self.scratch = wire;
        let span = span.map_err(|m| (0, format!("owner name: {m}")))?;
        self.replace(Inherited::Owner);
        // The previous owner's token buffer is reused: most lines name a new owner.
        let mut token = self.owner.take().map(|owner| owner.token).unwrap_or_default();
        token.clear();
        token.extend_from_slice(field.text);
        self.owner = Some(Owner {
            span,
            token,
            origin_generation: self.origin_generation,
        });
        Ok(span)
    }

    /// Reads `[TTL] [class] type` (TTL and class in either order) starting at `index`.
    fn header(&mut self, fields: &[Field<'_>], mut index: usize) -> Result<(Header, usize), Located> {
        let mut ttl = None;
        let mut class = None;
        loop {
            let Some(field) = fields.get(index) else {
                return Err((index, "missing record type".into()));
            };
            let text = field.text;
            if text.first().is_some_and(u8::is_ascii_digit) && ttl.is_none() {
                ttl = Some(parse_ttl(text).map_err(|m| (index, format!("bad TTL: {m}")))?);
            } else if let Some(parsed) = RecordClass::from_text(text).filter(|_| class.is_none()) {
                class = Some(parsed);
            } else {
                let rtype = RecordType::from_text(text).ok_or_else(|| {
                    (
                        index,
                        format!("unknown record type '{}'", String::from_utf8_lossy(text)),
                    )
                })?;
                let class = self.check_class(class, index)?;
                return Ok((Header { ttl, class, rtype }, index + 1));
            }
            index += 1;
        }
    }

    fn check_class(&mut self, class: Option<RecordClass>, index: usize) -> Result<RecordClass, Located> {
        self.rely_on(Inherited::ZoneClass);
        let zone_class = self.zone_class.unwrap_or(RecordClass::IN);
        match class {
            Some(class) if self.zone_class.is_some() && class != zone_class => Err((
                index,
                format!("class {class} does not match the zone's class {zone_class}"),
            )),
            Some(class) => Ok(class),
            None => Ok(zone_class),
        }
    }

    fn record(&mut self, fields: &[Field<'_>], entry: &Entry) -> Result<(), Located> {
        let (owner, first) = if entry.blank_owner {
            self.rely_on(Inherited::Owner);
            match &self.owner {
                Some(owner) => (owner.span, 0),
                None => return Err((0, "record has no owner name and there is no previous one".into())),
            }
        } else {
            (self.owner_from_field(&fields[0])?, 1)
        };
        let (header, rdata_at) = self.header(fields, first)?;
        self.add_record(owner, header, &fields[rdata_at..], rdata_at)
    }

    fn add_record(
        &mut self,
        owner: Span,
        header: Header,
        rdata: &[Field<'_>],
        rdata_at: usize,
    ) -> Result<(), Located> {
        let Header { ttl, class, rtype } = header;
        self.rely_on(Inherited::Origin);
        self.wire.clear();
        parse_rdata(rtype, class, rdata, self.origin.as_deref(), &mut self.wire)
            .map_err(|FieldError { index, message }| (rdata_at + index, format!("{rtype}: {message}")))?;
        let ttl = match ttl {
            Some(ttl) => {
                self.replace(Inherited::LastTtl);
                self.last_ttl = Some(ttl);
                ttl
            }
            None => match self.inherited_ttl() {
                Some(ttl) => ttl,
                None if rtype == RecordType::SOA => {
                    // RFC 2308 fallback for zones without $TTL: the SOA minimum becomes the default.
                    let minimum =
                        soa_minimum(&self.wire).ok_or((rdata_at, "SOA rdata is malformed".to_string()))?;
                    self.replace(Inherited::DefaultTtl);
                    self.default_ttl = Some(minimum);
                    minimum
                }
                None => {
                    return Err((
                        0,
                        "no TTL for this record (give it a TTL, or add $TTL before it)".into(),
                    ))
                }
            },
        };
        if self.zone_class.is_none() {
            self.replace(Inherited::ZoneClass);
            self.zone_class = Some(class);
        }
        let wire = &self.wire;
        self.builder
            .try_push_with_name(owner, rtype, class, ttl, |out| {
                format_rdata(rtype, class, wire, out)
            })
            .map_err(|message| (rdata_at, format!("{rtype}: {message}")))
    }

    fn directive(
        &mut self,
        fields: &[Field<'_>],
        entry: &Entry,
        label: &Arc<str>,
        dir: Option<&Path>,
        depth: u32,
    ) -> Result<(), DirectiveError> {
        let name = fields[0].text.to_ascii_uppercase();
        match name.as_slice() {
            b"$ORIGIN" => {
                expect_args(fields, 2, 2, "$ORIGIN takes one name")?;
                self.rely_on(Inherited::Origin);
                let mut wire = Vec::new();
                parse_name(fields[1].text, self.origin.as_deref(), &mut wire)
                    .map_err(|m| DirectiveError::Here((1, format!("$ORIGIN: {m}"))))?;
                self.set_origin(Some(wire));
                Ok(())
            }
            b"$TTL" => {
                expect_args(fields, 2, 2, "$TTL takes one TTL")?;
                let ttl =
                    parse_ttl(fields[1].text).map_err(|m| DirectiveError::Here((1, format!("$TTL: {m}"))))?;
                self.replace(Inherited::DefaultTtl);
                self.default_ttl = Some(ttl);
                Ok(())
            }
            b"$INCLUDE" => self.include(fields, label, dir, depth),
            b"$GENERATE" => self.generate(fields, entry, label),
            _ => Err(DirectiveError::Here((
                0,
                format!("unknown directive '{}'", String::from_utf8_lossy(fields[0].text)),
            ))),
        }
    }

    /// The TTL of a record that gives none: `$TTL`, else the last explicit TTL (RFC 2308).
    fn inherited_ttl(&mut self) -> Option<u32> {
        self.rely_on(Inherited::DefaultTtl);
        if self.default_ttl.is_none() {
            self.rely_on(Inherited::LastTtl);
        }
        self.default_ttl.or(self.last_ttl)
    }

    fn set_origin(&mut self, origin: Option<Vec<u8>>) {
        self.replace(Inherited::Origin);
        self.origin = origin;
        self.origin_generation += 1;
    }

    fn include(
        &mut self,
        fields: &[Field<'_>],
        label: &Arc<str>,
        dir: Option<&Path>,
        depth: u32,
    ) -> Result<(), DirectiveError> {
        expect_args(fields, 2, 3, "$INCLUDE takes a file name and an optional origin")?;
        if !self.options.allow_include {
            return Err(DirectiveError::Here((
                0,
                "$INCLUDE is disabled (enable allow_include to read other files)".into(),
            )));
        }
        if depth >= self.options.limits.max_include_depth {
            return Err(DirectiveError::Here((
                0,
                format!(
                    "$INCLUDE nested deeper than the limit of {}",
                    self.options.limits.max_include_depth
                ),
            )));
        }
        let mut relative = Vec::new();
        crate::record::fields::unescape_into(fields[1].text, &mut relative)
            .map_err(|m| DirectiveError::Here((1, m)))?;
        let relative = PathBuf::from(String::from_utf8_lossy(&relative).into_owned());
        let path = match dir {
            Some(dir) if relative.is_relative() => dir.join(&relative),
            _ => relative,
        };
        self.rely_on(Inherited::Origin);
        let include_origin = match fields.get(2) {
            Some(field) => {
                let mut wire = Vec::new();
                parse_name(field.text, self.origin.as_deref(), &mut wire)
                    .map_err(|m| DirectiveError::Here((2, format!("$INCLUDE origin: {m}"))))?;
                Some(wire)
            }
            None => self.origin.clone(),
        };
        let input = std::fs::read(&path)
            .map_err(|e| DirectiveError::Here((1, format!("cannot read {}: {e}", path.display()))))?;
        let saved_origin = self.origin.clone();
        let saved_owner = self.owner.clone();
        let origin_replaced = self.replace(Inherited::Origin);
        let owner_replaced = self.replace(Inherited::Owner);
        self.set_origin(include_origin);
        let child_label: Arc<str> = path.to_string_lossy().into();
        let result = self.parse_source(&input, &child_label, path.parent(), depth + 1);
        self.set_origin(saved_origin);
        self.owner = saved_owner;
        self.restore_replaced(Inherited::Origin, origin_replaced);
        self.restore_replaced(Inherited::Owner, owner_replaced);
        let _ = label;
        result.map_err(DirectiveError::Nested)
    }

    fn generate(
        &mut self,
        fields: &[Field<'_>],
        entry: &Entry,
        label: &Arc<str>,
    ) -> Result<(), DirectiveError> {
        if fields.len() < 5 {
            return Err(DirectiveError::Here((
                fields.len(),
                "$GENERATE needs a range, an owner template, a type and an rdata template".into(),
            )));
        }
        let range = GenerateRange::parse(fields[1].text).map_err(|m| (1, format!("$GENERATE range: {m}")))?;
        let count = range.count();
        let limits = &self.options.limits;
        if count > limits.max_generate {
            return Err(DirectiveError::Here((
                1,
                format!(
                    "$GENERATE would make {count} records, over the limit of {}",
                    limits.max_generate
                ),
            )));
        }
        let (header, rhs_at) = self.header(fields, 3)?;
        let rhs = &fields[rhs_at..];
        if rhs.is_empty() {
            return Err(DirectiveError::Here((
                fields.len(),
                "$GENERATE needs an rdata template".into(),
            )));
        }
        if rhs.len() > 1 {
            return Err(DirectiveError::Here((
                rhs_at + 1,
                "$GENERATE takes the rdata template as one field (quote it if it has spaces)".into(),
            )));
        }
        let limit = self.options.limits.max_generate_total;
        self.generated += count;
        self.generates.push(GenerateUse {
            count,
            errors_before: self.errors.len(),
            file: label.clone(),
            line: fields[1].line,
            column: fields[1].column,
        });
        // Past the zone's total the parse stops, errors collected or not: the limit is there to
        // bound memory, which carrying on would not.
        if self.generated > limit {
            return Err(DirectiveError::Stop((
                1,
                over_total_message(self.generated, limit),
            )));
        }
        self.expand_generate(fields, entry, &range, header, rhs_at)
            .map_err(DirectiveError::Here)
    }

    /// Makes the records of a `$GENERATE` whose fields have been read and allowed.
    fn expand_generate(
        &mut self,
        fields: &[Field<'_>],
        entry: &Entry,
        range: &GenerateRange,
        header: Header,
        rhs_at: usize,
    ) -> Result<(), Located> {
        let template = fields[rhs_at].text;
        let lhs = fields[2].text;
        self.rely_on(Inherited::Origin);
        let saved_owner = self.owner.clone();
        let mut owner_text = Vec::new();
        let mut rdata_text = Vec::new();
        for value in range.values() {
            owner_text.clear();
            rdata_text.clear();
            expand_template(lhs, value, &mut owner_text).map_err(|m| (2, format!("$GENERATE owner: {m}")))?;
            expand_template(template, value, &mut rdata_text)
                .map_err(|m| (rhs_at, format!("$GENERATE rdata: {m}")))?;
            let mut owner_wire = std::mem::take(&mut self.scratch);
            owner_wire.clear();
            let parsed = parse_name(&owner_text, self.origin.as_deref(), &mut owner_wire);
            let owner = parsed.map(|()| self.builder.write_span(|out| write_name(&owner_wire, out)));
            self.scratch = owner_wire;
            let owner = owner.map_err(|m| (2, format!("$GENERATE owner for {value}: {m}")))?;
            let rdata_fields = split_template_fields(&rdata_text, entry.line, fields[rhs_at].column)
                .map_err(|m| (rhs_at, format!("$GENERATE rdata for {value}: {m}")))?;
            self.add_record(owner, header, &rdata_fields, rhs_at)
                .map_err(|(_, m)| (rhs_at, format!("$GENERATE for {value}: {m}")))?;
        }
        self.owner = saved_owner;
        Ok(())
    }
}

enum DirectiveError {
    /// A problem with this entry.
    Here(Located),
    /// A problem with this entry that ends the parse even when errors are collected.
    Stop(Located),
    /// A failure inside an `$INCLUDE`d file.
    Nested(ParseFailure),
}

impl From<Located> for DirectiveError {
    fn from(located: Located) -> Self {
        DirectiveError::Here(located)
    }
}

fn expect_args(fields: &[Field<'_>], min: usize, max: usize, usage: &str) -> Result<(), DirectiveError> {
    if fields.len() < min {
        return Err(DirectiveError::Here((fields.len(), usage.to_string())));
    }
    if fields.len() > max {
        return Err(DirectiveError::Here((
            max,
            format!("{usage}; unexpected extra field"),
        )));
    }
    Ok(())
}

fn soa_minimum(wire: &[u8]) -> Option<u32> {
    let tail = wire.get(wire.len().checked_sub(4)?..)?;
    Some(u32::from_be_bytes(tail.try_into().ok()?))
}

/// SOA fields of the first SOA record in `records`, if any.
pub fn first_soa(records: &RecordSet) -> Option<typed::Soa<'_>> {
    records
        .iter()
        .find(|r| r.rtype == RecordType::SOA)
        .and_then(|r| typed::soa(r.rdata))
}
