//! dnsmill's Rust core: zone parsing and writing, bulk resolution, batch storage, the
//! authoritative server and the work pipeline, exposed to Python as `dnsmill._core`.
//!
//! The core ([`record`], [`zone`], [`resolve`], [`store`], [`serve`], [`pipeline`], [`ingest`]) is plain
//! Rust and compiles and tests without Python; [`datagrams`] is the batched UDP I/O the resolver
//! and the server share. The binding layer is each folder's `py.rs`, the shared parts in `py/`,
//! and this file, which only registers what they define.

pub mod datagrams;
pub mod error;
pub mod ingest;
pub mod pipeline;
mod py;
pub mod record;
pub mod resolve;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod zone;

/// The native module. It only registers what the binding files define.
#[pyo3::pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::ingest::py::PyIngest;
    #[pymodule_export]
    use crate::pipeline::py::{PyBatch, PyBatchJob};
    #[pymodule_export]
    use crate::resolve::py::{
        soa_serial, transfer_zone, PyQueryResult, PyResolver, PyResultSet, PyResultStream, ResultIterator,
    };
    #[pymodule_export]
    use crate::serve::py::{serve, PyServer};
    #[pymodule_export]
    use crate::store::py::{db_stats, init_db, PyDomains, PyDuePage, PyStreamStore, PyWriter};
    #[pymodule_export]
    use crate::zone::py::{parse_zone, PyRecord, PyZone, ZoneIterator};

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::py::errors::register(module)?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::py::logging::install(module.py());
        Ok(())
    }
}
