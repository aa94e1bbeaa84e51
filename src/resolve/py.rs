//! Python bindings for the resolver: `Resolver`, `ResultSet`, `Result`, `ResultStream`.
//!
//! Names cross into Rust once (a list, or a file path read in Rust); results stay in Rust and
//! become Python objects only when Python asks for one.

use std::collections::VecDeque;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder, UInt32Builder};
use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, RecordBatchIterator, StringArray, UInt16Array, UInt8Array,
};
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Fields, Schema, SchemaRef};
use pyo3::exceptions::{PyIndexError, PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList, PyString};
use tokio::sync::mpsc;

use super::config::{parse_nameserver, system_nameservers, ResolverConfig};
use super::engine::{collect, feed_list, resolve, NameBatch, Progress, Run, NAMES_PER_BATCH};
use super::results::{InputOrder, ResultFormat, ResultTable, ResultsBuilder, RunStats, Status};
use crate::error::Error;
use crate::py::arguments;
use crate::py::arrow::{self as arrow_export, BATCH_ROWS};
use crate::py::detach::{self, CancelOnDrop};
use crate::record::RecordType;
use crate::runtime::runtime;
use crate::zone::py::{parse_type_list, PyRecord, PyZone};

/// Batches of names buffered ahead of the engine.
const INPUT_BATCHES: usize = 16;

/// Where the names come from.
enum Names {
    List(Vec<String>),
    File(PathBuf),
    Iterator(Py<PyAny>),
}

impl Names {
    /// A path-like object is a file of names (one per line); a `str` is one name; anything
    /// else is iterated. `materialise` reads an iterable into a list now.
    fn from_py(names: &Bound<'_, PyAny>, materialise: bool) -> PyResult<Names> {
        let py = names.py();
        let path_like = py.import("os")?.getattr("PathLike")?;
        if names.is_instance(&path_like)? {
            let path: PathBuf = names.extract()?;
            // Fail now, in the caller's thread, rather than halfway through a run.
            std::fs::File::open(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            return Ok(Names::File(path));
        }
        if let Ok(single) = names.cast::<PyString>() {
            return Ok(Names::List(vec![single.to_str()?.to_owned()]));
        }
        let iterator = names.try_iter()?;
        if !materialise {
            return Ok(Names::Iterator(iterator.into_any().unbind()));
        }
        let mut list = Vec::with_capacity(names.len().unwrap_or(0));
        for name in iterator {
            list.push(name?.extract::<String>()?);
        }
        Ok(Names::List(list))
    }

    fn known_len(&self) -> Option<usize> {
        match self {
            Names::List(list) => Some(list.len()),
            _ => None,
        }
    }
}

/// The task reading names into a run, with how it ended.
type Feeder = tokio::task::JoinHandle<Result<(), Error>>;

/// Starts feeding `names` (a list or a file) into the engine's input; the task ends with the
/// input or when the engine stops reading.
fn spawn_feeder(names: Names, sender: mpsc::Sender<NameBatch>, lanes: usize) -> Feeder {
    match names {
        Names::List(list) => runtime().spawn(async move {
            feed_list(list, sender, lanes).await;
            Ok(())
        }),
        Names::File(path) => runtime().spawn_blocking(move || {
            let io_error = |source| Error::Io {
                path: path.clone(),
                source,
            };
            let file = std::fs::File::open(&path).map_err(io_error)?;
            let mut batch = NameBatch::default();
            let mut told_encoding = false;
            let lines = std::io::BufReader::with_capacity(1 << 16, file).split(b'\n');
            for (number, line) in lines.enumerate() {
                let line = line.map_err(io_error)?;
                // A line that is not UTF-8 is still a query (it comes back INVALID, as any
                // name that is not one), and the rest of the file goes on.
                let line = String::from_utf8(line).unwrap_or_else(|error| {
                    if !told_encoding {
                        told_encoding = true;
                        tracing::warn!(
                            "{}:{}: not UTF-8 text; such lines are resolved as written and come back INVALID",
                            path.display(),
                            number + 1
                        );
                    }
                    String::from_utf8_lossy(error.as_bytes()).into_owned()
                });
                let name = line.trim();
                if name.is_empty() || name.starts_with('#') {
                    continue;
                }
                batch.names.push(name.to_owned());
                if batch.names.len() == NAMES_PER_BATCH {
                    let first = batch.first + NAMES_PER_BATCH as u64;
                    let full = std::mem::replace(
                        &mut batch,
                        NameBatch {
                            first,
                            names: Vec::new(),
                        },
                    );
                    if sender.blocking_send(full).is_err() {
                        return Ok(());
                    }
                }
            }
            if !batch.names.is_empty() {
                let _ = sender.blocking_send(batch);
            }
            Ok(())
        }),
        Names::Iterator(_) => unreachable!("iterators are fed from Python by the stream"),
    }
}

/// Runs the engine over `input`, collecting every result into one table; then how the
/// name reader ended.
async fn resolve_all(
    run: Arc<Run>,
    input: mpsc::Receiver<NameBatch>,
    feeder: Option<Feeder>,
) -> Result<ResultTable, Error> {
    let table = collect(run, input).await.map_err(Error::Resolve)?;
    if let Some(feeder) = feeder {
        feeder
            .await
            .map_err(|e| Error::Resolve(format!("name reader failed: {e}")))??;
    }
    Ok(table)
}

/// A resolver: nameservers and limits, reusable for any number of runs.
#[pyclass(module = "dnsmill._core", name = "Resolver", frozen)]
pub(crate) struct PyResolver {
    config: ResolverConfig,
}

impl PyResolver {
    /// The settings, for Rust-side runs (a pipeline batch).
    pub(crate) fn config(&self) -> &ResolverConfig {
        &self.config
    }

