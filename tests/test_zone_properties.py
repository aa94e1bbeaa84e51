"""Property tests: whatever records dnsmill accepts, it writes out and reads back unchanged, and
the bytes inside names and strings survive escaping exactly."""

from __future__ import annotations

import ipaddress

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dnsmill import parse_zone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def escape(data: bytes, specials: bytes) -> str:
    out = []
    for byte in data:
        if byte in specials or byte < 0x21 or byte > 0x7E:
            out.append(f"\\{byte:03d}")
        else:
            out.append(chr(byte))
    return "".join(out)


labels = st.binary(min_size=1, max_size=20)
names = st.lists(labels, min_size=1, max_size=4).map(lambda ls: [*ls, b"example"])


def name_text(parts: list[bytes]) -> str:
    return ".".join(escape(p, b'.;\\()@$"') for p in parts) + "."


def char_string(data: bytes) -> str:
    return '"' + escape(data, b'"\\') + '"'


record_lines = st.one_of(
    st.builds(lambda n, ip: (n, "A", str(ipaddress.IPv4Address(ip))), names, st.integers(0, 2**32 - 1)),
    st.builds(lambda n, ip: (n, "AAAA", str(ipaddress.IPv6Address(ip))), names, st.integers(0, 2**128 - 1)),
    st.builds(lambda n, p, t: (n, "MX", f"{p} {name_text(t)}"), names, st.integers(0, 65535), names),
    st.builds(
        lambda n, ss: (n, "TXT", " ".join(char_string(s) for s in ss)),
        names,
        st.lists(st.binary(max_size=255), min_size=1, max_size=4),
    ),
    st.builds(
        lambda n, a, b, c, t: (n, "SRV", f"{a} {b} {c} {name_text(t)}"),
        names,
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.integers(0, 65535),
        names,
    ),
    st.builds(
        lambda n, tag, value: (n, "CAA", f"0 {tag} {char_string(value)}"),
        names,
        st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=15),
        st.binary(max_size=300),
    ),
    st.builds(
        lambda n, code, data: (n, f"TYPE{code}", f"\\# {len(data)} {data.hex()}" if data else "\\# 0"),
        names,
        st.integers(65280, 65534),
        st.binary(max_size=64),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(record_lines, st.integers(0, 2**31 - 1)), min_size=1, max_size=30))
def test_written_zones_read_back_identically(entries: list[tuple[tuple[list[bytes], str, str], int]]) -> None:
    text = "".join(f"{name_text(n)} {ttl} IN {rtype} {rdata}\n" for (n, rtype, rdata), ttl in entries)
    zone = parse_zone(text)
    assert len(zone) == len(entries)
    again = parse_zone(zone.to_text())
    assert [repr(r) for r in again] == [repr(r) for r in zone]
    for record, ((parts, _rtype, rdata), ttl) in zip(zone, entries, strict=True):
        assert record.ttl == ttl
        expected_owner = dns.name.Name([p.lower() for p in parts] + [b""])
        assert dns.name.from_text(record.name) == expected_owner
        assert dns.name.from_text(record.name).labels == expected_owner.labels
        # dnspython reads dnsmill's canonical rdata as the same wire data as the input.
        ours = dns.rdata.from_text(dns.rdataclass.IN, record.rtype, record.rdata, origin=dns.name.root)
        theirs = dns.rdata.from_text(dns.rdataclass.IN, record.rtype, rdata, origin=dns.name.root)
        assert ours.to_digestable(dns.name.root) == theirs.to_digestable(dns.name.root)
