//! The bulk resolver: millions of (name, type) queries over a few long-lived UDP sockets, with
//! a status for every one.
//!
//! [`engine`] runs on the shared tokio runtime and knows nothing of Python; [`results`] holds
//! what it produces; [`transfer`] brings whole zones from a primary (AXFR, IXFR); `py` is the
//! binding.

pub mod config;
pub mod engine;
pub mod message;
pub(crate) mod py;
pub mod results;
pub mod transfer;

pub use config::{parse_nameserver, system_nameservers, ResolverConfig};
pub use engine::{resolve, resolve_list, NameBatch, Progress, Run};
pub use results::{ResultRow, ResultTable, ResultsBuilder, RunStats, Status};
