//! Record type and class codes and their mnemonics.
//!
//! Types outside the table are still first-class: they are written `TYPEnnn` and carry their
//! rdata in the RFC 3597 generic form.

use std::fmt;

/// A DNS record type code (RFC 1035 TYPE), with mnemonics for the types dnsmill knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u16);

macro_rules! record_types {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl RecordType {
            $(
                #[allow(missing_docs)]
                pub const $name: RecordType = RecordType($code);
            )*

            /// The mnemonic of a known type, `None` for others.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($text),)*
                    _ => None,
                }
            }

            fn from_known_mnemonic(upper: &[u8]) -> Option<RecordType> {
                match upper {
                    $(x if x == $text.as_bytes() => Some(RecordType($code)),)*
                    _ => None,
                }
            }
        }
    };
}

record_types! {
    A = 1, "A";
    NS = 2, "NS";
    CNAME = 5, "CNAME";
    SOA = 6, "SOA";
    PTR = 12, "PTR";
    HINFO = 13, "HINFO";
    MX = 15, "MX";
    TXT = 16, "TXT";
    RP = 17, "RP";
    AFSDB = 18, "AFSDB";
    AAAA = 28, "AAAA";
    LOC = 29, "LOC";
    SRV = 33, "SRV";
    NAPTR = 35, "NAPTR";
    KX = 36, "KX";
    CERT = 37, "CERT";
    DNAME = 39, "DNAME";
    APL = 42, "APL";
    DS = 43, "DS";
    SSHFP = 44, "SSHFP";
    IPSECKEY = 45, "IPSECKEY";
    RRSIG = 46, "RRSIG";
    NSEC = 47, "NSEC";
    DNSKEY = 48, "DNSKEY";
    DHCID = 49, "DHCID";
    NSEC3 = 50, "NSEC3";
    NSEC3PARAM = 51, "NSEC3PARAM";
    TLSA = 52, "TLSA";
    SMIMEA = 53, "SMIMEA";
    CDS = 59, "CDS";
    CDNSKEY = 60, "CDNSKEY";
    OPENPGPKEY = 61, "OPENPGPKEY";
    CSYNC = 62, "CSYNC";
    ZONEMD = 63, "ZONEMD";
    SVCB = 64, "SVCB";
    HTTPS = 65, "HTTPS";
    SPF = 99, "SPF";
    EUI48 = 108, "EUI48";
    EUI64 = 109, "EUI64";
    URI = 256, "URI";
    CAA = 257, "CAA";
}

impl RecordType {
    /// Parses a mnemonic (`MX`, case-insensitive) or the generic `TYPEnnn` form.
    pub fn from_text(text: &[u8]) -> Option<RecordType> {
        if text.is_empty() || text.len() > 10 {
            return None;
        }
        let mut upper = [0u8; 10];
        for (dst, src) in upper.iter_mut().zip(text) {
            *dst = src.to_ascii_uppercase();
        }
        let upper = &upper[..text.len()];
        if let Some(known) = RecordType::from_known_mnemonic(upper) {
            return Some(known);
        }
        upper
            .strip_prefix(b"TYPE")
            .and_then(parse_u16_digits)
            .map(RecordType)
    }

    /// Types whose rdata layout depends on the class; outside class IN they are only
    /// accepted in the generic form, as BIND does.
    pub fn is_class_specific(self) -> bool {
        matches!(
            self,
            RecordType::A
                | RecordType::AAAA
                | RecordType::APL
                | RecordType::DHCID
                | RecordType::HTTPS
                | RecordType::IPSECKEY
                | RecordType::KX
                | RecordType::SRV
                | RecordType::SVCB
                | RecordType::NAPTR
        )
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(text) => f.write_str(text),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// A DNS class code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordClass(pub u16);

impl RecordClass {
    /// The Internet class, the only one most zones use.
    pub const IN: RecordClass = RecordClass(1);
    /// Chaos.
    pub const CH: RecordClass = RecordClass(3);
    /// Hesiod.
    pub const HS: RecordClass = RecordClass(4);

    /// Parses `IN`, `CH`, `HS` (case-insensitive) or the generic `CLASSnnn` form.
    pub fn from_text(text: &[u8]) -> Option<RecordClass> {
        if text.eq_ignore_ascii_case(b"IN") {
            return Some(RecordClass::IN);
        }
        if text.eq_ignore_ascii_case(b"CH") {
            return Some(RecordClass::CH);
        }
        if text.eq_ignore_ascii_case(b"HS") {
            return Some(RecordClass::HS);
        }
        if text.len() > 5 && text[..5].eq_ignore_ascii_case(b"CLASS") {
            return parse_u16_digits(&text[5..]).map(RecordClass);
        }
        None
    }

    /// The mnemonic, or `CLASSnnn`.
    pub fn as_text(self) -> std::borrow::Cow<'static, str> {
        match self.0 {
            1 => "IN".into(),
            3 => "CH".into(),
            4 => "HS".into(),
            other => format!("CLASS{other}").into(),
        }
    }
}

impl fmt::Display for RecordClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// Parses 1–5 ASCII digits into a `u16`, rejecting anything else.
pub(crate) fn parse_u16_digits(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_and_generic_forms_parse() {
        assert_eq!(RecordType::from_text(b"mx"), Some(RecordType::MX));
        assert_eq!(RecordType::from_text(b"TYPE15"), Some(RecordType::MX));
        assert_eq!(RecordType::from_text(b"type65535"), Some(RecordType(65535)));
        assert_eq!(RecordType::from_text(b"TYPE65536"), None);
        assert_eq!(RecordType::from_text(b"TYPE"), None);
        assert_eq!(RecordType::from_text(b"BOGUS"), None);
        assert_eq!(RecordType(999).to_string(), "TYPE999");
        assert_eq!(RecordClass::from_text(b"class1"), Some(RecordClass::IN));
        assert_eq!(RecordClass(254).to_string(), "CLASS254");
    }
}