    fn new_run(&self, types: Vec<RecordType>, batch_rows: usize, total_names: Option<usize>) -> Arc<Run> {
        Arc::new(Run {
            config: self.config.clone(),
            types,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(Progress::default()),
            batch_rows,
            total_names,
        })
    }

    /// A run over `names` (read into Rust now, or from a file as it goes) for `types`, with
    /// the engine's input and the task feeding it.
    fn start(
        &self,
        names: &Bound<'_, PyAny>,
        types: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Arc<Run>, mpsc::Receiver<NameBatch>, Feeder)> {
        let types = Self::types(types)?;
        let names = Names::from_py(names, true)?;
        let run = self.new_run(types, 1 << 14, names.known_len());
        let (sender, input) = mpsc::channel(INPUT_BATCHES);
        let _guard = runtime().enter();
        let feeder = spawn_feeder(names, sender, run.config.sockets);
        Ok((run, input, feeder))
    }

    fn types(types: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<RecordType>> {
        let types = match types {
            Some(types) => parse_type_list(types)?,
            None => vec![RecordType::A],
        };
        if types.is_empty() {
            return Err(PyValueError::new_err("types is empty"));
        }
        Ok(types)
    }
}

#[pymethods]
impl PyResolver {
    #[new]
    #[pyo3(signature = (
        nameservers=None, *, concurrency=10_000, timeout=2.0, retries=2, qps=None,
        per_server_qps=None, tcp_fallback=true, retry_servfail=true, sockets=4
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        nameservers: Option<Vec<String>>,
        concurrency: i64,
        timeout: f64,
        retries: i64,
        qps: Option<f64>,
        per_server_qps: Option<f64>,
        tcp_fallback: bool,
        retry_servfail: bool,
        sockets: i64,
    ) -> PyResult<Self> {
        let concurrency: usize = arguments::whole("concurrency", concurrency, 1, None)?;
        let timeout = arguments::seconds("timeout", timeout, false)?;
        let retries: u32 = arguments::whole("retries", retries, 0, Some(100))?;
        let sockets: usize = arguments::whole("sockets", sockets, 1, Some(256))?;
        let nameservers = match nameservers {
            Some(list) if !list.is_empty() => list
                .iter()
                .map(|text| parse_nameserver(text))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PyValueError::new_err)?,
            _ => system_nameservers().map_err(Error::Resolve)?,
        };
        for (name, rate) in [("qps", qps), ("per_server_qps", per_server_qps)] {
            if let Some(rate) = rate.filter(|rate| !(rate.is_finite() && *rate > 0.0)) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be a number of queries per second, more than 0, not {rate}"
                )));
            }
        }
        Ok(PyResolver {
            config: ResolverConfig {
                nameservers,
                concurrency,
                timeout,
                retries,
                qps,
                per_server_qps,
                tcp_fallback,
                retry_servfail,
                sockets: sockets.min(concurrency),
                ..ResolverConfig::default()
            },
        })
    }

    /// The nameservers, as `IP:PORT`.
    #[getter]
    fn nameservers(&self) -> Vec<String> {
        self.config
            .nameservers
            .iter()
            .map(SocketAddr::to_string)
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Resolver(nameservers={:?}, concurrency={}, timeout={}, retries={})",
            self.nameservers(),
            self.config.concurrency,
            self.config.timeout.as_secs_f64(),
            self.config.retries
        )
    }

    /// Resolves every name for every type; returns when all are done. The GIL is released
    /// meanwhile and Ctrl-C stops the run. `progress`, if given, is called about every 100 ms
    /// with a dict (done, total, sent, elapsed).
    #[pyo3(signature = (names, types=None, *, progress=None))]
    fn resolve(
        &self,
        py: Python<'_>,
        names: &Bound<'_, PyAny>,
        types: Option<&Bound<'_, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyResultSet> {
        let (run, input, feeder) = self.start(names, types)?;
        let total = run.total_names.map(|len| len * run.types.len());
        let started = Instant::now();
        let cancel = Arc::clone(&run.cancel);
        let counters = Arc::clone(&run.progress);
        let table = detach::wait_with(
            py,
            resolve_all(run, input, Some(feeder)),
            &cancel,
            |py| match &progress {
                Some(callback) => {
                    callback.call1(py, (progress_dict(py, &counters, total, started)?,))?;
                    Ok(())
                }
                None => Ok(()),
            },
        )?;
        Ok(PyResultSet::new(table))
    }

    /// Resolves names straight into a `Writer`: answers go from the resolver to the store
    /// without Python objects, batch by batch, so memory stays bounded. Returns counts by
    /// status and the run's figures.
    #[pyo3(signature = (writer, names, types=None))]
    fn resolve_into<'py>(
        &self,
        py: Python<'py>,
        writer: &Bound<'py, crate::store::py::PyWriter>,
        names: &Bound<'py, PyAny>,
        types: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (run, input, feeder) = self.start(names, types)?;
        let store = writer.get().writer();
        let servers: Arc<[SocketAddr]> = run.config.nameservers.clone().into();
        let cancel = Arc::clone(&run.cancel);
        let work = async move {
            let (output, mut results) = mpsc::channel(8);
            let engine = tokio::spawn(resolve(run, input, output));
            let mut counts = std::collections::BTreeMap::<Status, usize>::new();
            while let Some(batch) = results.recv().await {
                let table = batch.finish(Arc::clone(&servers), RunStats::default());
                for (status, count) in table.count_by_status() {
                    *counts.entry(status).or_default() += count;
                }
                store
                    .write(Arc::clone(&table.answers))
                    .await
                    .map_err(Error::Store)?;
            }
            let stats = engine
                .await
                .map_err(|e| Error::Resolve(format!("resolver task failed: {e}")))?;
            let stats = stats.map_err(Error::Resolve)?;
            feeder
                .await
                .map_err(|e| Error::Resolve(format!("name reader failed: {e}")))??;
            Ok((counts, stats))
        };
        let (counts, stats) = detach::wait_with(py, work, &cancel, |_| Ok(()))?;
        let dict = PyDict::new(py);
        let by_status = PyDict::new(py);
        let mut queries = 0;
        for (status, count) in counts {
            by_status.set_item(status.as_str(), count)?;
            queries += count;
        }
        dict.set_item("queries", queries)?;
        dict.set_item("by_status", by_status)?;
        dict.set_item("elapsed", stats.elapsed)?;
        dict.set_item(
            "qps",
            if stats.elapsed > 0.0 {
                queries as f64 / stats.elapsed
            } else {
                0.0
            },
        )?;
        Ok(dict)
    }

    /// `resolve` for asyncio: `await resolver.resolve_async(names, types)`. Cancelling the
    /// awaiting task stops the run.
    #[pyo3(signature = (names, types=None))]
    fn resolve_async<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyAny>,
        types: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (run, input, feeder) = self.start(names, types)?;
        let cancel = CancelOnDrop::new(Arc::clone(&run.cancel));
        detach::awaitable(py, async move {
            let _cancel = cancel;
            let table = resolve_all(run, input, Some(feeder)).await?;
            Ok(PyResultSet::new(table))
        })
    }

    /// Results in batches of at most `batch_size`, for inputs of any size: `names` may be a
    /// file path (read in Rust) or any iterable (read as the run goes). With `order="input"`
    /// rows come in input order (a slow name holds back those after it); with
    /// `order="completion"`, as they complete. Works with `for` and `async for`.
    #[pyo3(signature = (names, types=None, *, batch_size=10_000, order="input"))]
    fn stream(
        &self,
        names: &Bound<'_, PyAny>,
        types: Option<&Bound<'_, PyAny>>,
        batch_size: i64,
        order: &str,
    ) -> PyResult<PyResultStream> {
        let batch_size: usize = arguments::whole("batch_size", batch_size, 1, None)?;
        let order = match order {
            "input" => Some(InputOrder::default()),
            "completion" => None,
            other => {
                return Err(PyValueError::new_err(format!(
                    "order must be 'input' or 'completion', not {other:?}"
                )))
            }
        };
        let types = Self::types(types)?;
        let names = Names::from_py(names, false)?;
        let run = self.new_run(types, batch_size, None);
        let (sender, input) = mpsc::channel(INPUT_BATCHES);
        let _guard = runtime().enter();
        let (feeder, python_input) = match names {
            Names::Iterator(iterator) => (
                None,
                Some(PythonInput {
                    iterator,
                    sender,
                    next_number: 0,
                }),
            ),
            other => (Some(spawn_feeder(other, sender, run.config.sockets)), None),
        };
        let (output, results) = mpsc::channel(4);
        let engine = runtime().spawn(resolve(Arc::clone(&run), input, output));
        Ok(PyResultStream {
            batch_size,
            pieces: Arc::new(Mutex::new(Pieces {
                ready: VecDeque::new(),
                order,
            })),
            servers: run.config.nameservers.clone().into(),
            cancel: CancelOnDrop::new(Arc::clone(&run.cancel)),
            state: Arc::new(Mutex::new(StreamState {
                python_input,
                feeder,
                engine: Some(engine),
            })),
            results: Arc::new(tokio::sync::Mutex::new(results)),
        })
    }
}

