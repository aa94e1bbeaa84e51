//! Python binding of the authoritative server: `dnsmill._core.serve` and its `Server` handle.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{AuthServer, ServeCounters, Source};
use crate::error::Error;
use crate::py::detach;

/// Runs server work on the runtime while the caller waits without the GIL.
fn on_runtime<T: Send + 'static>(
    py: Python<'_>,
    work: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> PyResult<T> {
    detach::wait(py, async move { work.await.map_err(Error::Serve) })
}

/// A running authoritative server; `stop()` (or leaving the `with` block) ends it.
#[pyclass(module = "dnsmill._core", name = "Server", frozen)]
pub(crate) struct PyServer {
    server: Arc<AuthServer>,
}

fn stats_dict<'py>(py: Python<'py>, counters: &ServeCounters) -> PyResult<Bound<'py, PyDict>> {
    let stats = counters.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (udp_queries, udp_cached) = counters.udp_queries();
    let dict = PyDict::new(py);
    dict.set_item("zones", stats.zones)?;
    dict.set_item("records", stats.records)?;
    dict.set_item("skipped", stats.skipped)?;
    dict.set_item("skip_reasons", stats.skip_reasons.clone())?;
    dict.set_item("loads", counters.loads.load(Ordering::Relaxed))?;
    dict.set_item("udp_queries", udp_queries)?;
    dict.set_item("udp_cached", udp_cached)?;
    Ok(dict)
}

#[pymethods]
impl PyServer {
    /// The address it answers on, `IP:PORT` (UDP and TCP).
    #[getter]
    fn address(&self) -> String {
        self.server.address.to_string()
    }

    /// The port it answers on.
    #[getter]
    fn port(&self) -> u16 {
        self.server.address.port()
    }

    /// Whether it still answers.
    #[getter]
    fn running(&self) -> bool {
        self.server.is_running()
    }

    /// Zones and records served, records skipped (with reasons), loads so far, UDP queries
    /// received and how many of them were answered from the answer cache.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.server.counters)
    }

    /// Loads the records again now and serves them; returns `stats`.
    fn reload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let server = Arc::clone(&self.server);
        on_runtime(py, async move { server.reload().await })?;
        self.stats(py)
    }

    /// Reloads only if the records changed since the last load; returns whether it did.
    fn reload_if_changed(&self, py: Python<'_>) -> PyResult<bool> {
        let server = Arc::clone(&self.server);
        on_runtime(py, async move { server.reload_if_changed().await })
    }

    /// Stops answering; returns once the sockets are closed.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let server = Arc::clone(&self.server);
        on_runtime(py, async move {
            server.stop().await;
            Ok(())
        })
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("Server({:?})", self.server.address.to_string())
    }
}

/// Starts answering authoritatively for the records of a store (`db`, its `table`) or of the
/// `*.zone` files in `zones`, on `listen` (port 0 picks a free one). With `poll` (seconds),
/// it reloads when the records change.
#[pyfunction]
#[pyo3(
    signature = (db=None, *, zones=None, listen="127.0.0.1:5353", table="dns_records", poll=Some(10.0)),
    text_signature = "(db=None, *, zones=None, listen='127.0.0.1:5353', table='dns_records', poll=10.0)"
)]
pub(crate) fn serve(
    py: Python<'_>,
    db: Option<&str>,
    zones: Option<PathBuf>,
    listen: &str,
    table: &str,
    poll: Option<f64>,
) -> PyResult<PyServer> {
    let source = match (db, zones) {
        (Some(url), None) => Source::Store {
            url: url
                .parse()
                .map_err(|message: String| PyValueError::new_err(message))?,
            table: table.to_string(),
        },
        (None, Some(dir)) => Source::ZonesDir(dir),
        _ => return Err(PyValueError::new_err("serve() takes either db= or zones=")),
    };
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| PyValueError::new_err(format!("listen must be IP:PORT, not {listen:?}")))?;
    let poll = match poll {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => Some(Duration::from_secs_f64(seconds)),
        Some(_) => return Err(PyValueError::new_err("poll must be a positive number of seconds")),
        None => None,
    };
    let server = on_runtime(py, async move { AuthServer::start(source, listen, poll).await })?;
    Ok(PyServer { server })
}
