//! The error model: one core error enum, and its mapping onto the Python exception tree
//! (`dnsmill.DnsmillError` and its children), done once, here, at the boundary.

use std::path::PathBuf;

use pyo3::exceptions::{PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError};
use pyo3::prelude::*;
use pyo3::{create_exception, PyErr};

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
    /// A store could not be reached, or rejected a write.
    #[error("{0}")]
    Store(String),
    /// The authoritative server could not start or reload.
    #[error("{0}")]
    Serve(String),
    /// The work was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl From<ParseFailure> for Error {
    fn from(failure: ParseFailure) -> Self {
        match failure {
            ParseFailure::Syntax(error) => Error::ZoneSyntax(error),
            ParseFailure::Io { path, source } => Error::Io { path, source },
        }
    }
}

create_exception!(
    dnsmill,
    DnsmillError,
    pyo3::exceptions::PyException,
    "Base class of every dnsmill error."
);
create_exception!(
    dnsmill,
    ZoneSyntaxError,
    DnsmillError,
    "A zone file is malformed; `file`, `line`, `column` and `message` say where and why."
);
create_exception!(
    dnsmill,
    ResolveError,
    DnsmillError,
    "Resolution could not be carried out."
);
create_exception!(
    dnsmill,
    StoreError,
    DnsmillError,
    "A store rejected or lost a write."
);
create_exception!(dnsmill, QueueError, DnsmillError, "A queue operation failed.");
create_exception!(
    dnsmill,
    ServeError,
    DnsmillError,
    "The authoritative server could not start or load its records."
);
create_exception!(dnsmill, ConfigError, DnsmillError, "Configuration is invalid.");

/// Builds the Python exception for a zone error, with its location as attributes.
pub fn zone_error_to_py(py: Python<'_>, error: &ZoneError) -> PyErr {
    let exception = ZoneSyntaxError::new_err(error.to_string());
    let value = exception.value(py);
    // Setting attributes on a fresh exception instance cannot fail in practice; if it did,
    // the message would still carry the location.
    let _ = value.setattr("file", error.file.as_ref());
    let _ = value.setattr("line", error.line);
    let _ = value.setattr("column", error.column);
    let _ = value.setattr("message", error.message.as_str());
    exception
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        match error {
            Error::ZoneSyntax(zone_error) => Python::attach(|py| zone_error_to_py(py, &zone_error)),
            Error::Io { path, source } => {
                let message = format!("{}: {source}", path.display());
                match source.kind() {
                    std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                    std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                    std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
                    _ => PyOSError::new_err(message),
                }
            }
            Error::InvalidArgument(message) => pyo3::exceptions::PyValueError::new_err(message),
            Error::Resolve(message) => ResolveError::new_err(message),
            Error::Store(message) => StoreError::new_err(message),
            Error::Serve(message) => ServeError::new_err(message),
            Error::Interrupted => pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
