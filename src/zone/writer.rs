//! Writes record sets out: as a master file BIND and Knot load, as JSON lines, or as CSV.

use std::io::{self, Write};

use crate::record::{RecordRef, RecordSet, RecordType};

/// Output formats of [`write_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A master file: absolute names, one record per line, the SOA first.
    Zone,
    /// One JSON object per line: name, type, class, ttl, rdata.
    JsonLines,
    /// CSV with a header row: name,type,class,ttl,rdata.
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "zone" | "text" => Ok(Format::Zone),
            "jsonl" | "ndjson" | "json" => Ok(Format::JsonLines),
            "csv" => Ok(Format::Csv),
            other => Err(format!("unknown format '{other}' (use zone, jsonl or csv)")),
        }
    }
}

/// Writes `records` to `out` in `format`.
pub fn write_records(records: &RecordSet, format: Format, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    match format {
        Format::Zone => {
            // Loaders want the SOA before anything else at the apex.
            for record in records.iter().filter(|r| r.rtype == RecordType::SOA) {
                write_zone_line(&record, &mut out)?;
            }
            for record in records.iter().filter(|r| r.rtype != RecordType::SOA) {
                write_zone_line(&record, &mut out)?;
            }
        }
        Format::JsonLines => {
            for record in records.iter() {
                serde_json::to_writer(&mut out, &record)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            out.write_all(b"name,type,class,ttl,rdata\n")?;
            for record in records.iter() {
                write_csv_field(record.name, &mut out)?;
                write!(out, ",{},{},{},", record.rtype, record.class, record.ttl)?;
                write_csv_field(record.rdata, &mut out)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()
}

fn write_zone_line(record: &RecordRef<'_>, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}",
        record.name, record.ttl, record.class, record.rtype, record.rdata
    )
}

/// Writes one CSV field, quoted when it holds a quote, comma or line break (RFC 4180).
pub fn write_csv_field(text: &str, out: &mut impl Write) -> io::Result<()> {
    if text.contains(['"', ',', '\n', '\r']) {
        out.write_all(b"\"")?;
        out.write_all(text.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(text.as_bytes())
    }
}

/// The zone text of `records`, as [`write_records`] with [`Format::Zone`] writes it.
pub fn to_zone_text(records: &RecordSet) -> String {
    let mut out = Vec::with_capacity(records.text_bytes() + records.len() * 24);
    write_records(records, Format::Zone, &mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("canonical record text is ASCII")
}
