"""dnsmill against dnspython on generated zones covering every directive, type and syntax edge.

Records are compared as sets of (owner, type, TTL, rdata), with rdata compared in DNSSEC
canonical wire form: dnsmill's canonical text is read back by dnspython, so the test also proves
that every canonical string dnsmill produces is valid presentation format for another parser.
"""

from __future__ import annotations

from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from dnsmill import parse_zone
from zonegen import generated_zone

Key = tuple[bytes, int, int, bytes]


def dnspython_records(path: Path, origin: str) -> set[Key]:
    zone = dns.zone.from_file(
        str(path), origin=origin, relativize=False, check_origin=False, allow_include=True
    )
    return {
        (name.canonicalize().to_wire(), rdata.rdtype, ttl, rdata.to_digestable(dns.name.root))
        for name, ttl, rdata in zone.iterate_rdatas()
    }


def dnsmill_records(path: Path, origin: str) -> set[Key]:
    keys = set()
    for record in parse_zone(path, origin, allow_include=True):
        rdata = dns.rdata.from_text(dns.rdataclass.IN, record.rtype, record.rdata, origin=dns.name.root)
        owner = dns.name.from_text(record.name).canonicalize().to_wire()
        keys.add((owner, record.rtype, record.ttl, rdata.to_digestable(dns.name.root)))
    return keys


@pytest.mark.parametrize("seed", range(25))
def test_generated_zones_match_dnspython(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "generated.zone"
    path.write_text(generated_zone(seed, include_dir=tmp_path, for_dnspython=True), newline="")
    ours = dnsmill_records(path, "example.com.")
    theirs = dnspython_records(path, "example.com.")
    assert len(ours) > 80
    assert ours - theirs == set()
    assert theirs - ours == set()


def test_generated_zones_hold_every_type_dnspython_reads(tmp_path: Path) -> None:
    path = tmp_path / "generated.zone"
    path.write_text(generated_zone(0, include_dir=tmp_path, for_dnspython=True), newline="")
    present = {rdtype for _, rdtype, _, _ in dnsmill_records(path, "example.com.")}
    readable = {
        rdtype
        for rdtype in dns.rdatatype.RdataType
        if not dns.rdatatype.is_metatype(rdtype)
        and dns.rdata.get_rdata_class(dns.rdataclass.IN, rdtype) is not dns.rdata.GenericRdata
    }
    missing = sorted(dns.rdatatype.to_text(rdtype) for rdtype in readable - present)
    assert missing == []


def test_all_types_zone_matches_dnspython(all_types_zone: Path) -> None:
    assert dnsmill_records(all_types_zone, "example.com.") == dnspython_records(
        all_types_zone, "example.com."
    )
