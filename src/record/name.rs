//! Domain names: presentation text to uncompressed wire form and back.
//!
//! Names are lowercased as they are read (ASCII only, RFC 4343), so equal names are equal
//! bytes everywhere downstream: in the canonical rdata, in the stores' unique keys, in filters.

use super::text::push_ascii;

/// Longest label, in bytes (RFC 1035 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name in wire form, length bytes included (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// The root name in wire form.
pub const ROOT: &[u8] = &[0];

/// Appends the wire form of the presentation name `text` to `out`.
///
/// A name without a trailing dot is relative and gets `origin` (absolute, wire form) appended;
/// `@` alone stands for the origin. Fails with a message naming the problem.
pub fn parse_name(text: &[u8], origin: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    if text == b"@" {
        return match origin {
            Some(origin) => {
                out.extend_from_slice(origin);
                Ok(())
            }
            None => Err("'@' used with no origin set (pass an origin or add $ORIGIN)".into()),
        };
    }
    if text == b"." {
        out.push(0);
        return Ok(());
    }
    if text.is_empty() {
        return Err("empty name".into());
    }
    let mut label_start = out.len();
    out.push(0);
    let mut absolute = false;
    let mut i = 0;
    while i < text.len() {
        let byte = match text[i] {
            b'.' => {
                let label_len = out.len() - label_start - 1;
                if label_len == 0 {
                    out.truncate(start);
                    return Err(format!("empty label in name '{}'", String::from_utf8_lossy(text)));
                }
                out[label_start] = label_len as u8;
                i += 1;
                if i == text.len() {
                    absolute = true;
                    break;
                }
                label_start = out.len();
                out.push(0);
                continue;
            }
            b'\\' => {
                let (byte, used) = decode_escape(&text[i..]).inspect_err(|_| out.truncate(start))?;
                i += used;
                byte
            }
            other => {
                i += 1;
                other
            }
        };
        out.push(byte.to_ascii_lowercase());
        if out.len() - label_start - 1 > MAX_LABEL_LEN {
            out.truncate(start);
            return Err(format!(
                "label longer than {MAX_LABEL_LEN} bytes in name '{}'",
                String::from_utf8_lossy(text)
            ));
        }
    }
    if absolute {
        out.push(0);
    } else {
        let label_len = out.len() - label_start - 1;
        out[label_start] = label_len as u8;
        match origin {
            Some(origin) => out.extend_from_slice(origin),
            None => {
                out.truncate(start);
                return Err(format!(
                    "relative name '{}' with no origin set (pass an origin or add $ORIGIN)",
                    String::from_utf8_lossy(text)
                ));
            }
        }
    }
    if out.len() - start > MAX_NAME_LEN {
        out.truncate(start);
        return Err(format!(
            "name longer than {MAX_NAME_LEN} bytes: '{}'",
            String::from_utf8_lossy(text)
        ));
    }
    Ok(())
}

/// Decodes one `\X` or `\DDD` escape at the start of `text`; returns the byte and the length used.
pub fn decode_escape(text: &[u8]) -> Result<(u8, usize), String> {
    debug_assert_eq!(text.first(), Some(&b'\\'));
    match text.get(1) {
        None => Err("backslash at end of field".into()),
        Some(d) if d.is_ascii_digit() => {
            let digits = text.get(1..4).filter(|ds| ds.iter().all(u8::is_ascii_digit));
            let Some(digits) = digits else {
                return Err("\\DDD escape needs exactly three decimal digits".into());
            };
            let value = digits.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            u8::try_from(value)
                .map(|byte| (byte, 4))
                .map_err(|_| format!("escape \\{} is over 255", String::from_utf8_lossy(digits)))
        }
        Some(&other) => Ok((other, 2)),
    }
}

