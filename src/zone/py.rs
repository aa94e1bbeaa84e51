//! Python bindings for zones and records: `parse_zone`, `Zone`, `Record`.
//!
//! A `Zone` keeps its records in Rust; `Record` objects are made only when Python asks for
//! them, and each is a shared handle plus an index, not a copy.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchIterator, StringArray, UInt32Array};
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Schema, SchemaRef};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyCapsule, PyDict, PyList, PySlice, PyString};

use super::{parse_bytes, parse_file, write_records, Format, Limits, ParseOptions, ParsedZone, ZoneError};
use crate::error::Error;
use crate::py::arguments;
use crate::py::arrow::{self as arrow_export, BATCH_ROWS};
use crate::py::detach;
use crate::py::errors::zone_error_to_py;
use crate::record::name::parse_name;
use crate::record::rdata::typed;
use crate::record::{RecordRef, RecordSet, RecordType};

enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>, &'static str),
}

fn source_from_py(source: &Bound<'_, PyAny>) -> PyResult<Source> {
    if let Ok(bytes) = source.cast::<PyBytes>() {
        return Ok(Source::Bytes(bytes.as_bytes().to_vec(), "<bytes>"));
    }
    if let Ok(array) = source.cast::<PyByteArray>() {
        return Ok(Source::Bytes(array.to_vec(), "<bytes>"));
    }
    if let Ok(text) = source.cast::<PyString>() {
        let text = text.to_str()?;
        // A string is zone text when it spans lines or is a record line; otherwise a path,
        // so that a mistyped file name reports FileNotFoundError instead of a syntax error.
        let is_text = text.contains('\n')
            || (!std::path::Path::new(text).is_file() && text.contains(char::is_whitespace));
        return Ok(if is_text {
            Source::Bytes(text.as_bytes().to_vec(), "<string>")
        } else {
            Source::Path(PathBuf::from(text))
        });
    }
    let os = source.py().import("os")?;
    let path: PathBuf = os.call_method1("fspath", (source,))?.extract()?;
    Ok(Source::Path(path))
}

/// The parser's limits, with those named in `given` (a dict of limit name to number) changed.
fn limits_from_py(given: Option<&Bound<'_, PyDict>>) -> PyResult<Limits> {
    let mut limits = Limits::default();
    for (key, value) in given.into_iter().flat_map(|dict| dict.iter()) {
        let name: String = key.extract()?;
        let wide: u64 = arguments::whole(&format!("limits['{name}']"), value.extract()?, 1, None)?;
        match name.as_str() {
            "max_line_len" => limits.max_line_len = usize::try_from(wide).unwrap_or(usize::MAX),
            "max_entry_len" => limits.max_entry_len = usize::try_from(wide).unwrap_or(usize::MAX),
            "max_generate" => limits.max_generate = wide,
            "max_generate_total" => limits.max_generate_total = wide,
            "max_include_depth" => limits.max_include_depth = u32::try_from(wide).unwrap_or(u32::MAX),
            "max_errors" => limits.max_errors = usize::try_from(wide).unwrap_or(usize::MAX),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown limit '{other}' (max_line_len, max_entry_len, max_generate, \
                     max_generate_total, max_include_depth, max_errors)"
                )))
            }
        }
    }
    Ok(limits)
}

/// Parses a zone from a path, zone text or bytes; with `check`, also checks its content the
/// way BIND and Knot do once the syntax is clean. `limits` changes the parser's limits on
/// hostile input by name.
#[pyfunction]
#[pyo3(signature = (source, origin=None, *, default_ttl=None, allow_include=false, collect_errors=false, check=false, limits=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse_zone(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    origin: Option<String>,
    default_ttl: Option<u32>,
    allow_include: bool,
    collect_errors: bool,
    check: bool,
    limits: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyZone> {
    let source = source_from_py(source)?;
    let options = ParseOptions {
        origin: origin.clone(),
        default_ttl,
        allow_include,
        collect_errors,
        check,
        limits: limits_from_py(limits)?,
        ..ParseOptions::default()
    };
    let parsed = detach::compute(py, move || {
        let parsed = match source {
            Source::Path(path) => parse_file(&path, &options)?,
            Source::Bytes(bytes, label) => {
                let base_dir = std::env::current_dir().ok();
                parse_bytes(&bytes, label.into(), base_dir, &options)?
            }
        };
        Ok::<ParsedZone, Error>(parsed)
    })?;
    Ok(PyZone {
        records: Arc::new(parsed.records),
        errors: parsed.errors,
        warnings: parsed.warnings,
        origin,
    })
}

