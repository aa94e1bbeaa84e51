//! DNS messages on the wire: the queries the resolver sends, and the parts of responses it reads.
//!
//! Answers are read straight into the record model: names are decompressed and lowercased, and
//! so are the names inside rdata, so [`format_rdata`] gives the same canonical text the zone
//! parser stores for the same record. Rdata names are decompressed for the types RFC 3597
//! section 4 tells receivers to: those of RFC 1035, and RP, AFSDB, RT, SIG, PX, NXT, NAPTR and
//! SRV. KX, DNAME, RRSIG, NSEC, SVCB and HTTPS are decompressed as well: their names must not
//! be compressed, and reading one that is not is the same either way, so this only helps when
//! a server compressed one anyway.

use std::borrow::Cow;

use crate::record::name::MAX_NAME_LEN;
use crate::record::rdata::format_rdata;
use crate::record::{RecordClass, RecordType};

/// Bytes in a message header.
pub const HEADER_LEN: usize = 12;

/// Response codes the resolver tells apart (RFC 1035 4.1.1, RFC 6891 extended codes).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// The server could not process the query.
    pub const SERVFAIL: u16 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// The server refuses to answer.
    pub const REFUSED: u16 = 5;
}

/// Appends a query for (`qname`, `qtype`, IN) with id `id`, recursion desired, and an OPT
/// record advertising `payload` bytes (RFC 6891).
pub fn encode_query(id: u16, qname: &[u8], qtype: RecordType, payload: u16, out: &mut Vec<u8>) {
    const RECURSION_DESIRED: u16 = 0x0100;
    for field in [id, RECURSION_DESIRED, 1, 0, 0, 1] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.extend_from_slice(qname);
    out.extend_from_slice(&qtype.0.to_be_bytes());
    out.extend_from_slice(&RecordClass::IN.0.to_be_bytes());
    // OPT: root owner, type 41, class = payload size, TTL = extended rcode/version/flags, no rdata.
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
}

/// The id of a message, if it is long enough to have one.
pub fn message_id(message: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*message.first()?, *message.get(1)?]))
}

/// What a response says, read just far enough to judge it.
#[derive(Debug)]
pub struct Response<'a> {
    message: &'a [u8],
    /// Transaction id.
    pub id: u16,
    /// The QR bit: this is a response.
    pub is_response: bool,
    /// The TC bit: the answer did not fit.
    pub truncated: bool,
    /// Response code, with the EDNS extended bits when an OPT record carries them.
    pub rcode: u16,
    /// The question, decompressed and lowercased, with its type and class.
    pub question: Option<(Cow<'a, [u8]>, u16, u16)>,
    /// Where the answer section starts, and how many records it holds.
    answers_at: usize,
    answer_count: u16,
}

/// Why a response could not be read.
pub type MessageError = String;

impl<'a> Response<'a> {
    /// Reads the header and question of `message`.
    pub fn parse(message: &'a [u8]) -> Result<Self, MessageError> {
        let header = message.get(..HEADER_LEN).ok_or("message shorter than a header")?;
        let word = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
        let flags = word(2);
        let (question_count, answer_count) = (word(4), word(6));
        let (authority_count, additional_count) = (word(8), word(10));
        let mut at = HEADER_LEN;
        let question = if question_count == 0 {
            None
        } else {
            let name;
            (name, at) = read_question_name(message, at)?;
            let qtype = read_u16(message, at)?;
            let qclass = read_u16(message, at + 2)?;
            at += 4;
            Some((name, qtype, qclass))
        };
        for _ in 1..question_count {
            at = skip_name(message, at)? + 4;
        }
        let answers_at = at;
        let mut rcode = flags & 0x000f;
        // The OPT record (in the additional section) carries the upper bits of the rcode.
        let mut scan = answers_at;
        for _ in 0..u32::from(answer_count) + u32::from(authority_count) {
            scan = skip_record(message, scan)?;
        }
        for _ in 0..additional_count {
            let owner_end = skip_name(message, scan)?;
            if read_u16(message, owner_end)? == 41 {
                let extended = *message.get(owner_end + 4).ok_or("truncated OPT record")?;
                rcode |= u16::from(extended) << 4;
            }
            scan = skip_record(message, scan)?;
        }
        Ok(Response {
            message,
            id: word(0),
            is_response: flags & 0x8000 != 0,
            truncated: flags & 0x0200 != 0,
            rcode,
            question,
            answers_at,
            answer_count,
        })
    }

