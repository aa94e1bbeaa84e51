//! Reading rdata fields from presentation tokens, and the shared primitive encodings
//! (numbers, TTLs, character strings, base64, hex, times).

use std::sync::LazyLock;

use data_encoding::{Encoding, Specification};

use super::name;
use super::rtype::RecordType;
pub(crate) use super::text::push_ascii;

/// One whitespace-separated field of a record, as the lexer found it.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    /// Raw bytes, escapes still in place; without the quotes when `quoted`.
    pub text: &'a [u8],
    /// Whether the field was written as a quoted string.
    pub quoted: bool,
    /// 1-based line of the field's first byte.
    pub line: u32,
    /// 1-based column of the field's first byte.
    pub column: u32,
}

/// A problem with one field of the rdata; `index` is the field's position, or the number of
/// fields when the rdata ended too soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Which field (position in the rdata) the problem is in.
    pub index: usize,
    /// What is wrong, in words.
    pub message: String,
}

/// A cursor over the rdata fields of one record.
pub struct Fields<'f, 'a> {
    fields: &'f [Field<'a>],
    next: usize,
    /// Origin used to complete relative names, wire form.
    pub origin: Option<&'f [u8]>,
}

impl<'f, 'a> Fields<'f, 'a> {
    /// Starts reading `fields`.
    pub fn new(fields: &'f [Field<'a>], origin: Option<&'f [u8]>) -> Self {
        Fields {
            fields,
            next: 0,
            origin,
        }
    }

    /// An error located at the field read last.
    #[cold]
    pub fn error_here(&self, message: impl Into<String>) -> FieldError {
        FieldError {
            index: self.next.saturating_sub(1),
            message: message.into(),
        }
    }

    /// An error located at the next field, which has not been read.
    #[cold]
    pub fn error_at_next(&self, message: impl Into<String>) -> FieldError {
        FieldError {
            index: self.next,
            message: message.into(),
        }
    }

    /// Whether every field has been read.
    pub fn is_empty(&self) -> bool {
        self.next >= self.fields.len()
    }

    /// The next field; an error naming `what` is missing when there is none.
    pub fn next_field(&mut self, what: &str) -> Result<Field<'a>, FieldError> {
        match self.fields.get(self.next) {
            Some(field) => {
                self.next += 1;
                Ok(*field)
            }
            None => Err(missing(self.fields.len(), what)),
        }
    }

    /// The next field, without reading it.
    pub fn peek(&self) -> Option<Field<'a>> {
        self.fields.get(self.next).copied()
    }

    /// The next unquoted field's text.
    pub fn word(&mut self, what: &str) -> Result<&'a [u8], FieldError> {
        let field = self.next_field(what)?;
        Ok(field.text)
    }

    /// The fields not read yet, consuming them.
    pub fn rest(&mut self) -> &'f [Field<'a>] {
        let rest = &self.fields[self.next.min(self.fields.len())..];
        self.next = self.fields.len();
        rest
    }

    /// Fails when fields are left over.
    pub fn finish(&self) -> Result<(), FieldError> {
        match self.fields.get(self.next) {
            None => Ok(()),
            Some(extra) => Err(self.error_at_next(format!(
                "unexpected extra field '{}'",
                String::from_utf8_lossy(extra.text)
            ))),
        }
    }

    /// A decimal number that must fit in `max`.
    pub fn number(&mut self, what: &str, max: u64) -> Result<u64, FieldError> {
        let text = self.word(what)?;
        parse_decimal(text, max)
            .ok_or_else(|| self.error_here(must_be(what, &format!("a number from 0 to {max}"), text)))
    }

    /// A record type, by mnemonic or as `TYPEnnn`.
    pub fn record_type(&mut self, what: &str) -> Result<RecordType, FieldError> {
        let text = self.word(what)?;
        RecordType::from_text(text).ok_or_else(|| self.error_here(bad(what, text)))
    }

    /// A DNSSEC algorithm, by number or mnemonic, appended to `wire`.
    pub fn algorithm(&mut self, wire: &mut Vec<u8>) -> Result<u8, FieldError> {
        let text = self.word("algorithm")?;
        let code = lookup_code(text, ALGORITHMS, u64::from(u8::MAX))
            .ok_or_else(|| self.error_here(bad("algorithm", text)))? as u8;
        wire.push(code);
        Ok(code)
    }

    /// A `u8` field appended to `wire`.
    pub fn u8(&mut self, what: &str, wire: &mut Vec<u8>) -> Result<u8, FieldError> {
        let value = self.number(what, u64::from(u8::MAX))? as u8;
        wire.push(value);
        Ok(value)
    }

    /// A `u16` field appended to `wire`.
    pub fn u16(&mut self, what: &str, wire: &mut Vec<u8>) -> Result<u16, FieldError> {
        let value = self.number(what, u64::from(u16::MAX))? as u16;
        wire.extend_from_slice(&value.to_be_bytes());
        Ok(value)
    }

    /// A `u32` field appended to `wire`.
    pub fn u32(&mut self, what: &str, wire: &mut Vec<u8>) -> Result<u32, FieldError> {
        let value = self.number(what, u64::from(u32::MAX))? as u32;
        wire.extend_from_slice(&value.to_be_bytes());
        Ok(value)
    }

    /// A duration in TTL syntax (`3600`, `1h`, `1w2d`), appended as a `u32`.
    pub fn duration(&mut self, what: &str, wire: &mut Vec<u8>) -> Result<u32, FieldError> {
        let text = self.word(what)?;
        let value = parse_ttl(text).map_err(|reason| self.error_here(format!("{what}: {reason}")))?;
        wire.extend_from_slice(&value.to_be_bytes());
        Ok(value)
    }

    /// A domain name in wire form appended to `wire`.
    pub fn name(&mut self, what: &str, wire: &mut Vec<u8>) -> Result<(), FieldError> {
        let text = self.word(what)?;
        name::parse_name(text, self.origin, wire)
            .map_err(|reason| self.error_here(format!("{what}: {reason}")))
    }

    /// A `<character-string>` (at most 255 bytes) appended with its length byte.
    pub fn char_string(&mut self, what: &str, wire: &mut Vec<u8>) -> Result<(), FieldError> {
        let field = self.next_field(what)?;
        self.push_char_string(field, wire)
    }

    /// Appends `field` as a length-prefixed character string.
    pub fn push_char_string(&self, field: Field<'_>, wire: &mut Vec<u8>) -> Result<(), FieldError> {
        let len_at = wire.len();
        wire.push(0);
        unescape_into(field.text, wire).map_err(|reason| self.error_here(reason))?;
        let len = wire.len() - len_at - 1;
        if len > 255 {
            return Err(self.error_here(format!("character string is {len} bytes, over the limit of 255")));
        }
        wire[len_at] = len as u8;
        Ok(())
    }

    /// Every remaining field, concatenated and decoded with `encoding`, appended to `wire`.
    pub fn encoded_rest(
        &mut self,
        what: &str,
        encoding: &Encoding,
        wire: &mut Vec<u8>,
    ) -> Result<usize, FieldError> {
        let start_index = self.next;
        let rest = self.rest();
        if rest.is_empty() {
            return Err(missing(start_index, what));
        }
        let mut joined = Vec::with_capacity(rest.iter().map(|f| f.text.len()).sum());
        for field in rest {
            joined.extend_from_slice(field.text);
        }
        decode_into(encoding, &joined, wire).map_err(|reason| FieldError {
            index: start_index,
            message: format!("{what}: {reason}"),
        })
    }
}

