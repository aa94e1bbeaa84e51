//! The core's error enum. It knows nothing of Python: `py::errors` maps each variant onto the
//! Python exception tree, once, at the boundary.

use std::path::PathBuf;

use crate::store::StoreError;
use crate::zone::{ParseFailure, ZoneError};

/// Everything that can go wrong in dnsmill's core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A zone file is malformed.
    #[error("{0}")]
    ZoneSyntax(ZoneError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A caller passed a value that cannot be used.
    #[error("{0}")]
    InvalidArgument(String),
    /// Resolution could not run (no usable nameserver, no socket).
    #[error("{0}")]
    Resolve(String),
    /// A store could not be reached, or rejected a write; the kind says which.
    #[error("{0}")]
    Store(StoreError),
    /// A queue message can never be processed (it is not a batch).
    #[error("{0}")]
    Message(String),
    /// A message broker could not be reached or used (NATS for the event writer).
    #[error("{0}")]
    Queue(String),
    /// Settings that cannot work (a live consumer that differs and cannot be updated).
    #[error("{0}")]
    Config(String),
    /// The authoritative server could not start or reload.
    #[error("{0}")]
    Serve(String),
    /// The work was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// A task of the core stopped without a result (it panicked or was dropped).
    #[error("{0}")]
    Internal(String),
}

impl From<ParseFailure> for Error {
    fn from(failure: ParseFailure) -> Self {
        match failure {
            ParseFailure::Syntax(error) => Error::ZoneSyntax(error),
            ParseFailure::Io { path, source } => Error::Io { path, source },
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Error::Store(error)
    }
}

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