    /// The answer section's records, each as (owner, type, class, TTL, rdata), names
    /// decompressed and lowercased and rdata in wire form without compression.
    pub fn for_each_answer(
        &self,
        visit: impl FnMut(&[u8], RecordType, RecordClass, u32, &[u8]) -> Result<(), MessageError>,
    ) -> Result<(), MessageError> {
        self.for_each_answer_in(&mut AnswerScratch::default(), visit)
    }

    /// [`Response::for_each_answer`] with buffers kept by the caller, for callers that read
    /// many responses.
    pub fn for_each_answer_in(
        &self,
        scratch: &mut AnswerScratch,
        mut visit: impl FnMut(&[u8], RecordType, RecordClass, u32, &[u8]) -> Result<(), MessageError>,
    ) -> Result<(), MessageError> {
        let message = self.message;
        let mut at = self.answers_at;
        let AnswerScratch { owner, rdata } = scratch;
        for _ in 0..self.answer_count {
            owner.clear();
            at = read_name(message, at, owner)?;
            let rtype = RecordType(read_u16(message, at)?);
            let class = RecordClass(read_u16(message, at + 2)?);
            let ttl = u32::from(read_u16(message, at + 4)?) << 16 | u32::from(read_u16(message, at + 6)?);
            let len = usize::from(read_u16(message, at + 8)?);
            let start = at + 10;
            let end = start + len;
            if end > message.len() {
                return Err("record data runs past the end of the message".into());
            }
            rdata.clear();
            decompress_rdata(message, start, end, rtype, rdata)?;
            visit(owner, rtype, class, ttl, rdata)?;
            at = end;
        }
        Ok(())
    }
}

/// Canonical presentation text of one answer's rdata (the zone parser's form).
pub fn canonical_rdata(
    rtype: RecordType,
    class: RecordClass,
    rdata: &[u8],
    out: &mut String,
) -> Result<(), String> {
    format_rdata(rtype, class, rdata, out)
}

fn read_u16(message: &[u8], at: usize) -> Result<u16, MessageError> {
    match message.get(at..at + 2) {
        Some(bytes) => Ok(u16::from_be_bytes([bytes[0], bytes[1]])),
        None => Err("message ends early".into()),
    }
}

fn skip_record(message: &[u8], at: usize) -> Result<usize, MessageError> {
    let at = skip_name(message, at)?;
    let len = usize::from(read_u16(message, at + 8)?);
    let end = at + 10 + len;
    if end > message.len() {
        return Err("record data runs past the end of the message".into());
    }
    Ok(end)
}

/// Offset just past the (possibly compressed) name at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Result<usize, MessageError> {
    loop {
        let len = *message.get(at).ok_or("message ends inside a name")?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => return Ok(at + 2),
            _ => return Err(format!("unsupported label type {len:#04x}")),
        }
    }
}

/// Buffers for the names and rdata of the answers being read.
#[derive(Debug, Default)]
pub struct AnswerScratch {
    owner: Vec<u8>,
    rdata: Vec<u8>,
}

/// The question's name at `at` as [`read_name`] gives it, and where it ends. A reply's
/// question is usually the query's own, in lowercase and without compression: then the name
/// is read in place, not copied.
fn read_question_name(message: &[u8], at: usize) -> Result<(Cow<'_, [u8]>, usize), MessageError> {
    let mut end = at;
    while let Some(&len) = message.get(end) {
        if len == 0 {
            let name = &message[at..=end];
            if name.len() <= MAX_NAME_LEN {
                return Ok((Cow::Borrowed(name), end + 1));
            }
            break;
        }
        let label = match message.get(end + 1..end + 1 + usize::from(len)) {
            Some(label) if len < 0x40 => label,
            _ => break, // a pointer, a reserved label type, or cut short
        };
        if label.iter().any(u8::is_ascii_uppercase) {
            break;
        }
        end += 1 + usize::from(len);
    }
    let mut name = Vec::with_capacity(64);
    let end = read_name(message, at, &mut name)?;
    Ok((Cow::Owned(name), end))
}