/// Reads an uncompressed wire name at `pos`; returns its end offset.
pub fn wire_name_end(data: &[u8], pos: usize) -> Option<usize> {
    let mut at = pos;
    loop {
        let len = usize::from(*data.get(at)?);
        if len > MAX_LABEL_LEN {
            return None;
        }
        at += 1 + len;
        if at - pos > MAX_NAME_LEN || at > data.len() {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

/// Appends the presentation form of a valid wire name (absolute, trailing dot).
pub fn write_name(wire: &[u8], out: &mut String) {
    if wire.first() == Some(&0) {
        out.push('.');
        return;
    }
    out.reserve(wire.len());
    let mut at = 0;
    while let Some(&label_len) = wire.get(at) {
        if label_len == 0 {
            break;
        }
        let mut rest = &wire[at + 1..at + 1 + usize::from(label_len)];
        // Labels rarely need escapes: append each run of plain bytes in one go.
        while !rest.is_empty() {
            let plain = rest
                .iter()
                .position(|&byte| !is_plain_name_byte(byte))
                .unwrap_or(rest.len());
            push_ascii(out, &rest[..plain]);
            let Some(&byte) = rest.get(plain) else {
                break;
            };
            if byte.is_ascii_graphic() {
                out.push('\\');
                out.push(char::from(byte));
            } else {
                push_decimal_escape(byte, out);
            }
            rest = &rest[plain + 1..];
        }
        out.push('.');
        at += 1 + usize::from(label_len);
    }
}

/// Whether a label byte prints as itself: visible ASCII that is not special in master files.
fn is_plain_name_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'.' | b';' | b'\\' | b'(' | b')' | b'@' | b'$' | b'"')
}

/// The `\DDD` form of a byte that cannot appear literally.
fn decimal_escape(byte: u8) -> [u8; 4] {
    [b'\\', b'0' + byte / 100, b'0' + byte / 10 % 10, b'0' + byte % 10]
}

/// Appends `\DDD` for a byte that cannot appear literally.
pub fn push_decimal_escape(byte: u8, out: &mut String) {
    push_ascii(out, &decimal_escape(byte));
}

/// Number of labels, not counting the root and a leading `*` (RRSIG labels field).
pub fn label_count(wire: &[u8]) -> usize {
    let mut count = 0;
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        count += 1;
        at += 1 + usize::from(len);
    }
    count
}

/// The wire form of a name to query: absolute, IDN converted to A-labels, lowercase.
pub fn query_name(name: &str, wire: &mut Vec<u8>) -> Result<(), String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("empty name".into());
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err("name contains whitespace".into());
    }
    let ascii = if trimmed.is_ascii() {
        std::borrow::Cow::Borrowed(trimmed)
    } else {
        let converted =
            idna::domain_to_ascii(trimmed).map_err(|_| format!("'{trimmed}' is not a valid IDN"))?;
        std::borrow::Cow::Owned(converted)
    };
    if ascii.starts_with('.') && ascii != "." {
        return Err("empty label".into());
    }
    // Names are absolute: one without the final dot is taken relative to the root (no
    // copy with a dot appended; this runs for every name of a bulk resolution). The parser
    // decides which names end in a dot (`a\.` does not).
    match ascii.as_ref() {
        // Alone, `@` would mean the origin to the parser; here it is a one-label name.
        "@" => parse_name(b"@.", None, wire),
        name => parse_name(name.as_bytes(), Some(&[0]), wire),
    }
}

/// A domain name as stores keep it: A-labels, lowercase, absolute. `text` is a name as a user
/// types it (IDN allowed, final dot optional); the root is not a domain, and neither is a URL,
/// an e-mail or IP address, or a name with characters no host name has (a domain list is a
/// list of hosts to resolve: anything else is a mistake in the list, better reported than
/// queried).
pub fn domain_name(text: &str) -> Result<String, String> {
    if let Some(problem) = not_a_host_name(text.trim()) {
        return Err(problem);
    }
    let mut wire = Vec::with_capacity(64);
    query_name(text, &mut wire)?;
    if wire == [0] {
        return Err("the root is not a domain".into());
    }
    let mut name = String::with_capacity(text.len() + 1);
    write_name(&wire, &mut name);
    name.make_ascii_lowercase();
    Ok(name)
}

