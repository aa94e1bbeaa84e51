"""Bulk resolution: dnsmill beside dnsperf, dnspython and aiodns, in one run.

Starts NSD on 127.0.0.1 (rate limiting off, minimal-responses, server-count 2) serving 100k
names with A, AAAA, MX and TXT each (names of lengths spread over 24 values, as a real list's
are; --uniform-names for h0, h1, ...), then measures:

  dnsperf             the ceiling: Debian's dnsperf, A queries with EDNS0 (-e) as dnsmill
                      sends them, one pass over the names, with the best of a few thread and
                      outstanding-query settings; also shown without EDNS (smaller packets,
                      less work for the server)
  dnsmill A           Resolver(...).resolve(names, "A") with default settings (dnsperf and
                      dnsmill take turns, and the medians are compared)
  dnsmill A+AAAA+MX+TXT   every name for the four types; also reported as domains/s
  dnspython           dns.asyncresolver, 500 queries in flight, on a prefix of the names
  aiodns              aiodns (c-ares), 500 queries in flight, on a prefix of the names

and prints qps and the ratios against the targets. Server and client share the machine's
cores. A benchmark, not a test: CPU is reported beside each rate (user+sys seconds per million
queries) because it does not depend on how the shared cores were split.

    scripts/bench resolve            # or: python benches/resolve.py --names 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

import dnsmill

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dnsservers import nsd
from measure import children_cpu_seconds

ORIGIN = "bench.test"
TYPES = ["A", "AAAA", "MX", "TXT"]
# dnsperf's ceiling is the best of these: one thread or two, fewer or more queries outstanding.
DNSPERF_SETTINGS = ["-q 100", "-q 500", "-T 2 -c 2 -q 200", "-T 2 -c 4 -q 500", "-T 2 -c 8 -q 1000"]


def host_labels(count: int, varied: bool) -> list[str]:
    """The names' first labels: h0, h1, ... and, when `varied`, a tail of 0 to 23 letters
    (fixed seed), so that the names' lengths spread as a real list's do."""
    if not varied:
        return [f"h{i}" for i in range(count)]
    rng = random.Random(7)
    return [f"h{i}" + "abcdefghijklmnopqrstuvw"[: rng.randrange(24)] for i in range(count)]


def zone_text(labels: list[str]) -> str:
    lines = [
        f"$ORIGIN {ORIGIN}.",
        "$TTL 300",
        "@ SOA ns admin 1 3600 900 604800 60",
        "@ NS ns",
        "ns A 127.0.0.1",
    ]
    for i, label in enumerate(labels):
        lines.append(f"{label} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        lines.append(f"{label} AAAA 2001:db8::{i >> 16:x}:{i & 0xFFFF:x}")
        lines.append(f"{label} MX 10 mx{i % 7}")
        lines.append(f'{label} TXT "v=spf1 ip4:10.0.0.0/8 -all"')
    return "\n".join(lines) + "\n"


class Run(NamedTuple):
    qps: float
    cpu: float  # the client's user+sys seconds per million queries


def dnsperf_run(port: int, path: Path, options: str, edns: bool = True) -> tuple[Run, str]:
    """One pass of dnsperf over the query file; its rate, CPU and lost queries. With `edns`
    its queries carry an OPT record, as dnsmill's do (the server then adds one to each answer)."""
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(path), "-n", "1", *options.split()]
    if edns:
        argv.append("-e")
    cpu_before = children_cpu_seconds()
    # A pass takes seconds; a dnsperf that has not ended in minutes is stuck, not slow.
    output = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
    cpu = children_cpu_seconds() - cpu_before
    qps = re.search(r"Queries per second:\s+([\d.]+)", output)
    sent = re.search(r"Queries sent:\s+(\d+)", output)
    lost = re.search(r"Queries lost:\s+(\d+)", output)
    if not (qps and sent):
        raise SystemExit(f"unexpected dnsperf output:\n{output}")
    return Run(float(qps.group(1)), cpu / int(sent.group(1)) * 1e6), lost.group(1) if lost else "?"


