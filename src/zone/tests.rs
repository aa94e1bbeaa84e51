//! Parser behaviour end to end, and the bounded fuzz run: no input may panic the parser.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::record::{RecordSet, RecordType};

fn options(origin: Option<&str>) -> ParseOptions {
    ParseOptions {
        origin: origin.map(str::to_string),
        ..ParseOptions::default()
    }
}

fn parse(text: &str, origin: Option<&str>) -> Result<RecordSet, ZoneError> {
    match parse_bytes(text.as_bytes(), Arc::from("t.zone"), None, &options(origin)) {
        Ok(parsed) => Ok(parsed.records),
        Err(ParseFailure::Syntax(error)) => Err(error),
        Err(other) => panic!("unexpected failure {other}"),
    }
}

fn lines(records: &RecordSet) -> Vec<String> {
    records.iter().map(|r| r.to_string()).collect()
}

#[test]
fn owners_ttls_and_classes_are_inherited() {
    let text = "$ORIGIN example.com.\n\
                @ 3600 IN SOA ns host 1 2 3 4 300\n\
                \tIN NS ns\n\
                www A 192.0.2.1\n\
                \t 60 AAAA ::1\n\
                mail IN 120 MX 10 @\n\
                other.net. TXT x\n";
    let records = parse(text, None).unwrap();
    assert_eq!(
        lines(&records),
        [
            "example.com. 3600 IN SOA ns.example.com. host.example.com. 1 2 3 4 300",
            "example.com. 3600 IN NS ns.example.com.",
            "www.example.com. 3600 IN A 192.0.2.1",
            "www.example.com. 60 IN AAAA ::1",
            "mail.example.com. 120 IN MX 10 example.com.",
            "other.net. 120 IN TXT \"x\"",
        ]
    );
}

#[test]
fn default_ttl_follows_bind() {
    // $TTL wins over the last explicit TTL.
    let records = parse("$TTL 100\na.x. 5 A 1.1.1.1\nb.x. A 1.1.1.2\n", None).unwrap();
    assert_eq!(records.get(1).unwrap().ttl, 100);
    // Without $TTL, the last explicit TTL.
    let records = parse("a.x. 5 A 1.1.1.1\nb.x. A 1.1.1.2\n", None).unwrap();
    assert_eq!(records.get(1).unwrap().ttl, 5);
    // Without either, the SOA minimum, which then becomes the default.
    let records = parse(
        "x. SOA ns.x. h.x. 1 2 3 4 77\na.x. 9 A 1.1.1.1\nb.x. A 1.1.1.2\n",
        None,
    )
    .unwrap();
    assert_eq!(records.get(0).unwrap().ttl, 77);
    assert_eq!(records.get(2).unwrap().ttl, 77);
    let err = parse("a.x. A 1.1.1.1\n", None).unwrap_err();
    assert!(err.message.contains("no TTL"), "{err}");
}

#[test]
fn errors_carry_line_and_column() {
    let err = parse("$TTL 1\na.x. A 1.1.1.1\nb.x. A 1.1.1.300\n", None).unwrap_err();
    assert_eq!((err.line, err.column), (3, 8));
    assert!(err.message.contains("bad IPv4 address '1.1.1.300'"), "{err}");
    assert_eq!(err.to_string(), "t.zone:3:8: A: bad IPv4 address '1.1.1.300'");
    let err = parse("$TTL 1\na.x. MX 10\n", None).unwrap_err();
    assert_eq!((err.line, err.column), (2, 11));
    assert!(err.message.contains("missing exchange"), "{err}");
    let err = parse("$TTL 1\na.x. BOGUS 1\n", None).unwrap_err();
    assert_eq!((err.line, err.column), (2, 6));
    let err = parse("$TTL 1\nwww A 1.1.1.1\n", None).unwrap_err();
    assert!(err.message.contains("no origin"), "{err}");
}

