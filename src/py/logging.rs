//! The bridge from Rust logs to Python's `logging`, without the chatter of dependencies.
//!
//! hickory-server logs three INFO lines for every query it answers. Sent to Python, each would
//! take the GIL; even filtered out, each costs a logger lookup by target. Below WARN, records
//! of the hickory crates are dropped here, by a prefix check, before any of that happens.
//!
//! The crate is called `_core` (after the module it builds), so its records' targets start
//! `_core::`; they reach Python under `dnsmill.` instead (`dnsmill.store.writer`), beside the
//! package's own loggers, where a user configuring `logging.getLogger("dnsmill")` finds them.

use log::{Level, Log, Metadata, Record};
use pyo3::Python;

/// `pyo3_log`'s logger, minus the dependencies' records below WARN.
pub(crate) struct QuietDependencies(pyo3_log::Logger);

fn is_chatter(metadata: &Metadata<'_>) -> bool {
    metadata.level() > Level::Warn && metadata.target().starts_with("hickory")
}

/// The target a record of this crate goes out under: `dnsmill::…` for `_core::…`.
fn renamed(target: &str) -> Option<String> {
    target.strip_prefix("_core").map(|rest| format!("dnsmill{rest}"))
}

impl Log for QuietDependencies {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if is_chatter(metadata) {
            return false;
        }
        match renamed(metadata.target()) {
            Some(target) => self.0.enabled(
                &Metadata::builder()
                    .level(metadata.level())
                    .target(&target)
                    .build(),
            ),
            None => self.0.enabled(metadata),
        }
    }

    fn log(&self, record: &Record<'_>) {
        if is_chatter(record.metadata()) {
            return;
        }
        match renamed(record.target()) {
            Some(target) => self.0.log(
                &Record::builder()
                    .args(*record.args())
                    .level(record.level())
                    .target(&target)
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
            None => self.0.log(record),
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
