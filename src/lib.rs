//! dnsmill's Rust core: zone parsing and writing and bulk resolution, exposed to Python as
//! `dnsmill._core`.
//!
//! The core ([`record`], [`zone`], [`resolve`]) is plain Rust and compiles and tests without Python; the
//! `py` modules and this file are the thin binding layer.

pub mod arrow_export;
pub mod error;
mod logging;
pub mod record;
pub mod resolve;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod zone;

/// The native module. It only registers what the submodules define.
#[pyo3::pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::resolve::py::{PyQueryResult, PyResolver, PyResultSet, PyResultStream, ResultIterator};
    #[pymodule_export]
    use crate::serve::py::{serve, PyServer};
    #[pymodule_export]
    use crate::store::py::{db_stats, init_db, PyDomains, PyWriter};
    #[pymodule_export]
    use crate::zone::py::{parse_zone, PyRecord, PyZone, ZoneIterator};

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        use crate::error::{
            ConfigError, DnsmillError, QueueError, ResolveError, ServeError, StoreError, ZoneSyntaxError,
        };
        let py = module.py();
        module.add("DnsmillError", py.get_type::<DnsmillError>())?;
        module.add("ZoneSyntaxError", py.get_type::<ZoneSyntaxError>())?;
        module.add("ResolveError", py.get_type::<ResolveError>())?;
        module.add("StoreError", py.get_type::<StoreError>())?;
        module.add("QueueError", py.get_type::<QueueError>())?;
        module.add("ConfigError", py.get_type::<ConfigError>())?;
        module.add("ServeError", py.get_type::<ServeError>())?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // Rust `tracing` events reach Python `logging` under the "dnsmill" logger names.
        if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels) {
            if log::set_boxed_logger(Box::new(crate::logging::QuietDependencies(logger))).is_ok() {
                log::set_max_level(log::LevelFilter::Debug);
            }
        }
        Ok(())
    }
}
