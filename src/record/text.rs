//! Building presentation text without re-checking UTF-8.

/// Appends bytes known to be ASCII (so valid UTF-8) without checking them again.
pub(crate) fn push_ascii(out: &mut String, ascii: &[u8]) {
    assert!(ascii.is_ascii(), "push_ascii is only given ASCII");
    // SAFETY: ASCII bytes are valid UTF-8 on their own, so the String stays valid UTF-8.
    unsafe { out.as_mut_vec() }.extend_from_slice(ascii);
}
