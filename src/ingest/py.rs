//! Python binding for the event writer: `Ingest(nats, db, streams, routes, processors)` with
//! `run()`, `run_async()`, `stop()` and `stats()`. The settings arrive as plain dicts (checked
//! by `dnsmill.config` beforehand); a custom processor arrives as a callable that turns a batch
//! of messages into payloads a built-in processor reads, so the hot loop stays in Rust and
//! Python is called once per batch, never per message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use tokio_util::sync::CancellationToken;

use super::engine::run;
use super::processors::{self, Custom, MessageView, Output, Processor, Rows};
use super::{IngestConfig, RouteConfig, Stats, StreamConfig};
use crate::py::detach;
use crate::store::py::store_url;

/// A stream as `dnsmill.config.IngestStreamSettings` gives it.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct StreamArgument {
    name: String,
    subjects: Vec<String>,
    durable: String,
    dead_letter_subject: String,
    max_deliver: u32,
    ack_wait: f64,
}

/// A route as `dnsmill.config.IngestRouteSettings` gives it.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct RouteArgument {
    subject: String,
    processor: String,
    table: String,
    batch_size: usize,
    batch_timeout: f64,
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a positive number of seconds")))
}

/// A processor written in Python: called with a list of `(subject, data, msg_id, stream,
/// sequence)` tuples, it returns one item per message: bytes a built-in processor reads (the
/// JSON or zone text of `records`, the JSON of `events`), or an exception saying why the
/// message means nothing.
struct PythonProcessor {
    name: String,
    callable: Py<PyAny>,
    output: Output,
}

impl Custom for PythonProcessor {
    fn output(&self) -> Output {
        self.output
    }

    fn process(&self, messages: &[MessageView<'_>]) -> Vec<Result<Rows, String>> {
        let payloads: Vec<Result<Vec<u8>, String>> = Python::attach(|py| {
            let batch: PyResult<Vec<Bound<'_, PyTuple>>> = messages
                .iter()
                .map(|message| {
                    (
                        message.subject,
                        PyBytes::new(py, message.payload),
                        message.msg_id,
                        message.stream,
                        message.sequence,
                    )
                        .into_pyobject(py)
                })
                .collect();
            let returned = batch
                .map(|batch| PyList::new(py, batch))
                .and_then(|batch| self.callable.bind(py).call1((batch?,)));
            let returned = match returned {
                Ok(returned) => returned,
                Err(error) => {
                    let reason = format!("the {} processor failed: {error}", self.name);
                    return messages.iter().map(|_| Err(reason.clone())).collect();
                }
            };
            let items: Vec<Bound<'_, PyAny>> = match returned.try_iter() {
                Ok(items) => items.filter_map(Result::ok).collect(),
                Err(_) => {
                    let reason = format!("the {} processor returned no list", self.name);
                    return messages.iter().map(|_| Err(reason.clone())).collect();
                }
            };
            items
                .iter()
                .map(|item| {
                    if let Ok(bytes) = item.cast::<PyBytes>() {
                        Ok(bytes.as_bytes().to_vec())
                    } else if item.is_instance_of::<pyo3::exceptions::PyBaseException>() {
                        Err(item
                            .str()
                            .map_or_else(|_| "rejected".into(), |text| text.to_string()))
                    } else {
                        Err(format!(
                            "the {} processor returned {}, not bytes or an exception",
                            self.name,
                            item.get_type()
                                .name()
                                .map_or_else(|_| "?".into(), |name| name.to_string())
                        ))
                    }
                })
                .collect()
        });
        messages
            .iter()
            .zip(payloads)
            .map(|(message, payload)| {
                let payload = payload?;
                match self.output {
                    Output::Records => processors::records(&payload),
                    Output::Events => processors::event(&MessageView {
                        payload: &payload,
                        ..*message
                    })
                    .map(|row| Rows::Events(vec![row])),
                }
            })
            .collect()
    }
}

/// The event writer: JetStream streams drained into tables.
#[pyclass(module = "dnsmill._core", name = "Ingest", frozen)]
pub struct PyIngest {
    config: IngestConfig,
    stats: Arc<Stats>,
    stop: CancellationToken,
    started: AtomicBool,
}

