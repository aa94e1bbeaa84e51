"""Bulk resolution: dnsmill beside dnsperf, dnspython and aiodns, in one run.

Starts NSD on 127.0.0.1 (rate limiting off, minimal-responses, server-count 2) serving 100k
names with A, AAAA, MX and TXT each, then measures:

  dnsperf             the ceiling: Debian's dnsperf, A queries, best of a few thread and
                      outstanding-query settings
  dnsmill A           Resolver(...).resolve(names, "A") with default settings
  dnsmill A+AAAA+MX+TXT   every name for the four types; also reported as domains/s
  dnspython           dns.asyncresolver, 500 queries in flight, on a prefix of the names
  aiodns              aiodns (c-ares), 500 queries in flight, on a prefix of the names

and prints qps and the ratios against the targets. Server and client share the machine's
cores. A benchmark, not a test: each dnsmill figure is the median of --repeat runs.

    scripts/bench resolve            # or: python benches/resolve.py --names 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import dnsmill

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dnsservers import nsd
from measure import children_cpu_seconds

ORIGIN = "bench.test"
TYPES = ["A", "AAAA", "MX", "TXT"]
# dnsperf's ceiling is the best of these: one thread or two, fewer or more queries outstanding.
DNSPERF_SETTINGS = ["-q 100", "-q 500", "-T 2 -c 2 -q 200", "-T 2 -c 4 -q 500", "-T 2 -c 8 -q 1000"]


def zone_text(count: int) -> str:
    lines = [
        f"$ORIGIN {ORIGIN}.",
        "$TTL 300",
        "@ SOA ns admin 1 3600 900 604800 60",
        "@ NS ns",
        "ns A 127.0.0.1",
    ]
    for i in range(count):
        lines.append(f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        lines.append(f"h{i} AAAA 2001:db8::{i >> 16:x}:{i & 0xFFFF:x}")
        lines.append(f"h{i} MX 10 mx{i % 7}")
        lines.append(f'h{i} TXT "v=spf1 ip4:10.0.0.0/8 -all"')
    return "\n".join(lines) + "\n"


def dnsperf_qps(port: int, names: list[str], workdir: Path) -> tuple[float, float, str]:
    """dnsperf's best rate over DNSPERF_SETTINGS, its CPU seconds per million queries in that
    run (user+sys of the dnsperf process), and the setting."""
    path = workdir / "dnsperf.txt"
    path.write_text("".join(f"{name} A\n" for name in names))
    best, best_cpu, setting = 0.0, 0.0, ""
    for options in DNSPERF_SETTINGS:
        argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(path), "-n", "3", *options.split()]
        cpu_before = children_cpu_seconds()
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        cpu = children_cpu_seconds() - cpu_before
        match = re.search(r"Queries per second:\s+([\d.]+)", output)
        sent = re.search(r"Queries sent:\s+(\d+)", output)
        lost = re.search(r"Queries lost:\s+(\d+)", output)
        if match and sent and float(match.group(1)) > best:
            best, setting = float(match.group(1)), f"{options}, lost {lost.group(1) if lost else '?'}"
            best_cpu = cpu / int(sent.group(1)) * 1e6
    return best, best_cpu, setting


def dnsmill_seconds(
    port: int, names: list[str], types: list[str], repeat: int
) -> tuple[float, float, dict[str, int]]:
    """Median wall seconds of `resolve`, median CPU seconds per million queries (user+sys of
    this process, every thread: the engine, and making the results table), and the statuses."""
    resolver = dnsmill.Resolver([f"127.0.0.1:{port}"])
    runs, cpus = [], []
    counts: dict[str, int] = {}
    for _ in range(repeat):
        started, cpu_before = time.perf_counter(), time.process_time()
        results = resolver.resolve(names, types)
        runs.append(time.perf_counter() - started)
        cpus.append((time.process_time() - cpu_before) / (len(names) * len(types)) * 1e6)
        counts = results.stats["by_status"]
    return statistics.median(runs), statistics.median(cpus), counts


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
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    nsd_path = shutil.which("nsd") or "/usr/sbin/nsd"
    if not Path(nsd_path).exists() or not shutil.which("dnsperf"):
        sys.exit("needs nsd and dnsperf (Debian packages nsd, dnsperf; scripts/bench installs them)")
    names = [f"h{i}.{ORIGIN}." for i in range(args.names)]
    prefix = names[: args.python_names]
    with (
        tempfile.TemporaryDirectory(prefix="dnsmill-bench-") as workdir,
        nsd(nsd_path, {ORIGIN: zone_text(args.names)}, server_count=2) as port,
    ):
        ceiling, ceiling_cpu, setting = dnsperf_qps(port, names, Path(workdir))
        a_seconds, a_cpu, a_counts = dnsmill_seconds(port, names, ["A"], args.repeat)
        full_seconds, full_cpu, full_counts = dnsmill_seconds(port, names, TYPES, args.repeat)
        dnspython, dnspython_answered = dnspython_qps(port, prefix)
        aiodns_result = aiodns_qps(port, prefix)
    a_qps = len(names) / a_seconds
    full_qps = len(names) * len(TYPES) / full_seconds
    full_domains = len(names) / full_seconds
    dnspython_domains = dnspython / len(TYPES)
    print(
        f"NSD (server-count 2) and every client share this machine's {os.cpu_count()} cores; "
        f"{len(names):,} names; dnsmill figures are the median of {args.repeat}"
    )
    print()
    print("CPU: user+sys seconds of the client's process per million queries")
    print()
    print(f"{'':30} {'qps':>12} {'domains/s':>12} {'CPU s/1M q':>11}")
    print(f"{'dnsperf':30} {ceiling:>12,.0f} {'':>12} {ceiling_cpu:>11.2f}   ({setting})")
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

    ratio("dnsmill A / dnsperf", a_qps / ceiling, 1.0)
    print(f"{'dnsmill A CPU per query / dnsperf':40} {a_cpu / ceiling_cpu:6.2f}x   (lower is better)")
    ratio("dnsmill A / dnspython", a_qps / dnspython, 40)
    if aiodns_result:
        ratio("dnsmill A / aiodns", a_qps / aiodns_result[0], 15)
    # dnspython's domains/s for the full set: its A-query rate over four queries per name.
    ratio("dnsmill full set / dnspython (domains/s)", full_domains / dnspython_domains, 40)


if __name__ == "__main__":
    main()