/// "bad `what` 'text'", for a field that does not parse as what it should be.
#[cold]
pub(crate) fn bad(what: &str, text: &[u8]) -> String {
    format!("bad {what} '{}'", String::from_utf8_lossy(text))
}

/// "`what` must be `rule`, not 'text'", for a field that breaks a rule it can be told in words.
#[cold]
pub(crate) fn must_be(what: &str, rule: &str, text: &[u8]) -> String {
    format!("{what} must be {rule}, not '{}'", String::from_utf8_lossy(text))
}

/// DNSSEC algorithm numbers with the mnemonics BIND prints (first) and accepts.
pub(crate) const ALGORITHMS: &[(&str, u64)] = &[
    ("RSAMD5", 1),
    ("DH", 2),
    ("DSA", 3),
    ("ECC", 4),
    ("RSASHA1", 5),
    ("NSEC3DSA", 6),
    ("DSA-NSEC3-SHA1", 6),
    ("NSEC3RSASHA1", 7),
    ("RSASHA1-NSEC3-SHA1", 7),
    ("RSASHA256", 8),
    ("RSASHA512", 10),
    ("ECCGOST", 12),
    ("ECC-GOST", 12),
    ("ECDSAP256SHA256", 13),
    ("ECDSAP384SHA384", 14),
    ("ED25519", 15),
    ("ED448", 16),
    ("INDIRECT", 252),
    ("PRIVATEDNS", 253),
    ("PRIVATEOID", 254),
];

