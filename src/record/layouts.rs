//! Rdata layouts that one or two types each have to themselves: WKS service bitmaps (RFC 1035),
//! X25 addresses (RFC 1183), NSAP (RFC 1706) and ATMA addresses, GPOS coordinates (RFC 1712),
//! KEY flags (RFC 2535), NXT type bitmaps (RFC 2535), HIP (RFC 8005) and the 64-bit ILNP
//! node identifiers and locators of NID and L64 (RFC 6742).
//!
//! Each is read from presentation fields into wire form and printed back from wire form the
//! way BIND prints it, except where noted.

use std::fmt::Write as _;

use data_encoding::HEXLOWER;

use super::address::{parse_ipv4, push_ipv4};
use super::fields::{
    bad, decode_into, lookup_code, parse_decimal, push_ascii, FieldError, Fields, BASE64, HEX,
};
use super::name::write_name;
use super::rtype::RecordType;
use super::wire::WireReader;

// ---------------------------------------------------------------------------------------------
// WKS: an IPv4 address, a protocol number and a bitmap of ports.

/// The protocol names WKS reads: RFC 1035's two, whose numbers are fixed.
const WKS_PROTOCOLS: &[(&str, u64)] = &[("TCP", 6), ("UDP", 17)];

/// The largest bitmap: one bit for each of the 65536 ports.
const WKS_BITMAP_MAX: usize = 8192;

pub(super) fn parse_wks(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let text = f.word("IPv4 address")?;
    let address = parse_ipv4(text).ok_or_else(|| f.error_here(bad("IPv4 address", text)))?;
    wire.extend_from_slice(&address);
    let text = f.word("protocol")?;
    let protocol = lookup_code(text, WKS_PROTOCOLS, u64::from(u8::MAX)).ok_or_else(|| {
        f.error_here(format!(
            "protocol must be a number from 0 to 255, TCP or UDP, not '{}'",
            String::from_utf8_lossy(text)
        ))
    })?;
    wire.push(protocol as u8);
    let mut bitmap = Vec::new();
    while !f.is_empty() {
        // Services are numbers only: BIND and dnspython look names up in the host's services
        // database, so a name could mean different ports on different machines.
        let port = f.number("service port", u64::from(u16::MAX))? as usize;
        if bitmap.len() <= port / 8 {
            bitmap.resize(port / 8 + 1, 0);
        }
        bitmap[port / 8] |= 0x80 >> (port % 8);
    }
    wire.extend_from_slice(&bitmap);
    Ok(())
}

