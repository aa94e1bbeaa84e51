//! Turns master-file entries into records: directives, owner and TTL inheritance, classes,
//! and the rdata of every type, with errors located to file, line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::generate::{expand_template, split_template_fields, GenerateRange};
use super::lexer::{Entry, LexError, Lexer};
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
            max_include_depth: 16,
            max_errors: 10_000,
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
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

impl std::error::Error for ZoneError {}

/// A parsed zone: the records, and in collect mode the errors met on the way.
#[derive(Debug, Default)]
pub struct ParsedZone {
    /// Every record accepted, in file order.
    pub records: RecordSet,
    /// Errors, in file order (empty unless collecting).
    pub errors: Vec<ZoneError>,
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
    let input = std::fs::read(path).map_err(|source| ParseFailure::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let label: Arc<str> = path.to_string_lossy().into();
    parse_bytes(&input, label, path.parent().map(Path::to_path_buf), options)
}

/// Parses zone text; `label` names it in errors, `base_dir` anchors relative `$INCLUDE` paths.
pub fn parse_bytes(
    input: &[u8],
    label: Arc<str>,
    base_dir: Option<PathBuf>,
    options: &ParseOptions,
) -> Result<ParsedZone, ParseFailure> {
    let mut parser = Parser::new(options, label.clone())?;
    parser.parse_source(input, &label, base_dir.as_deref(), 0)?;
    Ok(ParsedZone {
        records: parser.builder.finish(),
        errors: parser.errors,
    })
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
    wire: Vec<u8>,
    scratch: Vec<u8>,
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
    fn new(options: &'o ParseOptions, label: Arc<str>) -> Result<Self, ParseFailure> {
        let origin = match &options.origin {
            None => None,
            Some(text) => {
                let absolute = if text.ends_with('.') {
                    text.clone()
                } else {
                    format!("{text}.")
                };
                let mut wire = Vec::new();
                parse_name(absolute.as_bytes(), None, &mut wire).map_err(|message| {
                    ParseFailure::Syntax(ZoneError {
                        file: label,
                        line: 0,
                        column: 0,
                        message: format!("bad origin '{text}': {message}"),
                    })
                })?;
                Some(wire)
            }
        };
        Ok(Parser {
            options,
            builder: RecordSetBuilder::default(),
            errors: Vec::new(),
            origin,
            origin_generation: 0,
            owner: None,
            default_ttl: options.default_ttl,
            last_ttl: None,
            zone_class: None,
            wire: Vec::with_capacity(512),
            scratch: Vec::with_capacity(256),
        })
    }

    /// Records an error; stops the parse unless collecting (and under the error limit).
    fn fail(&mut self, error: ZoneError) -> Result<(), ParseFailure> {
        if !self.options.collect_errors {
            return Err(ParseFailure::Syntax(error));
        }
        if self.errors.len() >= self.options.limits.max_errors {
            return Err(ParseFailure::Syntax(ZoneError {
                message: format!(
                    "more than {} errors, giving up (last: {})",
                    self.options.limits.max_errors, error.message
                ),
                ..error
            }));
        }
        self.errors.push(error);
        Ok(())
    }

    fn parse_source(
        &mut self,
        input: &[u8],
        label: &Arc<str>,
        dir: Option<&Path>,
        depth: u32,
    ) -> Result<(), ParseFailure> {
        let limits = &self.options.limits;
        let mut lexer = Lexer::new(input, limits.max_line_len, limits.max_entry_len);
        let mut fields: Vec<Field<'_>> = Vec::with_capacity(16);
        loop {
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
            match result {
                Ok(()) => {}
                Err(DirectiveError::Here(located)) => self.fail(at(located))?,
                Err(DirectiveError::Nested(failure)) => match failure {
                    ParseFailure::Syntax(error) => self.fail(error)?,
                    io => return Err(io),
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
        let mut wire = Vec::with_capacity(64);
        parse_name(field.text, self.origin.as_deref(), &mut wire)
            .map_err(|m| (0, format!("owner name: {m}")))?;
        let span = self.builder.write_span(|out| write_name(&wire, out));
        self.owner = Some(Owner {
            span,
            token: field.text.to_vec(),
            origin_generation: self.origin_generation,
        });
        Ok(span)
    }

    /// Reads `[TTL] [class] type` (TTL and class in either order) starting at `index`.
    fn header(&self, fields: &[Field<'_>], mut index: usize) -> Result<(Header, usize), Located> {
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

    fn check_class(&self, class: Option<RecordClass>, index: usize) -> Result<RecordClass, Located> {
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
        self.wire.clear();
        parse_rdata(rtype, class, rdata, self.origin.as_deref(), &mut self.wire)
            .map_err(|FieldError { index, message }| (rdata_at + index, format!("{rtype}: {message}")))?;
        let ttl = match ttl {
            Some(ttl) => {
                self.last_ttl = Some(ttl);
                ttl
            }
            None => match self.default_ttl.or(self.last_ttl) {
                Some(ttl) => ttl,
                None if rtype == RecordType::SOA => {
                    // RFC 2308 fallback for zones without $TTL: the SOA minimum becomes the default.
                    let minimum =
                        soa_minimum(&self.wire).ok_or((rdata_at, "SOA rdata is malformed".to_string()))?;
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
        self.zone_class.get_or_insert(class);
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
                self.default_ttl = Some(ttl);
                Ok(())
            }
            b"$INCLUDE" => self.include(fields, label, dir, depth),
            b"$GENERATE" => self.generate(fields, entry).map_err(DirectiveError::Here),
            _ => Err(DirectiveError::Here((
                0,
                format!("unknown directive '{}'", String::from_utf8_lossy(fields[0].text)),
            ))),
        }
    }

    fn set_origin(&mut self, origin: Option<Vec<u8>>) {
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
        self.set_origin(include_origin);
        let child_label: Arc<str> = path.to_string_lossy().into();
        let result = self.parse_source(&input, &child_label, path.parent(), depth + 1);
        self.set_origin(saved_origin);
        self.owner = saved_owner;
        let _ = label;
        result.map_err(DirectiveError::Nested)
    }

    fn generate(&mut self, fields: &[Field<'_>], entry: &Entry) -> Result<(), Located> {
        if fields.len() < 5 {
            return Err((
                fields.len(),
                "$GENERATE needs a range, an owner template, a type and an rdata template".into(),
            ));
        }
        let range = GenerateRange::parse(fields[1].text).map_err(|m| (1, format!("$GENERATE range: {m}")))?;
        let count = range.count();
        if count > self.options.limits.max_generate {
            return Err((
                1,
                format!(
                    "$GENERATE would make {count} records, over the limit of {}",
                    self.options.limits.max_generate
                ),
            ));
        }
        let (header, rhs_at) = self.header(fields, 3)?;
        let rhs = &fields[rhs_at..];
        if rhs.is_empty() {
            return Err((fields.len(), "$GENERATE needs an rdata template".into()));
        }
        if rhs.len() > 1 {
            return Err((
                rhs_at + 1,
                "$GENERATE takes the rdata template as one field (quote it if it has spaces)".into(),
            ));
        }
        let template = rhs[0].text;
        let lhs = fields[2].text;
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
    Here(Located),
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
