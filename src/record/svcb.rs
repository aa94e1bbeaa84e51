//! SVCB and HTTPS service parameters (RFC 9460, RFC 9461, RFC 9540, RFC 9848).

use std::fmt::Write as _;

use super::address::{parse_ipv4, parse_ipv6, push_ipv4, push_ipv6};
use super::fields::{decode_into, push_quoted_body, unescape_into, FieldError, Fields, BASE64};
use super::wire::WireReader;

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;
const DOHPATH: u16 = 7;
const OHTTP: u16 = 8;
const TLS_SUPPORTED_GROUPS: u16 = 9;

const KEY_NAMES: &[(&str, u16)] = &[
    ("mandatory", MANDATORY),
    ("alpn", ALPN),
    ("no-default-alpn", NO_DEFAULT_ALPN),
    ("port", PORT),
    ("ipv4hint", IPV4HINT),
    ("ech", ECH),
    ("ipv6hint", IPV6HINT),
    ("dohpath", DOHPATH),
    ("ohttp", OHTTP),
    ("tls-supported-groups", TLS_SUPPORTED_GROUPS),
];

fn key_from_text(text: &[u8]) -> Option<u16> {
    if let Some(&(_, key)) = KEY_NAMES.iter().find(|(name, _)| name.as_bytes() == text) {
        return Some(key);
    }
    let digits = text.strip_prefix(b"key")?;
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn push_key(key: u16, out: &mut String) {
    match KEY_NAMES.iter().find(|&&(_, k)| k == key) {
        Some((name, _)) => out.push_str(name),
        None => {
            let _ = write!(out, "key{key}");
        }
    }
}

/// Splits a value list on unescaped commas; `\,` and `\\` stand for themselves inside an item.
fn split_value_list(value: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' if i + 1 < value.len() => {
                items
                    .last_mut()
                    .expect("list starts with one item")
                    .push(value[i + 1]);
                i += 2;
            }
            b'\\' => return Err("backslash at end of value".into()),
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            byte => {
                items.last_mut().expect("list starts with one item").push(byte);
                i += 1;
            }
        }
    }
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in value list".into());
    }
    Ok(items)
}

fn plain_list(value: &[u8]) -> Result<Vec<&str>, String> {
    let text = std::str::from_utf8(value).map_err(|_| "value is not ASCII".to_string())?;
    let items: Vec<&str> = text.split(',').collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err("empty item in value list".into());
    }
    Ok(items)
}

fn needs_value(value: Option<&[u8]>) -> Result<&[u8], String> {
    value.ok_or_else(|| "needs a value".to_string())
}

fn encode_value(key: u16, value: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in plain_list(needs_value(value)?)? {
                let listed = key_from_text(item.as_bytes()).ok_or_else(|| format!("unknown key '{item}'"))?;
                if listed == MANDATORY {
                    return Err("must not list 'mandatory' itself".into());
                }
                keys.push(listed);
            }
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err("lists a key twice".into());
            }
            for listed in keys {
                out.extend_from_slice(&listed.to_be_bytes());
            }
        }
        ALPN => {
            for id in split_value_list(needs_value(value)?)? {
                if id.len() > 255 {
                    return Err("protocol id longer than 255 bytes".into());
                }
                out.push(id.len() as u8);
                out.extend_from_slice(&id);
            }
        }
        NO_DEFAULT_ALPN | OHTTP => {
            if value.is_some_and(|v| !v.is_empty()) {
                return Err("takes no value".into());
            }
        }
        PORT => {
            let text = needs_value(value)?;
            let port: u16 = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| "must be a number from 0 to 65535".to_string())?;
            out.extend_from_slice(&port.to_be_bytes());
        }
        IPV4HINT => {
            for item in plain_list(needs_value(value)?)? {
                let addr = parse_ipv4(item.as_bytes()).ok_or_else(|| format!("bad IPv4 address '{item}'"))?;
                out.extend_from_slice(&addr);
            }
        }
        IPV6HINT => {
            for item in plain_list(needs_value(value)?)? {
                let addr = parse_ipv6(item.as_bytes()).ok_or_else(|| format!("bad IPv6 address '{item}'"))?;
                out.extend_from_slice(&addr);
            }
        }
        ECH => {
            decode_into(&BASE64, needs_value(value)?, &mut out)?;
        }
        TLS_SUPPORTED_GROUPS => {
            for item in plain_list(needs_value(value)?)? {
                let group: u16 = item.parse().map_err(|_| format!("bad group '{item}'"))?;
                out.extend_from_slice(&group.to_be_bytes());
            }
        }
        DOHPATH => {
            let path = needs_value(value)?;
            std::str::from_utf8(path).map_err(|_| "must be UTF-8".to_string())?;
            out.extend_from_slice(path);
        }
        _ => out.extend_from_slice(value.unwrap_or_default()),
    }
    if out.len() > usize::from(u16::MAX) {
        return Err("value is too long".into());
    }
    Ok(out)
}