#[pymethods]
impl PyIngest {
    /// `processors` maps a name to `(callable, "records" | "events")` for routes whose
    /// processor is not a built-in one.
    #[new]
    #[pyo3(signature = (nats, db, streams, routes, processors=None, connections_per_route=2))]
    fn new(
        nats: String,
        db: &str,
        streams: Vec<StreamArgument>,
        routes: Vec<RouteArgument>,
        processors: Option<HashMap<String, (Py<PyAny>, String)>>,
        connections_per_route: usize,
    ) -> PyResult<Self> {
        let mut custom = processors.unwrap_or_default();
        let streams = streams
            .into_iter()
            .map(|stream| {
                Ok(StreamConfig {
                    ack_wait: seconds(stream.ack_wait, "ack_wait")?,
                    name: stream.name,
                    subjects: stream.subjects,
                    durable: stream.durable,
                    dead_letter_subject: stream.dead_letter_subject,
                    max_deliver: stream.max_deliver,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mut made: HashMap<String, Processor> = HashMap::new();
        let mut route_configs = Vec::with_capacity(routes.len());
        for route in routes {
            let processor = match Processor::built_in(&route.processor) {
                Some(built_in) => built_in,
                None => match made.get(&route.processor) {
                    Some(processor) => processor.clone(),
                    None => {
                        let Some((callable, output)) = custom.remove(&route.processor) else {
                            return Err(PyValueError::new_err(format!(
                                "route {}: no processor is called {:?} (built in: records, results, events)",
                                route.subject, route.processor
                            )));
                        };
                        let output = match output.as_str() {
                            "records" => Output::Records,
                            "events" => Output::Events,
                            other => {
                                return Err(PyValueError::new_err(format!(
                                    "processor {}: writes {other:?}, neither records nor events",
                                    route.processor
                                )))
                            }
                        };
                        let processor = Processor::Custom(
                            route.processor.clone(),
                            Arc::new(PythonProcessor {
                                name: route.processor.clone(),
                                callable,
                                output,
                            }),
                        );
                        made.insert(route.processor.clone(), processor.clone());
                        processor
                    }
                },
            };
            if route.batch_size == 0 {
                return Err(PyValueError::new_err(format!(
                    "route {}: batch_size must be at least 1",
                    route.subject
                )));
            }
            route_configs.push(RouteConfig {
                batch_timeout: seconds(route.batch_timeout, "batch_timeout")?,
                subject: route.subject,
                processor,
                table: route.table,
                batch_size: route.batch_size,
            });
        }
        let config = IngestConfig {
            nats_url: nats,
            store: store_url(db)?,
            streams,
            routes: route_configs,
            connections_per_route: connections_per_route.max(1),
        };
        Ok(PyIngest {
            stats: Arc::new(Stats::for_config(&config)),
            config,
            stop: CancellationToken::new(),
            started: AtomicBool::new(false),
        })
    }

    /// Runs until `stop()` (or Ctrl-C), then drains: what is in hand is written and acked.
    fn run(&self, py: Python<'_>) -> PyResult<()> {
        let work = self.start()?;
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = self.stop.clone();
        let outcome = detach::wait_with(py, work, &cancel, |_| Ok(()));
        // Ctrl-C returned at once: the writer still drains in the background.
        stop.cancel();
        outcome
    }

    /// `run()` as a coroutine, for asyncio services.
    fn run_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let work = self.start()?;
        detach::awaitable(py, work)
    }

    /// Stops reading; `run` returns once the batches in hand are written and acked.
    fn stop(&self) {
        self.stop.cancel();
    }

    /// Counters so far: per route, per stream, and the store breaker.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = PyDict::new(py);
        let routes = PyDict::new(py);
        for (subject, route) in &self.stats.routes {
            let counters = PyDict::new(py);
            for (name, counter) in [
                ("messages", &route.messages),
                ("rows", &route.rows),
                ("batches", &route.batches),
                ("acked", &route.acked),
                ("dead_lettered", &route.dead_lettered),
                ("naks", &route.naks),
                ("redeliveries", &route.redeliveries),
                ("retries", &route.retries),
            ] {
                counters.set_item(name, counter.load(Ordering::Relaxed))?;
            }
            counters.set_item(
                "batch_seconds",
                route.batch_micros.load(Ordering::Relaxed) as f64 / 1e6,
            )?;
            routes.set_item(subject, counters)?;
        }
        let streams = PyDict::new(py);
        for (name, stream) in &self.stats.streams {
            let counters = PyDict::new(py);
            for (field, counter) in [
                ("received", &stream.received),
                ("lag", &stream.lag),
                ("unrouted", &stream.unrouted),
                ("read_errors", &stream.read_errors),
            ] {
                counters.set_item(field, counter.load(Ordering::Relaxed))?;
            }
            streams.set_item(name, counters)?;
        }
        let breaker = PyDict::new(py);
        let open = self.stats.breaker.is_open();
        breaker.set_item("state", if open { "open" } else { "closed" })?;
        breaker.set_item("opened", self.stats.breaker.opened.load(Ordering::Relaxed))?;
        breaker.set_item("open_seconds", self.stats.breaker.open_seconds())?;
        breaker.set_item("last_error", self.stats.breaker.last_error())?;
        stats.set_item("routes", routes)?;
        stats.set_item("streams", streams)?;
        stats.set_item("breaker", breaker)?;
        stats.set_item("running", self.stats.running.load(Ordering::Relaxed))?;
        Ok(stats)
    }

    fn __repr__(&self) -> String {
        format!(
            "Ingest(streams=[{}], routes={})",
            self.config
                .streams
                .iter()
                .map(|stream| stream.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.config.routes.len()
        )
    }
}

impl PyIngest {
    /// The run's future; an `Ingest` runs once.
    fn start(
        &self,
    ) -> PyResult<impl std::future::Future<Output = Result<(), crate::error::Error>> + Send + 'static> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(PyRuntimeError::new_err(
                "this Ingest has already run; make a new one",
            ));
        }
        Ok(run(
            self.config.clone(),
            Arc::clone(&self.stats),
            self.stop.clone(),
        ))
    }
}