def dnsmill_run(resolver: dnsmill.Resolver, names: list[str], types: list[str]) -> tuple[Run, dict[str, int]]:
    """One `resolve` of every name for `types`: its rate and CPU (user+sys of this process,
    every thread: the engine, and making the results table) and the statuses."""
    started, cpu_before = time.perf_counter(), time.process_time()
    results = resolver.resolve(names, types)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    queries = len(names) * len(types)
    return Run(queries / seconds, cpu / queries * 1e6), results.stats["by_status"]


def median_run(runs: list[Run]) -> Run:
    return Run(statistics.median(r.qps for r in runs), statistics.median(r.cpu for r in runs))


def side_by_side(
    port: int, names: list[str], workdir: Path, repeat: int
) -> tuple[Run, str, Run, dict[str, int], Run]:
    """dnsperf with its best setting and dnsmill A, each `repeat` times, taking turns so that
    both see the same machine; the medians of each, and of dnsperf without EDNS."""
    path = workdir / "dnsperf.txt"
    path.write_text("".join(f"{name} A\n" for name in names))
    tried = {options: dnsperf_run(port, path, options)[0].qps for options in DNSPERF_SETTINGS}
    best = max(tried, key=tried.__getitem__)
    resolver = dnsmill.Resolver([f"127.0.0.1:{port}"])
    theirs, ours, lost, counts, without_edns = [], [], [], {}, []
    for _ in range(repeat):
        run, lost_queries = dnsperf_run(port, path, best)
        theirs.append(run)
        lost.append(lost_queries)
        run, counts = dnsmill_run(resolver, names, ["A"])
        ours.append(run)
        without_edns.append(dnsperf_run(port, path, best, edns=False)[0])
    return (
        median_run(theirs),
        f"{best} -e; lost {', '.join(lost)}",
        median_run(ours),
        counts,
        median_run(without_edns),
    )


async def bounded(
    queries: list[str], in_flight: int, ask: Callable[[str], Awaitable[object]]
) -> tuple[float, int]:
    semaphore = asyncio.Semaphore(in_flight)
    answered = 0

    async def one(name: str) -> None:
        nonlocal answered
        async with semaphore:
            try:
                await ask(name)
                answered += 1
            except Exception:  # a failed query just does not count
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(name) for name in queries))
    return time.perf_counter() - started, answered


def dnspython_qps(port: int, names: list[str]) -> tuple[float, int]:
    import dns.asyncresolver

    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 5.0

    async def ask(name: str) -> None:
        await resolver.resolve(name, "A", search=False)

    seconds, answered = asyncio.run(bounded(names, 500, ask))
    return answered / seconds, answered