/// The records of a zone, held in Rust.
#[pyclass(module = "dnsmill._core", name = "Zone", frozen, sequence)]
pub(crate) struct PyZone {
    records: Arc<RecordSet>,
    errors: Vec<ZoneError>,
    warnings: Vec<ZoneError>,
    origin: Option<String>,
}

impl PyZone {
    /// The records, shared.
    pub(crate) fn shared_records(&self) -> Arc<RecordSet> {
        Arc::clone(&self.records)
    }

    /// A zone object over records that came from elsewhere (resolver answers).
    pub(crate) fn from_records(records: Arc<RecordSet>) -> PyZone {
        PyZone {
            records,
            errors: Vec::new(),
            warnings: Vec::new(),
            origin: None,
        }
    }

    fn derived(&self, records: RecordSet) -> PyZone {
        PyZone {
            records: Arc::new(records),
            errors: Vec::new(),
            warnings: Vec::new(),
            origin: self.origin.clone(),
        }
    }

    fn record_at(&self, index: usize) -> PyRecord {
        PyRecord {
            set: Arc::clone(&self.records),
            index,
        }
    }
}

fn normalise_name(name: &str) -> PyResult<String> {
    let mut wire = Vec::new();
    let absolute = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    parse_name(absolute.as_bytes(), None, &mut wire)
        .map_err(|m| PyValueError::new_err(format!("bad name '{name}': {m}")))?;
    let mut text = String::new();
    crate::record::name::write_name(&wire, &mut text);
    Ok(text)
}

pub(crate) fn parse_type_list(types: &Bound<'_, PyAny>) -> PyResult<Vec<RecordType>> {
    let names: Vec<String> = if let Ok(single) = types.extract::<String>() {
        single.split(',').map(|s| s.trim().to_string()).collect()
    } else {
        types.extract()?
    };
    names
        .iter()
        .map(|name| {
            if let Some(reason) = not_a_record_type(name) {
                return Err(PyValueError::new_err(format!(
                    "'{name}' cannot be asked for: {reason}"
                )));
            }
            RecordType::from_text(name.as_bytes())
                .ok_or_else(|| PyValueError::new_err(format!("unknown record type '{name}'")))
        })
        .collect()
}

/// Why a query type that is not a record type is refused, for the ones users try.
fn not_a_record_type(name: &str) -> Option<&'static str> {
    match name.to_ascii_uppercase().as_str() {
        "ANY" | "*" => Some(
            "servers may answer ANY with one record of their choosing (RFC 8482), so it cannot \
             stand for 'every type'; name the types you want, e.g. A,AAAA,MX,TXT",
        ),
        "AXFR" | "IXFR" => Some("zone transfers run over TCP and are not bulk queries"),
        _ => None,
    }
}

#[pymethods]
impl PyZone {
    fn __len__(&self) -> usize {
        self.records.len()
    }

    fn __iter__(&self) -> ZoneIterator {
        ZoneIterator {
            set: Arc::clone(&self.records),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let indices = slice.indices(self.records.len() as isize)?;
            let mut wanted = Vec::with_capacity(indices.slicelength);
            let mut at = indices.start;
            for _ in 0..indices.slicelength {
                wanted.push(at as usize);
                at += indices.step;
            }
            let mut position = 0;
            let mut keep_set = vec![false; self.records.len()];
            for index in &wanted {
                keep_set[*index] = true;
            }
            let subset = self.records.filter(|_| {
                let keep = keep_set[position];
                position += 1;
                keep
            });
            return Ok(Bound::new(py, self.derived(subset))?.into_any());
        }
        let index: isize = key.extract()?;
        let len = self.records.len() as isize;
        let resolved = if index < 0 { index + len } else { index };
        if resolved < 0 || resolved >= len {
            return Err(PyIndexError::new_err("zone index out of range"));
        }
        Ok(Bound::new(py, self.record_at(resolved as usize))?.into_any())
    }

