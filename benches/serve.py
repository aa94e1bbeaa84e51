"""The built-in authoritative server beside NSD, in one run: dnsperf against each, same zones.

Seeds realistic domains (dnsmill's seeder, fixed seed) into zone files, serves that directory
with `dnsmill.serve(zones=...)` and with NSD (server-count 2, minimal responses, RRL off), and
runs the same dnsperf query file against each with the same settings (best of a few thread and
outstanding-query settings). The queries are every apex A, AAAA, MX, NS and TXT, www A (a
CNAME chased in the zone) and a share of names that do not exist (NXDOMAIN with the SOA).
Each distinct question is answered through the zone lookup the first time a receive loop sees
it and from that loop's answer cache after that, as NSD answers from answers it compiled ahead;
the share from the cache is printed. The servers and dnsperf share the machine's cores. A
benchmark, not a test.

    scripts/bench serve              # or: python benches/serve.py --domains 2000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import dnsmill
from dnsmill.config import SeedSettings
from dnsmill.events import EventBus
from dnsmill.seeder import Seeder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dnsservers import nsd
from measure import child_pids, children_cpu_seconds, tree_cpu_seconds

SETTINGS = ["-q 100", "-T 2 -c 2 -q 200", "-T 2 -c 4 -q 500"]


class Run(NamedTuple):
    qps: float
    server_cpu: float  # the server's user+sys seconds per million queries answered
    client_cpu: float  # dnsperf's, likewise
    setting: str


def dnsperf_qps(port: int, queries: Path, seconds: int, server_cpu: Callable[[], float]) -> Run:
    """dnsperf's best run over SETTINGS against the server on `port`; `server_cpu` reads the
    server's CPU seconds so far."""
    best = Run(0.0, 0.0, 0.0, "")
    for options in SETTINGS:
        argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds)]
        server_before, client_before = server_cpu(), children_cpu_seconds()
        output = subprocess.run(
            [*argv, *options.split()], capture_output=True, text=True, check=True, timeout=seconds + 120
        ).stdout
        server, client = server_cpu() - server_before, children_cpu_seconds() - client_before
        match = re.search(r"Queries per second:\s+([\d.]+)", output)
        completed = re.search(r"Queries completed:\s+(\d+)", output)
        lost = re.search(r"Queries lost:\s+(\d+)", output)
        if match and completed and float(match.group(1)) > best.qps:
            per_million = 1e6 / max(int(completed.group(1)), 1)
            setting = f"{options}, lost {lost.group(1) if lost else '?'}"
            best = Run(float(match.group(1)), server * per_million, client * per_million, setting)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=5, help="length of each dnsperf run")
    args = parser.parse_args()
    if not shutil.which("dnsperf") or not (shutil.which("nsd") or Path("/usr/sbin/nsd").exists()):
        sys.exit("needs nsd and dnsperf (Debian packages nsd, dnsperf; scripts/bench installs them)")
    with tempfile.TemporaryDirectory(prefix="dnsmill-bench-serve-") as workdir:
        zones = Path(workdir) / "zones"
        settings = SeedSettings(count=args.domains, seed=5, zones_dir=zones, batch_size=1000)
        Seeder(settings, f"sqlite://{Path(workdir) / 'seed.db'}", bus=EventBus()).run_once()
        domains = sorted(p.name.removesuffix(".zone") for p in zones.iterdir())
        lines = []
        for n, domain in enumerate(domains):
            lines += [f"{domain}. {t}\n" for t in ("A", "AAAA", "MX", "NS", "TXT")]
            lines.append(f"www.{domain}. A\n")
            lines.append(f"missing{n}.{domain}. A\n")
        queries = Path(workdir) / "queries.txt"
        queries.write_text("".join(lines))
        print(f"{len(domains):,} zones, {len(lines):,} distinct queries; {os.cpu_count()} cores shared")

        with dnsmill.serve(zones=zones, listen="127.0.0.1:0", poll=None, reload_on_events=False) as server:
            print(f"dnsmill serve: {server.stats['records']:,} records loaded")
            # The server runs on this process's threads; the main thread only waits for dnsperf.
            ours = dnsperf_qps(server.port, queries, args.seconds, time.process_time)
            stats = server.stats
            cached = stats["udp_cached"] / max(stats["udp_queries"], 1)
        texts = {domain: (zones / f"{domain}.zone").read_text() for domain in domains}
        with nsd(shutil.which("nsd") or "/usr/sbin/nsd", texts, server_count=2) as port:
            (nsd_pid,) = child_pids("nsd")
            theirs = dnsperf_qps(port, queries, args.seconds, lambda: tree_cpu_seconds(nsd_pid))
    print("CPU: user+sys seconds per million queries answered, of the server and of dnsperf")
    print(f"{'':20} {'qps':>12} {'server CPU':>11} {'dnsperf CPU':>12}")
    for label, run in (("dnsmill serve", ours), ("NSD (2 servers)", theirs)):
        print(
            f"{label:20} {run.qps:>12,.0f} {run.server_cpu:>11.2f} {run.client_cpu:>12.2f}   ({run.setting})"
        )
    print(f"{cached:.1%} of dnsmill's queries were answered from its answer cache")
    ratio = ours.qps / theirs.qps if theirs.qps else 0.0
    print(f"\ndnsmill serve / NSD {ratio:6.2f}x   (target >= 1.0x: {'meets' if ratio >= 1.0 else 'MISSES'})")
    if theirs.server_cpu:
        print(
            f"server CPU per query, dnsmill / NSD {ours.server_cpu / theirs.server_cpu:6.2f}x   (lower is better)"
        )


if __name__ == "__main__":
    main()