fn progress_dict<'py>(
    py: Python<'py>,
    counters: &Progress,
    total: Option<usize>,
    started: Instant,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("done", counters.done.load(Ordering::Relaxed))?;
    dict.set_item("total", total)?;
    dict.set_item("sent", counters.sent.load(Ordering::Relaxed))?;
    dict.set_item("elapsed", started.elapsed().as_secs_f64())?;
    Ok(dict)
}

/// Names pulled from a Python iterable as the run consumes them.
struct PythonInput {
    iterator: Py<PyAny>,
    sender: mpsc::Sender<NameBatch>,
    next_number: u64,
}

impl PythonInput {
    /// Hands the engine as many names as its input has room for. Returns false once the
    /// iterable is exhausted (the input is then closed).
    fn top_up(&mut self, py: Python<'_>) -> PyResult<bool> {
        let iterator = self.iterator.bind(py);
        while let Ok(permit) = self.sender.try_reserve() {
            let mut names = Vec::with_capacity(NAMES_PER_BATCH);
            while names.len() < NAMES_PER_BATCH {
                let Some(name) = iterator.call_method0("__next__").map(Some).or_else(|error| {
                    if error.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) {
                        Ok(None)
                    } else {
                        Err(error)
                    }
                })?
                else {
                    break;
                };
                names.push(name.extract::<String>()?);
            }
            let exhausted = names.len() < NAMES_PER_BATCH;
            let first = self.next_number;
            self.next_number += names.len() as u64;
            if !names.is_empty() {
                permit.send(NameBatch { first, names });
            }
            if exhausted {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

struct StreamState {
    python_input: Option<PythonInput>,
    feeder: Option<Feeder>,
    engine: Option<tokio::task::JoinHandle<Result<RunStats, String>>>,
}

impl StreamState {
    fn top_up(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(input) = &mut self.python_input {
            if !input.top_up(py)? {
                // Dropping the sender closes the input.
                self.python_input = None;
            }
        }
        Ok(())
    }

    /// After the last batch: how the engine and the feeder ended, once.
    fn outcome(&mut self) -> impl std::future::Future<Output = Result<(), Error>> + Send + 'static {
        let (engine, feeder) = (self.engine.take(), self.feeder.take());
        async move {
            let join =
                |error: tokio::task::JoinError| Error::Resolve(format!("resolver task failed: {error}"));
            if let Some(engine) = engine {
                engine.await.map_err(join)?.map_err(Error::Resolve)?;
            }
            if let Some(feeder) = feeder {
                feeder.await.map_err(join)??;
            }
            Ok(())
        }
    }
}

/// Results received and not yet handed out.
struct Pieces {
    /// Pieces of at most the stream's batch size, handed out first.
    ready: VecDeque<ResultTable>,
    /// In input order, rows that completed early wait here (None: completion order).
    order: Option<InputOrder>,
}

/// Batches of results as a run goes (`Resolver.stream`).
#[pyclass(module = "dnsmill._core", name = "ResultStream", frozen)]
pub(crate) struct PyResultStream {
    batch_size: usize,
    pieces: Arc<Mutex<Pieces>>,
    servers: Arc<[SocketAddr]>,
    cancel: CancelOnDrop,
    state: Arc<Mutex<StreamState>>,
    results: Arc<tokio::sync::Mutex<mpsc::Receiver<ResultsBuilder>>>,
}

impl PyResultStream {
    fn state(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// What the stream received: a batch of rows, or the end of the run.
enum Received {
    Batch(ResultsBuilder),
    End,
}

/// The next piece of at most `size` rows: a waiting one, else the first of those `received`
/// makes ready (the rest wait in `ready`).
fn next_piece(
    pieces: &Mutex<Pieces>,
    received: Option<Received>,
    servers: &Arc<[SocketAddr]>,
    size: usize,
) -> Option<PyResultSet> {
    let mut pieces = pieces.lock().unwrap_or_else(|poison| poison.into_inner());
    let rows = match (received, &mut pieces.order) {
        (Some(Received::Batch(batch)), Some(order)) => order.push(batch, size),
        (Some(Received::Batch(batch)), None) => batch,
        (Some(Received::End), Some(order)) => order.finish(),
        (Some(Received::End), None) | (None, _) => ResultsBuilder::default(),
    };
    if !rows.is_empty() {
        let table = rows.finish(Arc::clone(servers), RunStats::default());
        pieces.ready.extend(table.chunks(size));
    }
    pieces.ready.pop_front().map(PyResultSet::new)
}

#[pymethods]
impl PyResultStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyResultSet>> {
        if let Some(piece) = next_piece(&self.pieces, None, &self.servers, self.batch_size) {
            return Ok(Some(piece));
        }
        loop {
            self.state().top_up(py)?;
            let results = Arc::clone(&self.results);
            // While waiting, names from a Python iterable keep going in.
            let received = detach::wait_with(
                py,
                async move { Ok(results.lock().await.recv().await) },
                &self.cancel.flag(),
                |py| self.state().top_up(py),
            )?;
            let received = match received {
                Some(batch) => Received::Batch(batch),
                None => Received::End,
            };
            let end = matches!(received, Received::End);
            if let Some(piece) = next_piece(&self.pieces, Some(received), &self.servers, self.batch_size) {
                return Ok(Some(piece));
            }
            if end {
                let outcome = self.state().outcome();
                detach::wait(py, outcome)?;
                return Ok(None);
            }
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        detach::init_async_runtime();
        // Names from a Python iterable go in now, with the GIL; the engine has work until the
        // next call, since every name it takes ends in a result.
        self.state().top_up(py)?;
        let results = Arc::clone(&self.results);
        let servers = Arc::clone(&self.servers);
        let (pieces, size) = (Arc::clone(&self.pieces), self.batch_size);
        let state = Arc::clone(&self.state);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            if let Some(piece) = next_piece(&pieces, None, &servers, size) {
                return Ok(piece);
            }
            loop {
                let Some(batch) = results.lock().await.recv().await else {
                    // Rows still held for input order go out before the end.
                    if let Some(piece) = next_piece(&pieces, Some(Received::End), &servers, size) {
                        return Ok(piece);
                    }
                    // The run ended: a failure of the engine or the name reader is raised,
                    // not mistaken for the end of the input.
                    let outcome = state
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner())
                        .outcome();
                    outcome.await?;
                    return Err(PyStopAsyncIteration::new_err(()));
                };
                if let Some(piece) = next_piece(&pieces, Some(Received::Batch(batch)), &servers, size) {
                    return Ok(piece);
                }
            }
        })
    }

    /// Stops the run: nothing more is sent; batches already made can still be read.
    fn close(&self) {
        self.cancel.cancel();
        self.state().python_input = None;
    }
}

/// The results of a run, in input order (name by name, each name's types in the order given).
#[pyclass(module = "dnsmill._core", name = "ResultSet", frozen, sequence)]
pub(crate) struct PyResultSet {
    table: Arc<ResultTable>,
}

impl PyResultSet {
    fn new(table: ResultTable) -> Self {
        PyResultSet {
            table: Arc::new(table),
        }
    }

