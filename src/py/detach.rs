//! The one place that releases the GIL around real work.
//!
//! Work runs on the shared runtime (network and store work as a task, CPU work on its
//! blocking pool); the calling thread, detached from the interpreter, waits for the result
//! and wakes every 100 ms to check for Ctrl-C and to run the caller's tick (progress, feeding
//! names from a Python iterator). On an interrupt the caller returns at once with
//! `KeyboardInterrupt` and the work's cancel flag is set; CPU work finishes in the background
//! and its result is dropped.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::error::Error;
use crate::runtime::runtime;

/// How often a waiting call checks for Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `work` on the runtime while the caller waits without the GIL; Ctrl-C returns at once.
pub(crate) fn wait<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let cancel = Arc::new(AtomicBool::new(false));
    wait_with(py, work, &cancel, |_| Ok(()))
}

/// [`wait`], calling `on_tick` with the GIL at every wake-up (about every 100 ms). An
/// interrupt or an error from `on_tick` sets `cancel`, which `work` is expected to honour, and
/// returns that error.
pub(crate) fn wait_with<T, F>(
    py: Python<'_>,
    work: F,
    cancel: &Arc<AtomicBool>,
    mut on_tick: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let (sender, mut receiver) = mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = sender.send(work.await);
    });
    let outcome = loop {
        // The receiver travels into the detached closure and back: it is Send but not Sync.
        let (received, returned) = py.detach(move || {
            let received = receiver.recv_timeout(SIGNAL_CHECK_INTERVAL);
            (received, receiver)
        });
        receiver = returned;
        match received {
            Ok(result) => break result.map_err(PyErr::from),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(error) = py.check_signals().and_then(|()| on_tick(py)) {
                    break Err(error);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(
                    Error::Internal("dnsmill work stopped without a result (it panicked)".into()).into(),
                )
            }
        }
    };
    outcome.inspect_err(|_| cancel.store(true, Ordering::Relaxed))
}

/// CPU-bound `work` (parsing, formatting a large table) on the runtime's blocking pool, waited
/// for as [`wait`] does.
pub(crate) fn compute<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    wait(py, async move {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("dnsmill work failed: {e}")))?
    })
}

/// Short in-memory work (a count, a filter) without the GIL on the calling thread: it ends
/// too soon for Ctrl-C to matter.
pub(crate) fn quick<T: Send, F: FnOnce() -> T + Send>(py: Python<'_>, work: F) -> T {
    py.detach(work)
}

/// Points pyo3-async-runtimes at the shared runtime, once, before any awaitable is made.
pub(crate) fn init_async_runtime() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // Fails only if another library set a runtime first; asyncio work then runs there.
        let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime());
    });
}

/// `work` as a Python coroutine on the shared runtime, its error mapped as every other.
///
/// The work starts at once (as a future on the running loop); the coroutine awaits it, so the
/// result goes wherever asyncio users put a coroutine: `await`, `asyncio.create_task`,
/// `asyncio.gather`, `asyncio.wait_for`. Cancelling the awaiting task cancels the work.
pub(crate) fn awaitable<'py, T, F>(py: Python<'py>, work: F) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    init_async_runtime();
    let future =
        pyo3_async_runtimes::tokio::future_into_py(py, async move { work.await.map_err(PyErr::from) })?;
    awaiting(py)?.call1((future,))
}

/// `async def awaiting(future): return await future`, made once.
fn awaiting(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static AWAITING: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    AWAITING
        .get_or_try_init(py, || {
            let module = PyModule::from_code(
                py,
                c"async def awaiting(future):\n    return await future\n",
                c"dnsmill/_awaiting.py",
                c"dnsmill._awaiting",
            )?;
            Ok(module.getattr("awaiting")?.unbind())
        })
        .map(|function| function.bind(py))
}

/// A cancel flag set when dropped: a run whose caller went away (an asyncio task cancelled, a
/// stream dropped) stops sending.
#[derive(Default)]
pub(crate) struct CancelOnDrop(Arc<AtomicBool>);

impl CancelOnDrop {
    /// Wraps an existing flag.
    pub(crate) fn new(flag: Arc<AtomicBool>) -> Self {
        CancelOnDrop(flag)
    }

    /// The flag, for the work to watch.
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }

    /// Sets the flag now.
    pub(crate) fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.cancel();
    }
}