/// Why `text` is not a host name as lists of domains hold them, if it is not: labels of
/// letters, digits, `-` and `_` (`_dmarc.example.com`), any script (IDN) allowed.
fn not_a_host_name(text: &str) -> Option<String> {
    if text.contains("://") || text.contains('/') {
        return Some("a URL or path, not a domain name (give its host: example.com)".into());
    }
    if text.parse::<std::net::IpAddr>().is_ok()
        || text
            .trim_matches(['[', ']'])
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return Some("an IP address, not a domain name".into());
    }
    if text.contains('@') {
        return Some("an e-mail address, not a domain name".into());
    }
    let bad = text
        .chars()
        // Whitespace is left to `query_name`, which says so in its own words.
        .find(|&c| !(c.is_alphanumeric() || c == ' ' || c == '\t' || matches!(c, '-' | '_' | '.')))?;
    Some(if bad.is_control() {
        format!("a control character ({}) in the name", bad.escape_default())
    } else {
        format!("'{bad}' is not allowed in a host name (letters, digits, - and _)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_lists_hold_host_names_only() {
        assert_eq!(domain_name("Bücher.Example").unwrap(), "xn--bcher-kva.example.");
        assert_eq!(domain_name("_dmarc.example.com.").unwrap(), "_dmarc.example.com.");
        for (text, reason) in [
            ("http://example.com/x", "a URL"),
            ("example.com/x", "a URL"),
            ("192.0.2.1", "an IP address"),
            ("2001:db8::1", "an IP address"),
            ("[2001:db8::1]", "an IP address"),
            ("me@example.com", "an e-mail address"),
            ("ex\0ample.com", "control character (\\u{0})"),
            ("*.example.com", "'*' is not allowed"),
            ("a b.example", "whitespace"),
        ] {
            let error = domain_name(text).unwrap_err();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }

    fn text_of(input: &str, origin: Option<&str>) -> Result<String, String> {
        let mut origin_wire = Vec::new();
        if let Some(origin) = origin {
            parse_name(origin.as_bytes(), None, &mut origin_wire)?;
        }
        let mut wire = Vec::new();
        parse_name(
            input.as_bytes(),
            origin.map(|_| origin_wire.as_slice()),
            &mut wire,
        )?;
        let mut out = String::new();
        write_name(&wire, &mut out);
        Ok(out)
    }

    #[test]
    fn relative_names_take_the_origin_and_are_lowercased() {
        assert_eq!(text_of("WWW", Some("Example.COM.")).unwrap(), "www.example.com.");
        assert_eq!(text_of("@", Some("example.com.")).unwrap(), "example.com.");
        assert_eq!(text_of("a.b.", None).unwrap(), "a.b.");
        assert_eq!(text_of(".", None).unwrap(), ".");
    }

    #[test]
    fn escapes_are_kept_canonical() {
        assert_eq!(text_of("a\\.b.c.", None).unwrap(), "a\\.b.c.");
        assert_eq!(text_of("sp\\032x.", None).unwrap(), "sp\\032x.");
        assert_eq!(text_of("\\065bc.", None).unwrap(), "abc.");
        assert_eq!(text_of("\\(x.", None).unwrap(), "\\(x.");
    }

    #[test]
    fn bad_names_are_rejected_with_a_reason() {
        assert!(text_of("a..b.", None).unwrap_err().contains("empty label"));
        assert!(text_of("rel", None).unwrap_err().contains("no origin"));
        assert!(text_of(&"a".repeat(64), Some("."))
            .unwrap_err()
            .contains("label longer"));
        let long = format!("{}.", ["abcdefghij"; 30].join("."));
        assert!(text_of(&long, None).unwrap_err().contains("name longer"));
        assert!(text_of("x\\256.", None).unwrap_err().contains("over 255"));
        assert!(text_of("x\\1.", None).unwrap_err().contains("three decimal"));
    }
}