/// Appends the name at `at`, following compression pointers (backwards only, so no loops),
/// lowercased. Returns the offset just past the name where it sits.
fn read_name(message: &[u8], mut at: usize, out: &mut Vec<u8>) -> Result<usize, MessageError> {
    let start_len = out.len();
    let mut resume_at = None;
    loop {
        let len = *message.get(at).ok_or("message ends inside a name")?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                out.push(0);
                if out.len() - start_len > MAX_NAME_LEN {
                    return Err("name longer than 255 bytes".into());
                }
                return Ok(resume_at.unwrap_or(at + 1));
            }
            0x00 => {
                let label = message
                    .get(at + 1..at + 1 + usize::from(len))
                    .ok_or("message ends inside a label")?;
                out.push(len);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                if out.len() - start_len > MAX_NAME_LEN {
                    return Err("name longer than 255 bytes".into());
                }
                at += 1 + usize::from(len);
            }
            0xc0 => {
                let low = *message.get(at + 1).ok_or("message ends inside a pointer")?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                if target >= at {
                    return Err("compression pointer does not point backwards".into());
                }
                resume_at.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(format!("unsupported label type {len:#04x}")),
        }
    }
}

/// One piece of an rdata layout, for finding the names inside it.
#[derive(Clone, Copy)]
enum Piece {
    Name,
    Fixed(usize),
    CharStrings(usize),
}

/// The leading pieces of the rdata of types whose names are decompressed (see the module
/// documentation for which); the rest is copied as it is.
fn layout(rtype: RecordType) -> &'static [Piece] {
    use Piece::*;
    match rtype.0 {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        // MINFO, RP
        14 | 17 => &[Name, Name],
        6 => &[Name, Name],
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => &[Fixed(2), Name],
        // PX
        26 => &[Fixed(2), Name, Name],
        33 => &[Fixed(6), Name],
        35 => &[Fixed(4), CharStrings(3), Name],
        // SIG, RRSIG: the signer's name follows 18 bytes of fixed fields.
        24 | 46 => &[Fixed(18), Name],
        // NXT, NSEC: the next name comes first, the type bitmap after it.
        30 | 47 => &[Name],
        // SVCB, HTTPS
        64 | 65 => &[Fixed(2), Name],
        _ => &[],
    }
}

