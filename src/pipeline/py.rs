//! Python bindings for the work pipeline: `Batch` (a queue message read once, in Rust) and
//! `BatchJob` (resolve and store a batch with one call).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::{BatchJob, BatchReport};
use crate::error::Error;
use crate::py::detach;
use crate::resolve::py::PyResolver;
use crate::store::domains::{decode_batch, encode_batch, encode_stop, BatchMessage};
use crate::zone::py::parse_type_list;

/// A work-queue message, read in Rust: a batch of domains, one bare domain, or a stop request.
#[pyclass(module = "dnsmill._core", name = "Batch", frozen)]
pub struct PyBatch {
    message: BatchMessage,
}

#[pymethods]
impl PyBatch {
    /// Reads a message body; raises `MessageError` saying what is wrong with one that is
    /// not a batch.
    #[staticmethod]
    fn decode(body: &[u8]) -> PyResult<PyBatch> {
        let message = decode_batch(body).map_err(|reason| Error::Message(format!("message {reason}")))?;
        Ok(PyBatch { message })
    }

    /// One batch of the names of `batches` (bare domains gathered, say), in order.
    #[staticmethod]
    fn join(batches: Vec<PyRef<'_, PyBatch>>) -> PyBatch {
        let names = batches.iter().flat_map(|batch| batch.names_owned()).collect();
        PyBatch {
            message: BatchMessage::Domains(names),
        }
    }

    /// True for a bare domain: a message whose whole body is one domain name.
    #[getter]
    fn bare(&self) -> bool {
        matches!(self.message, BatchMessage::Bare(_))
    }

    /// The body of a batch message for `names`.
    #[staticmethod]
    fn encode<'py>(py: Python<'py>, names: Vec<String>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &encode_batch(names.iter().map(String::as_str)))
    }

    /// The body of a stop message: the worker that takes it finishes.
    #[staticmethod]
    fn encode_stop(py: Python<'_>) -> Bound<'_, PyBytes> {
        PyBytes::new(py, &encode_stop())
    }

    /// True for a stop message.
    #[getter]
    fn stop(&self) -> bool {
        self.message == BatchMessage::Stop
    }

    /// The names of a batch (an empty list for a stop message).
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names_owned()
    }

    fn __len__(&self) -> usize {
        match &self.message {
            BatchMessage::Domains(names) => names.len(),
            BatchMessage::Bare(_) => 1,
            BatchMessage::Stop => 0,
        }
    }

    fn __repr__(&self) -> String {
        match &self.message {
            BatchMessage::Domains(names) => format!("Batch({} domains)", names.len()),
            BatchMessage::Bare(name) => format!("Batch(bare {name:?})"),
            BatchMessage::Stop => "Batch(stop)".into(),
        }
    }
}

impl PyBatch {
    fn names_owned(&self) -> Vec<String> {
        match &self.message {
            BatchMessage::Domains(names) => names.clone(),
            BatchMessage::Bare(name) => vec![name.clone()],
            BatchMessage::Stop => Vec::new(),
        }
    }
}

fn report_dict<'py>(py: Python<'py>, report: &BatchReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("domains", report.domains)?;
    dict.set_item("invalid", report.invalid.clone())?;
    dict.set_item("records", report.records)?;
    dict.set_item("dead_lettered", report.dead_lettered)?;
    let outcomes = PyDict::new(py);
    for (status, count) in &report.outcomes {
        outcomes.set_item(status, count)?;
    }
    dict.set_item("outcomes", outcomes)?;
    dict.set_item("resolve_seconds", report.resolve_seconds)?;
    dict.set_item("store_seconds", report.store_seconds)?;
    dict.set_item("retried", report.retried)?;
    Ok(dict)
}

/// The report as Python sees it, made with the GIL after an awaitable finishes.
struct ReportObject(BatchReport);

impl<'py> IntoPyObject<'py> for ReportObject {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        report_dict(py, &self.0)
    }
}

/// Resolves batches with a `Resolver` and stores each (answer records and domain outcomes)
/// in one transaction of the store at `db`.
#[pyclass(module = "dnsmill._core", name = "BatchJob", frozen)]
pub struct PyBatchJob {
    job: Arc<BatchJob>,
}

#[pymethods]
impl PyBatchJob {
    #[new]
    #[pyo3(signature = (resolver, db="sqlite://dnsmill.db", *, types=None, table="dns_records", source="worker"))]
    fn new(
        py: Python<'_>,
        resolver: &Bound<'_, PyResolver>,
        db: &str,
        types: Option<&Bound<'_, PyAny>>,
        table: &str,
        source: &str,
    ) -> PyResult<Self> {
        let types = match types {
            Some(types) => parse_type_list(types)?,
            None => vec![crate::record::RecordType::A],
        };
        let url = crate::store::py::store_url(db)?;
        let config = resolver.get().config().clone();
        let (table, source) = (table.to_string(), Some(source.to_string()));
        let job = detach::wait(py, async move {
            BatchJob::open(config, types, url, &table, source).await
        })?;
        Ok(PyBatchJob { job: Arc::new(job) })
    }

    /// Resolves `batch` and stores it; returns what was done. Waits without the GIL; Ctrl-C
    /// during the resolving stops it and nothing is stored (once storing has begun, the
    /// transaction ends in a commit or a rollback of its own).
    fn process<'py>(&self, py: Python<'py>, batch: &Bound<'py, PyBatch>) -> PyResult<Bound<'py, PyDict>> {
        let names = batch.get().names_owned();
        let job = Arc::clone(&self.job);
        let cancel = Arc::new(AtomicBool::new(false));
        let work_cancel = Arc::clone(&cancel);
        let report = detach::wait_with(
            py,
            async move { job.process(names, work_cancel).await },
            &cancel,
            |_| Ok(()),
        )?;
        report_dict(py, &report)
    }

    /// `process` for asyncio; cancelling the awaiting task stops the resolving.
    fn process_async<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyBatch>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let names = batch.get().names_owned();
        let job = Arc::clone(&self.job);
        let cancel = detach::CancelOnDrop::default();
        detach::awaitable(py, async move {
            let report = job.process(names, cancel.flag()).await?;
            Ok(ReportObject(report))
        })
    }

    /// Closes the store connection.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let job = Arc::clone(&self.job);
        detach::wait(py, async move {
            job.close().await;
            Ok(())
        })
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
