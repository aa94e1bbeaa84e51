//! The binding layer's shared parts: the exception tree, the one helper that releases the
//! GIL, checked numeric arguments, Arrow in and out, and the log bridge. Each core folder's own `py.rs` builds on these;
//! nothing in the core imports them.

pub(crate) mod arguments;
pub(crate) mod arrow;
pub(crate) mod detach;
pub(crate) mod errors;
pub(crate) mod formats;
pub(crate) mod logging;