    fn result_at(&self, index: usize) -> PyQueryResult {
        PyQueryResult {
            table: Arc::clone(&self.table),
            index,
        }
    }
}

#[pymethods]
impl PyResultSet {
    fn __len__(&self) -> usize {
        self.table.rows.len()
    }

    fn __getitem__(&self, index: isize) -> PyResult<PyQueryResult> {
        let len = self.table.rows.len() as isize;
        let at = if index < 0 { index + len } else { index };
        if !(0..len).contains(&at) {
            return Err(PyIndexError::new_err("result index out of range"));
        }
        Ok(self.result_at(at as usize))
    }

    fn __iter__(&self) -> ResultIterator {
        ResultIterator {
            table: Arc::clone(&self.table),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn __repr__(&self) -> String {
        let counts: Vec<String> = self
            .table
            .count_by_status()
            .iter()
            .map(|(status, count)| format!("{status}={count}"))
            .collect();
        format!(
            "<ResultSet {} results: {}>",
            self.table.rows.len(),
            counts.join(" ")
        )
    }

    /// Every answer record, as a `Zone` (filter, write and export it like a parsed zone).
    fn records(&self) -> PyZone {
        PyZone::from_records(Arc::clone(&self.table.answers))
    }

    /// The results of each status, as result sets keyed by status name.
    fn by_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for status in self.table.count_by_status().into_keys() {
            let subset = self.table.filter(|row| row.status == status);
            dict.set_item(status.as_str(), PyResultSet::new(subset))?;
        }
        Ok(dict)
    }

    /// The results with the given status (a name such as "NOERROR").
    fn with_status(&self, status: &str) -> PyResult<PyResultSet> {
        let wanted = Status::from_name(status)
            .ok_or_else(|| PyValueError::new_err(format!("unknown status '{status}'")))?;
        Ok(PyResultSet::new(self.table.filter(|row| row.status == wanted)))
    }

    /// Counts by status, and for a whole run: queries, tries, qps, elapsed seconds, and the
    /// replies dropped as late or spoofed.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let table = &self.table;
        let dict = PyDict::new(py);
        let counts = PyDict::new(py);
        for (status, count) in table.count_by_status() {
            counts.set_item(status.as_str(), count)?;
        }
        let stats = &table.stats;
        dict.set_item("queries", table.rows.len())?;
        dict.set_item("by_status", counts)?;
        dict.set_item("elapsed", stats.elapsed)?;
        let qps = if stats.elapsed > 0.0 {
            table.rows.len() as f64 / stats.elapsed
        } else {
            0.0
        };
        dict.set_item("qps", qps)?;
        dict.set_item("sent", stats.sent)?;
        dict.set_item("tcp", stats.tcp)?;
        dict.set_item("timeouts", stats.timeouts)?;
        dict.set_item("late", stats.unmatched)?;
        dict.set_item("spoofed", stats.spoofed)?;
        let silent: Vec<String> = stats
            .silent_servers()
            .into_iter()
            .filter_map(|server| self.table.servers.get(server).map(SocketAddr::to_string))
            .collect();
        dict.set_item("silent_nameservers", silent)?;
        Ok(dict)
    }