/// A decimal number no larger than `max`, or one of the mnemonics in `table`
/// (case-insensitive).
pub(crate) fn lookup_code(text: &[u8], table: &[(&str, u64)], max: u64) -> Option<u64> {
    parse_decimal(text, max).or_else(|| {
        table
            .iter()
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
            .map(|&(_, code)| code)
    })
}

#[cold]
fn missing(index: usize, what: &str) -> FieldError {
    FieldError {
        index,
        message: format!("missing {what}"),
    }
}

/// Decodes `text` with `encoding` and appends it; returns the decoded length.
pub fn decode_into(encoding: &Encoding, text: &[u8], wire: &mut Vec<u8>) -> Result<usize, String> {
    let len = encoding
        .decode_len(text.len())
        .map_err(|e| format!("bad {} encoding: {e}", encoding_name(encoding)))?;
    let start = wire.len();
    wire.resize(start + len, 0);
    match encoding.decode_mut(text, &mut wire[start..]) {
        Ok(written) => {
            wire.truncate(start + written);
            Ok(written)
        }
        Err(partial) => {
            wire.truncate(start);
            Err(format!(
                "bad {} encoding: {}",
                encoding_name(encoding),
                partial.error
            ))
        }
    }
}

fn encoding_name(encoding: &Encoding) -> &'static str {
    if std::ptr::eq(encoding, &*HEX) {
        "hex"
    } else if std::ptr::eq(encoding, &*BASE32HEX) {
        "base32hex"
    } else {
        "base64"
    }
}

/// Base64 as zone files write it: padded, trailing bits not checked (BIND accepts them).
pub static BASE64: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols
        .push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    spec.padding = Some('=');
    spec.check_trailing_bits = false;
    spec.encoding().expect("static base64 specification is valid")
});

/// Hex, read in either case, written in upper case as BIND prints it.
pub static HEX: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str("0123456789ABCDEF");
    spec.translate.from.push_str("abcdef");
    spec.translate.to.push_str("ABCDEF");
    spec.encoding().expect("static hex specification is valid")
});

/// Base32hex without padding (NSEC3 hashed owner names), read in either case.
pub static BASE32HEX: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str("0123456789ABCDEFGHIJKLMNOPQRSTUV");
    spec.translate.from.push_str("abcdefghijklmnopqrstuv");
    spec.translate.to.push_str("ABCDEFGHIJKLMNOPQRSTUV");
    spec.check_trailing_bits = false;
    spec.encoding().expect("static base32hex specification is valid")
});

/// Parses ASCII digits into a number no larger than `max`.
pub fn parse_decimal(text: &[u8], max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    (value <= max).then_some(value)
}

/// Parses a TTL: plain seconds, or BIND units (`1w2d3h4m5s`, case-insensitive).
pub fn parse_ttl(text: &[u8]) -> Result<u32, String> {
    if text.is_empty() {
        return Err("empty TTL".into());
    }
    if !text[0].is_ascii_digit() {
        return Err(format!("'{}' is not a TTL", String::from_utf8_lossy(text)));
    }
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut digits = 0;
    let mut used_units = false;
    for &byte in text {
        if byte.is_ascii_digit() {
            current = current * 10 + u64::from(byte - b'0');
            digits += 1;
            if current > u64::from(u32::MAX) {
                return Err(format!("TTL '{}' is out of range", String::from_utf8_lossy(text)));
            }
            continue;
        }
        let unit: u64 = match byte.to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => {
                return Err(format!(
                    "'{}' is not a TTL (units are w, d, h, m, s)",
                    String::from_utf8_lossy(text)
                ))
            }
        };
        if digits == 0 {
            return Err(format!(
                "unit without a number in TTL '{}'",
                String::from_utf8_lossy(text)
            ));
        }
        total += current * unit;
        current = 0;
        digits = 0;
        used_units = true;
    }
    if digits > 0 || !used_units {
        total += current;
    }
    u32::try_from(total).map_err(|_| format!("TTL '{}' is out of range", String::from_utf8_lossy(text)))
}

