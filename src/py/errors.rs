//! The Python exception tree, and the one mapping of core errors onto it.
//!
//! Every class derives from `dnsmill.DnsmillError` and has a `kind` a caller can act on:
//! `"transient"` (try again), `"rejected"` (this data or message never succeeds: set it
//! aside), `"configuration"` (fix the setup), `"unavailable"` (gave up after retries),
//! `"unsupported"` (an optional capability is missing) or `"error"`.

use pyo3::exceptions::{
    PyFileNotFoundError, PyIsADirectoryError, PyKeyboardInterrupt, PyOSError, PyPermissionError,
    PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::{create_exception, PyErr, PyTypeInfo};

use crate::error::Error;
use crate::store::{StoreError as CoreStoreError, StoreErrorKind};
use crate::zone::ZoneError;

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
    "A store operation failed; the subclass (and `kind`) says what to do about it."
);
create_exception!(
    dnsmill,
    StoreConnectionError,
    StoreError,
    "The connection to the store was lost, or the store was busy: try again (kind 'transient')."
);
create_exception!(
    dnsmill,
    StoreRejectedError,
    StoreError,
    "The store rejected the data itself: the same data fails again (kind 'rejected')."
);
create_exception!(
    dnsmill,
    StoreSchemaError,
    StoreError,
    "The store's schema or configuration is wrong (a bad URL or table, permissions): fix the \
     setup (kind 'configuration')."
);
create_exception!(
    dnsmill,
    StoreUnavailableError,
    StoreError,
    "The store stayed unreachable through every retry (kind 'unavailable')."
);
create_exception!(
    dnsmill,
    QueueError,
    DnsmillError,
    "A queue operation failed; the subclass (and `kind`) says what to do about it."
);
create_exception!(
    dnsmill,
    QueueConnectionError,
    QueueError,
    "The queue could not be reached, or was busy: try again (kind 'transient')."
);
create_exception!(
    dnsmill,
    QueueUnsupportedError,
    QueueError,
    "The queue lacks an optional capability (kind 'unsupported')."
);
create_exception!(
    dnsmill,
    MessageError,
    QueueError,
    "A message can never be processed (it is not a batch): dead-letter it (kind 'rejected')."
);
create_exception!(
    dnsmill,
    ServeError,
    DnsmillError,
    "The authoritative server could not start or load its records."
);
create_exception!(dnsmill, ConfigError, DnsmillError, "Configuration is invalid.");

/// Adds every exception class to `module`, each with its `kind`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let classes = [
        (DnsmillError::type_object(py), "error"),
        (ZoneSyntaxError::type_object(py), "rejected"),
        (ResolveError::type_object(py), "error"),
        (StoreError::type_object(py), "error"),
        (StoreConnectionError::type_object(py), "transient"),
        (StoreRejectedError::type_object(py), "rejected"),
        (StoreSchemaError::type_object(py), "configuration"),
        (StoreUnavailableError::type_object(py), "unavailable"),
        (QueueError::type_object(py), "error"),
        (QueueConnectionError::type_object(py), "transient"),
        (QueueUnsupportedError::type_object(py), "unsupported"),
        (MessageError::type_object(py), "rejected"),
        (ServeError::type_object(py), "error"),
        (ConfigError::type_object(py), "configuration"),
    ];
    for (class, kind) in classes {
        class.setattr("kind", kind)?;
        module.add(class.name()?, class)?;
    }
    Ok(())
}

/// `text` with control characters written as escapes (`\x1b`, `\x00`): messages quote what
/// they were given, and a terminal must show a stray escape sequence or NUL, not obey it.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match u32::from(c) {
            code if c.is_control() && code <= 0xff => out.push_str(&format!("\\x{code:02x}")),
            code if c.is_control() => out.push_str(&format!("\\u{code:04x}")),
            _ => out.push(c),
        }
    }
    out.into()
}

/// The Python exception for a zone error, with its location as attributes.
pub(crate) fn zone_error_to_py(py: Python<'_>, error: &ZoneError) -> PyErr {
    let exception = ZoneSyntaxError::new_err(printable(&error.to_string()).into_owned());
    let value = exception.value(py);
    // Setting attributes on a fresh exception instance cannot fail in practice; if it did,
    // the message would still carry the location.
    let _ = value.setattr("file", error.file.as_ref());
    let _ = value.setattr("line", error.line);
    let _ = value.setattr("column", error.column);
    let _ = value.setattr("message", printable(&error.message).as_ref());
    exception
}

/// The reason of an I/O error without the " (os error N)" Rust appends: the number is for
/// programs, which get it as `errno`.
fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match (error.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => text[..at].to_string(),
        _ => text,
    }
}

/// The Python exception for a store error: the subclass of its kind.
pub(crate) fn store_error_to_py(error: CoreStoreError) -> PyErr {
    let message = printable(&error.message).into_owned();
    match error.kind {
        StoreErrorKind::Transient => StoreConnectionError::new_err(message),
        StoreErrorKind::Rejected => StoreRejectedError::new_err(message),
        StoreErrorKind::Configuration => StoreSchemaError::new_err(message),
        StoreErrorKind::Unavailable => StoreUnavailableError::new_err(message),
        StoreErrorKind::Other => StoreError::new_err(message),
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        match error {
            Error::ZoneSyntax(zone_error) => Python::attach(|py| zone_error_to_py(py, &zone_error)),
            Error::Io { path, source } => {
                // Like Python's own: errno, strerror and filename as attributes, so
                // `str(error)` reads "[Errno 2] No such file or directory: 'x.zone'".
                let arguments = (
                    source.raw_os_error().unwrap_or(0),
                    io_reason(&source),
                    printable(&path.display().to_string()).into_owned(),
                );
                match source.kind() {
                    std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(arguments),
                    std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(arguments),
                    std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(arguments),
                    _ => PyOSError::new_err(arguments),
                }
            }
            Error::InvalidArgument(message) => PyValueError::new_err(printable(&message).into_owned()),
            Error::Resolve(message) => ResolveError::new_err(printable(&message).into_owned()),
            Error::Store(store_error) => store_error_to_py(store_error),
            Error::Message(message) => MessageError::new_err(printable(&message).into_owned()),
            Error::Serve(message) => ServeError::new_err(printable(&message).into_owned()),
            Error::Queue(message) => QueueConnectionError::new_err(printable(&message).into_owned()),
            Error::Config(message) => ConfigError::new_err(printable(&message).into_owned()),
            Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
            Error::Internal(message) => PyRuntimeError::new_err(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_is_kept() {
        assert_eq!(printable("plain, déjà vu"), "plain, déjà vu");
        assert_eq!(
            printable("a\u{1b}[31mb\0c\nd\u{85}"),
            "a\\x1b[31mb\\x00c\\x0ad\\x85"
        );
    }

    #[test]
    fn io_reasons_lose_the_os_error_number() {
        let error = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&error), "No such file or directory");
    }
}
