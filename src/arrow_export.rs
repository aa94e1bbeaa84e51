//! Arrow export shared by the Python classes that hold tables (`Zone`, `ResultSet`): the
//! PyCapsule stream, and the pyarrow, pandas and polars conversions built on it.

use std::ffi::CStr;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::RecordBatchReader;
use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// Rows per Arrow record batch: large enough to amortise per-batch cost, small enough that
/// string offsets never approach the 2 GiB limit of `Utf8`.
pub const BATCH_ROWS: usize = 1 << 16;

/// The `__arrow_c_stream__` capsule for `reader`'s batches.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    reader: impl RecordBatchReader + Send + 'static,
) -> PyResult<Bound<'py, PyCapsule>> {
    const NAME: &CStr = c"arrow_array_stream";
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(Box::new(reader)), NAME)
}

/// `pyarrow.table(table)`, through the capsule.
pub fn to_arrow<'py>(table: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    import_optional(table.py(), "pyarrow", "to_arrow")?.call_method1("table", (table,))
}

/// A pandas DataFrame, by way of pyarrow (numeric columns as numpy arrays).
pub fn to_pandas<'py>(table: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    import_optional(table.py(), "pandas", "to_pandas")?;
    to_arrow(table)?.call_method0("to_pandas")
}

/// A polars DataFrame, straight from the capsule.
pub fn to_polars<'py>(table: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    import_optional(table.py(), "polars", "to_polars")?.call_method1("DataFrame", (table,))
}

/// Imports an optional dependency, or says which package `method` needs.
pub fn import_optional<'py>(py: Python<'py>, module: &str, method: &str) -> PyResult<Bound<'py, PyModule>> {
    py.import(module).map_err(|_| {
        PyImportError::new_err(format!(
            "{method}() needs the '{module}' package: pip install {module}"
        ))
    })
}
