//! Rdata built around bitmaps: WKS and its service ports (RFC 1035 3.4.2), the NXT type bitmap
//! (RFC 2535 5.2), and the windowed type bitmaps of NSEC, NSEC3 and CSYNC (RFC 4034 4.1.2).
//!
//! In all of them bit 0 is the top bit of the first byte, and a bitmap ends with its last byte
//! that has a bit set. Trailing zero bytes are refused when printing, as BIND refuses them:
//! the text cannot show them, so they would give one text two wire forms.

use std::fmt::Write as _;

use super::address::{parse_ipv4, push_ipv4};
use super::fields::{bad, lookup_code, must_be, FieldError, Fields};
use super::rtype::RecordType;
use super::wire::WireReader;

/// Sets bit `bit` of `bitmap`, which the caller has made long enough to hold it.
pub(super) fn set_bit(bitmap: &mut [u8], bit: usize) {
    bitmap[bit / 8] |= 0x80 >> (bit % 8);
}

/// The numbers of the bits set in `bitmap`, in increasing order.
pub(super) fn set_bits(bitmap: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bitmap.iter().enumerate().flat_map(|(index, &byte)| {
        (0..8)
            .filter(move |bit| byte & (0x80 >> bit) != 0)
            .map(move |bit| index * 8 + bit)
    })
}

/// `bitmap` without its trailing zero bytes.
fn trimmed(bitmap: &[u8]) -> &[u8] {
    let used = bitmap
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    &bitmap[..used]
}

/// Fails when `bitmap` ends with a zero byte.
fn check_trimmed(what: &str, bitmap: &[u8]) -> Result<(), String> {
    if bitmap.last() == Some(&0) {
        return Err(format!("{what} has trailing zero bytes"));
    }
    Ok(())
}

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
    let protocol = lookup_code(text, WKS_PROTOCOLS, u64::from(u8::MAX))
        .ok_or_else(|| f.error_here(must_be("protocol", "a number from 0 to 255, TCP or UDP", text)))?;
    wire.push(protocol as u8);
    let mut bitmap = [0u8; WKS_BITMAP_MAX];
    while !f.is_empty() {
        // Services are numbers only: BIND and dnspython look names up in the host's services
        // database, so a name could mean different ports on different machines.
        let port = f.number("service port", u64::from(u16::MAX))? as usize;
        set_bit(&mut bitmap, port);
    }
    wire.extend_from_slice(trimmed(&bitmap));
    Ok(())
}

pub(super) fn format_wks(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    push_ipv4(r.array()?, out);
    let _ = write!(out, " {}", r.u8()?);
    let bitmap = r.rest();
    if bitmap.len() > WKS_BITMAP_MAX {
        return Err(format!("WKS bitmap is longer than {WKS_BITMAP_MAX} bytes"));
    }
    check_trimmed("WKS bitmap", bitmap)?;
    for port in set_bits(bitmap) {
        let _ = write!(out, " {port}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NXT: after the next name, a bitmap of types 1 to 127, one bit each, without windows.

/// Bytes in the longest NXT bitmap: types up to 127.
const NXT_BITMAP_MAX: usize = 16;

pub(super) fn parse_nxt_bitmap(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let mut bitmap = [0u8; NXT_BITMAP_MAX];
    while !f.is_empty() {
        let rtype = f.record_type("type in bitmap")?;
        // RFC 2535 5.2: bit 0 set announces another bitmap format, and this one ends at 127.
        if rtype.0 == 0 || rtype.0 > 127 {
            return Err(f.error_here(format!("NXT bitmaps hold types 1 to 127 only, not {rtype}")));
        }
        set_bit(&mut bitmap, usize::from(rtype.0));
    }
    wire.extend_from_slice(trimmed(&bitmap));
    Ok(())
}

pub(super) fn format_nxt_bitmap(bitmap: &[u8], out: &mut String) -> Result<(), String> {
    if bitmap.len() > NXT_BITMAP_MAX {
        return Err(format!("NXT bitmap is longer than {NXT_BITMAP_MAX} bytes"));
    }
    if bitmap.first().is_some_and(|&byte| byte & 0x80 != 0) {
        return Err("NXT bitmap has bit 0 set, which RFC 2535 leaves undefined".into());
    }
    check_trimmed("NXT bitmap", bitmap)?;
    for code in set_bits(bitmap) {
        // At most 16 bytes, so the code is below 128.
        let _ = write!(out, " {}", RecordType(code as u16));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NSEC, NSEC3 and CSYNC: windows of 256 types, each a window number, a length and a bitmap.

/// Bytes in the longest window bitmap: 256 types.
const WINDOW_BITMAP_MAX: usize = 32;

pub(super) fn parse_type_bitmap(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let mut types = Vec::new();
    while !f.is_empty() {
        types.push(f.record_type("type in bitmap")?.0);
    }
    types.sort_unstable();
    types.dedup();
    for window_types in types.chunk_by(|a, b| a >> 8 == b >> 8) {
        let mut bitmap = [0u8; WINDOW_BITMAP_MAX];
        for &code in window_types {
            set_bit(&mut bitmap, usize::from(code & 0xff));
        }
        let bitmap = trimmed(&bitmap);
        // A chunk holds at least one type, whose window is its high byte.
        wire.push((window_types[0] >> 8) as u8);
        wire.push(bitmap.len() as u8);
        wire.extend_from_slice(bitmap);
    }
    Ok(())
}

pub(super) fn format_type_bitmap(mut windows: &[u8], out: &mut String) -> Result<(), String> {
    let mut last_window: Option<u8> = None;
    while !windows.is_empty() {
        let [window, len, ref rest @ ..] = *windows else {
            return Err("truncated type bitmap".into());
        };
        let len = usize::from(len);
        if last_window.is_some_and(|last| window <= last) {
            return Err("type bitmap windows are out of order".into());
        }
        if len == 0 || len > WINDOW_BITMAP_MAX {
            return Err(format!("type bitmap window {window} is {len} bytes long"));
        }
        let bitmap = rest.get(..len).ok_or("truncated type bitmap")?;
        check_trimmed("type bitmap", bitmap)?;
        last_window = Some(window);
        for low in set_bits(bitmap) {
            // At most 32 bytes, so `low` is below 256.
            let _ = write!(out, " {}", RecordType(u16::from(window) << 8 | low as u16));
        }
        windows = &rest[len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_count_from_the_top_of_the_first_byte() {
        let mut bitmap = [0u8; 3];
        for bit in [0, 7, 9, 23] {
            set_bit(&mut bitmap, bit);
        }
        assert_eq!(bitmap, [0x81, 0x40, 0x01]);
        assert_eq!(set_bits(&bitmap).collect::<Vec<_>>(), [0, 7, 9, 23]);
        assert_eq!(set_bits(&[0, 0]).count(), 0);
        assert_eq!(trimmed(&[0x10, 0, 0]), [0x10]);
        assert_eq!(trimmed(&[0, 0]), [0u8; 0]);
    }
}
