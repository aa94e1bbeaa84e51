//! The batch writer: records into SQLite, PostgreSQL and MySQL, deduplicated and idempotent.
//!
//! [`writer`] runs on the shared tokio runtime and knows nothing of Python; [`schema`] holds
//! the connections and migrations; `py` is the binding.

pub mod domains;
pub mod py;
pub mod schema;
pub mod url;
pub mod writer;

pub use schema::{migrate, stats, Db, StoreStats};
pub use url::{Dialect, StoreUrl};
pub use writer::{Writer, WriterConfig};
