//! Rdata of historic types with a layout of their own: X25 addresses (RFC 1183), NSAP
//! (RFC 1706) and ATMA addresses, GPOS coordinates (RFC 1712), and KEY (RFC 2535).
//!
//! Each is read from presentation fields into wire form and printed back from wire form the
//! way BIND prints it, except where noted.

use std::fmt::Write as _;

use data_encoding::HEXLOWER;

use super::fields::{
    bad, decode_into, lookup_code, must_be, parse_decimal, push_ascii, FieldError, Fields, BASE64, HEX,
};
use super::wire::WireReader;

// ---------------------------------------------------------------------------------------------
// X25

/// RFC 1183 3.1: a PSDN address is decimal digits, starting with a four-digit network code.
pub(super) fn check_psdn_address(address: &[u8]) -> Result<(), String> {
    if address.len() < 4 || !address.iter().all(u8::is_ascii_digit) {
        return Err(must_be("PSDN address", "at least 4 decimal digits", address));
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
        return Err(f.error_here(must_be("NSAP address", "0x and hex digits", text)));
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
            return Err(f.error_here(must_be("E.164 ATM address", "'+' and decimal digits", text)));
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
        .ok_or_else(|| must_be(what, "a decimal number", text))?;
    match limit {
        Some(limit) if value.abs() > limit => {
            Err(must_be(what, &format!("from -{limit} to {limit} degrees"), text))
        }
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
// KEY (RFC 2535 3.1): flags, protocol, algorithm and key, with the flag and protocol
// mnemonics BIND and dnspython read. Printed with numbers only, as BIND prints it.

/// The flag bits that, both set, say the record holds no key (RFC 2535 3.1.2).
const KEY_NOKEY: u16 = 0xc000;

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

const KEY_PROTOCOLS: &[(&str, u64)] = &[
    ("NONE", 0),
    ("TLS", 1),
    ("EMAIL", 2),
    ("DNSSEC", 3),
    ("IPSEC", 4),
    ("ALL", 255),
];

pub(super) fn parse_key(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let flags = parse_key_flags(f)?;
    wire.extend_from_slice(&flags.to_be_bytes());
    let text = f.word("protocol")?;
    let protocol = lookup_code(text, KEY_PROTOCOLS, u64::from(u8::MAX))
        .ok_or_else(|| f.error_here(bad("protocol", text)))?;
    wire.push(protocol as u8);
    f.algorithm(wire)?;
    // RFC 2535 3.1.2: with both NOKEY bits set, nothing follows the algorithm.
    if flags & KEY_NOKEY == KEY_NOKEY {
        if let Some(extra) = f.peek() {
            return Err(f.error_at_next(format!(
                "a KEY whose flags say NOKEY holds no key, yet '{}' follows",
                String::from_utf8_lossy(extra.text)
            )));
        }
    } else {
        f.encoded_rest("public key (base64)", &BASE64, wire)?;
    }
    Ok(())
}

/// KEY flags: a number, or mnemonics joined by `|` (`NOAUTH|ZONE`).
fn parse_key_flags(f: &mut Fields<'_, '_>) -> Result<u16, FieldError> {
    let text = f.word("flags")?;
    parse_decimal(text, u64::from(u16::MAX))
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
            f.error_here(must_be(
                "flags",
                "a number from 0 to 65535 or flag names joined by '|'",
                text,
            ))
        })
}

pub(super) fn format_key(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    let flags = r.u16()?;
    let _ = write!(out, "{flags} {} {}", r.u8()?, r.u8()?);
    let key = r.rest();
    if flags & KEY_NOKEY == KEY_NOKEY {
        if !key.is_empty() {
            return Err("KEY flags say NOKEY, yet a key follows".into());
        }
    } else if key.is_empty() {
        return Err("missing public key".into());
    } else {
        out.push(' ');
        BASE64.encode_append(key, out);
    }
    Ok(())
}