/// Decodes zone-file escapes (`\X`, `\DDD`) of a field into raw bytes.
pub fn unescape_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        let (byte, used) = name::decode_escape(&rest[at..])?;
        out.push(byte);
        rest = &rest[at + used..];
    }
    out.extend_from_slice(rest);
    Ok(())
}

/// Appends bytes inside a quoted string: `"` and `\` escaped, unprintables as `\DDD`.
pub fn push_quoted_body(bytes: &[u8], out: &mut String) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // Copy the longest run that needs no escaping in one go.
        let plain = rest
            .iter()
            .position(|&b| !(0x20..=0x7e).contains(&b) || b == b'"' || b == b'\\')
            .unwrap_or(rest.len());
        push_ascii(out, &rest[..plain]);
        let Some(&byte) = rest.get(plain) else {
            break;
        };
        if byte == b'"' || byte == b'\\' {
            out.push('\\');
            out.push(char::from(byte));
        } else {
            name::push_decimal_escape(byte, out);
        }
        rest = &rest[plain + 1..];
    }
}

/// Appends `"bytes"` with escapes.
pub fn push_quoted(bytes: &[u8], out: &mut String) {
    out.push('"');
    push_quoted_body(bytes, out);
    out.push('"');
}

/// Converts `YYYYMMDDHHmmSS` or plain seconds since the epoch (RRSIG, RFC 4034 3.2).
pub fn parse_signature_time(text: &[u8]) -> Result<u32, String> {
    if text.len() == 14 && text.iter().all(u8::is_ascii_digit) {
        let num = |range: std::ops::Range<usize>| {
            text[range]
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        };
        let (year, month, day) = (num(0..4), num(4..6), num(6..8));
        let (hour, minute, second) = (num(8..10), num(10..12), num(12..14));
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(format!("'{}' is not a valid date", String::from_utf8_lossy(text)));
        }
        let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
        return u32::try_from(seconds)
            .map_err(|_| format!("date '{}' is outside 1970-2106", String::from_utf8_lossy(text)));
    }
    parse_decimal(text, u64::from(u32::MAX))
        .map(|v| v as u32)
        .ok_or_else(|| {
            format!(
                "'{}' is neither YYYYMMDDHHmmSS nor seconds since 1970",
                String::from_utf8_lossy(text)
            )
        })
}

/// Appends a signature time as `YYYYMMDDHHmmSS`.
pub fn push_signature_time(seconds: u32, out: &mut String) {
    use std::fmt::Write;
    let seconds = i64::from(seconds);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let _ = write!(
        out,
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60
    );
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Proleptic Gregorian day counts relative to 1970-01-01 (the well-known era-based method).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_accept_units() {
        assert_eq!(parse_ttl(b"3600"), Ok(3600));
        assert_eq!(
            parse_ttl(b"1w2d3h4m5s"),
            Ok(604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5)
        );
        assert_eq!(parse_ttl(b"1H30"), Ok(3_630));
        assert!(parse_ttl(b"1x").is_err());
        assert!(parse_ttl(b"h").is_err());
        assert!(parse_ttl(b"9999999999").is_err());
    }

    #[test]
    fn signature_times_round_trip() {
        let t = parse_signature_time(b"20240101000000").unwrap();
        assert_eq!(t, 1_704_067_200);
        let mut out = String::new();
        push_signature_time(t, &mut out);
        assert_eq!(out, "20240101000000");
        let mut out = String::new();
        push_signature_time(u32::MAX, &mut out);
        assert_eq!(out, "21060207062815");
        assert!(parse_signature_time(b"20240230000000").is_err());
    }

    #[test]
    fn encodings_decode() {
        let mut out = Vec::new();
        decode_into(&HEX, b"abCD", &mut out).unwrap();
        assert_eq!(out, [0xab, 0xcd]);
        assert!(decode_into(&HEX, b"abc", &mut out).is_err());
        assert_eq!(out.len(), 2, "a failed decode leaves nothing behind");
        out.clear();
        decode_into(&BASE64, b"aGVsbG8=", &mut out).unwrap();
        assert_eq!(out, b"hello");
    }
}