    fn __repr__(&self) -> String {
        let names = self.records.names().len();
        format!("<Zone {} records, {} names>", self.records.len(), names)
    }

    /// The origin given to `parse_zone`, if any.
    #[getter]
    fn origin(&self) -> Option<String> {
        self.origin.clone()
    }

    /// Errors met while parsing with `collect_errors=True`, as `ZoneSyntaxError` instances:
    /// the syntax errors, then, with `check=True`, what the zone check found wrong.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let errors: Vec<Py<PyAny>> = self
            .errors
            .iter()
            .map(|error| zone_error_to_py(py, error).into_value(py).into_any())
            .collect();
        PyList::new(py, errors)
    }

    /// What the zone check of `check=True` warns about, as dicts with `file`, `line`,
    /// `column` and `message`.
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let warnings = PyList::empty(py);
        for warning in &self.warnings {
            let dict = PyDict::new(py);
            dict.set_item("file", warning.file.as_ref())?;
            dict.set_item("line", warning.line)?;
            dict.set_item("column", warning.column)?;
            dict.set_item("message", warning.message.as_str())?;
            warnings.append(dict)?;
        }
        Ok(warnings)
    }

    /// Every record as a list of `Record` objects.
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        // PyO3 objects are tracked by the cyclic collector, which otherwise makes repeated passes
        // over the growing list; records hold no Python references, so no cycle can form.
        with_gc_paused(py, || {
            let records: Vec<PyRecord> = (0..self.records.len())
                .map(|index| self.record_at(index))
                .collect();
            PyList::new(py, records)
        })
    }

    /// Number of records per type mnemonic, ordered by type code.
    fn count_by_type<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let records = Arc::clone(&self.records);
        let counts = detach::quick(py, move || records.count_by_type());
        let dict = PyDict::new(py);
        for (rtype, count) in counts {
            dict.set_item(rtype.to_string(), count)?;
        }
        Ok(dict)
    }

    /// Distinct owner names, in order of first appearance.
    fn names(&self, py: Python<'_>) -> Vec<String> {
        let records = Arc::clone(&self.records);
        detach::quick(py, move || {
            records.names().into_iter().map(str::to_owned).collect()
        })
    }

    /// The records matching every criterion given, as a new `Zone` (no per-record objects).
    #[pyo3(signature = (*, r#type=None, name=None, under=None))]
    fn filter(
        &self,
        py: Python<'_>,
        r#type: Option<&Bound<'_, PyAny>>,
        name: Option<&str>,
        under: Option<&str>,
    ) -> PyResult<PyZone> {
        let types = r#type.map(parse_type_list).transpose()?;
        let name = name.map(normalise_name).transpose()?;
        let under = under.map(normalise_name).transpose()?;
        let records = Arc::clone(&self.records);
        let subset = detach::quick(py, move || {
            records.filter(|record| {
                types.as_ref().is_none_or(|types| types.contains(&record.rtype))
                    && name.as_ref().is_none_or(|name| record.name == name)
                    && under
                        .as_ref()
                        .is_none_or(|under| is_at_or_under(record.name, under))
            })
        });
        Ok(self.derived(subset))
    }

    /// What changed from `before` to this zone: `(added, removed)`, two new zones. Records
    /// are compared whole (owner, type, class, TTL, rdata, all canonical), so a TTL change is
    /// in both: the old record removed, the new one added.
    fn diff(&self, py: Python<'_>, before: PyRef<'_, PyZone>) -> PyResult<(PyZone, PyZone)> {
        let (now, then) = (Arc::clone(&self.records), Arc::clone(&before.records));
        let (added, removed) = detach::compute(py, move || {
            Ok::<_, Error>((now.difference(&then), then.difference(&now)))
        })?;
        Ok((self.derived(added), before.derived(removed)))
    }

    /// The first SOA record, or None.
    #[getter]
    fn soa(&self) -> Option<PyRecord> {
        let index = self.records.iter().position(|r| r.rtype == RecordType::SOA)?;
        Some(self.record_at(index))
    }

    /// Summary: record count, counts by type, owner names, TTL range.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let records = Arc::clone(&self.records);
        let (names, ttl_range) = detach::quick(py, move || (records.names().len(), records.ttl_range()));
        let stats = PyDict::new(py);
        stats.set_item("records", self.records.len())?;
        stats.set_item("names", names)?;
        stats.set_item("by_type", self.count_by_type(py)?)?;
        stats.set_item("ttl_min", ttl_range.map(|r| r.0))?;
        stats.set_item("ttl_max", ttl_range.map(|r| r.1))?;
        stats.set_item("errors", self.errors.len())?;
        Ok(stats)
    }

    /// The zone as text: `format` is "zone" (a master file), "jsonl" or "csv".
    #[pyo3(signature = (format="zone"))]
    fn to_text(&self, py: Python<'_>, format: &str) -> PyResult<String> {
        let format: Format = format.parse().map_err(PyValueError::new_err)?;
        let records = Arc::clone(&self.records);
        detach::quick(py, move || {
            let mut out = Vec::with_capacity(records.text_bytes() + records.len() * 24);
            write_records(&records, format, &mut out).map(|()| String::from_utf8_lossy(&out).into_owned())
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Writes the zone to `path` in `format` ("zone", "jsonl" or "csv"); without one, the
    /// path's extension picks it (`.csv`, `.jsonl`), else a zone file.
    #[pyo3(signature = (path, format=None))]
    fn write(&self, py: Python<'_>, path: PathBuf, format: Option<&str>) -> PyResult<()> {
        let format = format.unwrap_or_else(|| crate::py::formats::format_for(&path, "zone", "zone"));
        let format: Format = format.parse().map_err(PyValueError::new_err)?;
        let records = Arc::clone(&self.records);
        detach::compute(py, move || {
            let file = std::fs::File::create(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            write_records(&records, format, file).map_err(|source| Error::Io { path, source })
        })
    }

    /// Arrow PyCapsule stream of the columns name, type, class, ttl, rdata.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The stream is always produced in its native schema; consumers cast if they asked
        // for another (the PyCapsule protocol allows ignoring the request).
        let _ = requested_schema;
        arrow_export::stream_capsule(py, arrow_reader(Arc::clone(&self.records)))
    }

    /// The records as a `pyarrow.Table`.
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        arrow_export::to_arrow(slf.as_any())
    }

    /// The records as a `pandas.DataFrame` (ttl as a numpy uint32 column).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        arrow_export::to_pandas(slf.as_any())
    }

    /// The records as a `polars.DataFrame`.
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        arrow_export::to_polars(slf.as_any())
    }
}

