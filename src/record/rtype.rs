//! Record type and class codes and their mnemonics.
//!
//! The table names every data type of the IANA registry, and NXNAME, the one meta type that
//! NSEC type bitmaps name (RFC 9824); no record has it as its own type. The other meta and
//! query types (OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY) are not record types and have
//! no entry. Types outside the table are still first-class: they are written `TYPEnnn` and
//! carry their rdata in the RFC 3597 generic form.

use std::fmt;

/// A DNS record type code (RFC 1035 TYPE), with mnemonics for the types dnsmill knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u16);

macro_rules! record_types {
    (@printed $text:literal) => {
        Some($text)
    };
    (@printed $text:literal, input_only) => {
        None
    };
    ($($name:ident = $code:literal, $text:literal $(, $input_only:ident)?;)*) => {
        impl RecordType {
            $(
                #[allow(missing_docs)]
                pub const $name: RecordType = RecordType($code);
            )*

            /// The mnemonic of a known type, the one read on input; `None` for others.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($text),)*
                    _ => None,
                }
            }

            /// The mnemonic dnsmill prints: that of a known type, unless the type is marked
            /// `input_only`.
            fn printed_mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($code => record_types!(@printed $text $(, $input_only)?),)*
                    _ => None,
                }
            }

            fn from_known_mnemonic(upper: &str) -> Option<RecordType> {
                match upper {
                    $($text => Some(RecordType($code)),)*
                    _ => None,
                }
            }
        }

        /// Bytes in the longest mnemonic.
        const LONGEST_MNEMONIC: usize = {
            let mut longest = 0;
            $(
                if $text.len() > longest {
                    longest = $text.len();
                }
            )*
            longest
        };

        /// Every (code, mnemonic) pair, for checking the table as a whole.
        #[cfg(test)]
        const NAMED_TYPES: &[(u16, &str)] = &[$(($code, $text),)*];
    };
}

// Types marked `input_only` are read by mnemonic but printed `TYPEnnn`, in the type column and
// wherever rdata names a type (type bitmaps, the type an RRSIG or SIG covers, DSYNC's RRtype).
// Their mnemonics are newer than the parsers dnsmill's output is meant for: BIND 9.18 reads
// none of the three ("unknown class/type"), dnspython reads neither CLA nor IPN, so canonical
// text naming them would not load there. `TYPEnnn` (RFC 3597 5) loads everywhere, and reads
// back here as the same type.
record_types! {
    A = 1, "A";
    NS = 2, "NS";
    MD = 3, "MD";
    MF = 4, "MF";
    CNAME = 5, "CNAME";
    SOA = 6, "SOA";
    MB = 7, "MB";
    MG = 8, "MG";
    MR = 9, "MR";
    NULL = 10, "NULL";
    WKS = 11, "WKS";
    PTR = 12, "PTR";
    HINFO = 13, "HINFO";
    MINFO = 14, "MINFO";
    MX = 15, "MX";
    TXT = 16, "TXT";
    RP = 17, "RP";
    AFSDB = 18, "AFSDB";
    X25 = 19, "X25";
    ISDN = 20, "ISDN";
    RT = 21, "RT";
    NSAP = 22, "NSAP";
    NSAP_PTR = 23, "NSAP-PTR";
    SIG = 24, "SIG";
    KEY = 25, "KEY";
    PX = 26, "PX";
    GPOS = 27, "GPOS";
    AAAA = 28, "AAAA";
    LOC = 29, "LOC";
    NXT = 30, "NXT";
    EID = 31, "EID";
    NIMLOC = 32, "NIMLOC";
    SRV = 33, "SRV";
    ATMA = 34, "ATMA";
    NAPTR = 35, "NAPTR";
    KX = 36, "KX";
    CERT = 37, "CERT";
    A6 = 38, "A6";
    DNAME = 39, "DNAME";
    SINK = 40, "SINK";
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
    HIP = 55, "HIP";
    NINFO = 56, "NINFO";
    RKEY = 57, "RKEY";
    TALINK = 58, "TALINK";
    CDS = 59, "CDS";
    CDNSKEY = 60, "CDNSKEY";
    OPENPGPKEY = 61, "OPENPGPKEY";
    CSYNC = 62, "CSYNC";
    ZONEMD = 63, "ZONEMD";
    SVCB = 64, "SVCB";
    HTTPS = 65, "HTTPS";
    DSYNC = 66, "DSYNC";
    HHIT = 67, "HHIT";
    BRID = 68, "BRID";
    SPF = 99, "SPF";
    UINFO = 100, "UINFO";
    UID = 101, "UID";
    GID = 102, "GID";
    UNSPEC = 103, "UNSPEC";
    NID = 104, "NID";
    L32 = 105, "L32";
    L64 = 106, "L64";
    LP = 107, "LP";
    EUI48 = 108, "EUI48";
    EUI64 = 109, "EUI64";
    NXNAME = 128, "NXNAME", input_only;
    URI = 256, "URI";
    CAA = 257, "CAA";
    AVC = 258, "AVC";
    DOA = 259, "DOA";
    AMTRELAY = 260, "AMTRELAY";
    RESINFO = 261, "RESINFO";
    WALLET = 262, "WALLET";
    CLA = 263, "CLA", input_only;
    IPN = 264, "IPN", input_only;
    TA = 32768, "TA";
    DLV = 32769, "DLV";
}
/// Bytes in the longest type text `from_text` reads: a mnemonic, or `TYPE65535`.
const LONGEST_TYPE_TEXT: usize = if LONGEST_MNEMONIC > 9 { LONGEST_MNEMONIC } else { 9 };

