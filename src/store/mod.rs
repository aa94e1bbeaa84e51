//! Stores: records into SQLite, PostgreSQL and MySQL, deduplicated and idempotent, and the
//! `domains` job table.
//!
//! [`writer`] runs on the shared tokio runtime and knows nothing of Python; [`schema`] holds
//! the connections and migrations; [`batch`] stores a resolved batch (records and outcomes)
//! in one transaction; `py` is the binding.

pub mod batch;
pub mod domains;
mod error;
pub mod events;
pub(crate) mod py;
pub mod schema;
mod sql;
pub mod streams;
mod time;
pub mod url;
pub mod writer;

pub use error::{StoreError, StoreErrorKind};
pub use schema::{migrate, stats, Db, StoreStats};
pub use url::{Dialect, StoreUrl};
pub use writer::{Writer, WriterConfig};