def aiodns_qps(port: int, names: list[str]) -> tuple[float, int] | None:
    try:
        import aiodns
    except ImportError:
        return None

    async def run() -> tuple[float, int]:
        resolver = aiodns.DNSResolver(
            nameservers=["127.0.0.1"], udp_port=port, tcp_port=port, timeout=5.0, tries=2
        )
        query = getattr(resolver, "query_dns", None) or resolver.query

        async def ask(name: str) -> None:
            await query(name, "A")

        return await bounded(names, 500, ask)

    seconds, answered = asyncio.run(run())
    return answered / seconds, answered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument(
        "--python-names", type=int, default=20_000, help="prefix used for dnspython and aiodns"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--uniform-names",
        action="store_true",
        help="names h0, h1, ... (runs of equal length) instead of names of spread lengths",
    )
    args = parser.parse_args()
    nsd_path = shutil.which("nsd") or "/usr/sbin/nsd"
    if not Path(nsd_path).exists() or not shutil.which("dnsperf"):
        sys.exit("needs nsd and dnsperf (Debian packages nsd, dnsperf; scripts/bench installs them)")
    labels = host_labels(args.names, varied=not args.uniform_names)
    names = [f"{label}.{ORIGIN}." for label in labels]
    prefix = names[: args.python_names]
    with (
        tempfile.TemporaryDirectory(prefix="dnsmill-bench-") as workdir,
        nsd(nsd_path, {ORIGIN: zone_text(labels)}, server_count=2) as port,
    ):
        ceiling, setting, a_run, a_counts, plain = side_by_side(port, names, Path(workdir), args.repeat)
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"])
        full_runs = [dnsmill_run(resolver, names, TYPES) for _ in range(3)]
        full_run, full_counts = median_run([run for run, _ in full_runs]), full_runs[-1][1]
        dnspython, dnspython_answered = dnspython_qps(port, prefix)
        aiodns_result = aiodns_qps(port, prefix)
    a_qps, a_cpu, ceiling_cpu = a_run.qps, a_run.cpu, ceiling.cpu
    full_qps, full_cpu = full_run.qps, full_run.cpu
    full_domains = full_qps / len(TYPES)
    dnspython_domains = dnspython / len(TYPES)
    print(
        f"NSD (server-count 2) and every client share this machine's {os.cpu_count()} cores; "
        f"{len(names):,} names ({'h0, h1, ...' if args.uniform_names else 'of spread lengths'}), each side asked each name once per pass; dnsperf (its best setting "
        f"of {len(DNSPERF_SETTINGS)}) and dnsmill A took {args.repeat} turns, and their medians are "
        "shown; the full set is the median of 3"
    )
    print()
    print("CPU: user+sys seconds of the client's process per million queries")
    print()
    print(f"{'':30} {'qps':>12} {'domains/s':>12} {'CPU s/1M q':>11}")
    print(
        f"{'dnsperf, EDNS0 as dnsmill':30} {ceiling.qps:>12,.0f} {'':>12} {ceiling_cpu:>11.2f}   ({setting})"
    )
    print(
        f"{'dnsperf without EDNS':30} {plain.qps:>12,.0f} {'':>12} {plain.cpu:>11.2f}   "
        "(same setting; no OPT record in queries or answers)"
    )
    print(f"{'dnsmill A':30} {a_qps:>12,.0f} {a_qps:>12,.0f} {a_cpu:>11.2f}   {a_counts}")
    print(
        f"{'dnsmill A+AAAA+MX+TXT':30} {full_qps:>12,.0f} {full_domains:>12,.0f} {full_cpu:>11.2f}   {full_counts}"
    )
    print(
        f"{'dnspython async (500)':30} {dnspython:>12,.0f}   ({dnspython_answered:,} of {len(prefix):,} answered)"
    )
    if aiodns_result:
        print(
            f"{'aiodns (500)':30} {aiodns_result[0]:>12,.0f}   ({aiodns_result[1]:,} of {len(prefix):,} answered)"
        )
    print()

    def ratio(label: str, value: float, target: float) -> None:
        verdict = "meets" if value >= target else "MISSES"
        print(f"{label:40} {value:6.2f}x   (target >= {target}x: {verdict})")

    ratio("dnsmill A / dnsperf", a_qps / ceiling.qps, 1.0)
    print(f"{'dnsmill A CPU per query / dnsperf':40} {a_cpu / ceiling_cpu:6.2f}x   (lower is better)")
    print(f"{'dnsmill A / dnsperf without EDNS':40} {a_qps / plain.qps:6.2f}x")
    ratio("dnsmill A / dnspython", a_qps / dnspython, 40)
    if aiodns_result:
        ratio("dnsmill A / aiodns", a_qps / aiodns_result[0], 15)
    # dnspython's domains/s for the full set: its A-query rate over four queries per name.
    ratio("dnsmill full set / dnspython (domains/s)", full_domains / dnspython_domains, 40)


if __name__ == "__main__":
    main()