#[test]
fn collect_mode_keeps_good_records_and_all_errors() {
    let text = "$TTL 1\na.x. A 1.1.1.1\nb.x. A nope\nc.x. TXT \"open\nd.x. A 1.1.1.4\ne.x. MX ( 10\n bad..name. )\nf.x. A 1.1.1.6\n";
    let opts = ParseOptions {
        collect_errors: true,
        ..ParseOptions::default()
    };
    let parsed = parse_bytes(text.as_bytes(), Arc::from("t"), None, &opts).unwrap();
    let names: Vec<_> = parsed.records.iter().map(|r| r.name).collect();
    assert_eq!(names, ["a.x.", "d.x.", "f.x."]);
    let at: Vec<_> = parsed.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(at, [(3, 8), (4, 10), (7, 2)]);
}

#[test]
fn include_reads_relative_files_and_restores_origin() {
    let dir = std::env::temp_dir().join(format!("dnsmill-include-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("sub/child.zone"),
        "www A 10.0.0.1\n$ORIGIN deeper.\nx A 10.0.0.2\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.zone"),
        "$TTL 60\n$ORIGIN example.com.\nhost A 10.0.0.9\n$INCLUDE sub/child.zone inner.example.com.\n\tA 10.0.0.10\nafter A 10.0.0.11\n",
    )
    .unwrap();
    let opts = ParseOptions {
        allow_include: true,
        ..ParseOptions::default()
    };
    let parsed = parse_file(&dir.join("main.zone"), &opts).unwrap();
    assert_eq!(
        lines(&parsed.records),
        [
            "host.example.com. 60 IN A 10.0.0.9",
            "www.inner.example.com. 60 IN A 10.0.0.1",
            "x.deeper. 60 IN A 10.0.0.2",
            "host.example.com. 60 IN A 10.0.0.10",
            "after.example.com. 60 IN A 10.0.0.11",
        ]
    );
    let refused = parse_file(&dir.join("main.zone"), &ParseOptions::default()).unwrap_err();
    assert!(refused.to_string().contains("$INCLUDE is disabled"), "{refused}");
    std::fs::write(dir.join("loop.zone"), "$INCLUDE loop.zone\n").unwrap();
    let looped = parse_file(&dir.join("loop.zone"), &opts).unwrap_err();
    assert!(looped.to_string().contains("deeper than the limit"), "{looped}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn generate_expands_and_is_capped() {
    let records = parse(
        "$TTL 5\n$ORIGIN x.\n$GENERATE 1-3 host$ A 10.0.0.$\n$GENERATE 0-2/2 a${0,3,d} CNAME b${5,4,x}\n$GENERATE 1-1 p$ 60 IN MX \"10 mx$\"\n",
        None,
    )
    .unwrap();
    assert_eq!(
        lines(&records),
        [
            "host1.x. 5 IN A 10.0.0.1",
            "host2.x. 5 IN A 10.0.0.2",
            "host3.x. 5 IN A 10.0.0.3",
            "a000.x. 5 IN CNAME b0005.x.",
            "a002.x. 5 IN CNAME b0007.x.",
            "p1.x. 60 IN MX 10 mx1.x.",
        ]
    );
    let err = parse("$TTL 5\n$GENERATE 0-4000000000 h$.x. A 10.0.0.1\n", None).unwrap_err();
    assert!(err.message.contains("over the limit"), "{err}");
}

/// A zone of `filler` records around three `$GENERATE`s of 400 records each (the third on
/// line `filler * 3 + 5`, its range at column 11), and options that allow 1000 in all.
fn generating_zone(filler: usize) -> (String, ParseOptions) {
    let mut text = String::from("$TTL 5\n$ORIGIN x.\n");
    for directive in 0..3 {
        for i in 0..filler {
            text.push_str(&format!("f{directive}-{i} A 192.0.2.1\n"));
        }
        text.push_str(&format!("$GENERATE 1-400 g{directive}-$ A 10.0.0.1\n"));
    }
    let options = ParseOptions {
        limits: Limits {
            max_generate: 500,
            max_generate_total: 1000,
            ..Limits::default()
        },
        ..ParseOptions::default()
    };
    (text, options)
}

#[test]
fn generate_is_capped_for_the_zone_as_a_whole() {
    let (text, options) = generating_zone(2);
    let expected = "t.zone:11:11: $GENERATE would take the records generated in this zone to 1200, over \
                    the limit of 1000 for all $GENERATE directives together";
    for collect_errors in [false, true] {
        let options = ParseOptions {
            collect_errors,
            ..options.clone()
        };
        let failure = parse_bytes(text.as_bytes(), Arc::from("t.zone"), None, &options).unwrap_err();
        assert_eq!(failure.to_string(), expected, "collecting: {collect_errors}");
    }
    // Two of them fit.
    let two: String = text.lines().take(8).map(|line| format!("{line}\n")).collect();
    let parsed = parse_bytes(two.as_bytes(), Arc::from("t.zone"), None, &options).unwrap();
    assert_eq!(parsed.records.len(), 804);
}

#[test]
fn generate_total_holds_across_parts() {
    // Each directive in a part of its own: no part goes over the limit by itself.
    let (text, options) = generating_zone(2000);
    for parts in [1, 2, 3, 4, 7] {
        let split = ParseOptions {
            parallelism: Parallelism {
                max_parts: Some(parts),
                min_part_bytes: 1,
            },
            ..options.clone()
        };
        let failure = parse_bytes(text.as_bytes(), Arc::from("t.zone"), None, &split).unwrap_err();
        assert!(
            failure.to_string().starts_with(
                "t.zone:6005:11: $GENERATE would take the records generated \
                                             in this zone to 1200,"
            ),
            "{parts} parts: {failure}"
        );
    }
    // Errors before the directive that goes over come first, as in one pass.
    let mut text = text.replacen("f1-5 A 192.0.2.1", "f1-5 A 192.0.2.300", 1);
    text = text.replacen("f2-7 A 192.0.2.1", "f2-7 A nope", 1);
    for max_errors in [1, 2, 3] {
        let options = ParseOptions {
            collect_errors: true,
            limits: Limits {
                max_errors,
                ..options.limits.clone()
            },
            ..options.clone()
        };
        assert_parts_agree(text.as_bytes(), &options, &[2, 3, 4, 7]);
    }
}

#[test]
fn generate_total_counts_included_files_and_stops_the_includer() {
    let dir = std::env::temp_dir().join(format!("dnsmill-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("more.zone"), "$GENERATE 1-400 m$ A 10.0.0.1\n").unwrap();
    std::fs::write(
        dir.join("main.zone"),
        "$TTL 5\n$ORIGIN x.\n$GENERATE 1-400 a$ A 10.0.0.1\n$GENERATE 1-400 b$ A 10.0.0.1\n\
         $INCLUDE more.zone\nafter A 10.0.0.2\n",
    )
    .unwrap();
    let options = ParseOptions {
        allow_include: true,
        collect_errors: true,
        limits: Limits {
            max_generate_total: 1000,
            ..Limits::default()
        },
        ..ParseOptions::default()
    };
    let failure = parse_file(&dir.join("main.zone"), &options).unwrap_err();
    assert!(
        failure.to_string().ends_with(
            "more.zone:1:11: $GENERATE would take the records generated in this zone to 1200, over the \
             limit of 1000 for all $GENERATE directives together"
        ),
        "{failure}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn limits_reject_hostile_input_clearly() {
    let opts = ParseOptions {
        limits: Limits {
            max_line_len: 100,
            ..Limits::default()
        },
        ..ParseOptions::default()
    };
    let text = format!("$TTL 1\nx. TXT \"{}\"\n", "a".repeat(200));
    let err = parse_bytes(text.as_bytes(), Arc::from("t"), None, &opts).unwrap_err();
    assert!(err.to_string().contains("longer than the limit of 100"), "{err}");
    let big_txt = format!("$TTL 1\nx. TXT {}\n", vec!["\"abc\""; 20_000].join(" "));
    let err = parse(&big_txt, None).unwrap_err();
    assert!(err.message.contains("over the limit of 65535"), "{err}");
}

#[test]
fn known_types_in_generic_form_equal_the_normal_form() {
    let records = parse(
        "$TTL 1\na.x. A 192.0.2.1\na.x. TYPE1 \\# 4 C0000201\nb.x. CLASS1 MX \\# 8 000A 02 6D78 0178 00\n",
        None,
    )
    .unwrap();
    assert_eq!(records.get(0).unwrap().rdata, records.get(1).unwrap().rdata);
    assert_eq!(records.get(2).unwrap().rdata, "10 mx.x.");
    assert_eq!(records.get(2).unwrap().rtype, RecordType::MX);
}

#[test]
fn written_zones_parse_back_to_the_same_records() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/all-types.zone")).unwrap();
    let records = parse(&text, Some("example.com")).unwrap();
    assert!(records.len() > 50);
    let written = to_zone_text(&records);
    let again = parse(&written, None).unwrap();
    let mut a = lines(&records);
    let mut b = lines(&again);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

/// Records, errors, warnings and failure of a parse, as text, for comparing parses.
fn outcome(bytes: &[u8], options: &ParseOptions) -> Outcome {
    match parse_bytes(bytes, Arc::from("t.zone"), None, options) {
        Ok(parsed) => (lines(&parsed.records), parsed.errors, parsed.warnings, None),
        Err(failure) => (Vec::new(), Vec::new(), Vec::new(), Some(failure.to_string())),
    }
}

type Outcome = (Vec<String>, Vec<ZoneError>, Vec<ZoneError>, Option<String>);

/// Parsing in `parts` on several threads must give exactly what one pass gives.
fn assert_parts_agree(bytes: &[u8], options: &ParseOptions, parts: &[usize]) {
    let one_pass = ParseOptions {
        parallelism: Parallelism {
            max_parts: Some(1),
            ..Parallelism::default()
        },
        ..options.clone()
    };
    let expected = outcome(bytes, &one_pass);
    for &parts in parts {
        let split = ParseOptions {
            parallelism: Parallelism {
                max_parts: Some(parts),
                min_part_bytes: 1,
            },
            ..options.clone()
        };
        assert_eq!(outcome(bytes, &split), expected, "{parts} parts");
    }
}

#[test]
fn parts_agree_with_one_pass() {
    let zone = "$TTL 300\n$ORIGIN example.com.\n@ SOA ns h (\n1 2 3\n4 5 )\n NS ns\n\
        ns A 192.0.2.1\nwww 60 A 192.0.2.2\n AAAA ::1\n$ORIGIN sub\nx TXT \"a ; b\" ( \"c\"\n)\n\
        y CNAME x\n$TTL 1h\n$origin other.example.\nz MX 10 mx\n\
        ; comment\nq ( A\n192.0.2.9 )\nr CH A 192.0.2.1\nbroken A 999.1.1.1\ns A 192.0.2.3\n";
    for (collect_errors, check) in [(false, false), (true, false), (false, true), (true, true)] {
        let options = ParseOptions {
            collect_errors,
            check,
            ..ParseOptions::default()
        };
        assert_parts_agree(zone.as_bytes(), &options, &[2, 3, 7]);
        assert_parts_agree(
            SEED_ZONE.as_bytes(),
            &ParseOptions {
                origin: Some("example.com".into()),
                ..options
            },
            &[2, 3, 7],
        );
    }
    // No $TTL: the SOA minimum, then the last explicit TTL, are inherited across the cuts.
    assert_parts_agree(
        b"a.x. SOA ns.x. h.x. 1 2 3 4 5\nb.x. A 192.0.2.1\nc.x. 7 A 192.0.2.2\nd.x. A 192.0.2.3\n",
        &ParseOptions::default(),
        &[2, 3, 7],
    );
}

#[test]
fn files_read_in_pieces_parse_like_one_read() {
    let dir = std::env::temp_dir().join(format!("dnsmill-pieces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pieces.zone");
    let mut text = String::from("$ORIGIN example.com.\n$TTL 300\n");
    for i in 0..500 {
        text.push_str(&format!(
            "host-{i} A 192.0.2.{}\n AAAA 2001:db8::{i:x}\n",
            i % 250
        ));
    }
    std::fs::write(&path, &text).unwrap();
    let pieces = ParseOptions {
        parallelism: Parallelism {
            max_parts: Some(3),
            min_part_bytes: 1,
        },
        ..ParseOptions::default()
    };
    let from_file = parse_file(&path, &pieces).unwrap();
    let from_text = parse(&text, None).unwrap();
    assert_eq!(from_file.records.len(), 1000);
    assert_eq!(lines(&from_file.records), lines(&from_text));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn parse_anything(bytes: &[u8]) {
    for collect_errors in [false, true] {
        let opts = ParseOptions {
            origin: Some("example.com.".into()),
            collect_errors,
            // The zone check too, where it cannot cut the parse short.
            check: collect_errors,
            limits: Limits {
                max_generate: 1000,
                max_generate_total: 3000,
                ..Limits::default()
            },
            ..ParseOptions::default()
        };
        if let Ok(parsed) = parse_bytes(bytes, Arc::from("fuzz"), None, &opts) {
            // Whatever was accepted must write out and parse back identically.
            let written = to_zone_text(&parsed.records);
            let again = parse_bytes(
                written.as_bytes(),
                Arc::from("again"),
                None,
                &ParseOptions::default(),
            )
            .unwrap_or_else(|e| panic!("rewritten zone does not parse: {e}\n{written}"));
            assert_eq!(again.records.len(), parsed.records.len());
        }
        // Two cuts catch what more would, at a third of the threads.
        assert_parts_agree(bytes, &opts, &[3]);
    }
}

const SEED_ZONE: &str = include_str!("../../tests/data/all-types.zone");

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_anything(&bytes);
    }

    #[test]
    fn mutated_zones_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..24)
    ) {
        let mut bytes = SEED_ZONE.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len().max(1));
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        parse_anything(&bytes);
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(prop::sample::select(vec![
        "a", "@", ".", "*", "\\", "\\#", "0", "65536", "1h", "IN", "CH", "CLASS9", "A", "MX", "TXT", "SVCB",
        "LOC", "APL", "NSEC", "RRSIG", "TYPE0", "(", ")", "\"", ";c", "\n", "\t", " ", "$ORIGIN", "$TTL",
        "$GENERATE", "$INCLUDE", "1-5", "${0,3,n}", "alpn=h2", "mandatory=port", "1:1.2.3.4/8", "N", "E",
        "-1m", "\\255", "\\.", "x.y.", "20240101000000", "aGVsbG8=", "ABCD", "-",
    ]), 0..64)) {
        let text: String = tokens.iter().flat_map(|t| [*t, " "]).collect();
        parse_anything(text.as_bytes());
    }
}

#[test]
fn an_empty_dohpath_writes_out_and_parses_back() {
    let opts = ParseOptions {
        origin: Some("example.com.".into()),
        ..ParseOptions::default()
    };
    let parsed = parse_bytes(b"@ 300 IN SVCB 1 . dohpath=\"\"\n", Arc::from("t"), None, &opts).unwrap();
    let written = to_zone_text(&parsed.records);
    assert!(written.contains("dohpath=\"\""), "{written}");
    let again = parse_bytes(
        written.as_bytes(),
        Arc::from("again"),
        None,
        &ParseOptions::default(),
    )
    .unwrap();
    let rdata = |set: &crate::record::RecordSet| set.get(0).map(|r| r.rdata.to_string());
    assert_eq!(rdata(&again.records), rdata(&parsed.records));
}
