//! Python bindings for the stores: `Writer`, `init_db`, `db_stats`, `Domains`, and
//! `StreamStore` (the coordinator's tables and writes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::batch::BatchStore;
use super::domains;
use super::error::{StoreError, StoreErrorKind};
use super::events::EventRow;
use super::schema::{migrate, stats, Db};
use super::streams;
use super::url::StoreUrl;
use super::writer::{WriteCounters, Writer, WriterConfig};
use crate::error::Error;
use crate::py::arguments;
use crate::py::detach;
use crate::record::name::domain_name;
use crate::record::{RecordSet, RecordSetBuilder};
use crate::zone::py::{PyRecord, PyZone};

/// A store URL from Python; a bad one is a `ValueError` that says what is accepted.
pub(crate) fn store_url(url: &str) -> PyResult<StoreUrl> {
    url.parse()
        .map_err(|message: String| PyValueError::new_err(message))
}

/// Runs store work on the runtime while the caller waits without the GIL.
fn run_on_store<T: Send + 'static>(
    py: Python<'_>,
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> PyResult<T> {
    detach::wait(py, async move { work.await.map_err(Error::Store) })
}

/// Creates or updates the schema of the store at `url`; returns the migration versions
/// applied now (empty when it was up to date).
#[pyfunction]
pub(crate) fn init_db(py: Python<'_>, url: &str) -> PyResult<Vec<i64>> {
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
pub(crate) fn db_stats<'py>(py: Python<'py>, url: &str, table: &str) -> PyResult<Bound<'py, PyDict>> {
    let url = store_url(url)?;
    let table = table.to_string();
    // Reading only: nothing is created or migrated, and a store without dnsmill's tables
    // says so.
    let counts = run_on_store(py, async move {
        let mut db = Db::connect_existing(&url).await?;
        let counts = stats(&mut db, &table).await.map_err(|error| {
            if error.kind == StoreErrorKind::Configuration {
                StoreError::new(
                    error.kind,
                    format!(
                        "{}; is this a dnsmill store? (`dnsmill db init` creates the schema)",
                        error.message
                    ),
                )
            } else {
                error
            }
        });
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
pub(crate) struct PyWriter {
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
        // A ResultSet (or anything else) whose records() is a Zone: shared, not copied.
        if let Ok(held) = records.getattr("records").and_then(|method| method.call0()) {
            if let Ok(zone) = held.cast::<PyZone>() {
                return Ok(zone.get().shared_records());
            }
        }
        if records.hasattr("__arrow_c_stream__")? {
            return Ok(Arc::new(crate::py::arrow::records_from_arrow(records)?));
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
        dict.set_item("added", counters.added.load(Ordering::Relaxed))?;
        dict.set_item("refreshed", counters.refreshed.load(Ordering::Relaxed))?;
        dict.set_item("unchanged", counters.unchanged.load(Ordering::Relaxed))?;
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
        batch_size: i64,
        flush_interval: f64,
        source: Option<String>,
    ) -> PyResult<Self> {
        let batch_size: usize = arguments::whole("batch_size", batch_size, 1, None)?;
        let flush_interval = arguments::seconds("flush_interval", flush_interval, false)?;
        let parsed = store_url(url)?;
        let redacted = parsed.redacted();
        let connections = parsed.connections;
        let config = WriterConfig {
            url: parsed,
            table: table.to_string(),
            batch_size,
            flush_interval,
            source,
            channel_capacity: 4,
            connections,
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
        let set = Self::record_set(records)?;
        let writer = Arc::clone(&self.writer);
        detach::awaitable(py, async move { Ok(writer.write(set).await?) })
    }

    /// `flush` for asyncio.
    fn flush_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let writer = Arc::clone(&self.writer);
        detach::awaitable(py, async move { Ok(writer.flush().await?) })
    }

    /// `close` for asyncio (returns nothing; read `stats` afterwards).
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let writer = Arc::clone(&self.writer);
        detach::awaitable(py, async move { Ok(writer.close().await?) })
    }

    /// Records received; rows written, of which added (new), refreshed (stored before with
    /// another TTL) and unchanged (stored before as they are); duplicates dropped within a
    /// batch; batches committed, tries repeated, rows dead-lettered.
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

/// A connection kept for a binding, `None` once closed; calls take turns on it.
type Held<T> = Arc<tokio::sync::Mutex<Option<T>>>;

/// The `domains` job table of a store: what to resolve, and how each resolution went.
#[pyclass(module = "dnsmill._core", name = "Domains", frozen)]
pub(crate) struct PyDomains {
    db: Held<Db>,
    url: String,
}

impl PyDomains {
    /// Runs `work` on this store's connection.
    fn with_db<T, W>(&self, py: Python<'_>, work: W) -> PyResult<T>
    where
        T: Send + 'static,
        W: for<'c> FnOnce(
                &'c mut Db,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
            > + Send
            + 'static,
    {
        on_connection(py, &self.db, format!("the Domains of {}", self.url), None, work)
    }
}

/// Runs `work` on the connection held in `held` (`what` names it once closed). With `renew`,
/// a transient failure replaces the connection for the next call: it may be gone, and the
/// caller (a source under its supervisor, the coordinator's loop) tries again.
fn on_connection<T, W>(
    py: Python<'_>,
    held: &Held<Db>,
    what: String,
    renew: Option<StoreUrl>,
    work: W,
) -> PyResult<T>
where
    T: Send + 'static,
    W: for<'c> FnOnce(
            &'c mut Db,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
        > + Send
        + 'static,
{
    let held = Arc::clone(held);
    run_on_store(py, async move {
        let mut guard = held.lock().await;
        let connection = guard
            .as_mut()
            .ok_or_else(|| StoreError::other(format!("{what} is closed")))?;
        let outcome = work(connection).await;
        if let (Err(error), Some(url)) = (&outcome, &renew) {
            renew_after(&mut guard, url, error).await;
        }
        outcome
    })
}

fn due_policy(max_age: f64, max_attempts: i64, requeue_after: Option<f64>) -> PyResult<domains::DuePolicy> {
    Ok(domains::DuePolicy {
        max_age: arguments::seconds("max_age", max_age, true)?,
        max_attempts: arguments::whole("max_attempts", max_attempts, 1, None)?,
        requeue_after: requeue_after
            .map(|seconds| arguments::seconds("requeue_after", seconds, false))
            .transpose()?,
    })
}

#[pymethods]
impl PyDomains {
    #[new]
    #[pyo3(signature = (url="sqlite://dnsmill.db"))]
    fn new(py: Python<'_>, url: &str) -> PyResult<Self> {
        let parsed = store_url(url)?;
        let redacted = parsed.redacted();
        let db = run_on_store(py, async move {
            let mut db = Db::connect(&parsed).await?;
            migrate(&mut db).await?;
            Ok(db)
        })?;
        Ok(PyDomains {
            db: Arc::new(tokio::sync::Mutex::new(Some(db))),
            url: redacted,
        })
    }

    /// Adds domain names: a path (one name per line; blank lines and `#` comments skipped)
    /// or an iterable of names. Names are checked and IDNs converted to A-labels; a bad
    /// line is reported with its line number and the good ones are kept, in input order.
    /// Returns `{"added", "duplicates" (already stored or repeated), "rejected": [(line,
    /// text, reason), ...]}`.
    fn add<'py>(&self, py: Python<'py>, names: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        enum Lines {
            File(std::path::PathBuf),
            Given(Vec<String>),
        }
        let lines = if names.is_instance_of::<pyo3::types::PyString>() {
            return Err(PyValueError::new_err(
                "add() takes a path (pathlib.Path) or an iterable of names, not one string",
            ));
        } else if let Ok(path) = names.extract::<std::path::PathBuf>() {
            Lines::File(path)
        } else {
            let mut given = Vec::new();
            for item in names.try_iter()? {
                given.push(item?.extract::<String>()?);
            }
            Lines::Given(given)
        };
        // Reading the file and checking every name (IDNA included) is real work: no GIL.
        let (mut valid, rejected) = detach::compute(py, move || {
            let given: Vec<Result<String, String>> = match lines {
                // Bytes, not text: a line that is not UTF-8 is rejected with its number, and
                // the rest of the file is still read.
                Lines::File(path) => std::fs::read(&path)
                    .map_err(|source| Error::Io { path, source })?
                    .split(|&byte| byte == b'\n')
                    .map(|line| {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        String::from_utf8(line.to_vec())
                            .map_err(|_| String::from_utf8_lossy(line).into_owned())
                    })
                    .collect(),
                Lines::Given(given) => given.into_iter().map(Ok).collect(),
            };
            let mut valid = Vec::with_capacity(given.len());
            let mut rejected = Vec::new();
            for (index, text) in given.iter().enumerate() {
                let text = match text {
                    Ok(text) => text,
                    Err(lossy) => {
                        let reason = "not UTF-8 text (save the file as UTF-8)".to_string();
                        rejected.push((index + 1, lossy.trim().to_string(), reason));
                        continue;
                    }
                };
                let trimmed = text.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                match domain_name(trimmed) {
                    Ok(name) => valid.push(name),
                    Err(reason) => rejected.push((index + 1, trimmed.to_string(), reason)),
                }
            }
            Ok((valid, rejected))
        })?;
        let offered = valid.len() as u64;
        let mut seen = std::collections::HashSet::with_capacity(valid.len());
        valid.retain(|name| seen.insert(name.clone()));
        let added = self.with_db(py, move |db| {
            Box::pin(async move { domains::add(db, &valid).await })
        })?;
        let result = PyDict::new(py);
        result.set_item("added", added)?;
        result.set_item("duplicates", offered - added)?;
        result.set_item("rejected", rejected)?;
        Ok(result)
    }

    /// Up to `limit` due domains with ids above `after`, as (id, name), in id order: pass
    /// the last id back as `after` for the next page.
    #[pyo3(signature = (after=0, limit=1000, *, max_age=86400.0, max_attempts=3, requeue_after=None))]
    fn due(
        &self,
        py: Python<'_>,
        after: i64,
        limit: i64,
        max_age: f64,
        max_attempts: i64,
        requeue_after: Option<f64>,
    ) -> PyResult<Vec<(i64, String)>> {
        let limit: u32 = arguments::whole("limit", limit, 1, Some(i64::from(u32::MAX)))?;
        let policy = due_policy(max_age, max_attempts, requeue_after)?;
        self.with_db(py, move |db| {
            Box::pin(async move { domains::due(db, after, limit, policy).await })
        })
    }

    /// How many domains are due.
    #[pyo3(signature = (*, max_age=86400.0, max_attempts=3, requeue_after=None))]
    fn count_due(
        &self,
        py: Python<'_>,
        max_age: f64,
        max_attempts: i64,
        requeue_after: Option<f64>,
    ) -> PyResult<u64> {
        let policy = due_policy(max_age, max_attempts, requeue_after)?;
        self.with_db(py, move |db| {
            Box::pin(async move { domains::count_due(db, policy).await })
        })
    }

    /// Up to `limit` due domains with ids above `after`, made into queue message bodies of
    /// at most `batch_size` domains each (no Python object per domain), or with `bare` one
    /// domain per body, as the workers users run today take them. Put the bodies on the
    /// queue, then `mark_queued(page)`; the next page starts after `page.last_id`.
    #[pyo3(signature = (after=0, limit=20_000, *, batch_size=2000, bare=false, max_age=86400.0, max_attempts=3, requeue_after=None))]
    #[allow(clippy::too_many_arguments)] // the Python signature's keywords
    fn due_page(
        &self,
        py: Python<'_>,
        after: i64,
        limit: i64,
        batch_size: i64,
        bare: bool,
        max_age: f64,
        max_attempts: i64,
        requeue_after: Option<f64>,
    ) -> PyResult<PyDuePage> {
        let limit: u32 = arguments::whole("limit", limit, 1, Some(i64::from(u32::MAX)))?;
        let batch_size: usize = arguments::whole("batch_size", batch_size, 1, None)?;
        let format = if bare {
            domains::MessageFormat::Bare
        } else {
            domains::MessageFormat::Batches(batch_size)
        };
        let policy = due_policy(max_age, max_attempts, requeue_after)?;
        let page = self.with_db(py, move |db| {
            Box::pin(async move { domains::due_page(db, after, limit, format, policy).await })
        })?;
        Ok(PyDuePage { page, policy })
    }

    /// Marks domains `queued`: a `DuePage` (under the policy it was read with), or a list of
    /// ids. Only domains still due are marked: one resolved in the meantime keeps its
    /// outcome. Returns how many were marked.
    #[pyo3(signature = (domains, *, max_age=86400.0, max_attempts=3, requeue_after=None))]
    fn mark_queued(
        &self,
        py: Python<'_>,
        domains: &Bound<'_, PyAny>,
        max_age: f64,
        max_attempts: i64,
        requeue_after: Option<f64>,
    ) -> PyResult<u64> {
        let (ids, policy): (Vec<i64>, _) = match domains.cast::<PyDuePage>() {
            Ok(page) => (page.get().page.ids.clone(), page.get().policy),
            Err(_) => (
                domains.extract()?,
                due_policy(max_age, max_attempts, requeue_after)?,
            ),
        };
        self.with_db(py, move |db| {
            Box::pin(async move { domains::mark_queued(db, &ids, policy).await })
        })
    }

    /// Returns every `queued` domain to `new` (after purging the queue); returns how many.
    fn reset_queued(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_db(py, |db| Box::pin(async move { domains::reset_queued(db).await }))
    }

    /// Closes the connection.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = Arc::clone(&self.db);
        run_on_store(py, async move {
            if let Some(connection) = db.lock().await.take() {
                connection.close().await;
            }
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

    fn __repr__(&self) -> String {
        format!("Domains({:?})", self.url)
    }
}

/// A page of due domains as queue message bodies (`Domains.due_page`).
#[pyclass(module = "dnsmill._core", name = "DuePage", frozen)]
pub(crate) struct PyDuePage {
    page: domains::DuePage,
    policy: domains::DuePolicy,
}

#[pymethods]
impl PyDuePage {
    /// One message body per batch.
    #[getter]
    fn bodies<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, pyo3::types::PyBytes>> {
        self.page
            .bodies
            .iter()
            .map(|body| pyo3::types::PyBytes::new(py, body))
            .collect()
    }

    /// Domains on the page.
    #[getter]
    fn domains(&self) -> usize {
        self.page.ids.len()
    }

    /// The last id: pass it as `after` for the next page.
    #[getter]
    fn last_id(&self) -> i64 {
        self.page.last_id
    }

    /// Domains on the page.
    fn __len__(&self) -> usize {
        self.page.ids.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "DuePage({} domains in {} messages, last id {})",
            self.page.ids.len(),
            self.page.bodies.len(),
            self.page.last_id
        )
    }
}

/// The coordinator's tables of a store (streams, sources, checkpoints) and its writes of
/// what sources see (records and events). Each call is one statement or one transaction.
#[pyclass(module = "dnsmill._core", name = "StreamStore", frozen)]
pub(crate) struct PyStreamStore {
    db: Held<Db>,
    records: Held<BatchStore>,
    url: StoreUrl,
    events_table: String,
    records_table: String,
}

impl PyStreamStore {
    /// Runs `work` on the tables' connection.
    fn with_db<T, W>(&self, py: Python<'_>, work: W) -> PyResult<T>
    where
        T: Send + 'static,
        W: for<'c> FnOnce(
                &'c mut Db,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let what = format!("the StreamStore of {}", self.url.redacted());
        on_connection(py, &self.db, what, Some(self.url.clone()), work)
    }
}

/// After a transient failure the connection may be gone: the next call gets a new one (the
/// caller, a source under its supervisor or the coordinator's loop, tries again).
async fn renew_after(held: &mut Option<Db>, url: &StoreUrl, error: &StoreError) {
    if error.kind == StoreErrorKind::Transient {
        if let Ok(fresh) = Db::connect(url).await {
            *held = Some(fresh);
        }
    }
}

fn source_dict<'py>(py: Python<'py>, source: &streams::SourceRow) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("name", &source.name)?;
    dict.set_item("kind", &source.kind)?;
    dict.set_item("config", &source.config)?;
    dict.set_item("poll_interval", source.poll_interval)?;
    dict.set_item("restart", &source.restart)?;
    Ok(dict)
}

#[pymethods]
impl PyStreamStore {
    #[new]
    #[pyo3(signature = (url="sqlite://dnsmill.db", *, events_table="dns_events", records_table="dns_records"))]
    fn new(py: Python<'_>, url: &str, events_table: &str, records_table: &str) -> PyResult<Self> {
        let parsed = store_url(url)?;
        for table in [events_table, records_table] {
            crate::store::url::validate_identifier(table).map_err(PyValueError::new_err)?;
        }
        let opened = parsed.clone();
        let events = events_table.to_string();
        let db = run_on_store(py, async move {
            let mut db = Db::connect(&opened).await?;
            migrate(&mut db).await?;
            // The events table from the start, so it can be read before the first event.
            db.execute(&crate::store::events::events_table(db.dialect(), &events)?)
                .await?;
            Ok(db)
        })?;
        Ok(PyStreamStore {
            db: Arc::new(tokio::sync::Mutex::new(Some(db))),
            records: Arc::new(tokio::sync::Mutex::new(None)),
            url: parsed,
            events_table: events_table.to_string(),
            records_table: records_table.to_string(),
        })
    }

    /// Creates the stream `name` (pending); False when it exists.
    fn create_stream(&self, py: Python<'_>, name: String) -> PyResult<bool> {
        self.with_db(py, move |db| {
            Box::pin(async move { streams::create_stream(db, &name).await })
        })
    }

    /// Deletes the stream `name` with its checkpoints (and the sources only it used).
    fn delete_stream(&self, py: Python<'_>, name: String) -> PyResult<bool> {
        self.with_db(py, move |db| {
            Box::pin(async move { streams::delete_stream(db, &name).await })
        })
    }

    /// Adds a source to `stream`; one of that name must have the same settings.
    #[allow(clippy::too_many_arguments)] // the source's columns, as Python passes them
    #[pyo3(signature = (stream, name, kind, config, poll_interval, restart))]
    fn add_source(
        &self,
        py: Python<'_>,
        stream: String,
        name: String,
        kind: String,
        config: String,
        poll_interval: f64,
        restart: String,
    ) -> PyResult<()> {
        let source = streams::SourceRow {
            name,
            kind,
            config,
            poll_interval,
            restart,
        };
        self.with_db(py, move |db| {
            Box::pin(async move { streams::add_source(db, &stream, &source).await })
        })
    }

    /// Takes `source` out of `stream`; False when it was not in it.
    fn remove_source(&self, py: Python<'_>, stream: String, source: String) -> PyResult<bool> {
        self.with_db(py, move |db| {
            Box::pin(async move { streams::remove_source(db, &stream, &source).await })
        })
    }

    /// Sets a stream's status and reason, only while its status is `expected` when given;
    /// False when there is no such stream (or it had another status).
    #[pyo3(signature = (stream, status, reason=None, *, expected=None))]
    fn set_status(
        &self,
        py: Python<'_>,
        stream: String,
        status: String,
        reason: Option<String>,
        expected: Option<String>,
    ) -> PyResult<bool> {
        self.with_db(py, move |db| {
            Box::pin(async move {
                streams::set_status(db, &stream, &status, reason.as_deref(), expected.as_deref()).await
            })
        })
    }

    /// Every stream with its sources: a list of dicts.
    fn streams<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self.with_db(py, |db| Box::pin(async move { streams::streams(db).await }))?;
        let list = PyList::empty(py);
        for row in &rows {
            let dict = PyDict::new(py);
            dict.set_item("name", &row.name)?;
            dict.set_item("status", &row.status)?;
            dict.set_item("reason", &row.reason)?;
            dict.set_item("created_at", &row.created_at)?;
            dict.set_item("updated_at", &row.updated_at)?;
            dict.set_item("epoch", row.epoch)?;
            let sources = PyList::empty(py);
            for source in &row.sources {
                sources.append(source_dict(py, source)?)?;
            }
            dict.set_item("sources", sources)?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// `(latest change, number of streams, sum of revisions)`: when none moved, no stream
    /// changed.
    fn revision(&self, py: Python<'_>) -> PyResult<(i64, i64, i64)> {
        self.with_db(py, |db| Box::pin(async move { streams::revision(db).await }))
    }

    /// The checkpoints of `source` in `stream`: `[(item, position, state), ...]`.
    fn checkpoints(
        &self,
        py: Python<'_>,
        stream: String,
        source: String,
    ) -> PyResult<Vec<(String, String, Option<String>)>> {
        let saved = self.with_db(py, move |db| {
            Box::pin(async move { streams::checkpoints(db, &stream, &source).await })
        })?;
        Ok(saved
            .into_iter()
            .map(|checkpoint| (checkpoint.item, checkpoint.position, checkpoint.state))
            .collect())
    }

    /// Saves checkpoints `[(item, position, state), ...]` and forgets the `forgotten` items, in
    /// one transaction.
    #[pyo3(signature = (stream, source, checkpoints, forgotten=Vec::new()))]
    fn save_checkpoints(
        &self,
        py: Python<'_>,
        stream: String,
        source: String,
        checkpoints: Vec<(String, String, Option<String>)>,
        forgotten: Vec<String>,
    ) -> PyResult<()> {
        let checkpoints: Vec<streams::Checkpoint> = checkpoints
            .into_iter()
            .map(|(item, position, state)| streams::Checkpoint {
                item,
                position,
                state,
            })
            .collect();
        self.with_db(py, move |db| {
            Box::pin(async move {
                streams::save_checkpoints(db, &stream, &source, &checkpoints, &forgotten).await
            })
        })
    }

    /// Forgets the checkpoints of `source` in `stream` (every source when None); returns how
    /// many.
    #[pyo3(signature = (stream, source=None))]
    fn clear_checkpoints(&self, py: Python<'_>, stream: String, source: Option<String>) -> PyResult<u64> {
        self.with_db(py, move |db| {
            Box::pin(async move { streams::clear_checkpoints(db, &stream, source.as_deref()).await })
        })
    }

    /// Writes what `source` of `stream` saw change: `changes` is `[(zone, version, added,
    /// removed), ...]` with two `Zone`s each. The added records go into the records table
    /// first (one transaction); then every change becomes an event row, written in one
    /// transaction with the source's `checkpoints` `[(item, position, state), ...]` (and
    /// `forgotten` items dropped). Event keys are made of the change and its version, so
    /// writing the same change again adds nothing. Returns `{"records", "events"}`: the
    /// records written and the events new to the table.
    #[allow(clippy::too_many_arguments)] // the call's parts, as Python passes them
    #[pyo3(signature = (stream, source, changes, checkpoints=Vec::new(), forgotten=Vec::new(), *, records=true, events=Vec::new()))]
    fn write_changes<'py>(
        &self,
        py: Python<'py>,
        stream: String,
        source: String,
        changes: Vec<(String, String, Bound<'py, PyZone>, Bound<'py, PyZone>)>,
        checkpoints: Vec<(String, String, Option<String>)>,
        forgotten: Vec<String>,
        records: bool,
        events: Vec<(String, String, String, String, String)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let changes: Vec<(String, String, Arc<RecordSet>, Arc<RecordSet>)> = changes
            .into_iter()
            .map(|(zone, version, added, removed)| {
                (
                    zone,
                    version,
                    added.get().shared_records(),
                    removed.get().shared_records(),
                )
            })
            .collect();
        let checkpoints = checkpoint_rows(checkpoints);
        let (db, store) = (Arc::clone(&self.db), Arc::clone(&self.records));
        let (url, events_table, records_table) = (
            self.url.clone(),
            self.events_table.clone(),
            self.records_table.clone(),
        );
        let (written, new_events) = run_on_store(py, async move {
            let mut written = 0;
            let sets: Vec<&RecordSet> = changes.iter().map(|change| change.2.as_ref()).collect();
            if records && sets.iter().any(|set| !set.is_empty()) {
                let mut held = store.lock().await;
                if held.is_none() {
                    *held = Some(
                        BatchStore::open(url.clone(), &records_table, Some("coordinator".into())).await?,
                    );
                }
                if let Some(batch_store) = held.as_mut() {
                    written = batch_store.store(&sets, &[], true).await?.records;
                }
            }
            let mut rows: Vec<EventRow> = changes
                .iter()
                .flat_map(|(zone, version, added, removed)| {
                    let origin = streams::ChangeOrigin {
                        stream: &stream,
                        source: &source,
                        subject: zone,
                        version,
                    };
                    streams::change_events(&origin, added, removed)
                })
                .collect();
            rows.extend(source_events(&stream, &source, &events));
            let mut guard = db.lock().await;
            let connection = guard.as_mut().ok_or_else(|| {
                StoreError::other(format!("the StreamStore of {} is closed", url.redacted()))
            })?;
            let new_events = match streams::record_changes(
                connection,
                &events_table,
                &rows,
                &stream,
                &source,
                &checkpoints,
                &forgotten,
            )
            .await
            {
                Ok(added) => added,
                Err(error) => {
                    renew_after(&mut guard, &url, &error).await;
                    return Err(error);
                }
            };
            Ok((written, new_events))
        })?;
        let result = PyDict::new(py);
        result.set_item("records", written)?;
        result.set_item("events", new_events)?;
        Ok(result)
    }

    /// Writes events of other kinds, `[(subject, version, kind, data_json, identity), ...]`, in
    /// one transaction with the source's `checkpoints` (and `forgotten` items dropped);
    /// returns the events new to the table.
    #[pyo3(signature = (stream, source, events, checkpoints=Vec::new(), forgotten=Vec::new()))]
    fn write_events(
        &self,
        py: Python<'_>,
        stream: String,
        source: String,
        events: Vec<(String, String, String, String, String)>,
        checkpoints: Vec<(String, String, Option<String>)>,
        forgotten: Vec<String>,
    ) -> PyResult<u64> {
        let checkpoints = checkpoint_rows(checkpoints);
        let table = self.events_table.clone();
        self.with_db(py, move |db| {
            Box::pin(async move {
                let rows = source_events(&stream, &source, &events);
                streams::record_changes(db, &table, &rows, &stream, &source, &checkpoints, &forgotten).await
            })
        })
    }

    /// Closes the connections.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let (db, records) = (Arc::clone(&self.db), Arc::clone(&self.records));
        run_on_store(py, async move {
            if let Some(connection) = db.lock().await.take() {
                connection.close().await;
            }
            if let Some(mut store) = records.lock().await.take() {
                store.close().await;
            }
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

    fn __repr__(&self) -> String {
        format!("StreamStore({:?})", self.url.redacted())
    }
}

/// Event rows of `(subject, version, kind, data_json, identity)` tuples.
fn source_events(
    stream: &str,
    source: &str,
    events: &[(String, String, String, String, String)],
) -> Vec<EventRow> {
    events
        .iter()
        .map(|(subject, version, kind, data, identity)| {
            let origin = streams::ChangeOrigin {
                stream,
                source,
                subject,
                version,
            };
            streams::source_event(&origin, kind, data.clone(), identity)
        })
        .collect()
}

fn checkpoint_rows(rows: Vec<(String, String, Option<String>)>) -> Vec<streams::Checkpoint> {
    rows.into_iter()
        .map(|(item, position, state)| streams::Checkpoint {
            item,
            position,
            state,
        })
        .collect()
}
