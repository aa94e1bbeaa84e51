"""dnsmill against the real loaders: BIND's named-checkzone and Knot's kzonecheck.

What dnsmill writes must load in both, and what BIND reads from a zone must be what dnsmill
reads from it (compared by parsing BIND's own canonical dump back with dnsmill).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from dnsmill import parse_zone
from zonegen import generated_zone


def named_checkzone(zone_file: Path, origin: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("named-checkzone")
    # Naming and glue policy checks are about zone design, not syntax; the zones here are
    # synthetic, so they are switched off.
    return subprocess.run(
        [tool, "-k", "ignore", "-i", "none", "-n", "ignore", "-D", "-o", "-", origin, str(zone_file)],
        capture_output=True,
        text=True,
        check=False,
    )


def kzonecheck(zone_file: Path, origin: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("kzonecheck")
    return subprocess.run(
        [tool, "-d", "off", "-o", origin, str(zone_file)],
        capture_output=True,
        text=True,
        check=False,
    )


def as_set(zone_text_or_path: str | Path) -> set[str]:
    return {repr(record) for record in parse_zone(zone_text_or_path)}


def test_written_all_types_zone_loads_in_bind(all_types_zone: Path, tmp_path: Path) -> None:
    zone = parse_zone(all_types_zone, "example.com")
    out = tmp_path / "written.zone"
    zone.write(out)
    result = named_checkzone(out, "example.com")
    assert result.returncode == 0, result.stderr + result.stdout
    # BIND's reading of dnsmill's output is dnsmill's reading of it.
    assert as_set(result.stdout) == {repr(r) for r in zone}


# Knot 3.2 (Debian 12) predates these SVCB keys (RFC 9461, RFC 9540, RFC 9848).
NEWER_THAN_KNOT_3_2 = ("dohpath=", "ohttp", "tls-supported-groups=")


def test_written_all_types_zone_loads_in_knot(all_types_zone: Path, tmp_path: Path) -> None:
    zone = parse_zone(all_types_zone, "example.com")
    text = "".join(
        line + "\n"
        for line in zone.to_text().splitlines()
        if not any(key in line for key in NEWER_THAN_KNOT_3_2)
    )
    out = tmp_path / "written.zone"
    out.write_text(text)
    result = kzonecheck(out, "example.com.")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "error" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize("seed", range(6))
def test_bind_reads_generated_zones_as_dnsmill_does(seed: int, tmp_path: Path) -> None:
    source = tmp_path / "source.zone"
    source.write_text(generated_zone(seed, include_dir=tmp_path))
    ours = parse_zone(source, "example.com", allow_include=True)
    result = named_checkzone(source, "example.com")
    assert result.returncode == 0, result.stderr
    bind_records = as_set(result.stdout)
    assert len(bind_records) > 80
    assert bind_records == {repr(r) for r in ours}
    written = tmp_path / "written.zone"
    ours.write(written)
    rewritten = named_checkzone(written, "example.com")
    assert rewritten.returncode == 0, rewritten.stderr
    assert kzonecheck(written, "example.com.").returncode == 0


def test_default_ttl_rules_match_bind(tmp_path: Path) -> None:
    cases = [
        "$ORIGIN example.com.\n@ SOA ns h 1 2 3 4 77\n@ NS ns\nns 9 A 192.0.2.1\nb A 192.0.2.2\n",
        "$ORIGIN example.com.\n@ 50 SOA ns h 1 2 3 4 77\n@ NS ns\nns A 192.0.2.1\nb 9 A 192.0.2.2\nc A 192.0.2.3\n",
        "$ORIGIN example.com.\n$TTL 20\n@ 50 SOA ns h 1 2 3 4 77\n@ NS ns\nns 9 A 192.0.2.1\nb A 192.0.2.2\n",
    ]
    for number, text in enumerate(cases):
        path = tmp_path / f"ttl{number}.zone"
        path.write_text(text)
        result = named_checkzone(path, "example.com")
        assert result.returncode == 0, result.stderr
        assert as_set(result.stdout) == as_set(path), text