/// Runs `work` with Python's cyclic garbage collector paused; it is switched back on however
/// `work` ends, a panic included.
pub(crate) fn with_gc_paused<'py, T>(py: Python<'py>, work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    struct Resume<'py>(Option<Bound<'py, PyModule>>);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            if let Some(gc) = &self.0 {
                // Re-enabling cannot fail short of interpreter teardown; nothing to report then.
                let _ = gc.call_method0("enable");
            }
        }
    }
    let gc = py.import("gc")?;
    let was_enabled: bool = gc.call_method0("isenabled")?.extract()?;
    let _resume = if was_enabled {
        gc.call_method0("disable")?;
        Resume(Some(gc))
    } else {
        Resume(None)
    };
    work()
}

fn is_at_or_under(name: &str, ancestor: &str) -> bool {
    ancestor == "."
        || name == ancestor
        || (name.len() > ancestor.len()
            && name.ends_with(ancestor)
            && name.as_bytes()[name.len() - ancestor.len() - 1] == b'.'
            && !name[..name.len() - ancestor.len() - 1].ends_with('\\'))
}

fn arrow_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("name", DataType::Utf8, false),
        ArrowField::new("type", DataType::Utf8, false),
        ArrowField::new("class", DataType::Utf8, false),
        ArrowField::new("ttl", DataType::UInt32, false),
        ArrowField::new("rdata", DataType::Utf8, false),
    ]))
}

