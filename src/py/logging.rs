//! The bridge from Rust logs to Python's `logging`, without the chatter of dependencies.
//!
//! hickory-server logs three INFO lines for every query it answers. Sent to Python, each would
//! take the GIL; even filtered out, each costs a logger lookup by target. Below WARN, records
//! of the hickory crates are dropped here, by a prefix check, before any of that happens.

use log::{Level, Log, Metadata, Record};
use pyo3::Python;

/// `pyo3_log`'s logger, minus the dependencies' records below WARN.
pub(crate) struct QuietDependencies(pyo3_log::Logger);

fn is_chatter(metadata: &Metadata<'_>) -> bool {
    metadata.level() > Level::Warn && metadata.target().starts_with("hickory")
}

impl Log for QuietDependencies {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        !is_chatter(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !is_chatter(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Sends Rust `tracing` events to Python `logging`, under the "dnsmill" logger names.
pub(crate) fn install(py: Python<'_>) {
    if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels) {
        if log::set_boxed_logger(Box::new(QuietDependencies(logger))).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    }
}