impl RecordType {
    /// Parses a mnemonic (`MX`, `NSAP-PTR`, case-insensitive) or the generic `TYPEnnn` form.
    pub fn from_text(text: &[u8]) -> Option<RecordType> {
        if text.is_empty() || text.len() > LONGEST_TYPE_TEXT {
            return None;
        }
        let mut upper = [0u8; LONGEST_TYPE_TEXT];
        for (dst, src) in upper.iter_mut().zip(text) {
            *dst = src.to_ascii_uppercase();
        }
        let upper = &upper[..text.len()];
        if let Some(known) = std::str::from_utf8(upper)
            .ok()
            .and_then(RecordType::from_known_mnemonic)
        {
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
                | RecordType::A6
                | RecordType::APL
                | RecordType::ATMA
                | RecordType::DHCID
                | RecordType::EID
                | RecordType::HTTPS
                | RecordType::IPSECKEY
                | RecordType::KX
                | RecordType::NIMLOC
                | RecordType::NSAP
                | RecordType::NSAP_PTR
                | RecordType::PX
                | RecordType::SRV
                | RecordType::SVCB
                | RecordType::NAPTR
                | RecordType::WKS
        )
    }

    /// Named types whose rdata is only ever written in the RFC 3597 generic form, because no
    /// presentation format is defined for it, or none that the other tools read:
    ///
    /// - NULL (RFC 1035 3.3.10) is anything at all, and has no text form by definition;
    /// - A6 (RFC 2874) is historic (RFC 6563); dnspython reads it only in generic form;
    /// - UINFO, UID, GID and UNSPEC are reserved codes without a specification; BIND knows
    ///   their names and reads their rdata only in generic form;
    /// - CLA and IPN are defined by an Internet-Draft whose text form BIND, Knot and dnspython
    ///   do not read yet.
    pub fn is_generic_only(self) -> bool {
        matches!(
            self,
            RecordType::NULL
                | RecordType::A6
                | RecordType::UINFO
                | RecordType::UID
                | RecordType::GID
                | RecordType::UNSPEC
                | RecordType::CLA
                | RecordType::IPN
        )
    }

    /// Meta types that have a mnemonic: they are named in type bitmaps, but no record has one
    /// as its own type. NXNAME (RFC 9824) is the only one.
    pub fn is_meta(self) -> bool {
        self == RecordType::NXNAME
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.printed_mnemonic() {
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

    #[test]
    fn every_registered_mnemonic_reads_back() {
        for &(code, text) in NAMED_TYPES {
            assert_eq!(
                RecordType::from_text(text.as_bytes()),
                Some(RecordType(code)),
                "{text}"
            );
            let lower = text.to_ascii_lowercase();
            assert_eq!(
                RecordType::from_text(lower.as_bytes()),
                Some(RecordType(code)),
                "{lower}"
            );
            let printed = RecordType(code).to_string();
            if matches!(text, "NXNAME" | "CLA" | "IPN") {
                assert_eq!(printed, format!("TYPE{code}"));
            } else {
                assert_eq!(printed, text);
            }
            assert_eq!(
                RecordType::from_text(printed.as_bytes()),
                Some(RecordType(code)),
                "{printed}"
            );
        }
        assert_eq!(RecordType::from_text(b"nsap-ptr"), Some(RecordType::NSAP_PTR));
        assert_eq!(RecordType::from_text(b"NSEC3PARAM"), Some(RecordType::NSEC3PARAM));
        assert_eq!(RecordType::from_text(b"TYPE32769"), Some(RecordType::DLV));
        assert_eq!(RecordType::from_text(b"NSAP_PTR"), None);
        assert_eq!(RecordType::from_text(b"NSEC3PARAMS"), None);
        // Meta and query types are not record types.
        for meta in [
            "OPT", "TKEY", "TSIG", "IXFR", "AXFR", "MAILB", "MAILA", "ANY", "*",
        ] {
            assert_eq!(RecordType::from_text(meta.as_bytes()), None, "{meta}");
        }
    }
}
