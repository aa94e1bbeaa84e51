//! The one place that releases the GIL around real work, and the one tokio runtime.
//!
//! CPU work runs on a helper thread, network work as a task on the shared runtime; either
//! way the calling thread, detached from the interpreter, waits for it and wakes every 100 ms
//! to check for Ctrl-C (and to report progress). On an interrupt the caller returns at once
//! with `KeyboardInterrupt`: network work is told to stop, CPU work finishes in the background
//! and its result is dropped.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;

use crate::error::Error;

/// How often a waiting call checks for Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `work` without the GIL, interruptible by Ctrl-C.
pub fn detach_interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let (sender, receiver) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("dnsmill-work".into())
        .spawn(move || {
            let _ = sender.send(work());
        })
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a worker thread: {e}"))
        })?;
    wait_for(py, receiver, |_| Ok(()))
}

/// Waits without the GIL for the result `receiver` will get, checking for Ctrl-C and calling
/// `on_tick` at every wake-up.
fn wait_for<T: Send>(
    py: Python<'_>,
    mut receiver: mpsc::Receiver<Result<T, Error>>,
    mut on_tick: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<T> {
    loop {
        // The receiver travels into the detached closure and back: it is Send but not Sync.
        let (received, returned) = py.detach(move || {
            let received = receiver.recv_timeout(SIGNAL_CHECK_INTERVAL);
            (received, receiver)
        });
        receiver = returned;
        match received {
            Ok(result) => return result.map_err(PyErr::from),
            Err(mpsc::RecvTimeoutError::Timeout) => py.check_signals().and_then(|()| on_tick(py))?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "dnsmill work stopped without a result (it panicked)",
                ))
            }
        }
    }
}

/// Runs short `work` without the GIL on the calling thread.
pub fn detach<T: Send, F: FnOnce() -> T + Send>(py: Python<'_>, work: F) -> T {
    py.detach(work)
}

/// The process's one tokio runtime, started on first use with a worker per core.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("dnsmill-io")
            .build()
            // Without a runtime no network work can happen at all: there is nothing to fall
            // back to, and the OS refusing threads at start-up is not recoverable here.
            .expect("cannot start the tokio runtime")
    })
}

/// Runs `work` on the shared runtime while the caller waits without the GIL. Every wake-up
/// (about 100 ms) checks for Ctrl-C and calls `on_tick`; an interrupt or an error from
/// `on_tick` sets `cancel`, which `work` is expected to honour, and returns that error.
pub fn wait_on_runtime<T, F>(
    py: Python<'_>,
    work: F,
    cancel: &Arc<AtomicBool>,
    on_tick: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let (sender, receiver) = mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = sender.send(work.await);
    });
    wait_for(py, receiver, on_tick).inspect_err(|_| cancel.store(true, Ordering::Relaxed))
}

/// [`wait_on_runtime`] for work that needs no cancel flag and no ticks: a store operation, a
/// server start. Its error text becomes the Python exception `as_error` picks.
pub fn run_to_completion<T, F>(py: Python<'_>, work: F, as_error: fn(String) -> Error) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, String>> + Send + 'static,
{
    let cancel = Arc::new(AtomicBool::new(false));
    wait_on_runtime(py, async move { work.await.map_err(as_error) }, &cancel, |_| {
        Ok(())
    })
}