    /// The results as text: "jsonl" (one object per line), "csv" (with a header row) or
    /// "text" (one `owner type rdata` line per answer record).
    #[pyo3(signature = (format="jsonl", *, header=true))]
    fn to_text(&self, py: Python<'_>, format: &str, header: bool) -> PyResult<String> {
        let format: ResultFormat = format.parse().map_err(PyValueError::new_err)?;
        let table = Arc::clone(&self.table);
        let text = detach::quick(py, move || {
            let mut out = Vec::new();
            table.write(format, header, &mut out).map(|()| out)
        });
        let out = text.map_err(|e| PyValueError::new_err(e.to_string()))?;
        String::from_utf8(out).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Writes the results to `path` as "jsonl", "csv" or "text"; without a format, the path's
    /// extension picks it (`.csv`, `.txt`), else JSON lines.
    #[pyo3(signature = (path, format=None))]
    fn write(&self, py: Python<'_>, path: PathBuf, format: Option<&str>) -> PyResult<()> {
        let format = format.unwrap_or_else(|| crate::py::formats::format_for(&path, "text", "jsonl"));
        let format: ResultFormat = format.parse().map_err(PyValueError::new_err)?;
        let table = Arc::clone(&self.table);
        detach::quick(py, move || {
            let file = std::fs::File::create(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            table
                .write(format, true, file)
                .map_err(|source| Error::Io { path, source })
        })?;
        Ok(())
    }

    /// Arrow PyCapsule stream: name, type, status, rcode, nameserver, attempts, elapsed_ms,
    /// answers (list of name/type/ttl/rdata), cname_chain, error.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        arrow_export::stream_capsule(py, arrow_reader(Arc::clone(&self.table)))
    }

    /// The results as a `pyarrow.Table`.
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        arrow_export::to_arrow(slf.as_any())
    }