fn arrow_batch(
    records: &RecordSet,
    start: usize,
    end: usize,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let rows = || (start..end).filter_map(|i| records.get(i));
    let mut type_names = Vec::with_capacity(end - start);
    let mut class_names = Vec::with_capacity(end - start);
    for record in rows() {
        type_names.push(record.rtype.to_string());
        class_names.push(record.class.to_string());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows().map(|r| r.name))),
        Arc::new(StringArray::from_iter_values(type_names)),
        Arc::new(StringArray::from_iter_values(class_names)),
        Arc::new(UInt32Array::from_iter_values(rows().map(|r| r.ttl))),
        Arc::new(StringArray::from_iter_values(rows().map(|r| r.rdata))),
    ];
    RecordBatch::try_new(Arc::clone(schema), columns)
}

fn arrow_reader(
    records: Arc<RecordSet>,
) -> RecordBatchIterator<impl Iterator<Item = Result<RecordBatch, ArrowError>>> {
    let schema = arrow_schema();
    let batch_schema = Arc::clone(&schema);
    let total = records.len();
    let batches = (0..total.div_ceil(BATCH_ROWS)).map(move |batch| {
        let start = batch * BATCH_ROWS;
        arrow_batch(&records, start, (start + BATCH_ROWS).min(total), &batch_schema)
    });
    RecordBatchIterator::new(batches, schema)
}

/// Iterator over a zone's records.
#[pyclass(module = "dnsmill._core", name = "ZoneIterator", frozen)]
pub(crate) struct ZoneIterator {
    set: Arc<RecordSet>,
    next: std::sync::atomic::AtomicUsize,
}

