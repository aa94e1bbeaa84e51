//! The one place that releases the GIL around real work.
//!
//! Work runs on a helper thread while the calling thread, detached from the interpreter, waits
//! for it and wakes every 100 ms to check for Ctrl-C. On an interrupt the caller returns at once
//! with `KeyboardInterrupt`; the work finishes in the background and its result is dropped.

use std::sync::mpsc;
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
    let mut receiver = receiver;
    loop {
        // The receiver travels into the detached closure and back: it is Send but not Sync.
        let (received, returned) = py.detach(move || {
            let received = receiver.recv_timeout(SIGNAL_CHECK_INTERVAL);
            (received, receiver)
        });
        receiver = returned;
        match received {
            Ok(result) => return result.map_err(PyErr::from),
            Err(mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "dnsmill worker thread stopped without a result (it panicked)",
                ))
            }
        }
    }
}

/// Runs short `work` without the GIL on the calling thread.
pub fn detach<T: Send, F: FnOnce() -> T + Send>(py: Python<'_>, work: F) -> T {
    py.detach(work)
}
