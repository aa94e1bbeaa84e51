//! The bridge from Rust logs to Python's `logging`, without the chatter of dependencies.
//!
//! hickory-server logs three INFO lines for every query it answers. Sent to Python, each would
//! take the GIL; even filtered out, each costs a logger lookup by target. Below WARN, records
//! of the hickory crates are dropped here, by a prefix check, before any of that happens.

use log::{Level, Log, Metadata, Record};

/// `pyo3_log`'s logger, minus the dependencies' records below WARN.
pub struct QuietDependencies(pub pyo3_log::Logger);

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
