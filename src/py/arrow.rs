//! Arrow shared by the Python classes that hold tables (`Zone`, `ResultSet`): the PyCapsule
//! stream out, the pyarrow, pandas and polars conversions built on it, and records in.

use std::ffi::CStr;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::RecordBatchReader;
use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// Rows per Arrow record batch: large enough to amortise per-batch cost, small enough that
/// string offsets never approach the 2 GiB limit of `Utf8`.
pub(crate) const BATCH_ROWS: usize = 1 << 16;

/// The `__arrow_c_stream__` capsule for `reader`'s batches.
pub(crate) fn stream_capsule<'py>(
    py: Python<'py>,
    reader: impl RecordBatchReader + Send + 'static,
) -> PyResult<Bound<'py, PyCapsule>> {
    const NAME: &CStr = c"arrow_array_stream";
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(Box::new(reader)), NAME)
}

/// `pyarrow.table(table)`, through the capsule.
pub(crate) fn to_arrow<'py>(table: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    import_optional(table.py(), "pyarrow", "to_arrow")?.call_method1("table", (table,))
}

/// A pandas DataFrame, by way of pyarrow (numeric columns as numpy arrays).
pub(crate) fn to_pandas<'py>(table: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    import_optional(table.py(), "pandas", "to_pandas")?;
    to_arrow(table)?.call_method0("to_pandas")
}

/// A polars DataFrame, straight from the capsule.
pub(crate) fn to_polars<'py>(table: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    import_optional(table.py(), "polars", "to_polars")?.call_method1("DataFrame", (table,))
}

/// Imports an optional dependency, or says which package `method` needs.
pub(crate) fn import_optional<'py>(
    py: Python<'py>,
    module: &str,
    method: &str,
) -> PyResult<Bound<'py, PyModule>> {
    py.import(module).map_err(|_| {
        PyImportError::new_err(format!(
            "{method}() needs the '{module}' package: pip install {module}"
        ))
    })
}

/// Records from any object exporting an Arrow stream (`__arrow_c_stream__`: a pyarrow Table, a
/// polars or pandas DataFrame through pyarrow) with the columns name, type, ttl and rdata, and
/// optionally class (IN when missing). Names are absolute with or without the final dot. Each
/// row is checked and made canonical as a zone line would be; the first bad row is an error
/// naming it.
pub(crate) fn records_from_arrow(source: &Bound<'_, PyAny>) -> PyResult<crate::record::RecordSet> {
    use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
    use pyo3::exceptions::PyValueError;

    let capsule = source
        .call_method0("__arrow_c_stream__")?
        .cast_into::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: the capsule's name says it holds an FFI_ArrowArrayStream (the Arrow PyCapsule
    // protocol); `from_raw` moves the stream out and leaves a released one behind, which the
    // capsule's destructor then frees as usual.
    let reader = unsafe { ArrowArrayStreamReader::from_raw(pointer.as_ptr().cast::<FFI_ArrowArrayStream>()) }
        .map_err(|e| PyValueError::new_err(format!("cannot read the Arrow stream: {e}")))?;
    let mut zone_text = String::new();
    for batch in reader {
        let batch = batch.map_err(|e| PyValueError::new_err(format!("cannot read the Arrow stream: {e}")))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| PyValueError::new_err(format!("the Arrow data has no '{name}' column")))
        };
        let (names, types, ttls, rdata) =
            (column("name")?, column("type")?, column("ttl")?, column("rdata")?);
        let classes = batch.column_by_name("class");
        for row in 0..batch.num_rows() {
            let text = |array, what| text_at(array, row, what);
            let ttl = integer_at(ttls, row).ok_or_else(|| {
                PyValueError::new_err(format!("Arrow row {row}: 'ttl' is missing or not a number"))
            })?;
            let class = match classes {
                Some(classes) => text(classes, "class")?,
                None => "IN",
            };
            let line = format!(
                "{} {ttl} {class} {} {}\n",
                text(names, "name")?,
                text(types, "type")?,
                text(rdata, "rdata")?
            );
            zone_text.push_str(&line);
        }
    }
    // Names in tables often lack the final dot: they are taken as absolute all the same.
    let options = crate::zone::ParseOptions {
        origin: Some(".".into()),
        ..crate::zone::ParseOptions::default()
    };
    // Checking and canonicalising every row is real work: it runs without the GIL.
    let parsed = super::detach::quick(source.py(), || {
        crate::zone::parse_bytes(zone_text.as_bytes(), "<arrow>".into(), None, &options)
    });
    let parsed = parsed.map_err(|failure| match failure {
        crate::zone::ParseFailure::Syntax(error) => PyValueError::new_err(format!(
            "Arrow row {}: {}",
            error.line.saturating_sub(1),
            error.message
        )),
        other => PyValueError::new_err(other.to_string()),
    })?;
    Ok(parsed.records)
}

fn text_at<'a>(array: &'a arrow_array::ArrayRef, row: usize, what: &str) -> PyResult<&'a str> {
    string_at(array, row).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!("Arrow row {row}: '{what}' is missing or not text"))
    })
}

fn string_at(array: &arrow_array::ArrayRef, row: usize) -> Option<&str> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use arrow_schema::DataType;
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        _ => None,
    }
}

fn integer_at(array: &arrow_array::ArrayRef, row: usize) -> Option<u32> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
    use arrow_array::Array;
    use arrow_schema::DataType;
    if array.is_null(row) {
        return None;
    }
    let value: i128 = match array.data_type() {
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        _ => return None,
    };
    u32::try_from(value).ok()
}
