//! The process's one tokio runtime: every network and store task of the core runs on it.

use std::sync::OnceLock;

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