/// Reads `key[=value]` fields until the end of the rdata and appends them in key order.
pub(super) fn parse_params(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    while !f.is_empty() {
        let field = f.next_field("service parameter")?;
        let (key_text, raw_value) = match field.text.iter().position(|&b| b == b'=') {
            Some(eq) => (&field.text[..eq], Some(&field.text[eq + 1..])),
            None => (field.text, None),
        };
        let key = key_from_text(key_text).ok_or_else(|| {
            f.error_here(format!(
                "unknown service parameter key '{}'",
                String::from_utf8_lossy(key_text)
            ))
        })?;
        let value = match raw_value {
            None => None,
            Some(raw) => {
                let raw = match raw {
                    [b'"', inner @ .., b'"'] => inner,
                    other => other,
                };
                let mut decoded = Vec::new();
                unescape_into(raw, &mut decoded).map_err(|m| f.error_here(m))?;
                Some(decoded)
            }
        };
        let encoded = encode_value(key, value.as_deref()).map_err(|reason| {
            let mut name = String::new();
            push_key(key, &mut name);
            f.error_here(format!("service parameter {name}: {reason}"))
        })?;
        if params.iter().any(|(k, _)| *k == key) {
            let mut name = String::new();
            push_key(key, &mut name);
            return Err(f.error_here(format!("service parameter {name} appears twice")));
        }
        params.push((key, encoded));
    }
    params.sort_by_key(|(key, _)| *key);
    check_mandatory(&params).map_err(|m| f.error_here(m))?;
    for (key, value) in params {
        wire.extend_from_slice(&key.to_be_bytes());
        wire.extend_from_slice(&(value.len() as u16).to_be_bytes());
        wire.extend_from_slice(&value);
    }
    Ok(())
}

fn check_mandatory(params: &[(u16, Vec<u8>)]) -> Result<(), String> {
    if let Some((_, listed)) = params.iter().find(|(key, _)| *key == MANDATORY) {
        for pair in listed.chunks(2) {
            let wanted = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            if !params.iter().any(|(key, _)| *key == wanted) {
                let mut name = String::new();
                push_key(wanted, &mut name);
                return Err(format!("mandatory lists {name}, which is not present"));
            }
        }
    }
    Ok(())
}

/// Appends the parameters of wire rdata (after the target name), each preceded by a space.
pub(super) fn format_params(wire: &[u8], out: &mut String) -> Result<(), String> {
    let mut r = WireReader::new(wire);
    let mut params: Vec<(u16, &[u8])> = Vec::new();
    while !r.is_empty() {
        let key = r.u16()?;
        let len = r.u16()?;
        let value = r.bytes(usize::from(len))?;
        if params.last().is_some_and(|&(last, _)| key <= last) {
            return Err("service parameters out of order".into());
        }
        params.push((key, value));
    }
    let owned: Vec<(u16, Vec<u8>)> = params.iter().map(|&(k, v)| (k, v.to_vec())).collect();
    check_mandatory(&owned)?;
    for (key, value) in params {
        out.push(' ');
        push_key(key, out);
        format_value(key, value, out)?;
    }
    Ok(())
}

/// Appends `=a,b,c` for a non-empty list of 16-bit values, each written by `push_item`.
fn push_u16_list(
    r: &mut WireReader<'_>,
    what: &str,
    out: &mut String,
    push_item: impl Fn(u16, &mut String),
) -> Result<(), String> {
    if r.is_empty() {
        return Err(format!("empty {what} value"));
    }
    out.push('=');
    let mut first = true;
    while !r.is_empty() {
        if !first {
            out.push(',');
        }
        first = false;
        push_item(r.u16()?, out);
    }
    Ok(())
}

fn format_value(key: u16, value: &[u8], out: &mut String) -> Result<(), String> {
    let mut r = WireReader::new(value);
    match key {
        MANDATORY => {
            push_u16_list(&mut r, "mandatory", out, push_key)?;
        }
        ALPN => {
            if value.is_empty() {
                return Err("empty alpn".into());
            }
            let mut list = Vec::new();
            while !r.is_empty() {
                let id = r.char_string()?;
                if id.is_empty() {
                    return Err("empty alpn protocol id".into());
                }
                if !list.is_empty() {
                    list.push(b',');
                }
                for &byte in id {
                    if byte == b',' || byte == b'\\' {
                        list.push(b'\\');
                    }
                    list.push(byte);
                }
            }
            out.push_str("=\"");
            push_quoted_body(&list, out);
            out.push('"');
        }
        NO_DEFAULT_ALPN | OHTTP => {
            if !value.is_empty() {
                return Err("parameter must have no value".into());
            }
        }
        PORT => {
            if value.len() != 2 {
                return Err("port must be two bytes".into());
            }
            let _ = write!(out, "={}", r.u16()?);
        }
        IPV4HINT | IPV6HINT => {
            let size = if key == IPV4HINT { 4 } else { 16 };
            if value.is_empty() || !value.len().is_multiple_of(size) {
                return Err("bad address hint".into());
            }
            out.push('=');
            for (i, chunk) in value.chunks(size).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match chunk.try_into() {
                    Ok(octets) => push_ipv4(octets, out),
                    Err(_) => push_ipv6(chunk.try_into().map_err(|_| "bad IPv6 hint")?, out),
                }
            }
        }
        ECH => {
            out.push('=');
            BASE64.encode_append(value, out);
        }
        TLS_SUPPORTED_GROUPS => {
            push_u16_list(&mut r, "tls-supported-groups", out, |group, out| {
                let _ = write!(out, "{group}");
            })?;
        }
        // dohpath always takes a value, so an empty one must still be written, as `=""`.
        _ if value.is_empty() && key != DOHPATH => {}
        _ => {
            out.push_str("=\"");
            push_quoted_body(value, out);
            out.push('"');
        }
    }
    Ok(())
}