    /// The results as a `pandas.DataFrame`.
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        arrow_export::to_pandas(slf.as_any())
    }

    /// The results as a `polars.DataFrame`.
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        arrow_export::to_polars(slf.as_any())
    }
}

/// Iterator over a result set.
#[pyclass(module = "dnsmill._core", name = "ResultIterator", frozen)]
pub(crate) struct ResultIterator {
    table: Arc<ResultTable>,
    next: std::sync::atomic::AtomicUsize,
}

#[pymethods]
impl ResultIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<PyQueryResult> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.table.rows.len()).then(|| PyQueryResult {
            table: Arc::clone(&self.table),
            index,
        })
    }
}

/// The outcome of one (name, type) query.
#[pyclass(module = "dnsmill._core", name = "Result", frozen)]
pub(crate) struct PyQueryResult {
    table: Arc<ResultTable>,
    index: usize,
}

impl PyQueryResult {
    fn row(&self) -> &super::results::ResultRow {
        &self.table.rows[self.index]
    }
}

#[pymethods]
impl PyQueryResult {
    /// The name queried: absolute, lowercase, IDN as A-labels (as given, when invalid).
    #[getter]
    fn name(&self) -> &str {
        self.table.name(self.row())
    }

    /// The type asked for.
    #[getter]
    fn r#type(&self) -> String {
        self.row().qtype.to_string()
    }

    /// NOERROR, NXDOMAIN, NODATA, SERVFAIL, REFUSED, TIMEOUT, ERROR or INVALID.
    #[getter]
    fn status(&self) -> &'static str {
        self.row().status.as_str()
    }

    /// The response code of the reply used, or None when there was none.
    #[getter]
    fn rcode(&self) -> Option<u16> {
        self.row().rcode
    }

    /// The answer section's records.
    #[getter]
    fn answers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let row = self.row();
        let start = row.answers_start as usize;
        let records = (start..start + row.answers_len as usize).map(|index| PyRecord {
            set: Arc::clone(&self.table.answers),
            index,
        });
        PyList::new(py, records)
    }

    /// The rdata of the answers of the asked type (addresses for A and AAAA).
    #[getter]
    fn values(&self) -> Vec<&str> {
        let row = self.row();
        self.table
            .answers(row)
            .filter(|record| record.rtype == row.qtype)
            .map(|record| record.rdata)
            .collect()
    }

    /// The CNAME targets followed from the query name, in order.
    #[getter]
    fn cname_chain(&self) -> Vec<&str> {
        self.table.cname_chain(self.row())
    }

    /// `IP:PORT` of the nameserver whose reply was used.
    #[getter]
    fn nameserver(&self) -> Option<String> {
        self.table.server(self.row()).map(|address| address.to_string())
    }

    /// Tries sent.
    #[getter]
    fn attempts(&self) -> u8 {
        self.row().attempts
    }

    /// Seconds from the first try to the end.
    #[getter]
    fn elapsed(&self) -> f64 {
        f64::from(self.row().elapsed_us) / 1e6
    }

    /// Why, for ERROR and INVALID.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.table.detail(self.row())
    }

    /// The result as a dict (answers as dicts).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let view = self.table.view(self.index).expect("the index is in range");
        let json = serde_json::to_string(&view).map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.import("json")?.call_method1("loads", (json,))
    }

    fn __repr__(&self) -> String {
        let row = self.row();
        format!(
            "<Result {} {} {} answers={}>",
            self.name(),
            row.qtype,
            row.status,
            row.answers_len
        )
    }
}

