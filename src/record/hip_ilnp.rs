//! Rdata of the identifier–locator protocols: HIP (RFC 8005), whose presentation order differs
//! from its wire order, and the 64-bit node identifiers and locators of ILNP's NID and L64
//! (RFC 6742).

use std::fmt::Write as _;

use super::fields::{decode_into, must_be, FieldError, Fields, BASE64, HEX};
use super::name::write_name;
use super::wire::WireReader;

// ---------------------------------------------------------------------------------------------
// HIP (RFC 8005 5): presentation order is algorithm, HIT, key, servers; the wire starts with
// the two lengths.

pub(super) fn parse_hip(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let algorithm = f.number("public key algorithm", u64::from(u8::MAX))? as u8;
    let text = f.word("HIT (hex)")?;
    let mut hit = Vec::new();
    decode_into(&HEX, text, &mut hit).map_err(|m| f.error_here(format!("HIT: {m}")))?;
    if hit.is_empty() || hit.len() > 255 {
        return Err(f.error_here("HIT must be 1 to 255 bytes"));
    }
    let text = f.word("public key (base64)")?;
    let mut key = Vec::new();
    decode_into(&BASE64, text, &mut key).map_err(|m| f.error_here(format!("public key: {m}")))?;
    if key.is_empty() || key.len() > usize::from(u16::MAX) {
        return Err(f.error_here("public key must be 1 to 65535 bytes"));
    }
    wire.push(hit.len() as u8);
    wire.push(algorithm);
    wire.extend_from_slice(&(key.len() as u16).to_be_bytes());
    wire.extend_from_slice(&hit);
    wire.extend_from_slice(&key);
    while !f.is_empty() {
        f.name("rendezvous server", wire)?;
    }
    Ok(())
}

pub(super) fn format_hip(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    let hit_len = r.u8()?;
    let algorithm = r.u8()?;
    let key_len = r.u16()?;
    let hit = r.bytes(usize::from(hit_len))?;
    let key = r.bytes(usize::from(key_len))?;
    if hit.is_empty() || key.is_empty() {
        return Err("HIP record without a HIT or a public key".into());
    }
    let _ = write!(out, "{algorithm} ");
    HEX.encode_append(hit, out);
    out.push(' ');
    BASE64.encode_append(key, out);
    while !r.is_empty() {
        out.push(' ');
        write_name(r.name()?, out);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NID and L64 (RFC 6742 2.3, 2.4): 64 bits as four colon-separated groups of hex digits.

/// Reads one to four hex digits per group (BIND prints them without leading zeros); prints
/// four, as RFC 6742 writes them and dnspython requires.
pub(super) fn parse_ilnp64(f: &mut Fields<'_, '_>, what: &str, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let text = f.word(what)?;
    let groups = ilnp64_groups(text).ok_or_else(|| {
        f.error_here(must_be(
            what,
            "four groups of 1 to 4 hex digits joined by ':'",
            text,
        ))
    })?;
    for group in groups {
        wire.extend_from_slice(&group.to_be_bytes());
    }
    Ok(())
}

fn ilnp64_groups(text: &[u8]) -> Option<[u16; 4]> {
    let mut groups = [0u16; 4];
    let mut parts = text.split(|&b| b == b':');
    for group in &mut groups {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 4 {
            return None;
        }
        for &digit in part {
            *group = *group << 4 | (digit as char).to_digit(16)? as u16;
        }
    }
    parts.next().is_none().then_some(groups)
}

pub(super) fn format_ilnp64(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    for index in 0..4 {
        if index > 0 {
            out.push(':');
        }
        let _ = write!(out, "{:04x}", r.u16()?);
    }
    Ok(())
}
