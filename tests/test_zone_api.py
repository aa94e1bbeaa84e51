"""The Python face of the zone parser: inputs, the Zone and Record objects, errors."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import dnsmill
import pytest
from dnsmill import Record, ZoneSyntaxError, parse_zone

SMALL = """$TTL 300
$ORIGIN example.com.
@       IN SOA ns1 hostmaster ( 7 1h 15m 1w 1d )
        IN NS  ns1
ns1     IN A   192.0.2.1
www     IN A   192.0.2.10
www     IN AAAA 2001:db8::10
@       IN MX  10 mail
mail    IN A   192.0.2.25
_sip._tcp IN SRV 5 60 5060 sip
"""


def test_text_bytes_and_paths_parse_the_same(tmp_path: Path) -> None:
    path = tmp_path / "example.com.zone"
    path.write_text(SMALL)
    zones = [
        parse_zone(SMALL),
        parse_zone(SMALL.encode()),
        parse_zone(bytearray(SMALL.encode())),
        parse_zone(path),
        parse_zone(str(path)),
    ]
    texts = {z.to_text() for z in zones}
    assert len(texts) == 1
    assert len(zones[0]) == 8


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_zone(tmp_path / "absent.zone")
    with pytest.raises(FileNotFoundError):
        parse_zone(str(tmp_path / "absent.zone"))


def test_zone_queries_without_record_objects() -> None:
    zone = parse_zone(SMALL)
    assert zone.count_by_type() == {"A": 3, "NS": 1, "SOA": 1, "MX": 1, "AAAA": 1, "SRV": 1}
    assert zone.names()[:3] == ["example.com.", "ns1.example.com.", "www.example.com."]
    only_a = zone.filter(type="A")
    assert isinstance(only_a, dnsmill.Zone)
    assert [r.name for r in only_a] == ["ns1.example.com.", "www.example.com.", "mail.example.com."]
    assert len(zone.filter(type=["A", "AAAA"])) == 4
    assert len(zone.filter(type="A,AAAA")) == 4
    assert [r.type for r in zone.filter(name="WWW.example.com")] == ["A", "AAAA"]
    assert len(zone.filter(under="example.com.")) == 8
    assert len(zone.filter(under="_tcp.example.com")) == 1
    assert len(zone.filter(type="MX", under="example.com")) == 1
    with pytest.raises(ValueError, match="unknown record type"):
        zone.filter(type="NOPE")
    stats = zone.stats()
    assert stats["records"] == 8
    assert stats["names"] == 5
    assert (stats["ttl_min"], stats["ttl_max"]) == (300, 300)


def test_records_are_frozen_hashable_and_typed() -> None:
    zone = parse_zone(SMALL)
    soa = zone[0]
    assert repr(soa) == (
        "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 7 3600 900 604800 86400"
    )
    assert soa.serial == 7
    assert soa.soa == {
        "mname": "ns1.example.com.",
        "rname": "hostmaster.example.com.",
        "serial": 7,
        "refresh": 3600,
        "retry": 900,
        "expire": 604800,
        "minimum": 86400,
    }
    mx = zone.filter(type="MX")[0]
    assert (mx.preference, mx.exchange) == (10, "mail.example.com.")
    assert mx.priority is None
    srv = zone.filter(type="SRV")[0]
    assert (srv.priority, srv.weight, srv.port, srv.target) == (5, 60, 5060, "sip.example.com.")
    assert (srv.rtype, srv.rclass) == (33, "IN")
    with pytest.raises(AttributeError):
        mx.ttl = 5  # type: ignore[misc]
    assert zone[-1] == srv
    assert len(set(zone) | set(zone)) == 8
    assert hash(zone[1]) == hash(parse_zone(SMALL)[1])
    assert pickle.loads(pickle.dumps(mx)) == mx
    assert mx.to_dict() == {
        "name": "example.com.",
        "type": "MX",
        "class": "IN",
        "ttl": 300,
        "rdata": "10 mail.example.com.",
    }
    with pytest.raises(IndexError):
        zone[99]
    assert [r.type for r in zone[1:3]] == ["NS", "A"]


def test_record_constructor_validates_and_canonicalises() -> None:
    record = Record("WWW.Example.com", "aaaa", 60, "2001:DB8:0::1")
    assert repr(record) == "www.example.com. 60 IN AAAA 2001:db8::1"
    assert record == Record("www.example.com.", "AAAA", 60, "2001:db8::1")
    with pytest.raises(ValueError, match="bad IPv4 address"):
        Record("a.example.", "A", 1, "300.0.0.1")


def test_syntax_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.zone"
    path.write_text("$TTL 1\n$ORIGIN x.\na A 1.2.3.4\nb MX ten mail\n")
    with pytest.raises(ZoneSyntaxError) as caught:
        parse_zone(path)
    error = caught.value
    assert isinstance(error, dnsmill.DnsmillError)
    assert (error.file, error.line, error.column) == (str(path), 4, 6)
    assert "preference must be a number" in error.message
    assert str(error) == f"{path}:4:6: {error.message}"
    assert type(error).__module__ == "dnsmill"


def test_collect_errors_keeps_the_good_records() -> None:
    text = '$TTL 1\n$ORIGIN x.\na A 1.2.3.4\nb A 1.2.3\nc TXT "ok"\nd CNAME bad..name\ne A 5.6.7.8\n'
    zone = parse_zone(text, collect_errors=True)
    assert [r.name for r in zone] == ["a.x.", "c.x.", "e.x."]
    assert [(e.line, e.column) for e in zone.errors] == [(4, 5), (6, 9)]
    assert all(isinstance(e, ZoneSyntaxError) for e in zone.errors)
    with pytest.raises(ZoneSyntaxError):
        parse_zone(text)


def test_options_origin_default_ttl_and_include(tmp_path: Path) -> None:
    zone = parse_zone("www A 192.0.2.1\n", "example.org", default_ttl=42)
    assert repr(zone[0]) == "www.example.org. 42 IN A 192.0.2.1"
    (tmp_path / "child.zone").write_text("inc A 192.0.2.2\n")
    parent = tmp_path / "parent.zone"
    parent.write_text("$TTL 5\n$ORIGIN example.org.\n$INCLUDE child.zone\n")
    with pytest.raises(ZoneSyntaxError, match="INCLUDE is disabled"):
        parse_zone(parent)
    included = parse_zone(parent, allow_include=True)
    assert repr(included[0]) == "inc.example.org. 5 IN A 192.0.2.2"


def test_write_and_convert_formats(tmp_path: Path) -> None:
    zone = parse_zone(SMALL)
    out = tmp_path / "out.zone"
    zone.write(out)
    assert parse_zone(out).to_text() == zone.to_text()
    jsonl = zone.to_text("jsonl").splitlines()
    assert jsonl[2] == '{"name":"ns1.example.com.","type":"A","class":"IN","ttl":300,"rdata":"192.0.2.1"}'
    csv_lines = zone.to_text("csv").splitlines()
    assert csv_lines[0] == "name,type,class,ttl,rdata"
    with pytest.raises(ValueError, match="unknown format"):
        zone.to_text("xml")  # type: ignore[arg-type]


def test_arrow_pandas_and_polars_exports() -> None:
    pa = pytest.importorskip("pyarrow")
    zone = parse_zone(SMALL)
    table = zone.to_arrow()
    assert table.schema.names == ["name", "type", "class", "ttl", "rdata"]
    assert table.schema.field("ttl").type == pa.uint32()
    assert table.num_rows == 8
    assert table.column("rdata")[3].as_py() == "192.0.2.10"
    assert pa.table(zone).equals(table)
    frame = zone.to_pandas()
    assert str(frame["ttl"].dtype) == "uint32"
    assert list(frame["type"][:2]) == ["SOA", "NS"]
    polars_frame = zone.to_polars()
    assert polars_frame.shape == (8, 5)
    assert polars_frame["name"][3] == "www.example.com."


def test_large_zone_arrow_export_spans_batches() -> None:
    pytest.importorskip("pyarrow")
    text = "$TTL 60\n$ORIGIN big.example.\n" + "".join(
        f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(150_000)
    )
    zone = parse_zone(text)
    table = zone.to_arrow()
    assert table.num_rows == 150_000
    assert table.column("name")[149_999].as_py() == "h149999.big.example."


def test_parsing_releases_the_gil() -> None:
    text = "$TTL 60\n$ORIGIN gil.example.\n" + "".join(f'h{i} TXT "some text {i}"\n' for i in range(200_000))
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        zone = parse_zone(text)
    finally:
        done.set()
        counter.join()
    assert len(zone) == 200_000
    assert ticks > 1000, "the Python thread should run while Rust parses"


def test_write_takes_the_format_from_the_extension(tmp_path: Path) -> None:
    zone = parse_zone("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n", "example.com")
    zone.write(tmp_path / "out.csv")
    zone.write(tmp_path / "out.jsonl")
    zone.write(tmp_path / "out.zone")
    zone.write(tmp_path / "forced.txt", "jsonl")
    assert (tmp_path / "out.csv").read_text().startswith("name,")
    assert (tmp_path / "out.jsonl").read_text().startswith("{")
    assert (tmp_path / "forced.txt").read_text().startswith("{")
    assert parse_zone(tmp_path / "out.zone", "example.com").to_text() == zone.to_text()


def test_generate_is_capped_per_zone_and_the_limits_can_be_changed() -> None:
    """Three directives under the per-directive limit, over the zone's total together."""
    text = "$ORIGIN example.\n$TTL 60\n" + "".join(f"$GENERATE 1-400 h{n}-$ A 192.0.2.1\n" for n in range(3))
    assert len(dnsmill.parse_zone(text)) == 1200
    with pytest.raises(dnsmill.ZoneSyntaxError, match="over the limit of 1000 for all \\$GENERATE") as raised:
        dnsmill.parse_zone(text, limits={"max_generate_total": 1000})
    assert (raised.value.line, raised.value.column) == (5, 11)
    with pytest.raises(dnsmill.ZoneSyntaxError, match="over the limit of 100"):
        dnsmill.parse_zone(text, limits={"max_generate": 100})
    with pytest.raises(ValueError, match="unknown limit 'max_generated'"):
        dnsmill.parse_zone(text, limits={"max_generated": 1})
    with pytest.raises(ValueError, match=r"limits\['max_errors'\] must be at least 1, not 0"):
        dnsmill.parse_zone(text, limits={"max_errors": 0})
