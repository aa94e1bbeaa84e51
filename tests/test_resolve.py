"""The bulk resolver against real servers on loopback: NSD serving a zone the test writes, a
nameserver that never answers, and one that forges replies. Every answer is checked against
what the zone says."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dnsmill
import pytest
from conftest import require_tool
from dnsservers import UdpServer, forged_replies, nsd

ORIGIN = "resolve.test."
TYPES = ["A", "AAAA", "MX", "TXT", "CNAME"]


def zone_text() -> str:
    lines = [
        f"$ORIGIN {ORIGIN}",
        "$TTL 300",
        "@ SOA ns admin 1 3600 900 604800 60",
        "@ NS ns",
        "ns A 127.0.0.1",
    ]
    for i in range(60):
        lines += [
            f"host{i} A 10.0.{i}.1",
            f"host{i} A 10.1.{i}.1",
            f"host{i} AAAA 2001:db8::{i:x}",
            f"host{i} MX {i % 20} mail{i % 3}",
            f'host{i} TXT "v=spf1 -all" "id \\"{i}\\""',
        ]
    lines += [f"mail{i} A 192.0.2.{i + 10}" for i in range(3)]
    lines += ["a1 CNAME a2", "a2 CNAME a3", "a3 A 192.0.2.33", "a3 AAAA 2001:db8::33"]
    lines += ['only-txt TXT "no address here"', "ext CNAME target.elsewhere.invalid."]
    # Forty 100-byte strings: far over 1232 bytes, so the answer needs TCP.
    lines += [f'big TXT "{i:03d}{"x" * 97}"' for i in range(40)]
    return "\n".join(lines) + "\n"


QUERIED = [f"host{i}" for i in range(60)] + [
    "a1",
    "a2",
    "a3",
    "only-txt",
    "ext",
    "big",
    "missing",
    "deep.missing",
]


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with nsd(require_tool("nsd"), {ORIGIN.rstrip("."): zone_text()}, ("127.0.0.1", "127.0.0.2")) as port:
        yield port


@pytest.fixture(scope="module")
def zone() -> dnsmill.Zone:
    return dnsmill.parse_zone(zone_text(), ORIGIN)


def expected(zone: dnsmill.Zone, name: str, qtype: str) -> tuple[str, list[str], list[str]]:
    """(status, sorted rdata of the asked type, CNAME chain) that the zone implies."""
    by_name: dict[str, list[dnsmill.Record]] = {}
    for record in zone:
        by_name.setdefault(record.name, []).append(record)
    chain: list[str] = []
    current = name
    while True:
        records = by_name.get(current, [])
        direct = sorted(r.rdata for r in records if r.type == qtype)
        cnames = [r for r in records if r.type == "CNAME"]
        if direct or not cnames or qtype == "CNAME":
            break
        current = cnames[0].rdata
        chain.append(current)
    if not by_name.get(name):
        return "NXDOMAIN", [], []
    return ("NOERROR" if direct else "NODATA"), direct, chain


def test_every_answer_matches_the_zone(server: int, zone: dnsmill.Zone) -> None:
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"], timeout=1.0)
    names = [f"{label}.{ORIGIN}" for label in QUERIED]
    results = resolver.resolve(names, TYPES)
    assert len(results) == len(names) * len(TYPES)
    for index, result in enumerate(results):
        name, qtype = names[index // len(TYPES)], TYPES[index % len(TYPES)]
        assert (result.name, result.type) == (name, qtype)
        status, rdata, chain = expected(zone, name, qtype)
        assert result.status == status, (name, qtype, result.to_dict())
        assert sorted(result.values) == rdata, (name, qtype)
        assert result.cname_chain == chain, (name, qtype)
        assert result.nameserver == f"127.0.0.1:{server}"
        assert result.rcode == (3 if status == "NXDOMAIN" else 0)
    big = results[names.index(f"big.{ORIGIN}") * len(TYPES) + TYPES.index("TXT")]
    assert len(big.values) == 40 and big.attempts == 2, "the truncated answer is repeated over TCP"
    assert results.stats["tcp"] >= 1
    assert set(results.records().count_by_type()) == {"A", "AAAA", "MX", "TXT", "CNAME"}


def test_names_are_absolute_idn_is_converted_and_invalid_names_do_not_stop_the_run(server: int) -> None:
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"], timeout=1.0)
    results = resolver.resolve(
        ["HOST1.Resolve.Test", "bücher.resolve.test", "bad name", "x" * 64 + ".test", ""], "A"
    )
    assert [r.status for r in results] == ["NOERROR", "NXDOMAIN", "INVALID", "INVALID", "INVALID"]
    assert results[0].name == "host1.resolve.test."
    assert results[1].name == "xn--bcher-kva.resolve.test."
    assert results[2].error and results[2].attempts == 0


def test_timeouts_fail_over_to_the_next_nameserver(server: int) -> None:
    silent = UdpServer()
    try:
        resolver = dnsmill.Resolver(
            [silent.address, f"127.0.0.1:{server}"], timeout=0.3, retries=2, sockets=1
        )
        results = resolver.resolve([f"host{i}.{ORIGIN}" for i in range(20)], "A")
        assert {r.status for r in results} == {"NOERROR"}
        assert {r.nameserver for r in results} == {f"127.0.0.1:{server}"}
        assert max(r.attempts for r in results) == 2, "queries first sent to the silent server were retried"
        alone = dnsmill.Resolver([silent.address], timeout=0.2, retries=1).resolve(["host1." + ORIGIN], "A")
        assert alone[0].status == "TIMEOUT" and alone[0].attempts == 2 and alone[0].rcode is None
        assert silent.received >= 2
    finally:
        silent.close()


def test_forged_replies_are_dropped(server: int) -> None:
    forger = UdpServer(forged_replies)
    try:
        alone = dnsmill.Resolver([forger.address], timeout=0.3, retries=0).resolve(
            [f"host{i}.{ORIGIN}" for i in range(10)], "A"
        )
        assert {r.status for r in alone} == {"TIMEOUT"}
        assert alone.stats["spoofed"] >= 10 and alone.stats["late"] >= 10
        both = dnsmill.Resolver([forger.address, f"127.0.0.1:{server}"], timeout=0.3, retries=2, sockets=1)
        results = both.resolve([f"host{i}.{ORIGIN}" for i in range(10)], "A")
        assert {r.status for r in results} == {"NOERROR"}
        assert all("6.6.6.6" not in r.values for r in results)
    finally:
        forger.close()


def test_concurrency_limit_holds() -> None:
    silent = UdpServer()
    try:
        resolver = dnsmill.Resolver([silent.address], concurrency=4, timeout=0.2, retries=0, sockets=1)
        started = time.monotonic()
        results = resolver.resolve([f"n{i}.example" for i in range(16)], "A")
        elapsed = time.monotonic() - started
        assert {r.status for r in results} == {"TIMEOUT"}
        # 16 queries, 4 at a time, each waiting 0.2 s: at least four rounds.
        assert elapsed >= 0.75, elapsed
        assert silent.received == 16
    finally:
        silent.close()


def test_qps_limits_hold(server: int) -> None:
    names = [f"host{i % 60}.{ORIGIN}" for i in range(120)]
    overall = dnsmill.Resolver([f"127.0.0.1:{server}"], qps=200)
    started = time.monotonic()
    assert {r.status for r in overall.resolve(names, "A")} == {"NOERROR"}
    # A burst of at most a tenth of a second's worth, then 200 per second.
    assert time.monotonic() - started >= (120 - 20) / 200 * 0.95
    per_server = dnsmill.Resolver([f"127.0.0.1:{server}", f"127.0.0.2:{server}"], per_server_qps=100)
    started = time.monotonic()
    results = per_server.resolve(names, "A")
    assert {r.status for r in results} == {"NOERROR"}
    assert {r.nameserver for r in results} == {f"127.0.0.1:{server}", f"127.0.0.2:{server}"}
    assert time.monotonic() - started >= (60 - 10) / 100 * 0.95


def test_async_gives_the_same_results(server: int) -> None:
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"])
    names = [f"{label}.{ORIGIN}" for label in QUERIED]
    sync = resolver.resolve(names, ["A", "MX"])

    async def resolve_in_a_task() -> dnsmill.ResultSet:
        return await resolver.resolve_async(names, ["A", "MX"])

    asynchronous = asyncio.run(resolve_in_a_task())
    assert [r.to_dict()["answers"] for r in asynchronous] == [r.to_dict()["answers"] for r in sync]
    assert [r.status for r in asynchronous] == [r.status for r in sync]

    async def as_asyncio_users_write_it() -> list[dnsmill.ResultSet]:
        task = asyncio.create_task(resolver.resolve_async(names, ["A", "MX"]))
        waited = await asyncio.wait_for(resolver.resolve_async(names, "A"), timeout=30)
        return [await task, waited]

    tasked, waited = asyncio.run(as_asyncio_users_write_it())
    assert [r.status for r in tasked] == [r.status for r in sync]
    assert len(waited) == len(names)


def test_stream_from_a_generator_and_from_a_file(server: int, tmp_path: Path) -> None:
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"])
    count = 5000

    def names() -> Iterator[str]:
        for i in range(count):
            yield f"host{i % 60}.{ORIGIN}"

    batches = list(resolver.stream(names(), ["A", "AAAA"], batch_size=700))
    assert all(len(batch) <= 700 for batch in batches)
    assert sum(len(batch) for batch in batches) == count * 2
    assert all(r.status == "NOERROR" for batch in batches for r in batch)

    path = tmp_path / "names.txt"
    path.write_text("# a comment\n\n" + "\n".join(f"host{i % 60}.{ORIGIN}" for i in range(count)) + "\n")

    async def consume() -> int:
        total = 0
        async for batch in resolver.stream(path, "A", batch_size=1000):
            total += len(batch)
        return total

    assert asyncio.run(consume()) == count
    assert len(resolver.resolve(path, "A")) == count


def test_progress_is_reported_at_most_every_100_ms_and_an_error_in_it_stops_the_run() -> None:
    silent = UdpServer()
    try:
        resolver = dnsmill.Resolver([silent.address], timeout=0.5, retries=0)
        calls: list[dict[str, object]] = []
        started = time.monotonic()
        resolver.resolve([f"n{i}.example" for i in range(50)], "A", progress=calls.append)
        elapsed = time.monotonic() - started
        assert 1 <= len(calls) <= elapsed / 0.09 + 1
        assert calls[-1]["total"] == 50

        def stop(_: dict[str, object]) -> None:
            raise KeyboardInterrupt

        slow = dnsmill.Resolver([silent.address], timeout=5.0, retries=3)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            slow.resolve([f"n{i}.example" for i in range(1000)], "A", progress=stop)
        assert time.monotonic() - started < 1.0
        time.sleep(0.3)
        received = silent.received
        time.sleep(0.5)
        assert silent.received == received, "a stopped run sends nothing more"
    finally:
        silent.close()


def test_no_file_descriptors_leak(server: int) -> None:
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"], timeout=1.0)
    names = [f"{label}.{ORIGIN}" for label in QUERIED]
    resolver.resolve(names, TYPES)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        resolver.resolve(names, TYPES)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_exports(server: int, tmp_path: Path) -> None:
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"])
    results = resolver.resolve([f"a1.{ORIGIN}", f"missing.{ORIGIN}"], ["A", "TXT"])
    table = results.to_arrow()
    assert table.column_names == [
        "name",
        "type",
        "status",
        "rcode",
        "nameserver",
        "attempts",
        "elapsed_ms",
        "answers",
        "cname_chain",
        "error",
    ]
    row = table.slice(0, 1).to_pylist()[0]
    assert row["cname_chain"] == [f"a2.{ORIGIN}", f"a3.{ORIGIN}"]
    assert row["answers"][-1] == {"name": f"a3.{ORIGIN}", "type": "A", "ttl": 300, "rdata": "192.0.2.33"}
    assert list(results.to_pandas()["status"]) == ["NOERROR", "NODATA", "NXDOMAIN", "NXDOMAIN"]
    assert results.to_polars().height == 4
    assert set(results.by_status()) == {"NOERROR", "NODATA", "NXDOMAIN"}
    assert len(results.with_status("NXDOMAIN")) == 2
    lines = results.to_text("jsonl").splitlines()
    assert len(lines) == 4 and '"status":"NODATA"' in lines[1]
    results.write(tmp_path / "out.csv", "csv")
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("name,type,status,rcode")


def test_cli_resolves_a_file_or_standard_input(server: int, tmp_path: Path) -> None:
    names = [f"host1.{ORIGIN}", f"a1.{ORIGIN}", f"missing.{ORIGIN}"]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n")
    command = [sys.executable, "-m", "dnsmill", "resolve", "-t", "A,MX", "--ns", f"127.0.0.1:{server}"]
    piped = subprocess.run(command, input="\n".join(names), capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [(line["name"], line["type"], line["status"]) for line in lines] == [
        (f"host1.{ORIGIN}", "A", "NOERROR"),
        (f"host1.{ORIGIN}", "MX", "NOERROR"),
        (f"a1.{ORIGIN}", "A", "NOERROR"),
        (f"a1.{ORIGIN}", "MX", "NODATA"),
        (f"missing.{ORIGIN}", "A", "NXDOMAIN"),
        (f"missing.{ORIGIN}", "MX", "NXDOMAIN"),
    ]
    assert "6 results" in piped.stderr and "NOERROR=3" in piped.stderr
    out = tmp_path / "out.csv"
    subprocess.run([*command, str(path), "-o", str(out)], capture_output=True, check=True)
    rows = out.read_text().splitlines()
    assert rows[0].startswith("name,type,status") and len(rows) == 7
    bad = subprocess.run([*command[:-2], "--ns", "not-an-address"], input="", capture_output=True, text=True)
    assert bad.returncode == 2 and "cannot look up 'not-an-address'" in bad.stderr
    bad = subprocess.run([*command[:-2], "--ns", "127.0.0.1:99999"], input="", capture_output=True, text=True)
    assert bad.returncode == 2 and "not a nameserver address" in bad.stderr


def test_ctrl_c_stops_the_cli_promptly() -> None:
    silent = UdpServer()
    try:
        command = [
            sys.executable,
            "-m",
            "dnsmill",
            "resolve",
            "--ns",
            silent.address,
            "--timeout",
            "5",
            "--retries",
            "3",
        ]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdin is not None
        process.stdin.write("".join(f"n{i}.example\n" for i in range(2000)))
        process.stdin.close()
        deadline = time.monotonic() + 10
        while silent.received < 32 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert silent.received >= 32, "the run started sending"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=5)
        assert time.monotonic() - started < 2.0
        assert process.stderr is not None
        assert process.returncode == 130 and "interrupted" in process.stderr.read()
    finally:
        silent.close()


def test_resolve_into_a_store_and_the_cli_with_db(server: int, tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'answers.db'}"
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"])
    names = [f"{label}.{ORIGIN}" for label in QUERIED]
    with dnsmill.Writer(store) as writer:
        summary = resolver.resolve_into(writer, names, TYPES)
    expected = resolver.resolve(names, TYPES)
    assert summary["queries"] == len(expected)
    assert summary["by_status"] == expected.stats["by_status"]
    assert dnsmill.db_stats(store)["records_by_type"] == distinct_by_type(expected.records())

    other = f"sqlite://{tmp_path / 'cli.db'}"
    command = [
        sys.executable,
        "-m",
        "dnsmill",
        "resolve",
        "-t",
        "A,MX",
        "--ns",
        f"127.0.0.1:{server}",
        "--db",
        other,
    ]
    done = subprocess.run(command, input="\n".join(names), capture_output=True, text=True, check=True)
    assert done.stdout == "" and "stored" in done.stderr
    assert dnsmill.db_stats(other)["records_by_type"] == distinct_by_type(
        resolver.resolve(names, ["A", "MX"]).records()
    )


def distinct_by_type(records: dnsmill.Zone) -> dict[str, int]:
    """Records per type once duplicates (the same answer to several queries) are dropped."""
    counts: dict[str, int] = {}
    for _, rtype, _ in {(r.name, r.type, r.rdata) for r in records}:
        counts[rtype] = counts.get(rtype, 0) + 1
    return counts


def test_a_name_file_that_cannot_be_read_is_an_error_not_an_early_end(server: int, tmp_path: Path) -> None:
    # Opening a directory works; reading it fails, halfway into the run. (A line that is not
    # UTF-8 is not a read failure: it is resolved and comes back INVALID, tested below.)
    path = tmp_path / "names.txt"
    path.mkdir()
    resolver = dnsmill.Resolver([f"127.0.0.1:{server}"])
    with pytest.raises(OSError, match=r"names\.txt"):
        list(resolver.stream(path, "A"))

    async def consume() -> None:
        async for _ in resolver.stream(path, "A"):
            pass

    with pytest.raises(OSError, match=r"names\.txt"):
        asyncio.run(consume())


def test_a_silent_nameserver_costs_one_timeout_and_is_named(tmp_path: Path) -> None:
    """Nothing ever answers: the run takes about the timeout (a window that shrank on every
    loss would send a couple of queries a second), and the silent server is reported."""
    silent = UdpServer()
    try:
        names = [f"host{n}.example." for n in range(200)]
        started = time.monotonic()
        results = dnsmill.Resolver([silent.address], timeout=1.0, retries=0).resolve(names, "A")
        elapsed = time.monotonic() - started
        assert results.stats["by_status"] == {"TIMEOUT": 200}
        assert elapsed < 4.0, elapsed
        assert results.stats["silent_nameservers"] == [silent.address]
        names_file = tmp_path / "names.txt"
        names_file.write_text("\n".join(names[:20]) + "\n")
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "dnsmill",
                "resolve",
                str(names_file),
                "--ns",
                silent.address,
                "--timeout",
                "0.5",
                "--retries",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"nameserver {silent.address} never answered" in cli.stderr, cli.stderr
        assert cli.returncode == 1 and "no query got an answer" in cli.stderr
    finally:
        silent.close()


def test_resolve_into_a_pipe_that_closes_ends_quietly(server: int, tmp_path: Path) -> None:
    """`dnsmill resolve … | head -1`: the reader goes away after one line."""
    names = tmp_path / "names.txt"
    names.write_text("".join(f"host{i % 60}.{ORIGIN}\n" for i in range(20_000)))
    command = [sys.executable, "-m", "dnsmill", "resolve", str(names), "--ns", f"127.0.0.1:{server}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    process.wait(timeout=60)
    errors = process.stderr.read()
    assert first.startswith("{")
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "Broken pipe" not in errors


def test_a_names_file_that_is_not_utf8_is_resolved_all_the_same(server: int, tmp_path: Path) -> None:
    names = tmp_path / "latin1.txt"
    names.write_bytes(
        f"host1.{ORIGIN}\n".encode() + "b\xfccher.example".encode("latin-1") + f"\nhost2.{ORIGIN}\n".encode()
    )
    result = subprocess.run(
        [sys.executable, "-m", "dnsmill", "resolve", str(names), "--ns", f"127.0.0.1:{server}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"{names}:2: not UTF-8 text" in result.stderr
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert sorted(statuses) == ["INVALID", "NOERROR", "NOERROR"]


def test_any_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="RFC 8482"):
        dnsmill.Resolver(["127.0.0.1:9"]).resolve(["example.test"], "A,ANY")


def test_results_come_in_input_order_unless_completion_order_is_asked(server: int) -> None:
    """Every other name's first try goes to a nameserver that never answers: those complete a
    timeout later than the rest, and still come out where they were in the input."""
    silent = UdpServer()
    try:
        names = [f"host{i}.{ORIGIN}" for i in range(40)]
        resolver = dnsmill.Resolver([silent.address, f"127.0.0.1:{server}"], timeout=0.3, retries=1)
        in_input_order = [row.name for batch in resolver.stream(names, "A") for row in batch]
        assert in_input_order == names
        completed = [row.name for batch in resolver.stream(names, "A", order="completion") for row in batch]
        assert sorted(completed) == sorted(names) and completed != names
        command = [*DNSMILL, "resolve", "-t", "A,MX", "--ns", f"{silent.address},127.0.0.1:{server}"]
        cli = subprocess.run(
            [*command, "--timeout", "300ms", "--retries", "1"],
            input="\n".join(names),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        rows = [json.loads(line) for line in cli.stdout.splitlines()]
        assert [(row["name"], row["type"]) for row in rows] == [(n, t) for n in names for t in ("A", "MX")]
        with pytest.raises(ValueError, match="order must be 'input' or 'completion'"):
            resolver.stream(names, "A", order="random")
    finally:
        silent.close()


DNSMILL = [sys.executable, "-m", "dnsmill"]


def test_plain_text_output_and_quiet(server: int, tmp_path: Path) -> None:
    """`-f text`: one 'owner type rdata' line per answer record (massdns' simple form), and a
    .txt output file asks for it; --quiet leaves standard error empty."""
    names = f"a1.{ORIGIN}\nmissing.{ORIGIN}\nhost3.{ORIGIN}\n"
    command = [*DNSMILL, "resolve", "-t", "A", "--ns", f"127.0.0.1:{server}", "-q"]
    text = subprocess.run([*command, "-f", "text"], input=names, capture_output=True, text=True, check=True)
    assert text.stdout.splitlines() == [
        f"a1.{ORIGIN} CNAME a2.{ORIGIN}",
        f"a2.{ORIGIN} CNAME a3.{ORIGIN}",
        f"a3.{ORIGIN} A 192.0.2.33",
        f"host3.{ORIGIN} A 10.0.3.1",
        f"host3.{ORIGIN} A 10.1.3.1",
    ]
    assert text.stderr == ""
    out = tmp_path / "answers.txt"
    subprocess.run([*command, "-o", str(out)], input=names, capture_output=True, text=True, check=True)
    assert out.read_text() == text.stdout
    loud = subprocess.run(command[:-1], input=names, capture_output=True, text=True, check=True)
    assert "3 results" in loud.stderr


def test_nameservers_from_a_file_and_by_host_name(server: int, tmp_path: Path) -> None:
    resolvers = tmp_path / "resolvers.txt"
    resolvers.write_text(f"# resolvers\nnameserver localhost:{server}\n")
    for ns in (str(resolvers), f"localhost:{server}"):
        cli = subprocess.run(
            [*DNSMILL, "resolve", "-t", "A", "--ns", ns],
            input=f"host1.{ORIGIN}\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["status"] == "NOERROR"
        assert json.loads(cli.stdout)["nameserver"] == f"127.0.0.1:{server}"
    bad = subprocess.run(
        [*DNSMILL, "resolve", "--ns", "no-such-host.invalid"], input="", capture_output=True, text=True
    )
    assert bad.returncode == 2 and "cannot look up 'no-such-host.invalid'" in bad.stderr
