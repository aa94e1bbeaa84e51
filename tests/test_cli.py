"""The `dnsmill zone` commands, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DNSMILL = [sys.executable, "-m", "dnsmill"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DNSMILL, *args], capture_output=True, text=True, check=False)


def test_check_reports_every_error_with_location(tmp_path: Path) -> None:
    good = tmp_path / "example.com.zone"
    good.write_text("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
    bad = tmp_path / "bad.zone"
    bad.write_text("$TTL 60\n$ORIGIN x.\na A 1.2.3\nb MX 10\nc A 192.0.2.3\n")
    result = run("zone", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "3 records, OK" in result.stdout
    result = run("zone", "check", str(good), str(bad))
    assert result.returncode == 1
    assert f"{bad}:3:5: A: bad IPv4 address '1.2.3'" in result.stderr
    assert f"{bad}:4:8: MX: missing exchange name" in result.stderr
    assert "1 records, 2 errors" in result.stdout


def test_stats_json(tmp_path: Path) -> None:
    path = tmp_path / "db.example.org"
    path.write_text("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns 30 A 192.0.2.1\nwww A 192.0.2.2\n")
    result = run("zone", "stats", str(path), "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["records"] == 4
    assert stats["by_type"] == {"A": 2, "NS": 1, "SOA": 1}
    assert (stats["ttl_min"], stats["ttl_max"]) == (30, 60)
    assert stats["names"] == 3
    table = run("zone", "stats", str(path))
    assert "records/s" in table.stdout


def test_convert_formats(tmp_path: Path) -> None:
    path = tmp_path / "zone.txt"
    path.write_text('$TTL 60\n$ORIGIN example.net.\n@ SOA ns h 1 2 3 4 5\nwww TXT "a,b" "c"\n')
    zone_text = run("zone", "convert", str(path), "--to", "zone")
    assert zone_text.stdout.splitlines()[1] == 'www.example.net.\t60\tIN\tTXT\t"a,b" "c"'
    jsonl = run("zone", "convert", str(path), "--to", "jsonl")
    assert json.loads(jsonl.stdout.splitlines()[1])["rdata"] == '"a,b" "c"'
    csv_text = run("zone", "convert", str(path), "--to", "csv")
    assert csv_text.stdout.splitlines()[2] == 'www.example.net.,TXT,IN,60,"""a,b"" ""c"""'
    out = tmp_path / "out.jsonl"
    assert run("zone", "convert", str(path), "--to", "jsonl", "-o", str(out)).returncode == 0
    assert out.read_text() == jsonl.stdout
    missing = run("zone", "convert", str(tmp_path / "absent.zone"))
    assert missing.returncode == 2  # a file that is not there is a usage error, as everywhere
    assert f"{tmp_path / 'absent.zone'}: No such file or directory" in missing.stderr


def one_line_usage_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2, no traceback, and a message that says what is wrong."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_bad_values_get_one_line_and_exit_2(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("example.test\n")
    queue = f"sqlite://{tmp_path / 'queue.db'}"
    for command in (
        ["seed", "--db", "foo"],
        ["publish", "--db", "foo", "--queue", queue],
        ["work", "--db", "foo", "--queue", queue, "--idle-exit", "1"],
        ["run", "--db", "foo", "--queue", queue],
        ["domains", "add", str(names), "--db", "foo"],
    ):
        one_line_usage_error(
            run(*command),
            f"dnsmill {' '.join(command[:2]) if command[0] == 'domains' else command[0]}:",
            "'foo' is not a store URL",
        )
    one_line_usage_error(run("seed", "--db", "sqlite://"), "names no file")
    one_line_usage_error(run("run", "--workers", "0"), "Invalid value for '--workers'")
    one_line_usage_error(run("resolve", str(names), "--retries", "-1"), "--retries")
    one_line_usage_error(run("resolve", str(names), "--concurrency", "-5"), "--concurrency")
    missing = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    one_line_usage_error(
        run("resolve", str(names), "--ns", "127.0.0.1:9", "--timeout", "0.1", "-o", str(missing)),
        "No such file",
    )
    store = f"sqlite://{tmp_path / 'store.db'}"
    one_line_usage_error(
        run("work", "--db", store, "--queue", queue, "--timeout", "0", "--ns", "127.0.0.1:9"),
        "Invalid value for '--timeout': must be more than 0",
    )
    one_line_usage_error(run("serve", "--db", store, "--zones", str(tmp_path)), "--db", "--zones")


def test_debug_shows_the_traceback() -> None:
    result = run("--debug", "seed", "--db", "foo")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_durations_take_one_syntax_in_every_command(tmp_path: Path) -> None:
    """The settings file's duration syntax (90, 500ms, 30m, 1h30m), everywhere a flag takes a
    duration, and a bad one named by its flag."""
    names = tmp_path / "names.txt"
    names.write_text("example.test\n")
    queue = f"sqlite://{tmp_path / 'queue.db'}"
    store = f"sqlite://{tmp_path / 'store.db'}"
    for command in (
        ["resolve", str(names), "--timeout"],
        ["work", "--db", store, "--queue", queue, "--idle-exit"],
        ["work", "--db", store, "--queue", queue, "--timeout"],
        ["run", "--db", store, "--queue", queue, "--timeout"],
        ["publish", "--db", store, "--queue", queue, "--max-age"],
        ["seed", "--db", store, "--every"],
        ["serve", "--db", store, "--poll"],
    ):
        one_line_usage_error(
            run(*command, "5 fortnights"), f"Invalid value for '{command[-1]}'", "not a duration"
        )
    shown = run("config", "show")
    assert shown.returncode == 0, shown.stderr
    timeout = json.loads(shown.stdout)["work"]["timeout"]
    idle = run("work", "--db", store, "--queue", queue, "--idle-exit", "300ms", "--timeout", timeout)
    assert idle.returncode == 0, idle.stderr


def test_flags_mean_one_thing_and_help_shows_no_placeholder_for_them() -> None:
    """-o is the output wherever a command writes one; -q is --quiet wherever there is
    something to quiet; on/off flags take no value, so help shows none."""
    for command in (["resolve"], ["zone", "convert"]):
        assert "-o, --output" in run(*command, "--help").stdout
    for command in (["zone", "check"], ["zone", "stats"], ["zone", "load"], ["zone", "convert"]):
        assert "-o," not in run(*command, "--help").stdout.replace("-o, --output", "")
    for command in (
        ["resolve"],
        ["run"],
        ["seed"],
        ["serve"],
        ["db", "init"],
        ["zone", "check"],
        ["zone", "load"],
    ):
        assert "-q, --quiet" in run(*command, "--help").stdout, command
    for command in ([], ["resolve"], ["zone", "check"], ["publish"], ["work"]):
        result = run(*command, "--help")
        assert result.returncode == 0 and "<bool>" not in result.stdout, result.stdout


def test_queue_stats_shows_the_depth_as_json(tmp_path: Path) -> None:
    queue = f"sqlite://{tmp_path / 'queue.db'}"
    names = tmp_path / "names.txt"
    names.write_text("a.example\nb.example\nc.example\n")
    store = f"sqlite://{tmp_path / 'store.db'}"
    assert run("domains", "add", str(names), "--db", store).returncode == 0
    assert run("publish", "--db", store, "--queue", queue, "--batch-size", "2").returncode == 0
    stats = run("queue", "stats", "--queue", queue)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["depth"] == {
        "ready": 2,
        "held": 0,
        "delayed": 0,
        "dead": 0,
        "consumers": None,
        "pending": 2,
    }