fn arrow_schema() -> SchemaRef {
    let answer = Fields::from(vec![
        ArrowField::new("name", DataType::Utf8, false),
        ArrowField::new("type", DataType::Utf8, false),
        ArrowField::new("ttl", DataType::UInt32, false),
        ArrowField::new("rdata", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(vec![
        ArrowField::new("name", DataType::Utf8, false),
        ArrowField::new("type", DataType::Utf8, false),
        ArrowField::new("status", DataType::Utf8, false),
        ArrowField::new("rcode", DataType::UInt16, true),
        ArrowField::new("nameserver", DataType::Utf8, true),
        ArrowField::new("attempts", DataType::UInt8, false),
        ArrowField::new("elapsed_ms", DataType::Float64, false),
        ArrowField::new(
            "answers",
            DataType::List(Arc::new(ArrowField::new("item", DataType::Struct(answer), true))),
            false,
        ),
        ArrowField::new(
            "cname_chain",
            DataType::List(Arc::new(ArrowField::new("item", DataType::Utf8, true))),
            false,
        ),
        ArrowField::new("error", DataType::Utf8, true),
    ]))
}

fn arrow_batch(
    table: &ResultTable,
    start: usize,
    end: usize,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let rows = &table.rows[start..end];
    let answer_fields = match schema.field(7).data_type() {
        DataType::List(item) => match item.data_type() {
            DataType::Struct(fields) => fields.clone(),
            _ => return Err(ArrowError::SchemaError("answers is a list of structs".into())),
        },
        _ => return Err(ArrowError::SchemaError("answers is a list".into())),
    };
    let mut answers = ListBuilder::new(StructBuilder::from_fields(answer_fields, rows.len()));
    let mut chains = ListBuilder::new(StringBuilder::new());
    for row in rows {
        let entries = answers.values();
        for record in table.answers(row) {
            if let Some(builder) = entries.field_builder::<StringBuilder>(0) {
                builder.append_value(record.name);
            }
            if let Some(builder) = entries.field_builder::<StringBuilder>(1) {
                builder.append_value(record.rtype.to_string());
            }
            if let Some(builder) = entries.field_builder::<UInt32Builder>(2) {
                builder.append_value(record.ttl);
            }
            if let Some(builder) = entries.field_builder::<StringBuilder>(3) {
                builder.append_value(record.rdata);
            }
            entries.append(true);
        }
        answers.append(true);
        for target in table.cname_chain(row) {
            chains.values().append_value(target);
        }
        chains.append(true);
    }
    let servers: Vec<Option<String>> = rows
        .iter()
        .map(|row| table.server(row).map(|s| s.to_string()))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| table.name(row)),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| row.qtype.to_string()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| row.status.as_str()),
        )),
        Arc::new(UInt16Array::from_iter(rows.iter().map(|row| row.rcode))),
        Arc::new(StringArray::from_iter(servers)),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|row| row.attempts))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|row| f64::from(row.elapsed_us) / 1000.0),
        )),
        Arc::new(answers.finish()),
        Arc::new(chains.finish()),
        Arc::new(StringArray::from_iter(rows.iter().map(|row| table.detail(row)))),
    ];
    RecordBatch::try_new(Arc::clone(schema), columns)
}

