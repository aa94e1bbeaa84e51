"""The zone check: `dnsmill zone check` and `parse_zone(check=True)` find what BIND and Knot
refuse in a zone that parses (errors) and what they load but do not serve as written
(warnings), each at the line and column of the record concerned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from dnsmill import ZoneSyntaxError, parse_zone

HEAD = "$TTL 300\n$ORIGIN example.com.\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n"


def zone_file(tmp_path: Path, case: str, text: str) -> Path:
    """`text` as example.com.zone in a folder of its own, so the origin comes from the name."""
    folder = tmp_path / case
    folder.mkdir()
    path = folder / "example.com.zone"
    path.write_text(text)
    return path


def check(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsmill", "zone", "check", *flags, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stderr.splitlines()


def test_cname_and_other_data_is_an_error(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "cname", HEAD + "www CNAME ns1\nwww A 192.0.2.2\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [
        f"{path}:7:1: CNAME and other data at www.example.com.: this A record shares its name "
        "with the CNAME at line 6"
    ]
    assert result.stdout == f"{path}: 5 records, 1 error\n"
    signed = HEAD + (
        "www CNAME ns1\n"
        "www RRSIG CNAME 8 3 300 20240101000000 20230101000000 1234 example.com. AAAA\n"
        "www NSEC z CNAME RRSIG NSEC\n"
    )
    assert check(zone_file(tmp_path, "signed", signed)).returncode == 0


def test_a_second_cname_is_an_error(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "two", HEAD + "www CNAME a\nwww CNAME a\nwww CNAME b\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [
        f"{path}:8:1: more than one CNAME at www.example.com. (the first is at line 6)"
    ]


def test_out_of_zone_data_is_a_warning_and_strict_fails_on_it(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "out", HEAD + "www.other.org. A 192.0.2.2\n")
    result = check(path)
    assert result.returncode == 0, result.stderr
    assert problems(result) == [
        f"{path}:6:1: warning: www.other.org. is out of zone (not at or below example.com.); "
        "BIND ignores such records"
    ]
    assert result.stdout == f"{path}: 4 records, 1 warning\n"
    assert check(path, "--strict").returncode == 1


def test_the_apex_has_exactly_one_soa(tmp_path: Path) -> None:
    missing = zone_file(tmp_path, "none", "$TTL 300\n$ORIGIN example.com.\n@ NS ns1\nns1 A 192.0.2.1\n")
    result = check(missing)
    assert result.returncode == 1
    assert problems(result) == [f"{missing}:3:1: no SOA record at the zone apex example.com."]
    misplaced = zone_file(
        tmp_path, "misplaced", HEAD + "www SOA ns1 host 1 2 3 4 5\n@ SOA ns1 host 2 2 3 4 5\n"
    )
    result = check(misplaced)
    assert result.returncode == 1
    assert problems(result) == [
        f"{misplaced}:6:1: SOA record at www.example.com., not at the zone apex example.com.",
        f"{misplaced}:7:1: more than one SOA record at the zone apex example.com. (the first is at line 3)",
    ]


def test_the_apex_has_ns_records(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "no-ns", "$TTL 300\n$ORIGIN example.com.\n@ SOA ns1 host 1 2 3 4 5\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [f"{path}:3:1: no NS records at the zone apex example.com."]


def test_a_delegation_to_a_server_below_it_needs_glue(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "glue", HEAD + "sub NS ns.sub\nsub NS ns.other.org.\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [
        f"{path}:6:1: delegation sub.example.com. has no glue: its name server "
        "ns.sub.example.com. is below it but has no A or AAAA record in the zone"
    ]
    glued = zone_file(tmp_path, "glued", HEAD + "sub NS ns.sub\nns.sub AAAA 2001:db8::53\n")
    assert check(glued).returncode == 0


def test_an_apex_name_server_in_the_zone_has_an_address(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "apex-ns", HEAD + "@ NS ns2\n@ NS www\nwww CNAME ns1\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [
        f"{path}:6:1: name server ns2.example.com. of example.com. is in the zone but has no "
        "A or AAAA record",
        f"{path}:7:1: name server www.example.com. of example.com. is a CNAME; an NS record "
        "must name a host with addresses",
    ]


def test_occluded_data_warns_and_data_below_a_dname_is_an_error(tmp_path: Path) -> None:
    occluded = zone_file(
        tmp_path, "occluded", HEAD + "sub NS ns.sub\nns.sub A 192.0.2.9\nwww.sub A 192.0.2.10\n"
    )
    result = check(occluded)
    assert result.returncode == 0, result.stderr
    assert problems(result) == [
        f"{occluded}:8:1: warning: A record at www.sub.example.com. is below the delegation at "
        "sub.example.com. and is not served (occluded); only glue addresses of its name servers "
        "belong there"
    ]
    dname = zone_file(tmp_path, "dname", HEAD + "sub DNAME other.org.\nwww.sub A 192.0.2.3\n")
    result = check(dname)
    assert result.returncode == 1
    assert problems(result) == [
        f"{dname}:7:1: A record at www.sub.example.com. is below the DNAME at sub.example.com., "
        "and nothing may exist below a DNAME (RFC 6672)"
    ]


def test_a_cname_at_the_apex_is_an_error(tmp_path: Path) -> None:
    path = zone_file(tmp_path, "apex-cname", HEAD + "@ CNAME other.org.\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [
        f"{path}:6:1: CNAME at the zone apex example.com., which must hold the zone's SOA and NS records"
    ]


def test_syntax_errors_come_first_and_the_content_is_checked_once_they_are_fixed(
    tmp_path: Path,
) -> None:
    path = zone_file(tmp_path, "syntax", "$TTL 300\n$ORIGIN example.com.\nwww A 192.0.2.300\n")
    result = check(path)
    assert result.returncode == 1
    assert problems(result) == [f"{path}:3:7: A: bad IPv4 address '192.0.2.300'"]
    path.write_text("$TTL 300\n$ORIGIN example.com.\nwww A 192.0.2.30\n")
    assert problems(check(path)) == [
        f"{path}:3:1: no SOA record at the zone apex example.com.",
        f"{path}:3:1: no NS records at the zone apex example.com.",
    ]


def test_parse_zone_check_collects_or_raises() -> None:
    text = HEAD + "www CNAME ns1\nwww A 192.0.2.2\nx.other.org. A 192.0.2.3\n"
    zone = parse_zone(text, "example.com", collect_errors=True, check=True)
    assert [str(error) for error in zone.errors] == [
        "<string>:7:1: CNAME and other data at www.example.com.: this A record shares its name "
        "with the CNAME at line 6"
    ]
    assert zone.warnings == [
        {
            "file": "<string>",
            "line": 8,
            "column": 1,
            "message": "x.other.org. is out of zone (not at or below example.com.); "
            "BIND ignores such records",
        }
    ]
    assert len(zone) == 6
    with pytest.raises(ZoneSyntaxError) as caught:
        parse_zone(text, "example.com", check=True)
    assert (caught.value.line, caught.value.column) == (7, 1)
    plain = parse_zone(text, "example.com", collect_errors=True)
    assert plain.errors == [] and plain.warnings == []


# Zones both tools load must pass; zones either refuses must fail.
DIFFERENTIAL = {
    "sound": HEAD + "www A 192.0.2.2\nsub NS ns.sub\nns.sub A 192.0.2.9\n",
    "cname-and-other": HEAD + "www CNAME ns1\nwww A 192.0.2.2\n",
    "cname-and-dnssec": HEAD
    + "www CNAME ns1\nwww RRSIG A 8 3 300 20240101000000 20230101000000 1234 example.com. AAAA\n",
    "two-cnames": HEAD + "www CNAME ns1\nwww CNAME ns2\n",
    "same-cname-twice": HEAD + "www CNAME ns1\nwww CNAME ns1\n",
    "out-of-zone": HEAD + "www.other.org. A 192.0.2.2\n",
    "no-soa": "$TTL 300\n$ORIGIN example.com.\n@ NS ns1\nns1 A 192.0.2.1\n",
    "soa-below-apex": HEAD + "www SOA ns1 host 1 2 3 4 5\n",
    "two-soas": HEAD + "@ SOA ns1 host 2 2 3 4 5\n",
    "no-ns": "$TTL 300\n$ORIGIN example.com.\n@ SOA ns1 host 1 2 3 4 5\nns1 A 192.0.2.1\n",
    "no-glue": HEAD + "sub NS ns.sub\n",
    "sibling-without-address": HEAD + "sub NS ns.sub2\n",
    "out-of-zone-name-server": HEAD + "sub NS ns.other.org.\n",
    "apex-ns-without-address": HEAD + "@ NS ns2\n",
    "apex-ns-cname": HEAD + "@ NS www\nwww CNAME ns1\n",
    "occluded": HEAD + "sub NS ns.other.org.\nwww.sub A 192.0.2.3\n",
    "below-dname": HEAD + "sub DNAME other.org.\nwww.sub A 192.0.2.3\n",
    "dname-and-ns": HEAD + "sub NS ns.other.org.\nsub DNAME other.org.\n",
    "apex-cname": HEAD + "@ CNAME other.org.\n",
}


@pytest.mark.parametrize("case", sorted(DIFFERENTIAL))
def test_dnsmill_rejects_what_bind_or_knot_rejects(case: str, tmp_path: Path) -> None:
    named_checkzone = require_tool("named-checkzone")
    kzonecheck = require_tool("kzonecheck")
    path = zone_file(tmp_path, case, DIFFERENTIAL[case])

    def refuses(command: list[str]) -> bool:
        return subprocess.run(command, capture_output=True, text=True, check=False).returncode != 0

    # `-i local`: integrity checks without looking names up on the network.
    bind = refuses([named_checkzone, "-i", "local", "example.com", str(path)])
    knot = refuses([kzonecheck, "-d", "off", "-o", "example.com.", str(path)])
    ours = check(path)
    assert ours.returncode == (1 if bind or knot else 0), (
        f"BIND refuses: {bind}, Knot refuses: {knot}\n{ours.stderr}"
    )
