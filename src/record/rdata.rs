//! Rdata for every supported type: presentation fields to wire form, and wire form to the one
//! canonical presentation text dnsmill stores.
//!
//! Going through the wire form is what makes the canonical text canonical: `\# 4 C0000201` and
//! `192.0.2.1` become the same bytes, and the same bytes always print the same way.

use super::address::{parse_ipv4, parse_ipv6, push_ipv4, push_ipv6};
use super::bitmaps::{self, format_type_bitmap, parse_type_bitmap};
use super::fields::{
    bad, decode_into, lookup_code, must_be, parse_decimal, parse_signature_time, push_quoted,
    push_signature_time, unescape_into, Field, FieldError, Fields, ALGORITHMS, BASE32HEX, BASE64, HEX,
};
use super::hip_ilnp;
use super::legacy_rdata;
use super::name::{parse_name, write_name};
use super::rtype::{RecordClass, RecordType};
use super::svcb;
use super::wire::WireReader;
use std::fmt::Write as _;

/// Largest rdata the wire format can carry.
pub const MAX_RDATA_LEN: usize = 65_535;

/// Parses the rdata fields of a record into wire form (appended to `wire`).
pub fn parse_rdata(
    rtype: RecordType,
    class: RecordClass,
    fields: &[Field<'_>],
    origin: Option<&[u8]>,
    wire: &mut Vec<u8>,
) -> Result<(), FieldError> {
    if rtype.is_meta() {
        return Err(FieldError {
            index: 0,
            message: meta_type_misuse(rtype),
        });
    }
    let start = wire.len();
    let generic = matches!(fields.first(), Some(f) if f.text == b"\\#" && !f.quoted);
    if generic {
        parse_generic(fields, wire)?;
        if is_known(rtype, class) {
            // A known type in generic form must still be valid rdata of that type.
            let mut scratch = String::new();
            format_known(rtype, &wire[start..], &mut scratch).map_err(|reason| FieldError {
                index: 0,
                message: format!("generic rdata is not valid {rtype}: {reason}"),
            })?;
        }
    } else if is_known(rtype, class) {
        let mut cursor = Fields::new(fields, origin);
        parse_known(rtype, &mut cursor, wire)?;
        cursor.finish()?;
    } else {
        return Err(FieldError {
            index: 0,
            message: if let Some(reason) = generic_only_reason(rtype) {
                reason
            } else if rtype.mnemonic().is_some() {
                format!("{rtype} in class {class} must use the generic form '\\# length hex'")
            } else {
                format!("unknown type {rtype} must use the generic form '\\# length hex'")
            },
        });
    }
    if wire.len() - start > MAX_RDATA_LEN {
        return Err(FieldError {
            index: 0,
            message: format!(
                "rdata is {} bytes, over the limit of {MAX_RDATA_LEN}",
                wire.len() - start
            ),
        });
    }
    Ok(())
}

/// Why a record of a named type is only read in the generic form, for those that are.
#[cold]
fn generic_only_reason(rtype: RecordType) -> Option<String> {
    let name = rtype.mnemonic()?;
    match rtype {
        // RFC 2874 3.1 and the draft defining CLA and IPN give these a presentation format;
        // it is dnsmill, and the parsers its output is for, that do not read it.
        RecordType::A6 | RecordType::CLA | RecordType::IPN => Some(format!(
            "dnsmill reads {name} only in the generic form (\\# length hex)"
        )),
        _ if rtype.is_generic_only() => Some(format!(
            "{name} has no presentation format: write its rdata in the generic form '\\# length hex'"
        )),
        _ => None,
    }
}

/// Why a record cannot have a meta type as its own type.
#[cold]
fn meta_type_misuse(rtype: RecordType) -> String {
    let name = rtype.mnemonic().unwrap_or("this type");
    format!("invalid use of a meta type: {name} ({rtype}) appears in type bitmaps, never as a record's type")
}

/// Appends the canonical presentation text of wire rdata.
pub fn format_rdata(
    rtype: RecordType,
    class: RecordClass,
    wire: &[u8],
    out: &mut String,
) -> Result<(), String> {
    if rtype.is_meta() {
        return Err(meta_type_misuse(rtype));
    }
    if is_known(rtype, class) {
        let start = out.len();
        format_known(rtype, wire, out).inspect_err(|_| out.truncate(start))
    } else {
        format_generic(wire, out);
        Ok(())
    }
}

/// Whether the type's rdata has a presentation form dnsmill reads and writes in this class.
fn is_known(rtype: RecordType, class: RecordClass) -> bool {
    rtype.mnemonic().is_some()
        && !rtype.is_generic_only()
        && !rtype.is_meta()
        && (class == RecordClass::IN || !rtype.is_class_specific())
}

fn parse_generic(fields: &[Field<'_>], wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let mut cursor = Fields::new(fields, None);
    cursor.word("\\#")?;
    let declared = cursor.number("generic rdata length", MAX_RDATA_LEN as u64)? as usize;
    if declared == 0 {
        return cursor.finish();
    }
    let decoded = cursor.encoded_rest("generic rdata hex", &HEX, wire)?;
    if decoded != declared {
        return Err(FieldError {
            index: 1,
            message: format!("generic rdata length is {declared} but the hex holds {decoded} bytes"),
        });
    }
    Ok(())
}

fn format_generic(wire: &[u8], out: &mut String) {
    let _ = write!(out, "\\# {}", wire.len());
    if !wire.is_empty() {
        out.push(' ');
        out.push_str(&HEX.encode(wire));
    }
}

// ---------------------------------------------------------------------------------------------
// Text to wire

fn parse_known(rtype: RecordType, f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    match rtype {
        RecordType::A => {
            let text = f.word("IPv4 address")?;
            let addr = parse_ipv4(text).ok_or_else(|| f.error_here(bad("IPv4 address", text)))?;
            wire.extend_from_slice(&addr);
        }
        RecordType::AAAA => {
            let text = f.word("IPv6 address")?;
            let addr = parse_ipv6(text).ok_or_else(|| f.error_here(bad("IPv6 address", text)))?;
            wire.extend_from_slice(&addr);
        }
        RecordType::NS
        | RecordType::CNAME
        | RecordType::DNAME
        | RecordType::PTR
        | RecordType::MD
        | RecordType::MF
        | RecordType::MB
        | RecordType::MG
        | RecordType::MR
        | RecordType::NSAP_PTR => {
            f.name("target name", wire)?;
        }
        RecordType::SOA => {
            f.name("primary server (MNAME)", wire)?;
            f.name("responsible mailbox (RNAME)", wire)?;
            f.u32("serial", wire)?;
            f.duration("refresh", wire)?;
            f.duration("retry", wire)?;
            f.duration("expire", wire)?;
            f.duration("minimum", wire)?;
        }
        RecordType::MX | RecordType::KX | RecordType::AFSDB => {
            f.u16("preference", wire)?;
            f.name("exchange name", wire)?;
        }
        RecordType::RT => {
            f.u16("preference", wire)?;
            f.name("intermediate host name", wire)?;
        }
        RecordType::LP => {
            f.u16("preference", wire)?;
            f.name("locator name", wire)?;
        }
        RecordType::PX => {
            f.u16("preference", wire)?;
            f.name("RFC 822 domain (MAP822)", wire)?;
            f.name("X.400 domain (MAPX400)", wire)?;
        }
        RecordType::NID | RecordType::L64 => {
            f.u16("preference", wire)?;
            let what = if rtype == RecordType::NID {
                "node id"
            } else {
                "locator"
            };
            hip_ilnp::parse_ilnp64(f, what, wire)?;
        }
        RecordType::L32 => {
            f.u16("preference", wire)?;
            let text = f.word("locator")?;
            let addr = parse_ipv4(text).ok_or_else(|| f.error_here(bad("IPv4 locator", text)))?;
            wire.extend_from_slice(&addr);
        }
        RecordType::TXT
        | RecordType::SPF
        | RecordType::NINFO
        | RecordType::AVC
        | RecordType::RESINFO
        | RecordType::WALLET => {
            f.char_string("text", wire)?;
            for field in f.rest() {
                f.push_char_string(*field, wire)?;
            }
        }
        RecordType::HINFO => {
            f.char_string("CPU", wire)?;
            f.char_string("OS", wire)?;
        }
        RecordType::X25 => {
            let start = wire.len();
            f.char_string("PSDN address", wire)?;
            legacy_rdata::check_psdn_address(&wire[start + 1..]).map_err(|m| f.error_here(m))?;
        }
        RecordType::ISDN => {
            f.char_string("ISDN address", wire)?;
            if !f.is_empty() {
                f.char_string("subaddress", wire)?;
            }
        }
        RecordType::GPOS => legacy_rdata::parse_gpos(f, wire)?,
        RecordType::RP => {
            f.name("mailbox name", wire)?;
            f.name("TXT name", wire)?;
        }
        RecordType::MINFO => {
            f.name("responsible mailbox (RMAILBX)", wire)?;
            f.name("error mailbox (EMAILBX)", wire)?;
        }
        RecordType::TALINK => {
            f.name("previous name", wire)?;
            f.name("next name", wire)?;
        }
        RecordType::WKS => bitmaps::parse_wks(f, wire)?,
        RecordType::NSAP => legacy_rdata::parse_nsap(f, wire)?,
        RecordType::ATMA => legacy_rdata::parse_atma(f, wire)?,
        RecordType::EID => {
            f.encoded_rest("endpoint identifier (hex)", &HEX, wire)?;
        }
        RecordType::NIMLOC => {
            f.encoded_rest("locator (hex)", &HEX, wire)?;
        }
        RecordType::LOC => parse_loc(f, wire)?,
        RecordType::SRV => {
            f.u16("priority", wire)?;
            f.u16("weight", wire)?;
            f.u16("port", wire)?;
            f.name("target name", wire)?;
        }
        RecordType::NAPTR => {
            f.u16("order", wire)?;
            f.u16("preference", wire)?;
            f.char_string("flags", wire)?;
            f.char_string("services", wire)?;
            f.char_string("regexp", wire)?;
            f.name("replacement", wire)?;
        }
        RecordType::CERT => {
            let text = f.word("certificate type")?;
            let cert_type = lookup_code(text, CERT_TYPES, u64::from(u16::MAX))
                .ok_or_else(|| f.error_here(bad("certificate type", text)))?;
            wire.extend_from_slice(&(cert_type as u16).to_be_bytes());
            f.u16("key tag", wire)?;
            f.algorithm(wire)?;
            f.encoded_rest("certificate (base64)", &BASE64, wire)?;
        }
        RecordType::APL => parse_apl(f, wire)?,
        RecordType::DS | RecordType::CDS | RecordType::DLV | RecordType::TA => {
            f.u16("key tag", wire)?;
            f.algorithm(wire)?;
            let text = f.word("digest type")?;
            let digest_type = lookup_code(text, DIGEST_TYPES, u64::from(u8::MAX))
                .ok_or_else(|| f.error_here(bad("digest type", text)))? as u8;
            wire.push(digest_type);
            let len = f.encoded_rest("digest (hex)", &HEX, wire)?;
            check_digest_len(ds_digest_len(digest_type), len).map_err(|m| f.error_here(m))?;
        }
        RecordType::SSHFP => {
            f.u8("algorithm", wire)?;
            f.u8("fingerprint type", wire)?;
            f.encoded_rest("fingerprint (hex)", &HEX, wire)?;
        }
        RecordType::IPSECKEY => {
            f.u8("precedence", wire)?;
            let gateway_type = f.u8("gateway type", wire)?;
            f.u8("algorithm", wire)?;
            parse_gateway(f, "gateway", gateway_type, wire)?;
            f.encoded_rest("public key (base64)", &BASE64, wire)?;
        }
        RecordType::AMTRELAY => {
            f.u8("precedence", wire)?;
            let discovery_optional = f.number("discovery optional flag (D)", 1)? as u8;
            let relay_type = f.number("relay type", 3)? as u8;
            wire.push(discovery_optional << 7 | relay_type);
            parse_gateway(f, "relay", relay_type, wire)?;
        }
        RecordType::RRSIG | RecordType::SIG => {
            let covered = f.record_type("type covered")?;
            wire.extend_from_slice(&covered.0.to_be_bytes());
            f.algorithm(wire)?;
            f.u8("labels", wire)?;
            f.u32("original TTL", wire)?;
            for what in ["signature expiration", "signature inception"] {
                let text = f.word(what)?;
                let time = parse_signature_time(text).map_err(|m| f.error_here(format!("{what}: {m}")))?;
                wire.extend_from_slice(&time.to_be_bytes());
            }
            f.u16("key tag", wire)?;
            f.name("signer name", wire)?;
            f.encoded_rest("signature (base64)", &BASE64, wire)?;
        }
        RecordType::NSEC => {
            f.name("next domain name", wire)?;
            parse_type_bitmap(f, wire)?;
        }
        RecordType::NXT => {
            f.name("next domain name", wire)?;
            bitmaps::parse_nxt_bitmap(f, wire)?;
        }
        RecordType::DNSKEY | RecordType::CDNSKEY | RecordType::RKEY => {
            let flags = f.u16("flags", wire)?;
            if rtype == RecordType::RKEY {
                check_rkey_flags(flags).map_err(|m| f.error_here(m))?;
            }
            f.u8("protocol", wire)?;
            f.algorithm(wire)?;
            f.encoded_rest("public key (base64)", &BASE64, wire)?;
        }
        RecordType::KEY => legacy_rdata::parse_key(f, wire)?,
        RecordType::DHCID | RecordType::OPENPGPKEY | RecordType::HHIT | RecordType::BRID => {
            f.encoded_rest("data (base64)", &BASE64, wire)?;
        }
        RecordType::HIP => hip_ilnp::parse_hip(f, wire)?,
        RecordType::SINK => {
            f.u8("meaning", wire)?;
            f.u8("coding", wire)?;
            f.u8("subcoding", wire)?;
            if !f.is_empty() {
                f.encoded_rest("data (base64)", &BASE64, wire)?;
            }
        }
        RecordType::NSEC3 => {
            f.u8("hash algorithm", wire)?;
            f.u8("flags", wire)?;
            f.u16("iterations", wire)?;
            parse_salt(f, wire)?;
            let text = f.word("next hashed owner name")?;
            let len_at = wire.len();
            wire.push(0);
            let len = decode_into(&BASE32HEX, text, wire)
                .map_err(|m| f.error_here(format!("next hashed owner name: {m}")))?;
            if len == 0 || len > 255 {
                return Err(f.error_here("next hashed owner name must be 1 to 255 bytes"));
            }
            wire[len_at] = len as u8;
            parse_type_bitmap(f, wire)?;
        }
        RecordType::NSEC3PARAM => {
            f.u8("hash algorithm", wire)?;
            f.u8("flags", wire)?;
            f.u16("iterations", wire)?;
            parse_salt(f, wire)?;
        }
        RecordType::TLSA | RecordType::SMIMEA => {
            f.u8("certificate usage", wire)?;
            f.u8("selector", wire)?;
            f.u8("matching type", wire)?;
            f.encoded_rest("certificate association data (hex)", &HEX, wire)?;
        }
        RecordType::CSYNC => {
            f.u32("SOA serial", wire)?;
            f.u16("flags", wire)?;
            parse_type_bitmap(f, wire)?;
        }
        RecordType::ZONEMD => {
            f.u32("serial", wire)?;
            f.u8("scheme", wire)?;
            let hash = f.u8("hash algorithm", wire)?;
            let len = f.encoded_rest("digest (hex)", &HEX, wire)?;
            check_digest_len(zonemd_digest_len(hash), len).map_err(|m| f.error_here(m))?;
        }
        RecordType::SVCB | RecordType::HTTPS => {
            f.u16("priority", wire)?;
            f.name("target name", wire)?;
            svcb::parse_params(f, wire)?;
        }
        RecordType::DSYNC => {
            let rrtype = f.record_type("RRtype")?;
            wire.extend_from_slice(&rrtype.0.to_be_bytes());
            let text = f.word("scheme")?;
            let scheme = lookup_code(text, DSYNC_SCHEMES, u64::from(u8::MAX))
                .ok_or_else(|| f.error_here(bad("scheme", text)))?;
            wire.push(scheme as u8);
            f.u16("port", wire)?;
            f.name("target name", wire)?;
        }
        RecordType::DOA => {
            f.u32("enterprise", wire)?;
            f.u32("type", wire)?;
            f.u8("location", wire)?;
            f.char_string("media type", wire)?;
            // An empty object is written '-'.
            if f.peek().is_some_and(|field| field.text == b"-" && !field.quoted) {
                f.next_field("data")?;
            } else {
                f.encoded_rest("data (base64)", &BASE64, wire)?;
            }
        }
        RecordType::EUI48 | RecordType::EUI64 => {
            let octets = if rtype == RecordType::EUI48 { 6 } else { 8 };
            let text = f.word("address")?;
            parse_eui(text, octets, wire).ok_or_else(|| {
                f.error_here(must_be(
                    "address",
                    &format!("{octets} hex pairs joined by '-'"),
                    text,
                ))
            })?;
        }
        RecordType::URI => {
            f.u16("priority", wire)?;
            f.u16("weight", wire)?;
            let field = f.next_field("target")?;
            let start = wire.len();
            unescape_into(field.text, wire).map_err(|m| f.error_here(m))?;
            if wire.len() == start {
                return Err(f.error_here("target must not be empty"));
            }
        }
        RecordType::CAA => {
            f.u8("flags", wire)?;
            let tag = f.word("tag")?;
            if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err(f.error_here(must_be("tag", "1 to 255 letters and digits", tag)));
            }
            wire.push(tag.len() as u8);
            wire.extend_from_slice(tag);
            let field = f.next_field("value")?;
            unescape_into(field.text, wire).map_err(|m| f.error_here(m))?;
        }
        other => unreachable!("type {other} is listed as known but has no parser"),
    }
    Ok(())
}

const DIGEST_TYPES: &[(&str, u64)] = &[("SHA-1", 1), ("SHA-256", 2), ("GOST", 3), ("SHA-384", 4)];

const CERT_TYPES: &[(&str, u64)] = &[
    ("PKIX", 1),
    ("SPKI", 2),
    ("PGP", 3),
    ("IPKIX", 4),
    ("ISPKI", 5),
    ("IPGP", 6),
    ("ACPKIX", 7),
    ("IACPKIX", 8),
    ("URI", 253),
    ("OID", 254),
];

/// DSYNC notification schemes with their mnemonics.
const DSYNC_SCHEMES: &[(&str, u64)] = &[("NOTIFY", 1)];

fn mnemonic_of(code: u64, table: &[(&'static str, u64)]) -> Option<&'static str> {
    table.iter().find(|&&(_, c)| c == code).map(|&(name, _)| name)
}

/// No RKEY flag is defined (draft-reid-dnsext-rkey), and BIND refuses any that is set.
fn check_rkey_flags(flags: u16) -> Result<(), String> {
    if flags != 0 {
        return Err(format!("RKEY flags must be 0, not {flags}"));
    }
    Ok(())
}

/// The IPSECKEY gateway and the AMTRELAY relay (`what`): nothing (written `.`), an IPv4 or
/// IPv6 address, or a name, as `gateway_type` says.
fn parse_gateway(
    f: &mut Fields<'_, '_>,
    what: &str,
    gateway_type: u8,
    wire: &mut Vec<u8>,
) -> Result<(), FieldError> {
    let text = f.word(what)?;
    match gateway_type {
        0 if text == b"." => {}
        0 => return Err(f.error_here(format!("{what} must be '.' when the {what} type is 0"))),
        1 => wire.extend_from_slice(
            &parse_ipv4(text).ok_or_else(|| f.error_here(bad(&format!("IPv4 {what}"), text)))?,
        ),
        2 => wire.extend_from_slice(
            &parse_ipv6(text).ok_or_else(|| f.error_here(bad(&format!("IPv6 {what}"), text)))?,
        ),
        3 => parse_name(text, f.origin, wire).map_err(|m| f.error_here(format!("{what}: {m}")))?,
        other => return Err(f.error_here(format!("unknown {what} type {other}"))),
    }
    Ok(())
}

fn format_gateway(
    r: &mut WireReader<'_>,
    what: &str,
    gateway_type: u8,
    out: &mut String,
) -> Result<(), String> {
    match gateway_type {
        0 => out.push('.'),
        1 => push_ipv4(r.array()?, out),
        2 => push_ipv6(r.array()?, out),
        3 => write_name(r.name()?, out),
        other => return Err(format!("unknown {what} type {other}")),
    }
    Ok(())
}

fn ds_digest_len(digest_type: u8) -> Option<usize> {
    match digest_type {
        1 => Some(20),
        2 | 3 => Some(32),
        4 => Some(48),
        _ => None,
    }
}

fn zonemd_digest_len(hash: u8) -> Option<usize> {
    match hash {
        1 => Some(48),
        2 => Some(64),
        _ => None,
    }
}

fn check_digest_len(expected: Option<usize>, actual: usize) -> Result<(), String> {
    match expected {
        Some(expected) if expected != actual => Err(format!(
            "digest is {actual} bytes, the digest type needs {expected}"
        )),
        _ => Ok(()),
    }
}

fn parse_salt(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let text = f.word("salt")?;
    let len_at = wire.len();
    wire.push(0);
    if text == b"-" {
        return Ok(());
    }
    let len = decode_into(&HEX, text, wire).map_err(|m| f.error_here(format!("salt: {m}")))?;
    if len > 255 {
        return Err(f.error_here("salt is longer than 255 bytes"));
    }
    wire[len_at] = len as u8;
    Ok(())
}

fn parse_eui(text: &[u8], octets: usize, wire: &mut Vec<u8>) -> Option<()> {
    if text.len() != octets * 3 - 1 {
        return None;
    }
    for (i, chunk) in text.chunks(3).enumerate() {
        if i + 1 < octets && chunk.get(2) != Some(&b'-') {
            return None;
        }
        let hi = (chunk[0] as char).to_digit(16)?;
        let lo = (chunk[1] as char).to_digit(16)?;
        wire.push((hi * 16 + lo) as u8);
    }
    Some(())
}

fn parse_apl(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    while !f.is_empty() {
        let text = f.word("APL item")?;
        let item = apl_item(text)
            .ok_or_else(|| f.error_here(must_be("APL item", "[!]family:address/prefix", text)))?;
        wire.extend_from_slice(&item.0.to_be_bytes());
        wire.push(item.1);
        let mut address = item.3;
        let full_len = if item.0 == 1 { 4 } else { 16 };
        let mut len = full_len;
        while len > 0 && address[len - 1] == 0 {
            len -= 1;
        }
        address.truncate(len);
        wire.push(if item.2 { 0x80 } else { 0 } | len as u8);
        wire.extend_from_slice(&address);
    }
    Ok(())
}

/// (family, prefix, negated, address bytes)
fn apl_item(text: &[u8]) -> Option<(u16, u8, bool, Vec<u8>)> {
    let (negated, text) = match text.strip_prefix(b"!") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let text = std::str::from_utf8(text).ok()?;
    let (family, rest) = text.split_once(':')?;
    let (address, prefix) = rest.rsplit_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    match family {
        "1" if prefix <= 32 => Some((1, prefix, negated, parse_ipv4(address.as_bytes())?.to_vec())),
        "2" if prefix <= 128 => Some((2, prefix, negated, parse_ipv6(address.as_bytes())?.to_vec())),
        _ => None,
    }
}

// LOC (RFC 1876): sizes are in centimetres, encoded as mantissa and power of ten.

fn parse_loc(f: &mut Fields<'_, '_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
    let latitude = loc_angle(f, "latitude", 90, [b'N', b'S'])?;
    let longitude = loc_angle(f, "longitude", 180, [b'E', b'W'])?;
    let text = f.word("altitude")?;
    let altitude_cm = loc_metres(text, true)
        .filter(|cm| (-10_000_000..=4_284_967_295).contains(cm))
        .ok_or_else(|| f.error_here(bad("altitude", text)))?;
    let mut sizes = [100i64, 1_000_000, 1_000];
    for (slot, what) in sizes
        .iter_mut()
        .zip(["size", "horizontal precision", "vertical precision"])
    {
        if f.is_empty() {
            break;
        }
        let text = f.word(what)?;
        *slot = loc_metres(text, false)
            .filter(|cm| *cm <= 9_000_000_000)
            .ok_or_else(|| f.error_here(bad(what, text)))?;
    }
    wire.push(0);
    for cm in sizes {
        wire.push(encode_loc_size(cm));
    }
    wire.extend_from_slice(&latitude.to_be_bytes());
    wire.extend_from_slice(&longitude.to_be_bytes());
    wire.extend_from_slice(&((altitude_cm + 10_000_000) as u32).to_be_bytes());
    Ok(())
}

fn loc_angle(
    f: &mut Fields<'_, '_>,
    what: &str,
    max_degrees: u64,
    hemispheres: [u8; 2],
) -> Result<u32, FieldError> {
    let degrees = f.number(what, max_degrees)?;
    let mut minutes = 0;
    let mut millis = 0;
    let mut text = f.word(what)?;
    if text.first().is_some_and(u8::is_ascii_digit) {
        minutes = parse_decimal(text, 59).ok_or_else(|| f.error_here(bad("minutes", text)))?;
        text = f.word(what)?;
        if text.first().is_some_and(u8::is_ascii_digit) {
            millis = parse_fixed(text, 3)
                .filter(|ms| *ms < 60_000)
                .ok_or_else(|| f.error_here(bad("seconds", text)))?;
            text = f.word(what)?;
        }
    }
    let hemisphere = match text {
        [h] => h.to_ascii_uppercase(),
        _ => 0,
    };
    if !hemispheres.contains(&hemisphere) {
        return Err(f.error_here(format!(
            "expected {} or {} after the {what}, not '{}'",
            hemispheres[0] as char,
            hemispheres[1] as char,
            String::from_utf8_lossy(text)
        )));
    }
    let total = (degrees * 3600 + minutes * 60) * 1000 + millis as u64;
    if total > max_degrees * 3_600_000 {
        return Err(f.error_here(format!("{what} is beyond {max_degrees} degrees")));
    }
    let offset = total as i64 * if hemisphere == hemispheres[0] { 1 } else { -1 };
    Ok((i64::from(1u32 << 31) + offset) as u32)
}

/// A decimal with up to `places` fractional digits, scaled to an integer.
fn parse_fixed(text: &[u8], places: u32) -> Option<i64> {
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if whole.is_empty() || fraction.len() > places as usize || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let whole = parse_decimal(whole, 100_000_000_000)? as i64;
    let mut frac = 0i64;
    for i in 0..places as usize {
        frac = frac * 10 + fraction.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(whole * 10i64.pow(places) + frac)
}

fn loc_metres(text: &[u8], signed: bool) -> Option<i64> {
    let text = text.strip_suffix(b"m").unwrap_or(text);
    let (negative, text) = match text.strip_prefix(b"-") {
        Some(rest) if signed => (true, rest),
        _ => (false, text),
    };
    let cm = parse_fixed(text, 2)?;
    Some(if negative { -cm } else { cm })
}

fn encode_loc_size(cm: i64) -> u8 {
    let mut exponent = 0u32;
    while exponent < 9 && cm >= 10i64.pow(exponent + 1) {
        exponent += 1;
    }
    let mantissa = (cm / 10i64.pow(exponent)).min(9);
    (mantissa as u8) << 4 | exponent as u8
}

// ---------------------------------------------------------------------------------------------
// Wire to text

fn push_num(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

fn format_known(rtype: RecordType, wire: &[u8], out: &mut String) -> Result<(), String> {
    let mut r = WireReader::new(wire);
    match rtype {
        RecordType::A => push_ipv4(r.array()?, out),
        RecordType::AAAA => {
            push_ipv6(r.array()?, out);
        }
        RecordType::NS
        | RecordType::CNAME
        | RecordType::DNAME
        | RecordType::PTR
        | RecordType::MD
        | RecordType::MF
        | RecordType::MB
        | RecordType::MG
        | RecordType::MR
        | RecordType::NSAP_PTR => write_name(r.name()?, out),
        RecordType::SOA => {
            write_name(r.name()?, out);
            out.push(' ');
            write_name(r.name()?, out);
            for _ in 0..5 {
                out.push(' ');
                push_num(out, r.u32()?);
            }
        }
        RecordType::MX | RecordType::KX | RecordType::AFSDB | RecordType::RT | RecordType::LP => {
            push_num(out, r.u16()?);
            out.push(' ');
            write_name(r.name()?, out);
        }
        RecordType::PX => {
            push_num(out, r.u16()?);
            out.push(' ');
            write_name(r.name()?, out);
            out.push(' ');
            write_name(r.name()?, out);
        }
        RecordType::NID | RecordType::L64 => {
            push_num(out, r.u16()?);
            out.push(' ');
            hip_ilnp::format_ilnp64(&mut r, out)?;
        }
        RecordType::L32 => {
            push_num(out, r.u16()?);
            out.push(' ');
            push_ipv4(r.array()?, out);
        }
        RecordType::TXT
        | RecordType::SPF
        | RecordType::NINFO
        | RecordType::AVC
        | RecordType::RESINFO
        | RecordType::WALLET => {
            push_quoted(r.char_string()?, out);
            while !r.is_empty() {
                out.push(' ');
                push_quoted(r.char_string()?, out);
            }
        }
        RecordType::HINFO => {
            push_quoted(r.char_string()?, out);
            out.push(' ');
            push_quoted(r.char_string()?, out);
        }
        RecordType::X25 => {
            let address = r.char_string()?;
            legacy_rdata::check_psdn_address(address)?;
            push_quoted(address, out);
        }
        RecordType::ISDN => {
            push_quoted(r.char_string()?, out);
            if !r.is_empty() {
                out.push(' ');
                push_quoted(r.char_string()?, out);
            }
        }
        RecordType::GPOS => legacy_rdata::format_gpos(&mut r, out)?,
        RecordType::RP | RecordType::MINFO | RecordType::TALINK => {
            write_name(r.name()?, out);
            out.push(' ');
            write_name(r.name()?, out);
        }
        RecordType::WKS => bitmaps::format_wks(&mut r, out)?,
        RecordType::NSAP => legacy_rdata::format_nsap(&mut r, out)?,
        RecordType::ATMA => legacy_rdata::format_atma(&mut r, out)?,
        RecordType::EID | RecordType::NIMLOC => push_hex(r.rest(), out)?,
        RecordType::LOC => format_loc(&mut r, out)?,
        RecordType::SRV => {
            let _ = write!(out, "{} {} {} ", r.u16()?, r.u16()?, r.u16()?);
            write_name(r.name()?, out);
        }
        RecordType::NAPTR => {
            let _ = write!(out, "{} {} ", r.u16()?, r.u16()?);
            for _ in 0..3 {
                push_quoted(r.char_string()?, out);
                out.push(' ');
            }
            write_name(r.name()?, out);
        }
        RecordType::CERT => {
            let cert_type = r.u16()?;
            match mnemonic_of(u64::from(cert_type), CERT_TYPES) {
                Some(name) => out.push_str(name),
                None => push_num(out, cert_type),
            }
            let _ = write!(out, " {} ", r.u16()?);
            let alg = r.u8()?;
            match mnemonic_of(u64::from(alg), ALGORITHMS) {
                Some(name) => out.push_str(name),
                None => push_num(out, alg),
            }
            out.push(' ');
            push_base64(r.rest(), out)?;
        }
        RecordType::APL => format_apl(&mut r, out)?,
        RecordType::DS | RecordType::CDS | RecordType::DLV | RecordType::TA => {
            let _ = write!(out, "{} {} ", r.u16()?, r.u8()?);
            let digest_type = r.u8()?;
            push_num(out, digest_type);
            out.push(' ');
            let digest = r.rest();
            check_digest_len(ds_digest_len(digest_type), digest.len())?;
            push_hex(digest, out)?;
        }
        RecordType::SSHFP => {
            let _ = write!(out, "{} {} ", r.u8()?, r.u8()?);
            push_hex(r.rest(), out)?;
        }
        RecordType::IPSECKEY => {
            let precedence = r.u8()?;
            let gateway_type = r.u8()?;
            let _ = write!(out, "{precedence} {gateway_type} {} ", r.u8()?);
            format_gateway(&mut r, "gateway", gateway_type, out)?;
            out.push(' ');
            push_base64(r.rest(), out)?;
        }
        RecordType::AMTRELAY => {
            let precedence = r.u8()?;
            let flags_and_type = r.u8()?;
            let relay_type = flags_and_type & 0x7f;
            let _ = write!(out, "{precedence} {} {relay_type} ", flags_and_type >> 7);
            format_gateway(&mut r, "relay", relay_type, out)?;
        }
        RecordType::RRSIG | RecordType::SIG => {
            push_num(out, RecordType(r.u16()?));
            let _ = write!(out, " {} {} {} ", r.u8()?, r.u8()?, r.u32()?);
            push_signature_time(r.u32()?, out);
            out.push(' ');
            push_signature_time(r.u32()?, out);
            let _ = write!(out, " {} ", r.u16()?);
            write_name(r.name()?, out);
            out.push(' ');
            push_base64(r.rest(), out)?;
        }
        RecordType::NSEC => {
            write_name(r.name()?, out);
            format_type_bitmap(r.rest(), out)?;
        }
        RecordType::NXT => {
            write_name(r.name()?, out);
            bitmaps::format_nxt_bitmap(r.rest(), out)?;
        }
        RecordType::DNSKEY | RecordType::CDNSKEY | RecordType::RKEY => {
            let flags = r.u16()?;
            if rtype == RecordType::RKEY {
                check_rkey_flags(flags)?;
            }
            let _ = write!(out, "{flags} {} {} ", r.u8()?, r.u8()?);
            push_base64(r.rest(), out)?;
        }
        RecordType::KEY => legacy_rdata::format_key(&mut r, out)?,
        RecordType::DHCID | RecordType::OPENPGPKEY | RecordType::HHIT | RecordType::BRID => {
            push_base64(r.rest(), out)?
        }
        RecordType::HIP => hip_ilnp::format_hip(&mut r, out)?,
        RecordType::SINK => {
            let _ = write!(out, "{} {} {}", r.u8()?, r.u8()?, r.u8()?);
            let data = r.rest();
            if !data.is_empty() {
                out.push(' ');
                BASE64.encode_append(data, out);
            }
        }
        RecordType::NSEC3 => {
            let _ = write!(out, "{} {} {} ", r.u8()?, r.u8()?, r.u16()?);
            push_salt(r.char_string()?, out);
            out.push(' ');
            let next = r.char_string()?;
            if next.is_empty() {
                return Err("empty next hashed owner name".into());
            }
            out.push_str(&BASE32HEX.encode(next));
            format_type_bitmap(r.rest(), out)?;
        }
        RecordType::NSEC3PARAM => {
            let _ = write!(out, "{} {} {} ", r.u8()?, r.u8()?, r.u16()?);
            push_salt(r.char_string()?, out);
        }
        RecordType::TLSA | RecordType::SMIMEA => {
            let _ = write!(out, "{} {} {} ", r.u8()?, r.u8()?, r.u8()?);
            push_hex(r.rest(), out)?;
        }
        RecordType::CSYNC => {
            let _ = write!(out, "{} {}", r.u32()?, r.u16()?);
            format_type_bitmap(r.rest(), out)?;
        }
        RecordType::ZONEMD => {
            let serial = r.u32()?;
            let scheme = r.u8()?;
            let hash = r.u8()?;
            let _ = write!(out, "{serial} {scheme} {hash} ");
            let digest = r.rest();
            check_digest_len(zonemd_digest_len(hash), digest.len())?;
            push_hex(digest, out)?;
        }
        RecordType::SVCB | RecordType::HTTPS => {
            push_num(out, r.u16()?);
            out.push(' ');
            write_name(r.name()?, out);
            svcb::format_params(r.rest(), out)?;
        }
        RecordType::DSYNC => {
            push_num(out, RecordType(r.u16()?));
            out.push(' ');
            let scheme = r.u8()?;
            match mnemonic_of(u64::from(scheme), DSYNC_SCHEMES) {
                Some(name) => out.push_str(name),
                None => push_num(out, scheme),
            }
            let _ = write!(out, " {} ", r.u16()?);
            write_name(r.name()?, out);
        }
        RecordType::DOA => {
            let _ = write!(out, "{} {} {} ", r.u32()?, r.u32()?, r.u8()?);
            push_quoted(r.char_string()?, out);
            out.push(' ');
            let data = r.rest();
            if data.is_empty() {
                out.push('-');
            } else {
                BASE64.encode_append(data, out);
            }
        }
        RecordType::EUI48 | RecordType::EUI64 => {
            let len = if rtype == RecordType::EUI48 { 6 } else { 8 };
            for (i, byte) in r.bytes(len)?.iter().enumerate() {
                if i > 0 {
                    out.push('-');
                }
                let _ = write!(out, "{byte:02x}");
            }
        }
        RecordType::URI => {
            let _ = write!(out, "{} {} ", r.u16()?, r.u16()?);
            let target = r.rest();
            if target.is_empty() {
                return Err("empty URI target".into());
            }
            push_quoted(target, out);
        }
        RecordType::CAA => {
            push_num(out, r.u8()?);
            out.push(' ');
            let tag = r.char_string()?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err("bad CAA tag".into());
            }
            out.push_str(std::str::from_utf8(tag).map_err(|_| "bad CAA tag")?);
            out.push(' ');
            push_quoted(r.rest(), out);
        }
        other => unreachable!("type {other} is listed as known but has no formatter"),
    }
    r.finish()
}

fn push_base64(bytes: &[u8], out: &mut String) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("missing base64 data".into());
    }
    BASE64.encode_append(bytes, out);
    Ok(())
}

fn push_hex(bytes: &[u8], out: &mut String) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("missing hex data".into());
    }
    HEX.encode_append(bytes, out);
    Ok(())
}

fn push_salt(salt: &[u8], out: &mut String) {
    if salt.is_empty() {
        out.push('-');
    } else {
        HEX.encode_append(salt, out);
    }
}

fn format_apl(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    let mut first = true;
    while !r.is_empty() {
        let family = r.u16()?;
        let prefix = r.u8()?;
        let flags = r.u8()?;
        let len = usize::from(flags & 0x7f);
        let data = r.bytes(len)?;
        if data.last() == Some(&0) {
            return Err("APL address has trailing zero bytes".into());
        }
        if !first {
            out.push(' ');
        }
        first = false;
        if flags & 0x80 != 0 {
            out.push('!');
        }
        match family {
            1 if len <= 4 && prefix <= 32 => {
                let mut b = [0u8; 4];
                b[..len].copy_from_slice(data);
                out.push_str("1:");
                push_ipv4(b, out);
                let _ = write!(out, "/{prefix}");
            }
            2 if len <= 16 && prefix <= 128 => {
                let mut b = [0u8; 16];
                b[..len].copy_from_slice(data);
                out.push_str("2:");
                push_ipv6(b, out);
                let _ = write!(out, "/{prefix}");
            }
            _ => return Err(format!("unsupported APL item (family {family}, prefix {prefix})")),
        }
    }
    Ok(())
}

fn format_loc(r: &mut WireReader<'_>, out: &mut String) -> Result<(), String> {
    if r.u8()? != 0 {
        return Err("unsupported LOC version".into());
    }
    let sizes = [r.u8()?, r.u8()?, r.u8()?];
    let latitude = i64::from(r.u32()?) - (1i64 << 31);
    let longitude = i64::from(r.u32()?) - (1i64 << 31);
    let altitude = i64::from(r.u32()?) - 10_000_000;
    if latitude.abs() > 90 * 3_600_000 || longitude.abs() > 180 * 3_600_000 {
        return Err("LOC coordinates out of range".into());
    }
    for size in sizes {
        // A size is a mantissa and a power of ten, each 0 to 9. A zero mantissa is zero
        // whatever the power, and the text has one way to write it, so only 0x00 stands for
        // it; BIND refuses the others too.
        let (mantissa, exponent) = (size >> 4, size & 0x0f);
        if mantissa > 9 || exponent > 9 || (mantissa == 0 && exponent != 0) {
            return Err("bad LOC size or precision".into());
        }
    }
    for (value, hemispheres) in [(latitude, ['N', 'S']), (longitude, ['E', 'W'])] {
        let abs = value.abs();
        let _ = write!(
            out,
            "{} {} {}.{:03} {} ",
            abs / 3_600_000,
            abs / 60_000 % 60,
            abs / 1000 % 60,
            abs % 1000,
            if value >= 0 {
                hemispheres[0]
            } else {
                hemispheres[1]
            }
        );
    }
    let sign = if altitude < 0 { "-" } else { "" };
    let _ = write!(out, "{sign}{}.{:02}m", altitude.abs() / 100, altitude.abs() % 100);
    for size in sizes {
        let mantissa = u64::from(size >> 4);
        let exponent = u32::from(size & 0x0f);
        if exponent >= 2 {
            let _ = write!(out, " {}m", mantissa * 10u64.pow(exponent - 2));
        } else {
            let _ = write!(out, " 0.{:02}m", mantissa * 10u64.pow(exponent));
        }
    }
    Ok(())
}

/// Typed views of canonical rdata text, for the fields users ask for by name.
pub mod typed {
    /// MX (and KX/AFSDB): (preference, exchange).
    pub fn preference_and_name(rdata: &str) -> Option<(u16, &str)> {
        let (pref, name) = rdata.split_once(' ')?;
        Some((pref.parse().ok()?, name))
    }

    /// SRV: (priority, weight, port, target).
    pub fn srv(rdata: &str) -> Option<(u16, u16, u16, &str)> {
        let mut parts = rdata.splitn(4, ' ');
        Some((
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
            parts.next()?,
        ))
    }

    /// SOA fields, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Soa<'a> {
        /// Primary name server.
        pub mname: &'a str,
        /// Responsible mailbox.
        pub rname: &'a str,
        /// Zone serial.
        pub serial: u32,
        /// Refresh interval, seconds.
        pub refresh: u32,
        /// Retry interval, seconds.
        pub retry: u32,
        /// Expire interval, seconds.
        pub expire: u32,
        /// Negative-caching TTL, seconds.
        pub minimum: u32,
    }

    /// Splits canonical SOA rdata.
    pub fn soa(rdata: &str) -> Option<Soa<'_>> {
        let mut parts = rdata.split(' ');
        let mname = parts.next()?;
        let rname = parts.next()?;
        let mut number = || parts.next()?.parse::<u32>().ok();
        Some(Soa {
            mname,
            rname,
            serial: number()?,
            refresh: number()?,
            retry: number()?,
            expire: number()?,
            minimum: number()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canonical text of `rdata` for `rtype`, read the way the zone lexer splits fields.
    pub(crate) fn canonical(rtype: &str, rdata: &str) -> Result<String, String> {
        let rtype = RecordType::from_text(rtype.as_bytes()).expect("test uses a valid type");
        let fields: Vec<Field<'_>> = split_fields(rdata);
        let mut origin = Vec::new();
        parse_name(b"example.com.", None, &mut origin).unwrap();
        let mut wire = Vec::new();
        parse_rdata(rtype, RecordClass::IN, &fields, Some(&origin), &mut wire).map_err(|e| e.message)?;
        let mut out = String::new();
        format_rdata(rtype, RecordClass::IN, &wire, &mut out)?;
        Ok(out)
    }

    fn split_fields(text: &str) -> Vec<Field<'_>> {
        let mut fields = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b' ' {
                i += 1;
                continue;
            }
            let quoted = bytes[i] == b'"';
            let start = if quoted { i + 1 } else { i };
            let mut j = start;
            // As in the zone lexer, a quote inside an unquoted field opens a quoted part that
            // stays in the field (`key="a b"`).
            let mut inside_quotes = false;
            while j < bytes.len()
                && (if quoted {
                    bytes[j] != b'"'
                } else {
                    inside_quotes || bytes[j] != b' '
                })
            {
                if bytes[j] == b'\\' {
                    j += 1;
                } else if !quoted && bytes[j] == b'"' {
                    inside_quotes = !inside_quotes;
                }
                j += 1;
            }
            fields.push(Field {
                text: &bytes[start..j.min(bytes.len())],
                quoted,
                line: 1,
                column: start as u32 + 1,
            });
            i = j + 1;
        }
        fields
    }

    #[test]
    fn canonical_forms_match_bind() {
        let cases = [
            ("A", "192.0.2.1", "192.0.2.1"),
            ("AAAA", "2001:DB8:0:0::1", "2001:db8::1"),
            ("MX", "10 Mail", "10 mail.example.com."),
            ("TXT", "\"a\\\"b\" plain \\065bc", "\"a\\\"b\" \"plain\" \"Abc\""),
            (
                "DS",
                "60485 RSASHA1 1 2bb183af5f22588179a53b0a 98631fad1a292118",
                "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            ),
            (
                "CERT",
                "1 65535 RSASHA256 aGVsbG8=",
                "PKIX 65535 RSASHA256 aGVsbG8=",
            ),
            (
                "RRSIG",
                "A 8 3 3600 1704067200 1701388800 12345 Example.com. AwEAAQ==",
                "A 8 3 3600 20240101000000 20231201000000 12345 example.com. AwEAAQ==",
            ),
            (
                "NSEC",
                "ns1 A NS SOA TYPE1234 RRSIG",
                "ns1.example.com. A NS SOA RRSIG TYPE1234",
            ),
            (
                "NSEC3",
                "1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG",
                "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG",
            ),
            ("NSEC3PARAM", "1 0 0 -", "1 0 0 -"),
            (
                "LOC",
                "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
                "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
            ),
            (
                "LOC",
                "42 21 54 N 71 06 18 W -24m 30m",
                "42 21 54.000 N 71 6 18.000 W -24.00m 30m 10000m 10m",
            ),
            (
                "APL",
                "1:192.168.32.0/21 !1:192.168.38.0/28 2:ff00::/8 1:0.0.0.0/0",
                "1:192.168.32.0/21 !1:192.168.38.0/28 2:ff00::/8 1:0.0.0.0/0",
            ),
            ("EUI48", "00-00-5E-00-53-2A", "00-00-5e-00-53-2a"),
            ("CAA", "128 tbs Unknown", "128 tbs \"Unknown\""),
            (
                "IPSECKEY",
                "10 3 2 gw.example.net. AQNRU3mG",
                "10 3 2 gw.example.net. AQNRU3mG",
            ),
            ("A", "\\# 4 0A000001", "10.0.0.1"),
            ("TXT", "\\# 6 05 68656c6c6f", "\"hello\""),
            ("TYPE999", "\\# 3 abcdef", "\\# 3 ABCDEF"),
            ("TYPE62347", "\\# 0", "\\# 0"),
        ];
        for (rtype, input, expected) in cases {
            assert_canonical_fixed_point(rtype, input, expected);
        }
    }

    #[test]
    fn bad_rdata_names_the_problem() {
        let cases = [
            ("A", "300.1.1.1", "bad IPv4 address"),
            ("A", "", "missing IPv4 address"),
            ("A", "1.2.3.4 5", "unexpected extra field"),
            ("MX", "70000 mail", "preference must be a number"),
            ("DS", "1 8 2 abcd", "digest is 2 bytes"),
            (
                "TXT",
                &format!("\"{}\"", "x".repeat(256)),
                "over the limit of 255",
            ),
            ("A", "\\# 5 0A000001", "length is 5"),
            ("A", "\\# 3 0A0000", "not valid A"),
            ("TYPE999", "abc", "generic form"),
            ("EUI48", "00-00-5e-00-53", "6 hex pairs"),
            ("LOC", "91 0 0 N 0 E 0m", "latitude"),
            (
                "LOC",
                "\\# 16 00 01 16 13 8B3CF018 810CBCE0 009895B8",
                "not valid LOC: bad LOC size or precision",
            ),
        ];
        for (rtype, input, expected) in cases {
            let err = canonical(rtype, input).unwrap_err();
            assert!(err.contains(expected), "{rtype} {input}: {err}");
        }
    }

    /// Wire form of `rdata` for `rtype` (class IN, origin example.com.).
    fn wire_of(rtype: &str, rdata: &str) -> Vec<u8> {
        let rtype = RecordType::from_text(rtype.as_bytes()).expect("test uses a valid type");
        let mut origin = Vec::new();
        parse_name(b"example.com.", None, &mut origin).unwrap();
        let mut wire = Vec::new();
        parse_rdata(
            rtype,
            RecordClass::IN,
            &split_fields(rdata),
            Some(&origin),
            &mut wire,
        )
        .unwrap_or_else(|e| panic!("{rtype} {rdata}: {}", e.message));
        wire
    }

    /// Bytes from hex written with spaces between fields.
    fn bytes(hex: &str) -> Vec<u8> {
        let digits: String = hex.split_whitespace().collect();
        HEX.decode(digits.to_ascii_uppercase().as_bytes())
            .expect("test hex is valid")
    }

    const HIP_KEY: &str = "AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D";

    #[test]
    fn registry_types_read_and_print_as_bind_does() {
        let hip = format!("2 200100107B1A74DF365639CC39F1D578 {HIP_KEY} rvs1.example.com. Rvs2");
        let hip_canonical =
            format!("2 200100107B1A74DF365639CC39F1D578 {HIP_KEY} rvs1.example.com. rvs2.example.com.");
        let cases: &[(&str, &str, &str)] = &[
            ("MD", "Mail", "mail.example.com."),
            ("MF", "mail.example.net.", "mail.example.net."),
            ("MB", "Mail", "mail.example.com."),
            ("MG", "mail.example.net.", "mail.example.net."),
            ("MR", "mail", "mail.example.com."),
            ("MINFO", "rm Em.Example.NET.", "rm.example.com. em.example.net."),
            ("WKS", "192.0.2.1 tcp 80 25 21 25", "192.0.2.1 6 21 25 80"),
            ("WKS", "192.0.2.1 UDP 53 0 65535", "192.0.2.1 17 0 53 65535"),
            ("WKS", "192.0.2.1 17", "192.0.2.1 17"),
            ("X25", "311061700956", "\"311061700956\""),
            ("ISDN", "150862028003217 \"004\"", "\"150862028003217\" \"004\""),
            ("ISDN", "150862028003217", "\"150862028003217\""),
            ("RT", "2 Relay.Prime.COM.", "2 relay.prime.com."),
            (
                "NSAP",
                "0x47.0005.80.005a00.0000.0001.e133.ffffff000161.00",
                "0x47000580005a0000000001e133ffffff00016100",
            ),
            ("NSAP", "0X4700", "0x4700"),
            ("NSAP-PTR", "Foo", "foo.example.com."),
            (
                "SIG",
                "NXT 1 3 3600 20240101000000 1701388800 12345 Example.com. AwEAAQ==",
                "NXT 1 3 3600 20240101000000 20231201000000 12345 example.com. AwEAAQ==",
            ),
            (
                "KEY",
                "NOAUTH|ZONE DNSSEC RSASHA256 AwEA AQ==",
                "33024 3 8 AwEAAQ==",
            ),
            ("KEY", "49152 3 8", "49152 3 8"),
            ("KEY", "256 ALL 1 AwEAAQ==", "256 255 1 AwEAAQ=="),
            ("PX", "50 it. ADMD-garr.C-it.", "50 it. admd-garr.c-it."),
            (
                "GPOS",
                "-32.6882 116.8652 10.0",
                "\"-32.6882\" \"116.8652\" \"10.0\"",
            ),
            ("GPOS", "\"+90\" -180. .5", "\"+90\" \"-180.\" \".5\""),
            (
                "NXT",
                "Medium.foo.tld. A MX SIG NXT",
                "medium.foo.tld. A MX SIG NXT",
            ),
            ("NXT", "next", "next.example.com."),
            ("EID", "0123 4567 89ab cdef", "0123456789ABCDEF"),
            ("NIMLOC", "32 45 ab", "3245AB"),
            ("ATMA", "+358400123456", "+358400123456"),
            (
                "ATMA",
                "39.246F.000E7C9C0312.0001.0001.000012345678.00",
                "39246f000e7c9c03120001000100001234567800",
            ),
            ("SINK", "1 0 0", "1 0 0"),
            ("SINK", "1 2 3 AwEA AQ==", "1 2 3 AwEAAQ=="),
            ("HIP", &hip, &hip_canonical),
            ("HIP", "2 00 AwEAAQ==", "2 00 AwEAAQ=="),
            ("NINFO", "hello \"brave world\"", "\"hello\" \"brave world\""),
            ("RKEY", "0 3 RSASHA256 AwEAAQ==", "0 3 8 AwEAAQ=="),
            (
                "TALINK",
                "prev Next.example.net.",
                "prev.example.com. next.example.net.",
            ),
            (
                "DSYNC",
                "CDS NOTIFY 5359 cds-scanner.example.net.",
                "CDS NOTIFY 5359 cds-scanner.example.net.",
            ),
            (
                "DSYNC",
                "csync notify 0 Scanner",
                "CSYNC NOTIFY 0 scanner.example.com.",
            ),
            ("DSYNC", "TYPE1234 2 53 .", "TYPE1234 2 53 ."),
            ("HHIT", "AwEA AQ==", "AwEAAQ=="),
            ("BRID", "AwEAAQ==", "AwEAAQ=="),
            ("NID", "10 0014:4fff:ff20:ee64", "10 0014:4fff:ff20:ee64"),
            ("NID", "10 14:4FFF:FF20:EE64", "10 0014:4fff:ff20:ee64"),
            ("L32", "10 10.1.2.0", "10 10.1.2.0"),
            ("L64", "10 2001:0DB8:1140:1000", "10 2001:0db8:1140:1000"),
            ("L64", "65535 1:2:3:4", "65535 0001:0002:0003:0004"),
            ("LP", "10 l64-subnet1", "10 l64-subnet1.example.com."),
            (
                "AVC",
                "\"app-name:WOLFGANG|app-class:OAM|business=yes\"",
                "\"app-name:WOLFGANG|app-class:OAM|business=yes\"",
            ),
            (
                "DOA",
                "0 1 2 \"\" aHR0cHM6Ly93d3cuaXNjLm9yZy8=",
                "0 1 2 \"\" aHR0cHM6Ly93d3cuaXNjLm9yZy8=",
            ),
            (
                "DOA",
                "4294967295 2 255 text/plain -",
                "4294967295 2 255 \"text/plain\" -",
            ),
            ("AMTRELAY", "0 0 0 .", "0 0 0 ."),
            ("AMTRELAY", "10 1 1 203.0.113.15", "10 1 1 203.0.113.15"),
            ("AMTRELAY", "128 0 2 2001:DB8::15", "128 0 2 2001:db8::15"),
            ("AMTRELAY", "10 0 3 AMTrelays", "10 0 3 amtrelays.example.com."),
            (
                "RESINFO",
                "qnamemin exterr=15,16,17 infourl=https://resolver.example.com/guide",
                "\"qnamemin\" \"exterr=15,16,17\" \"infourl=https://resolver.example.com/guide\"",
            ),
            (
                "WALLET",
                "BTC bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
                "\"BTC\" \"bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh\"",
            ),
            (
                "TA",
                "60485 RSASHA1 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
                "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            ),
            (
                "DLV",
                "60485 5 SHA-1 2bb183af5f22588179a53b0a98631fad1a292118",
                "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            ),
            // Bitmaps name every registered type, hyphenated mnemonics included; those that
            // other parsers do not know yet are printed TYPEnnn.
            (
                "NSEC",
                "a.example.com. A nsap-ptr GPOS DLV TA WALLET NXNAME MINFO TYPE54 ipn CLA",
                "a.example.com. A MINFO NSAP-PTR GPOS TYPE54 TYPE128 WALLET TYPE263 TYPE264 TA DLV",
            ),
            (
                "NSEC3",
                "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NXNAME CLA",
                "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR TYPE128 TYPE263",
            ),
            ("CSYNC", "1 0 IPN", "1 0 TYPE264"),
            (
                "RRSIG",
                "CLA 8 2 3600 20240101000000 20231201000000 1 x. AQ==",
                "TYPE263 8 2 3600 20240101000000 20231201000000 1 x. AQ==",
            ),
            (
                "SIG",
                "IPN 8 2 3600 20240101000000 20231201000000 1 x. AQ==",
                "TYPE264 8 2 3600 20240101000000 20231201000000 1 x. AQ==",
            ),
            ("DSYNC", "CLA 1 53 x.", "TYPE263 NOTIFY 53 x."),
            ("CSYNC", "66 3 A NS X25 L64", "66 3 A NS X25 L64"),
            // Known types written generically give the same text as written normally.
            ("X25", "\\# 5 0431323334", "\"1234\""),
            ("RT", "\\# 5 000A 01 78 00", "10 x."),
            ("AMTRELAY", "\\# 6 0A81 CB00710F", "10 1 1 203.0.113.15"),
            ("WKS", "\\# 7 C0000201 06 0004", "192.0.2.1 6 13"),
            // Types with no presentation format stay generic.
            ("NULL", "\\# 3 010203", "\\# 3 010203"),
            (
                "A6",
                "\\# 17 00 20010db8000000000000000000000001",
                "\\# 17 0020010DB8000000000000000000000001",
            ),
            ("UINFO", "\\# 2 6869", "\\# 2 6869"),
            ("IPN", "\\# 8 00000000000004D2", "\\# 8 00000000000004D2"),
            ("CLA", "\\# 2 6869", "\\# 2 6869"),
        ];
        for &(rtype, input, expected) in cases {
            assert_canonical_fixed_point(rtype, input, expected);
        }
    }

    /// `input` prints as `expected`, which prints as itself and is the same wire rdata as
    /// `input`: one wire form has one text, and that text reads back as the wire form.
    fn assert_canonical_fixed_point(rtype: &str, input: &str, expected: &str) {
        assert_eq!(
            canonical(rtype, input).as_deref(),
            Ok(expected),
            "{rtype} {input}"
        );
        assert_eq!(
            canonical(rtype, expected).as_deref(),
            Ok(expected),
            "{rtype} {expected}"
        );
        assert_eq!(
            HEX.encode(&wire_of(rtype, expected)),
            HEX.encode(&wire_of(rtype, input)),
            "{rtype} {input} and its canonical text {expected} differ on the wire"
        );
    }

    #[test]
    fn registry_types_match_the_wire_forms_of_their_rfcs() {
        let cases: &[(&str, &str, &str)] = &[
            // RFC 1183 2.2, 3.1, 3.2, 3.3
            ("X25", "311061700956", "0c 333131303631373030393536"),
            (
                "ISDN",
                "150862028003217 004",
                "0f 313530383632303238303033323137 03 303034",
            ),
            ("ISDN", "150862028003217", "0f 313530383632303238303033323137"),
            (
                "RT",
                "2 relay.prime.com.",
                "0002 05 72656c6179 05 7072696d65 03 636f6d 00",
            ),
            // RFC 1035 3.3.7, 3.4.2
            ("MINFO", "r.x. e.x.", "01 72 01 78 00 01 65 01 78 00"),
            (
                "WKS",
                "192.0.2.1 6 21 25 80",
                "c0000201 06 0000 04 40 000000000000 80",
            ),
            // RFC 1706 5
            (
                "NSAP",
                "0x47.0005.80.005a00.0000.0001.e133.ffffff000161.00",
                "47 0005 80 005a00 0000 0001 e133 ffffff000161 00",
            ),
            ("NSAP-PTR", "foo.x.", "03 666f6f 01 78 00"),
            // RFC 2163 4
            (
                "PX",
                "50 it. admd-garr.c-it.",
                "0032 02 6974 00 09 61646d642d67617272 04 632d6974 00",
            ),
            // RFC 1712 3
            (
                "GPOS",
                "-32.6882 116.8652 10.0",
                "08 2d33322e36383832 08 3131362e38363532 04 31302e30",
            ),
            // RFC 2535 3.1, 4.1, 5.2 (the NXT example of 5.4)
            ("KEY", "49152 3 8", "c000 03 08"),
            (
                "KEY",
                "NOAUTH|ZONE DNSSEC RSASHA256 AwEAAQ==",
                "8100 03 08 03010001",
            ),
            (
                "SIG",
                "A 8 2 3600 20240101000000 20231201000000 12345 example.com. AwEAAQ==",
                "0001 08 02 00000e10 65920080 65692200 3039 07 6578616d706c65 03 636f6d 00 03010001",
            ),
            (
                "NXT",
                "medium.foo.tld. A MX SIG NXT",
                "06 6d656469756d 03 666f6f 03 746c64 00 40 01 00 82",
            ),
            ("ATMA", "+358400123456", "01 333538343030313233343536"),
            ("ATMA", "47.0005", "00 470005"),
            ("EID", "0123456789abcdef", "0123456789abcdef"),
            ("SINK", "1 2 3 AwEAAQ==", "01 02 03 03010001"),
            ("TALINK", "a.x. .", "01 61 01 78 00 00"),
            // RFC 6742 2.1 to 2.4
            ("NID", "10 0014:4fff:ff20:ee64", "000a 0014 4fff ff20 ee64"),
            ("L32", "10 10.1.2.0", "000a 0a010200"),
            ("L64", "10 2001:0DB8:1140:1000", "000a 2001 0db8 1140 1000"),
            (
                "LP",
                "10 l64-subnet1.example.com.",
                "000a 0b 6c36342d7375626e657431 07 6578616d706c65 03 636f6d 00",
            ),
            // RFC 8777 4.2: the D bit is the top bit of the type octet.
            ("AMTRELAY", "0 0 0 .", "00 00"),
            ("AMTRELAY", "10 0 1 203.0.113.15", "0a 01 cb00710f"),
            (
                "AMTRELAY",
                "10 0 2 2001:db8::15",
                "0a 02 20010db8000000000000000000000015",
            ),
            (
                "AMTRELAY",
                "128 1 3 amtrelays.example.com.",
                "80 83 09 616d7472656c617973 07 6578616d706c65 03 636f6d 00",
            ),
            // The DSYNC example of the generalized notifications RFC.
            (
                "DSYNC",
                "CDS NOTIFY 5359 cds-scanner.example.net.",
                "003b 01 14ef 0b 6364732d7363616e6e6572 07 6578616d706c65 03 6e6574 00",
            ),
            ("DOA", "0 1 2 \"\" -", "00000000 00000001 02 00"),
            ("DOA", "0 1 2 \"a/b\" AQI=", "00000000 00000001 02 03 612f62 0102"),
            // RFC 9606 5: RESINFO is TXT-shaped.
            (
                "RESINFO",
                "qnamemin exterr=15",
                "08 716e616d656d696e 09 6578746572723d3135",
            ),
            (
                "TA",
                "1 5 1 00112233445566778899aabbccddeeff00112233",
                "0001 05 01 00112233445566778899aabbccddeeff00112233",
            ),
        ];
        for &(rtype, text, hex) in cases {
            let wire = wire_of(rtype, text);
            assert_eq!(HEX.encode(&wire), HEX.encode(&bytes(hex)), "{rtype} {text}");
            let mut printed = String::new();
            let code = RecordType::from_text(rtype.as_bytes()).expect("test uses a valid type");
            format_rdata(code, RecordClass::IN, &wire, &mut printed).unwrap();
            assert_eq!(wire_of(rtype, &printed), wire, "{rtype} {printed}");
        }
        // RFC 8005 6: the HIT and key lengths come first, before the algorithm's value is used.
        let hip = wire_of(
            "HIP",
            &format!("2 200100107B1A74DF365639CC39F1D578 {HIP_KEY} rvs.example.com."),
        );
        assert_eq!(
            hip[..20],
            bytes("10 02 0084 200100107b1a74df365639cc39f1d578")[..]
        );
        assert_eq!(hip.len(), 4 + 16 + 132 + 17);
        assert!(hip.ends_with(&bytes("03 727673 07 6578616d706c65 03 636f6d 00")));
    }

    #[test]
    fn bad_registry_rdata_names_the_field() {
        let cases = [
            (
                "WKS",
                "192.0.2.1 6 smtp",
                "service port must be a number from 0 to 65535, not 'smtp'",
            ),
            (
                "WKS",
                "192.0.2.1 icmp 1",
                "protocol must be a number from 0 to 255, TCP or UDP",
            ),
            ("WKS", "192.0.2.256 6 1", "bad IPv4 address"),
            ("X25", "123", "PSDN address must be at least 4 decimal digits"),
            (
                "X25",
                "12a4",
                "PSDN address must be at least 4 decimal digits, not '12a4'",
            ),
            ("X25", "\\# 5 0431323361", "not valid X25: PSDN address"),
            ("ISDN", "1 2 3", "unexpected extra field '3'"),
            ("RT", "10", "missing intermediate host name"),
            ("NSAP", "47.0005", "NSAP address must be 0x and hex digits"),
            ("NSAP", "0x123", "NSAP address: bad hex"),
            ("NSAP", "0x", "NSAP address: no hex digits"),
            ("NSAP", "\\# 0", "not valid NSAP: empty NSAP address"),
            ("PX", "10 a.", "missing X.400 domain (MAPX400)"),
            ("MINFO", "a.", "missing error mailbox (EMAILBX)"),
            ("GPOS", "abc 1 1", "latitude must be a decimal number, not 'abc'"),
            ("GPOS", "1 1e5 1", "longitude must be a decimal number, not '1e5'"),
            ("GPOS", "90.5 0 0", "latitude must be from -90 to 90 degrees"),
            (
                "GPOS",
                "0 -180.01 0",
                "longitude must be from -180 to 180 degrees",
            ),
            ("GPOS", "1 2 .", "altitude must be a decimal number"),
            ("GPOS", "1 2", "missing altitude"),
            ("KEY", "256 3 8", "missing public key (base64)"),
            (
                "KEY",
                "NOKEY 3 8 AwEAAQ==",
                "NOKEY holds no key, yet 'AwEAAQ==' follows",
            ),
            (
                "KEY",
                "NOPE|ZONE 3 8 AwEAAQ==",
                "flags must be a number from 0 to 65535 or flag names",
            ),
            ("KEY", "256 SMTP 8 AwEAAQ==", "bad protocol 'SMTP'"),
            (
                "KEY",
                "\\# 5 c000030801",
                "not valid KEY: KEY flags say NOKEY, yet a key follows",
            ),
            (
                "SIG",
                "A 8 2 3600 20240101000000 20231301000000 1 x. AQ==",
                "signature inception",
            ),
            ("NXT", "a. A CAA", "NXT bitmaps hold types 1 to 127 only, not CAA"),
            ("NXT", "a. BOGUS", "bad type in bitmap 'BOGUS'"),
            ("NXT", "\\# 4 01 78 00 80", "bit 0 set"),
            ("EID", "", "missing endpoint identifier (hex)"),
            ("NIMLOC", "abc", "locator (hex): bad hex"),
            ("ATMA", "+12a", "E.164 ATM address must be '+' and decimal digits"),
            ("ATMA", "012", "ATM address (AESA): bad hex"),
            ("ATMA", "\\# 3 020102", "unknown ATM address format 2"),
            ("SINK", "1 0", "missing subcoding"),
            ("HIP", "2 zz AwEAAQ==", "HIT: bad hex"),
            ("HIP", "2 00", "missing public key (base64)"),
            (
                "HIP",
                "256 00 AwEAAQ==",
                "public key algorithm must be a number from 0 to 255",
            ),
            (
                "HIP",
                "2 00 AwEAAQ== bad..name.",
                "rendezvous server: empty label",
            ),
            (
                "HIP",
                "\\# 4 00020000",
                "not valid HIP: HIP record without a HIT or a public key",
            ),
            ("TALINK", "a.", "missing next name"),
            ("DSYNC", "BOGUS NOTIFY 1 x.", "bad RRtype 'BOGUS'"),
            ("DSYNC", "", "missing RRtype"),
            ("DSYNC", "CDS PUSH 1 x.", "bad scheme 'PUSH'"),
            ("DSYNC", "CDS 1 65536 x.", "port must be a number from 0 to 65535"),
            (
                "NID",
                "10 1:2:3",
                "node id must be four groups of 1 to 4 hex digits",
            ),
            (
                "L64",
                "10 00001:2:3:4",
                "locator must be four groups of 1 to 4 hex digits",
            ),
            ("L64", "10 1:2:3:4:5", "locator must be four groups"),
            ("L32", "10 300.0.0.1", "bad IPv4 locator '300.0.0.1'"),
            ("LP", "70000 x.", "preference must be a number from 0 to 65535"),
            ("DOA", "0 1 2 \"\" - extra", "unexpected extra field 'extra'"),
            ("DOA", "0 1 2 \"\"", "missing data (base64)"),
            ("DOA", "0 1 256 \"\" -", "location must be a number from 0 to 255"),
            (
                "AMTRELAY",
                "0 2 0 .",
                "discovery optional flag (D) must be a number from 0 to 1",
            ),
            ("AMTRELAY", "0 0 4 .", "relay type must be a number from 0 to 3"),
            (
                "AMTRELAY",
                "0 0 0 foo.",
                "relay must be '.' when the relay type is 0",
            ),
            ("AMTRELAY", "0 0 1 2001:db8::1", "bad IPv4 relay '2001:db8::1'"),
            (
                "AMTRELAY",
                "\\# 3 0004ff",
                "not valid AMTRELAY: unknown relay type 4",
            ),
            ("TA", "1 5 1 00", "digest is 1 bytes, the digest type needs 20"),
            ("DLV", "1 5 SHA-512 00", "bad digest type 'SHA-512'"),
            ("RKEY", "0 3 8", "missing public key (base64)"),
            ("RKEY", "256 3 8 AwEAAQ==", "RKEY flags must be 0, not 256"),
            ("RKEY", "1 3 8", "RKEY flags must be 0, not 1"),
            (
                "RKEY",
                "\\# 8 0100 03 08 03010001",
                "not valid RKEY: RKEY flags must be 0, not 256",
            ),
            // A bitmap's last byte has a bit set, or the text could not say how long it is.
            (
                "WKS",
                "\\# 7 C0000201 06 0000",
                "not valid WKS: WKS bitmap has trailing zero bytes",
            ),
            (
                "WKS",
                "\\# 7 C0000201 06 4000",
                "not valid WKS: WKS bitmap has trailing zero bytes",
            ),
            (
                "NXT",
                "\\# 4 01 78 00 00",
                "not valid NXT: NXT bitmap has trailing zero bytes",
            ),
            (
                "NXT",
                "\\# 5 01 78 00 40 00",
                "not valid NXT: NXT bitmap has trailing zero bytes",
            ),
            (
                "NSEC",
                "\\# 7 01 78 00 00 02 4000",
                "not valid NSEC: type bitmap has trailing zero bytes",
            ),
            (
                "NSEC",
                "\\# 5 01 78 00 00 00",
                "not valid NSEC: type bitmap window 0 is 0 bytes long",
            ),
            (
                "NSEC",
                "\\# 9 01 78 00 01 01 40 00 01 40",
                "not valid NSEC: type bitmap windows are out of order",
            ),
            (
                "CSYNC",
                "\\# 9 00000001 0000 00 03 40",
                "not valid CSYNC: truncated type bitmap",
            ),
            ("WALLET", "", "missing text"),
            ("NULL", "010203", "NULL has no presentation format"),
            (
                "A6",
                "0 2001:db8::1",
                "dnsmill reads A6 only in the generic form (\\# length hex)",
            ),
            ("CLA", "1 2", "dnsmill reads CLA only in the generic form"),
            ("IPN", "1234", "dnsmill reads IPN only in the generic form"),
            ("UINFO", "x", "UINFO has no presentation format"),
            // NXNAME is a meta type: named in bitmaps, never a record's own type.
            ("NXNAME", "", "invalid use of a meta type: NXNAME (TYPE128)"),
            ("NXNAME", "\\# 0", "invalid use of a meta type"),
            ("TYPE128", "\\# 0", "invalid use of a meta type"),
        ];
        for (rtype, input, expected) in cases {
            let err = canonical(rtype, input).unwrap_err();
            assert!(err.contains(expected), "{rtype} {input}: {err}");
        }
    }

    #[test]
    fn every_named_type_has_a_reader_and_a_printer() {
        let junk: Vec<u8> = (0..64u8).collect();
        let named = (0..=u16::MAX).map(RecordType).filter(|t| t.mnemonic().is_some());
        for rtype in named {
            let generic = rtype.is_generic_only() || rtype.is_meta();
            assert_eq!(is_known(rtype, RecordClass::IN), !generic, "{rtype}");
            // Errors are fine here; a type listed as known without a parser or a formatter
            // would panic.
            let _ = parse_rdata(rtype, RecordClass::IN, &[], None, &mut Vec::new());
            let _ = parse_rdata(
                rtype,
                RecordClass::IN,
                &split_fields("1 2 3 4"),
                None,
                &mut Vec::new(),
            );
            for wire in [&[][..], &junk[..1], &junk[..]] {
                let _ = format_rdata(rtype, RecordClass::IN, wire, &mut String::new());
            }
        }
    }

    #[test]
    fn meta_types_are_no_record_type_in_either_direction() {
        let mut out = String::new();
        let err = format_rdata(RecordType::NXNAME, RecordClass::IN, &[], &mut out).unwrap_err();
        assert!(err.contains("invalid use of a meta type"), "{err}");
        assert_eq!(out, "");
        assert_eq!(
            canonical("NSEC", "x. A NXNAME").as_deref(),
            Ok("x. A TYPE128"),
            "bitmaps still name it"
        );
    }

    /// One record of every type that has a presentation format.
    const SAMPLES: &[(&str, &str)] = &[
        ("A", "192.0.2.1"),
        ("NS", "ns.x."),
        ("MD", "m.x."),
        ("MF", "m.x."),
        ("CNAME", "c.x."),
        ("SOA", "ns.x. host.x. 1 2 3 4 5"),
        ("MB", "m.x."),
        ("MG", "m.x."),
        ("MR", "m.x."),
        ("WKS", "192.0.2.1 6 21 25 80"),
        ("PTR", "p.x."),
        ("HINFO", "cpu os"),
        ("MINFO", "r.x. e.x."),
        ("MX", "10 mx.x."),
        ("TXT", "a \"b c\" \"\""),
        ("RP", "m.x. t.x."),
        ("AFSDB", "1 a.x."),
        ("X25", "311061700956"),
        ("ISDN", "150862028003217 004"),
        ("RT", "2 relay.x."),
        ("NSAP", "0x47000580"),
        ("NSAP-PTR", "n.x."),
        (
            "SIG",
            "NXT 1 3 3600 20240101000000 20231201000000 12345 x. AwEAAQ==",
        ),
        ("KEY", "256 3 8 AwEAAQ=="),
        ("KEY", "49152 3 8"),
        ("PX", "50 it. admd.c-it."),
        ("GPOS", "-32.6882 116.8652 10.0"),
        ("AAAA", "2001:db8::1"),
        ("LOC", "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m"),
        ("NXT", "n.x. A MX SIG NXT"),
        ("EID", "0123456789abcdef"),
        ("NIMLOC", "3245ab"),
        ("SRV", "1 2 3 t.x."),
        ("ATMA", "+358400123456"),
        ("ATMA", "39246f000e7c9c03120001"),
        ("NAPTR", "100 10 S SIP+D2U \"!^.*$!sip:x@x!\" _sip._udp.x."),
        ("KX", "10 kx.x."),
        ("CERT", "PKIX 65535 RSASHA256 aGVsbG8="),
        ("DNAME", "d.x."),
        ("SINK", "1 2 3 AwEAAQ=="),
        ("APL", "1:192.168.32.0/21 !1:192.168.38.0/28 2:ff00::/8"),
        ("DS", "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
        ("SSHFP", "1 1 0123456789abcdef"),
        ("IPSECKEY", "10 1 2 192.0.2.38 AQNRU3mG"),
        ("IPSECKEY", "10 3 2 gw.x. AQNRU3mG"),
        (
            "RRSIG",
            "A 8 3 3600 20240101000000 20231201000000 12345 x. AwEAAQ==",
        ),
        ("NSEC", "n.x. A NS SOA RRSIG TYPE1234"),
        ("DNSKEY", "257 3 8 AwEAAQ=="),
        ("DHCID", "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="),
        (
            "NSEC3",
            "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG",
        ),
        ("NSEC3PARAM", "1 0 12 AABBCCDD"),
        ("TLSA", "3 1 1 0123456789abcdef"),
        ("SMIMEA", "3 1 1 0123456789abcdef"),
        ("HIP", "2 200100107B1A74DF365639CC39F1D578 AwEAAQ== rvs.x."),
        ("NINFO", "a b"),
        ("RKEY", "0 3 8 AwEAAQ=="),
        ("TALINK", "p.x. n.x."),
        ("CDS", "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
        ("CDNSKEY", "257 3 8 AwEAAQ=="),
        ("OPENPGPKEY", "aGVsbG8gd29ybGQ="),
        ("CSYNC", "66 3 A NS AAAA"),
        (
            "ZONEMD",
            "1 1 1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f",
        ),
        ("SVCB", "1 s.x. alpn=h2,h3 port=8443"),
        ("HTTPS", "0 h.x."),
        ("DSYNC", "CDS NOTIFY 5359 s.x."),
        ("HHIT", "AwEAAQ=="),
        ("BRID", "AwEAAQ=="),
        ("SPF", "\"v=spf1 -all\""),
        ("NID", "10 0014:4fff:ff20:ee64"),
        ("L32", "10 10.1.2.0"),
        ("L64", "10 2001:0db8:1140:1000"),
        ("LP", "10 l.x."),
        ("EUI48", "00-00-5e-00-53-2a"),
        ("EUI64", "00-00-5e-ef-10-00-00-2a"),
        ("URI", "10 1 \"ftp://ftp1.example.com/public\""),
        ("CAA", "0 issue \"ca.example.net\""),
        ("AVC", "\"app-name:WOLFGANG\""),
        ("DOA", "0 1 2 \"a/b\" AQI="),
        ("AMTRELAY", "128 1 3 amt.x."),
        ("AMTRELAY", "10 0 2 2001:db8::15"),
        ("RESINFO", "qnamemin exterr=15"),
        ("WALLET", "BTC bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"),
        ("TA", "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
        ("DLV", "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
    ];

    /// Whether `reread` is `wire` with the names lowercased: equal, except where `wire` has an
    /// ASCII capital and `reread` the same letter in lowercase (names are lowercased as they
    /// are read; no other byte is).
    fn same_but_for_case(wire: &[u8], reread: &[u8]) -> bool {
        wire.len() == reread.len()
            && wire
                .iter()
                .zip(reread)
                .all(|(&a, &b)| a == b || (a.is_ascii_uppercase() && a.to_ascii_lowercase() == b))
    }

    /// Variants of a valid wire form: cut short, lengthened, and with each byte changed.
    fn variants(wire: &[u8]) -> Vec<Vec<u8>> {
        let mut variants = vec![wire.to_vec()];
        for cut in 0..wire.len() {
            variants.push(wire[..cut].to_vec());
        }
        for tail in [&[0u8][..], &[1], &[0, 0], &[0x80], &[1, 0]] {
            variants.push([wire, tail].concat());
        }
        for at in 0..wire.len() {
            for byte in [0, 1, 0x40, 0x80, 0xff, wire[at] ^ 1, wire[at].wrapping_add(0x20)] {
                let mut changed = wire.to_vec();
                changed[at] = byte;
                variants.push(changed);
            }
        }
        variants
    }

    #[test]
    fn every_wire_form_dnsmill_prints_reads_back_as_itself() {
        let sampled: std::collections::HashSet<RecordType> = SAMPLES
            .iter()
            .map(|&(rtype, _)| RecordType::from_text(rtype.as_bytes()).expect("test uses a valid type"))
            .collect();
        let unsampled: Vec<String> = (0..=u16::MAX)
            .map(RecordType)
            .filter(|&rtype| is_known(rtype, RecordClass::IN) && !sampled.contains(&rtype))
            .map(|rtype| rtype.to_string())
            .collect();
        assert!(unsampled.is_empty(), "no sample of {unsampled:?}");
        let mut checked = 0;
        let mut failures = Vec::new();
        for &(name, text) in SAMPLES {
            let rtype = RecordType::from_text(name.as_bytes()).expect("test uses a valid type");
            for wire in variants(&wire_of(name, text)) {
                let mut printed = String::new();
                if format_rdata(rtype, RecordClass::IN, &wire, &mut printed).is_err() {
                    continue;
                }
                let mut reread = Vec::new();
                let parsed = parse_rdata(rtype, RecordClass::IN, &split_fields(&printed), None, &mut reread);
                if !(parsed.is_ok() && same_but_for_case(&wire, &reread)) {
                    failures.push(format!(
                        "{name} {} prints as '{printed}', which reads back as {:?}",
                        HEX.encode(&wire),
                        parsed.map(|()| HEX.encode(&reread)),
                    ));
                }
                checked += 1;
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(checked > 1000, "only {checked} wire forms printed");
    }

    #[test]
    fn class_specific_registry_types_are_generic_outside_class_in() {
        let fields = split_fields("192.0.2.1 6 25");
        for rtype in [
            RecordType::WKS,
            RecordType::NSAP,
            RecordType::PX,
            RecordType::ATMA,
        ] {
            let err = parse_rdata(rtype, RecordClass::CH, &fields, None, &mut Vec::new()).unwrap_err();
            assert!(
                err.message.contains("in class CH must use the generic form"),
                "{rtype}: {}",
                err.message
            );
        }
        let mut wire = Vec::new();
        parse_rdata(
            RecordType::WKS,
            RecordClass::CH,
            &split_fields("\\# 1 ff"),
            None,
            &mut wire,
        )
        .unwrap();
        let mut out = String::new();
        format_rdata(RecordType::WKS, RecordClass::CH, &wire, &mut out).unwrap();
        assert_eq!(out, "\\# 1 FF");
        // Types that are not class-specific read the same in any class.
        parse_rdata(
            RecordType::GPOS,
            RecordClass::CH,
            &split_fields("1 2 3"),
            None,
            &mut Vec::new(),
        )
        .unwrap();
    }
}