pub(super) fn format_wks(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    push_ipv4(r.array()?, out);
    let _ = write!(out, " {}", r.u8()?);
    let bitmap = r.rest();
    if bitmap.len() > WKS_BITMAP_MAX {
        return Err(format!("WKS bitmap is longer than {WKS_BITMAP_MAX} bytes"));
    }
    for (index, &byte) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                let _ = write!(out, " {}", index * 8 + bit);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// X25

/// RFC 1183 3.1: a PSDN address is decimal digits, starting with a four-digit network code.
pub(super) fn check_psdn_address(address: &[u8]) -> Result<(), String> {
    if address.len() < 4 || !address.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "PSDN address must be at least 4 decimal digits, not '{}'",
            String::from_utf8_lossy(address)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NSAP and ATMA: hex, which may be broken up with dots, printed in lowercase as BIND does.

/// Decodes hex digits, ignoring dots between them.
fn decode_dotted_hex(text: &[u8], wire: &mut Vec<u8>) -> Result<usize, String> {
    let digits: Vec<u8> = text.iter().copied().filter(|&byte| byte != b'.').collect();
    if digits.is_empty() {
        return Err("no hex digits".into());
    }
    decode_into(&HEX, &digits, wire)
}

pub(super) fn parse_nsap(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let text = f.word("NSAP address")?;
    let [b'0', b'x' | b'X', digits @ ..] = text else {
        return Err(f.error_here(format!(
            "NSAP address must be 0x and hex digits, not '{}'",
            String::from_utf8_lossy(text)
        )));
    };
    decode_dotted_hex(digits, wire).map_err(|m| f.error_here(format!("NSAP address: {m}")))?;
    Ok(())
}

pub(super) fn format_nsap(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    let address = r.rest();
    if address.is_empty() {
        return Err("empty NSAP address".into());
    }
    out.push_str("0x");
    HEXLOWER.encode_append(address, out);
    Ok(())
}

/// ATMA address formats (ATM Forum af-dans-0152.000): an ATM End System Address in hex, or
/// an E.164 number written with a leading `+`.
const ATMA_AESA: u8 = 0;
const ATMA_E164: u8 = 1;

pub(super) fn parse_atma(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let text = f.word("ATM address")?;
    if let Some(digits) = text.strip_prefix(b"+") {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(f.error_here(format!(
                "E.164 ATM address must be '+' and decimal digits, not '{}'",
                String::from_utf8_lossy(text)
            )));
        }
        wire.push(ATMA_E164);
        wire.extend_from_slice(digits);
    } else {
        wire.push(ATMA_AESA);
        decode_dotted_hex(text, wire).map_err(|m| f.error_here(format!("ATM address (AESA): {m}")))?;
    }
    Ok(())
}

pub(super) fn format_atma(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    let format = r.u8()?;
    let address = r.rest();
    if address.is_empty() {
        return Err("empty ATM address".into());
    }
    match format {
        ATMA_AESA => HEXLOWER.encode_append(address, out),
        ATMA_E164 if address.iter().all(u8::is_ascii_digit) => {
            out.push('+');
            push_ascii(out, address);
        }
        ATMA_E164 => return Err("E.164 ATM address holds more than digits".into()),
        other => return Err(format!("unknown ATM address format {other}")),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GPOS: three character strings holding decimal numbers.

/// The GPOS fields in order, with the magnitude each may reach.
const GPOS_FIELDS: [(&str, Option<f64>); 3] = [
    ("latitude", Some(90.0)),
    ("longitude", Some(180.0)),
    ("altitude", None),
];

/// RFC 1712 3: each field is a real number written in decimal; latitude and longitude are
/// degrees. BIND takes any three strings; this checks what dnspython checks, so every GPOS
/// record dnsmill prints reads back there.
fn check_gpos_field(what: &str, text: &[u8], limit: Option<f64>) -> Result<(), String> {
    let unsigned = match text {
        [b'-' | b'+', rest @ ..] => rest,
        _ => text,
    };
    let (whole, fraction) = match unsigned.iter().position(|&b| b == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &b""[..]),
    };
    let well_formed = !(whole.is_empty() && fraction.is_empty())
        && whole.iter().all(u8::is_ascii_digit)
        && fraction.iter().all(u8::is_ascii_digit);
    let value = std::str::from_utf8(text)
        .ok()
        .filter(|_| well_formed)
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or_else(|| {
            format!(
                "{what} must be a decimal number, not '{}'",
                String::from_utf8_lossy(text)
            )
        })?;
    match limit {
        Some(limit) if value.abs() > limit => Err(format!(
            "{what} must be from -{limit} to {limit} degrees, not {}",
            String::from_utf8_lossy(text)
        )),
        _ => Ok(()),
    }
}

pub(super) fn parse_gpos(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    for (what, limit) in GPOS_FIELDS {
        let start = wire.len();
        f.char_string(what, wire)?;
        check_gpos_field(what, &wire[start + 1..], limit).map_err(|m| f.error_here(m))?;
    }
    Ok(())
}

pub(super) fn format_gpos(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    for (index, (what, limit)) in GPOS_FIELDS.into_iter().enumerate() {
        let text = r.char_string()?;
        check_gpos_field(what, text, limit)?;
        if index > 0 {
            out.push(' ');
        }
        // Checked above: sign, digits and a dot only, so nothing to escape.
        out.push('"');
        push_ascii(out, text);
        out.push('"');
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// KEY flags and protocols (RFC 2535 3.1), with the mnemonics BIND and dnspython read.

/// The flag bits that, both set, say the record holds no key (RFC 2535 3.1.2).
pub(super) const KEY_NOKEY: u16 = 0xc000;

const KEY_FLAGS: &[(&str, u16)] = &[
    ("NOCONF", 0x4000),
    ("NOAUTH", 0x8000),
    ("NOKEY", 0xc000),
    ("FLAG2", 0x2000),
    ("EXTEND", 0x1000),
    ("FLAG4", 0x0800),
    ("FLAG5", 0x0400),
    ("USER", 0x0000),
    ("ZONE", 0x0100),
    ("HOST", 0x0200),
    ("NTYP3", 0x0300),
    ("FLAG8", 0x0080),
    ("FLAG9", 0x0040),
    ("FLAG10", 0x0020),
    ("FLAG11", 0x0010),
    ("SIG0", 0),
    ("SIG1", 1),
    ("SIG2", 2),
    ("SIG3", 3),
    ("SIG4", 4),
    ("SIG5", 5),
    ("SIG6", 6),
    ("SIG7", 7),
    ("SIG8", 8),
    ("SIG9", 9),
    ("SIG10", 10),
    ("SIG11", 11),
    ("SIG12", 12),
    ("SIG13", 13),
    ("SIG14", 14),
    ("SIG15", 15),
];

pub(super) const KEY_PROTOCOLS: &[(&str, u64)] = &[
    ("NONE", 0),
    ("TLS", 1),
    ("EMAIL", 2),
    ("DNSSEC", 3),
    ("IPSEC", 4),
    ("ALL", 255),
];

/// KEY flags: a number, or mnemonics joined by `|` (`NOAUTH|ZONE`).
pub(super) fn parse_key_flags(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<u16, FieldError> {
    let text = f.word("flags")?;
    let flags = parse_decimal(text, u64::from(u16::MAX))
        .map(|flags| flags as u16)
        .or_else(|| {
            text.split(|&b| b == b'|').try_fold(0u16, |flags, mnemonic| {
                let (_, bits) = KEY_FLAGS
                    .iter()
                    .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(mnemonic))?;
                Some(flags | bits)
            })
        })
        .ok_or_else(|| {
            f.error_here(format!(
                "flags must be a number from 0 to 65535 or flag names joined by '|', not '{}'",
                String::from_utf8_lossy(text)
            ))
        })?;
    wire.extend_from_slice(&flags.to_be_bytes());
    Ok(flags)
}

// ---------------------------------------------------------------------------------------------
// NXT: the next name and a bitmap of types 1 to 127, one bit each, without windows.

/// Bytes in the longest NXT bitmap: types up to 127.
const NXT_BITMAP_MAX: usize = 16;

pub(super) fn parse_nxt_bitmap(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let mut bitmap = [0u8; NXT_BITMAP_MAX];
    let mut used = 0;
    while !f.is_empty() {
        let text = f.word("type")?;
        let rtype = RecordType::from_text(text).ok_or_else(|| f.error_here(bad("type in bitmap", text)))?;
        // RFC 2535 5.2: bit 0 set announces another bitmap format, and this one ends at 127.
        if rtype.0 == 0 || rtype.0 > 127 {
            return Err(f.error_here(format!("NXT bitmaps hold types 1 to 127 only, not {rtype}")));
        }
        let code = usize::from(rtype.0);
        bitmap[code / 8] |= 0x80 >> (code % 8);
        used = used.max(code / 8 + 1);
    }
    wire.extend_from_slice(&bitmap[..used]);
    Ok(())
}

pub(super) fn format_nxt_bitmap(bitmap: &[u8], out: &mut String) -> Result<(), String> {
    if bitmap.len() > NXT_BITMAP_MAX {
        return Err(format!("NXT bitmap is longer than {NXT_BITMAP_MAX} bytes"));
    }
    if bitmap.first().is_some_and(|&byte| byte & 0x80 != 0) {
        return Err("NXT bitmap has bit 0 set, which RFC 2535 leaves undefined".into());
    }
    for (index, &byte) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                let _ = write!(out, " {}", RecordType((index * 8 + bit) as u16));
            }
        }
    }
    Ok(())
}

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
        f.error_here(format!(
            "{what} must be four groups of 1 to 4 hex digits joined by ':', not '{}'",
            String::from_utf8_lossy(text)
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