#[pymethods]
impl ZoneIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<PyRecord> {
        let index = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (index < self.set.len()).then(|| PyRecord {
            set: Arc::clone(&self.set),
            index,
        })
    }

    fn __length_hint__(&self) -> usize {
        self.set
            .len()
            .saturating_sub(self.next.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Constructor arguments of a `Record`: name, type, ttl, rdata, class.
type RecordArgs = (String, String, u32, String, String);

/// One DNS record: frozen, hashable, its repr the zone line.
#[pyclass(module = "dnsmill._core", name = "Record", frozen)]
pub(crate) struct PyRecord {
    pub(crate) set: Arc<RecordSet>,
    pub(crate) index: usize,
}

impl PyRecord {
    /// An owned copy of the record.
    pub(crate) fn owned(&self) -> crate::record::Record {
        self.view().to_owned_record()
    }

    fn view(&self) -> RecordRef<'_> {
        self.set
            .get(self.index)
            .expect("a Record's index is within its set")
    }
}

#[pymethods]
impl PyRecord {
    /// Builds a record from its parts; the rdata is validated and made canonical.
    #[new]
    #[pyo3(signature = (name, r#type, ttl, rdata, rclass="IN"))]
    fn new(py: Python<'_>, name: &str, r#type: &str, ttl: u32, rdata: &str, rclass: &str) -> PyResult<Self> {
        if name.contains(char::is_whitespace) {
            return Err(PyValueError::new_err(format!(
                "bad owner name '{name}': contains whitespace"
            )));
        }
        let owner = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let line = format!("{owner} {ttl} {rclass} {type} {rdata}\n", type = r#type);
        let options = ParseOptions::default();
        let parsed = detach::quick(py, || {
            parse_bytes(line.as_bytes(), "<Record>".into(), None, &options)
        });
        let parsed = parsed.map_err(|failure| match failure {
            super::ParseFailure::Syntax(error) => PyValueError::new_err(error.message),
            other => PyValueError::new_err(other.to_string()),
        })?;
        if parsed.records.len() != 1 {
            return Err(PyValueError::new_err("expected exactly one record"));
        }
        Ok(PyRecord {
            set: Arc::new(parsed.records),
            index: 0,
        })
    }

    /// Owner name, absolute and lowercase.
    #[getter]
    fn name(&self) -> &str {
        self.view().name
    }

    /// Type mnemonic (`"MX"`), or `TYPEnnn`.
    #[getter]
    fn r#type(&self) -> String {
        self.view().rtype.to_string()
    }

    /// Numeric type code.
    #[getter]
    fn rtype(&self) -> u16 {
        self.view().rtype.0
    }

    /// Class mnemonic (`"IN"`).
    #[getter]
    fn rclass(&self) -> String {
        self.view().class.to_string()
    }

    /// Time to live, seconds.
    #[getter]
    fn ttl(&self) -> u32 {
        self.view().ttl
    }

    /// Canonical presentation rdata.
    #[getter]
    fn rdata(&self) -> &str {
        self.view().rdata
    }

    /// MX/KX/AFSDB preference, None for other types.
    #[getter]
    fn preference(&self) -> Option<u16> {
        let record = self.view();
        has_preference(record.rtype)
            .then(|| typed::preference_and_name(record.rdata).map(|p| p.0))
            .flatten()
    }

    /// MX/KX/AFSDB exchange host, None for other types.
    #[getter]
    fn exchange(&self) -> Option<&str> {
        let record = self.view();
        has_preference(record.rtype)
            .then(|| typed::preference_and_name(record.rdata).map(|p| p.1))
            .flatten()
    }

    /// SRV priority, None for other types.
    #[getter]
    fn priority(&self) -> Option<u16> {
        self.srv().map(|s| s.0)
    }

    /// SRV weight, None for other types.
    #[getter]
    fn weight(&self) -> Option<u16> {
        self.srv().map(|s| s.1)
    }

    /// SRV port, None for other types.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.srv().map(|s| s.2)
    }

    /// Target host of SRV, or the name CNAME/DNAME/NS/PTR point at; None for other types.
    #[getter]
    fn target(&self) -> Option<&str> {
        let record = self.view();
        match record.rtype {
            RecordType::SRV => typed::srv(record.rdata).map(|s| s.3),
            RecordType::CNAME | RecordType::DNAME | RecordType::NS | RecordType::PTR => Some(record.rdata),
            _ => None,
        }
    }

    /// SOA fields as a dict (mname, rname, serial, refresh, retry, expire, minimum); None for
    /// other types.
    #[getter]
    fn soa<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let record = self.view();
        if record.rtype != RecordType::SOA {
            return Ok(None);
        }
        let Some(soa) = typed::soa(record.rdata) else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        dict.set_item("mname", soa.mname)?;
        dict.set_item("rname", soa.rname)?;
        dict.set_item("serial", soa.serial)?;
        dict.set_item("refresh", soa.refresh)?;
        dict.set_item("retry", soa.retry)?;
        dict.set_item("expire", soa.expire)?;
        dict.set_item("minimum", soa.minimum)?;
        Ok(Some(dict))
    }

    /// SOA serial, None for other types.
    #[getter]
    fn serial(&self) -> Option<u32> {
        let record = self.view();
        (record.rtype == RecordType::SOA)
            .then(|| typed::soa(record.rdata).map(|s| s.serial))
            .flatten()
    }

    /// The record as a dict with keys name, type, class, ttl, rdata.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let record = self.view();
        let dict = PyDict::new(py);
        dict.set_item("name", record.name)?;
        dict.set_item("type", record.rtype.to_string())?;
        dict.set_item("class", record.class.to_string())?;
        dict.set_item("ttl", record.ttl)?;
        dict.set_item("rdata", record.rdata)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        self.view().to_string()
    }

    fn __str__(&self) -> String {
        self.view().to_string()
    }

    fn __hash__(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.view().hash(&mut hasher);
        hasher.finish()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PyRecord>() {
            Ok(other) => self.view() == other.get().view(),
            Err(_) => false,
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, RecordArgs)> {
        let record = slf.get().view();
        Ok((
            slf.get_type().into_any(),
            (
                record.name.to_string(),
                record.rtype.to_string(),
                record.ttl,
                record.rdata.to_string(),
                record.class.to_string(),
            ),
        ))
    }
}

impl PyRecord {
    fn srv(&self) -> Option<(u16, u16, u16, &str)> {
        let record = self.view();
        (record.rtype == RecordType::SRV)
            .then(|| typed::srv(record.rdata))
            .flatten()
    }
}

fn has_preference(rtype: RecordType) -> bool {
    matches!(rtype, RecordType::MX | RecordType::KX | RecordType::AFSDB)
}
