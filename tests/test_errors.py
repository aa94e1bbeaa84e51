"""Error text a user reads: the parameter or file named once, the place given, nothing of the
driver's internals, and whatever came from the input escaped rather than sent to the terminal."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import dnsmill
import pytest

DNSMILL = [sys.executable, "-m", "dnsmill"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dnsmill.Resolver(["127.0.0.1"], concurrency=-5), "concurrency must be at least 1, not -5"),
        (lambda: dnsmill.Resolver(["127.0.0.1"], retries=101), "retries must be 0 to 100, not 101"),
        (lambda: dnsmill.Resolver(["127.0.0.1"], sockets=0), "sockets must be 1 to 256, not 0"),
        (
            lambda: dnsmill.Resolver(["127.0.0.1"], timeout=0),
            "timeout must be a number of seconds, more than 0",
        ),
        (lambda: dnsmill.Resolver(["127.0.0.1"], qps=-1), "qps must be a number of queries per second"),
        (lambda: dnsmill.Resolver(["127.0.0.1"]).stream([], batch_size=-1), "batch_size must be at least 1"),
        (lambda: dnsmill.Writer("sqlite:///unused.db", batch_size=0), "batch_size must be at least 1, not 0"),
        (lambda: dnsmill.Writer("sqlite:///unused.db", flush_interval=-1), "flush_interval must be a number"),
    ],
)
def test_a_bad_argument_is_a_value_error_naming_the_parameter(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


def test_domains_arguments_are_checked_by_name(tmp_path: Path) -> None:
    with dnsmill.Domains(f"sqlite://{tmp_path / 'd.db'}") as domains:
        with pytest.raises(ValueError, match="limit must be 1 to"):
            domains.due(limit=-1)
        with pytest.raises(ValueError, match="max_attempts must be at least 1, not 0"):
            domains.count_due(max_attempts=0)
        with pytest.raises(ValueError, match="max_age must be a number of seconds, 0 or more"):
            domains.count_due(max_age=-1)


def test_a_missing_file_is_a_python_file_error_with_its_name_once(tmp_path: Path) -> None:
    missing = tmp_path / "absent.zone"
    with pytest.raises(FileNotFoundError) as raised:
        dnsmill.parse_zone(missing)
    assert raised.value.errno == errno.ENOENT
    assert raised.value.filename == str(missing)
    assert "os error" not in str(raised.value)
    for command in (["zone", "check"], ["zone", "load"], ["resolve"]):
        result = subprocess.run([*DNSMILL, *command, str(missing)], capture_output=True, text=True)
        assert result.returncode in (1, 2), result
        assert result.stderr.count(str(missing)) == 1, result.stderr
        assert "No such file or directory" in result.stderr and "Errno" not in result.stderr, result.stderr


def test_control_characters_from_the_input_are_escaped(tmp_path: Path) -> None:
    zone = tmp_path / "x.zone"
    zone.write_bytes(b"$TTL 60\na A 1.2.\x1b[31m3\n")
    with pytest.raises(dnsmill.ZoneSyntaxError) as raised:
        dnsmill.parse_zone(zone, "example.")
    assert "\x1b" not in str(raised.value) and "\\x1b[31m3" in raised.value.message
    check = subprocess.run(
        [*DNSMILL, "zone", "check", "--origin", "example.", str(zone)], capture_output=True
    )
    assert b"\x1b" not in check.stderr and b"bad IPv4 address '1.2.\\x1b[31m3'" in check.stderr


def test_a_settings_file_that_is_not_yaml_is_one_line_with_its_place(tmp_path: Path) -> None:
    config = tmp_path / "dnsmill.yaml"
    config.write_text("work:\n  concurrency: [\n")
    result = subprocess.run(
        [*DNSMILL, "config", "show", "--config", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"dnsmill config show: {config}:3:1: while parsing a flow node: ")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.count(str(config)) == 1


def test_a_reserved_word_cannot_name_a_table(tmp_path: Path) -> None:
    with pytest.raises(dnsmill.StoreSchemaError, match="'select' is a reserved word in SQL"):
        dnsmill.Writer(f"sqlite://{tmp_path / 'w.db'}", table="select")


def test_an_origin_with_a_space_is_refused_not_escaped() -> None:
    with pytest.raises(
        dnsmill.ZoneSyntaxError, match=r"bad origin 'exa mple.com.': ' ' must be written as \\032"
    ):
        dnsmill.parse_zone("$TTL 60\n@ A 192.0.2.1\n", "exa mple.com.")
    assert [
        record.name for record in dnsmill.parse_zone("$TTL 60\n@ A 192.0.2.1\n", "exa\\032mple.com.")
    ] == ["exa\\032mple.com."]


def test_zone_load_tells_added_refreshed_and_unchanged_rows_apart(tmp_path: Path) -> None:
    zone = tmp_path / "example.com.zone"
    zone.write_text("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
    store = f"sqlite://{tmp_path / 'store.db'}"
    first = subprocess.run(
        [*DNSMILL, "zone", "load", str(zone), "--db", store], capture_output=True, text=True
    )
    assert "3 added, 0 refreshed, 0 unchanged" in first.stdout, first
    zone.write_text("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns 120 A 192.0.2.1\nwww A 192.0.2.2\n")
    second = subprocess.run(
        [*DNSMILL, "zone", "load", str(zone), "--db", store], capture_output=True, text=True
    )
    assert "1 added, 1 refreshed, 2 unchanged" in second.stdout, second
    quiet = subprocess.run(
        [*DNSMILL, "zone", "load", str(zone), "--db", store, "-q"], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