/// Copies the rdata at `start..end`, decompressing and lowercasing the names in it.
fn decompress_rdata(
    message: &[u8],
    start: usize,
    end: usize,
    rtype: RecordType,
    out: &mut Vec<u8>,
) -> Result<(), MessageError> {
    let mut at = start;
    let bad = || format!("malformed {rtype} record");
    for piece in layout(rtype) {
        match *piece {
            Piece::Name => at = read_name(&message[..end], at, out).map_err(|_| bad())?,
            Piece::Fixed(len) => {
                out.extend_from_slice(
                    message
                        .get(at..at + len)
                        .filter(|_| at + len <= end)
                        .ok_or_else(bad)?,
                );
                at += len;
            }
            Piece::CharStrings(count) => {
                for _ in 0..count {
                    let len = usize::from(*message.get(at).filter(|_| at < end).ok_or_else(bad)?);
                    let string = message.get(at..at + 1 + len).filter(|_| at + 1 + len <= end);
                    out.extend_from_slice(string.ok_or_else(bad)?);
                    at += 1 + len;
                }
            }
        }
    }
    out.extend_from_slice(&message[at..end]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::name::parse_name;

    fn wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        parse_name(name.as_bytes(), None, &mut out).unwrap();
        out
    }

    /// A response to `query` with `answers` (owner, type, rdata wire) appended as given.
    fn response(query: &[u8], rcode: u8, answers: &[(&[u8], u16, &[u8])]) -> Vec<u8> {
        let question_end = skip_name(query, HEADER_LEN).unwrap() + 4;
        let mut out = query[..question_end].to_vec();
        out[2] |= 0x80;
        out[3] = rcode;
        out[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        for (owner, rtype, rdata) in answers {
            out.extend_from_slice(owner);
            out.extend_from_slice(&rtype.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
            out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            out.extend_from_slice(rdata);
        }
        out
    }

    #[test]
    fn a_plain_question_is_read_in_place_and_any_other_is_lowercased_and_decompressed() {
        let lower = wire("www.example.com.");
        let mut message = vec![0u8; 12];
        message.extend_from_slice(&lower);
        let (name, end) = read_question_name(&message, 12).unwrap();
        assert!(matches!(name, Cow::Borrowed(_)));
        assert_eq!((&name[..], end), (&lower[..], message.len()));

        let mut upper = message.clone();
        upper[13] = b'W';
        let (name, _) = read_question_name(&upper, 12).unwrap();
        assert!(matches!(name, Cow::Owned(_)));
        assert_eq!(&name[..], &lower[..]);

        // "www" then a pointer back to "example.com." at offset 16.
        let mut pointed = message.clone();
        pointed.extend_from_slice(&[3, b'w', b'w', b'w', 0xc0, 16]);
        let (name, end) = read_question_name(&pointed, message.len()).unwrap();
        assert_eq!((&name[..], end), (&lower[..], pointed.len()));
        assert!(read_question_name(&message[..20], 12).is_err(), "cut short");
    }

    #[test]
    fn answers_are_decompressed_lowercased_and_canonical() {
        let mut query = Vec::new();
        encode_query(
            0x1234,
            &wire("www.example.com."),
            RecordType::MX,
            1232,
            &mut query,
        );
        assert_eq!(message_id(&query), Some(0x1234));
        // Owner: pointer to the question name (offset 12). Exchange: "MAIL" + pointer to
        // "example.com." inside the question (offset 16).
        let exchange = [&[0, 10, 4][..], b"MAIL", &[0xc0, 16]].concat();
        let message = response(&query, 0, &[(&[0xc0, 12], 15, &exchange)]);
        let parsed = Response::parse(&message).unwrap();
        assert!(parsed.is_response && !parsed.truncated);
        assert_eq!(
            parsed.question,
            Some((Cow::Owned(wire("www.example.com.")), 15, 1))
        );
        let mut seen = Vec::new();
        parsed
            .for_each_answer(|owner, rtype, class, ttl, rdata| {
                let mut text = String::new();
                canonical_rdata(rtype, class, rdata, &mut text)?;
                seen.push((owner.to_vec(), rtype, ttl, text));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            seen,
            [(
                wire("www.example.com."),
                RecordType::MX,
                3600,
                "10 mail.example.com.".to_string()
            )]
        );
    }

    /// The canonical text of each answer in `message`.
    fn answer_texts(message: &[u8]) -> Vec<String> {
        let mut texts = Vec::new();
        Response::parse(message)
            .unwrap()
            .for_each_answer(|_, rtype, class, _, rdata| {
                let mut text = String::new();
                canonical_rdata(rtype, class, rdata, &mut text)?;
                texts.push(text);
                Ok(())
            })
            .unwrap();
        texts
    }

    #[test]
    fn names_in_sig_and_nxt_rdata_are_decompressed() {
        let mut query = Vec::new();
        encode_query(7, &wire("www.example.com."), RecordType::NXT, 1232, &mut query);
        // Pointers to "example.com." inside the question (offset 16), as RFC 2535 allowed.
        let signer = [0xc0, 16];
        let sig = [
            &[0, 30, 8, 3][..],
            &3600u32.to_be_bytes(),
            &1_704_067_200u32.to_be_bytes(),
            &1_701_388_800u32.to_be_bytes(),
            &[0x30, 0x39],
            &signer,
            &[3, 1, 0, 1],
        ]
        .concat();
        let nxt = [&[4][..], b"NEXT", &[0xc0, 16], &[0x40, 0x01, 0x00, 0x82]].concat();
        let message = response(&query, 0, &[(&[0xc0, 12], 24, &sig), (&[0xc0, 12], 30, &nxt)]);
        assert_eq!(
            answer_texts(&message),
            [
                "NXT 8 3 3600 20240101000000 20231201000000 12345 example.com. AwEAAQ==",
                "next.example.com. A MX SIG NXT",
            ]
        );
    }

    #[test]
    fn hostile_messages_are_errors_not_panics() {
        let mut query = Vec::new();
        encode_query(1, &wire("a."), RecordType::A, 1232, &mut query);
        let looping = response(&query, 0, &[(&[0xc0, 30], 1, &[1, 2, 3, 4])]);
        assert!(Response::parse(&looping)
            .unwrap()
            .for_each_answer(|_, _, _, _, _| Ok(()))
            .is_err());
        for cut in 0..looping.len() {
            if let Ok(parsed) = Response::parse(&looping[..cut]) {
                let _ = parsed.for_each_answer(|_, _, _, _, _| Ok(()));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(parsed) = Response::parse(&bytes) {
                let _ = parsed.for_each_answer(|_, rtype, class, _, rdata| {
                    let mut text = String::new();
                    canonical_rdata(rtype, class, rdata, &mut text)
                });
            }
        }
    }
}