fn arrow_reader(
    table: Arc<ResultTable>,
) -> RecordBatchIterator<impl Iterator<Item = Result<RecordBatch, ArrowError>>> {
    let schema = arrow_schema();
    let batch_schema = Arc::clone(&schema);
    let total = table.rows.len();
    let batches = (0..total.div_ceil(BATCH_ROWS)).map(move |batch| {
        let start = batch * BATCH_ROWS;
        arrow_batch(&table, start, (start + BATCH_ROWS).min(total), &batch_schema)
    });
    RecordBatchIterator::new(batches, schema)
}

/// The serial of `zone`'s SOA as `primary` serves it (one query over TCP).
#[pyfunction]
#[pyo3(signature = (primary, zone, *, timeout=5.0))]
pub(crate) fn soa_serial(py: Python<'_>, primary: &str, zone: &str, timeout: f64) -> PyResult<u32> {
    let server = parse_nameserver(primary).map_err(PyValueError::new_err)?;
    let timeout = arguments::seconds("timeout", timeout, false)?;
    let zone = zone.to_string();
    detach::wait(py, async move {
        super::transfer::soa_serial(server, &zone, timeout)
            .await
            .map_err(Error::Resolve)
    })
}

/// Transfers `zone` from `primary` over TCP: with `known` (the zone as last transferred, with
/// its SOA) an IXFR from its serial, else an AXFR. Returns `{"kind": "axfr" | "ixfr" |
/// "current", "serial", "zone", "added", "removed"}`: the zone now and what changed from
/// `known`, as `Zone`s. `timeout` bounds the whole transfer.
#[pyfunction]
#[pyo3(signature = (primary, zone, *, known=None, timeout=30.0))]
pub(crate) fn transfer_zone<'py>(
    py: Python<'py>,
    primary: &str,
    zone: &str,
    known: Option<PyRef<'py, PyZone>>,
    timeout: f64,
) -> PyResult<Bound<'py, PyDict>> {
    use super::transfer::{soa_serial_of, transfer, Known};
    let server = parse_nameserver(primary).map_err(PyValueError::new_err)?;
    let timeout = arguments::seconds("timeout", timeout, false)?;
    let held = known.map(|zone| zone.shared_records());
    let serial = match &held {
        Some(records) => Some(
            records
                .iter()
                .find(|record| record.rtype == RecordType::SOA)
                .and_then(|soa| soa_serial_of(soa.rdata))
                .ok_or_else(|| {
                    PyValueError::new_err("known: the zone held has no SOA record to ask changes from")
                })?,
        ),
        None => None,
    };
    let zone = zone.to_string();
    let done = detach::wait(py, async move {
        let known = held
            .as_deref()
            .zip(serial)
            .map(|(records, serial)| Known { serial, records });
        transfer(server, &zone, known, timeout)
            .await
            .map_err(Error::Resolve)
    })?;
    let result = PyDict::new(py);
    result.set_item("kind", done.kind.name())?;
    result.set_item("serial", done.serial)?;
    result.set_item("zone", PyZone::from_records(Arc::new(done.zone)))?;
    result.set_item("added", PyZone::from_records(Arc::new(done.added)))?;
    result.set_item("removed", PyZone::from_records(Arc::new(done.removed)))?;
    Ok(result)
}
