//! Python bindings for the stores: `Writer`, `init_db`, `db_stats`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::schema::{migrate, stats, Db};
use super::url::StoreUrl;
use super::writer::{WriteCounters, Writer, WriterConfig};
use crate::error::Error;
use crate::record::{RecordSet, RecordSetBuilder};
use crate::resolve::py::PyResultSet;
use crate::runtime::wait_on_runtime;
use crate::zone::py::{PyRecord, PyZone};

fn store_url(url: &str) -> PyResult<StoreUrl> {
    url.parse()
        .map_err(|message: String| PyValueError::new_err(message))
}

/// Runs store work on the runtime while the caller waits without the GIL.
fn run_on_store<T: Send + 'static>(
    py: Python<'_>,
    work: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> PyResult<T> {
    let cancel = Arc::new(AtomicBool::new(false));
    wait_on_runtime(
        py,
        async move { work.await.map_err(Error::Store) },
        &cancel,
        |_| Ok(()),
    )
}

/// Creates or updates the schema of the store at `url`; returns the migration versions
/// applied now (empty when it was up to date).
#[pyfunction]
pub fn init_db(py: Python<'_>, url: &str) -> PyResult<Vec<i64>> {
    let url = store_url(url)?;
    run_on_store(py, async move {
        let mut db = Db::connect(&url).await?;
        let applied = migrate(&mut db).await;
        db.close().await;
        applied
    })
}

/// Counts in the store at `url`: records by type, domains by status, dead letters by kind.
#[pyfunction]
#[pyo3(signature = (url, table="dns_records"))]
pub fn db_stats<'py>(py: Python<'py>, url: &str, table: &str) -> PyResult<Bound<'py, PyDict>> {
    let url = store_url(url)?;
    let table = table.to_string();
    let counts = run_on_store(py, async move {
        let mut db = Db::connect(&url).await?;
        migrate(&mut db).await?;
        let counts = stats(&mut db, &table).await;
        db.close().await;
        counts
    })?;
    let dict = PyDict::new(py);
    for (key, rows) in [
        ("records_by_type", counts.records_by_type),
        ("domains_by_status", counts.domains_by_status),
        ("dead_letters", counts.dead_letters),
    ] {
        let inner = PyDict::new(py);
        for (name, count) in rows {
            inner.set_item(name, count)?;
        }
        dict.set_item(key, inner)?;
    }
    Ok(dict)
}

/// Writes records into a store in deduplicated, idempotent batches.
#[pyclass(module = "dnsmill._core", name = "Writer", frozen)]
pub struct PyWriter {
    writer: Arc<Writer>,
    url: String,
}

impl PyWriter {
    /// The running writer, for Rust-to-Rust paths.
    pub(crate) fn writer(&self) -> Arc<Writer> {
        Arc::clone(&self.writer)
    }

    /// The records in `records`: a Zone or ResultSet (shared, not copied), or Records.
    fn record_set(records: &Bound<'_, PyAny>) -> PyResult<Arc<RecordSet>> {
        if let Ok(zone) = records.cast::<PyZone>() {
            return Ok(zone.get().shared_records());
        }
        if let Ok(results) = records.cast::<PyResultSet>() {
            return Ok(results.get().answers());
        }
        if records.hasattr("__arrow_c_stream__")? {
            return Ok(Arc::new(crate::arrow_export::records_from_arrow(records)?));
        }
        if let Ok(record) = records.cast::<PyRecord>() {
            return Ok(Arc::new(std::iter::once(record.get().owned()).collect()));
        }
        let mut builder = RecordSetBuilder::default();
        for item in records.try_iter()? {
            let item = item?;
            let record = item.cast::<PyRecord>().map_err(|_| {
                PyValueError::new_err("write() takes a Zone, a ResultSet, a Record or an iterable of Records")
            })?;
            let view = record.get().owned();
            let name = builder.push_text(&view.name);
            builder.push_with_name(name, view.rtype, view.class, view.ttl, |out| {
                out.push_str(&view.rdata)
            });
        }
        Ok(Arc::new(builder.finish()))
    }

    fn counters_dict<'py>(py: Python<'py>, counters: &WriteCounters) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("received", counters.received.load(Ordering::Relaxed))?;
        dict.set_item("written", counters.written.load(Ordering::Relaxed))?;
        dict.set_item("deduplicated", counters.deduplicated.load(Ordering::Relaxed))?;
        dict.set_item("batches", counters.batches.load(Ordering::Relaxed))?;
        dict.set_item("retried", counters.retried.load(Ordering::Relaxed))?;
        dict.set_item("dead_lettered", counters.dead_lettered.load(Ordering::Relaxed))?;
        Ok(dict)
    }
}

#[pymethods]
impl PyWriter {
    #[new]
    #[pyo3(signature = (url="sqlite://dnsmill.db", *, table="dns_records", batch_size=10_000, flush_interval=1.0, source=None))]
    fn new(
        py: Python<'_>,
        url: &str,
        table: &str,
        batch_size: usize,
        flush_interval: f64,
        source: Option<String>,
    ) -> PyResult<Self> {
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        if !(flush_interval.is_finite() && flush_interval > 0.0) {
            return Err(PyValueError::new_err(
                "flush_interval must be a positive number of seconds",
            ));
        }
        let parsed = store_url(url)?;
        let redacted = parsed.redacted();
        let config = WriterConfig {
            url: parsed,
            table: table.to_string(),
            batch_size,
            flush_interval: Duration::from_secs_f64(flush_interval),
            source,
            channel_capacity: 4,
            connections: 2,
        };
        let writer = run_on_store(py, Writer::open(config))?;
        Ok(PyWriter {
            writer: Arc::new(writer),
            url: redacted,
        })
    }

    /// Queues records (a Zone, a ResultSet, a Record or Records); waits, without the GIL,
    /// while the writer's queue is full.
    fn write(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<()> {
        let set = Self::record_set(records)?;
        let writer = Arc::clone(&self.writer);
        run_on_store(py, async move { writer.write(set).await })
    }

    /// Writes everything queued so far and returns once it is committed.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let writer = Arc::clone(&self.writer);
        run_on_store(py, async move { writer.flush().await })
    }

    /// Writes everything queued, stops, and returns the counters.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let writer = Arc::clone(&self.writer);
        run_on_store(py, async move { writer.close().await })?;
        Self::counters_dict(py, &self.writer.counters)
    }

    /// `write` for asyncio.
    fn write_async<'py>(&self, py: Python<'py>, records: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        crate::resolve::py::init_async_runtime();
        let set = Self::record_set(records)?;
        let writer = Arc::clone(&self.writer);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            writer.write(set).await.map_err(|e| PyErr::from(Error::Store(e)))
        })
    }

    /// `flush` for asyncio.
    fn flush_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::resolve::py::init_async_runtime();
        let writer = Arc::clone(&self.writer);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            writer.flush().await.map_err(|e| PyErr::from(Error::Store(e)))
        })
    }

    /// `close` for asyncio (returns nothing; read `stats` afterwards).
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::resolve::py::init_async_runtime();
        let writer = Arc::clone(&self.writer);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            writer.close().await.map_err(|e| PyErr::from(Error::Store(e)))
        })
    }

    /// Records received, rows written, duplicates dropped, batches committed.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Self::counters_dict(py, &self.writer.counters)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("Writer({:?})", self.url)
    }
}
