"""The built-in authoritative server beside NSD, in one run: dnsperf against each, same zones.

Seeds realistic domains (dnsmill's seeder, fixed seed) into zone files, serves that directory
with `dnsmill.serve(zones=...)` and with NSD (server-count 2, minimal responses, RRL off), and
runs the same dnsperf query file against each: each server gets the best of a few thread and
outstanding-query settings, then they take --repeat turns and the medians are compared. The queries are every apex A, AAAA, MX, NS and TXT, www A (a
CNAME chased in the zone) and a share of names that do not exist (NXDOMAIN with the SOA).
Each distinct question is answered through the zone lookup the first time a receive loop sees
it and from that loop's answer cache after that, as NSD answers from answers it compiled ahead;
the share from the cache is printed. The servers and dnsperf share the machine's cores; CPU
per query (user+sys) is printed beside each rate. A benchmark, not a test.

    scripts/bench serve              # or: python benches/serve.py --domains 2000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
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


def dnsperf_run(port: int, queries: Path, seconds: int, options: str, server_cpu: Callable[[], float]) -> Run:
    """One dnsperf run against the server on `port`; `server_cpu` reads the server's CPU
    seconds so far."""
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds)]
    server_before, client_before = server_cpu(), children_cpu_seconds()
    output = subprocess.run(
        [*argv, *options.split()], capture_output=True, text=True, check=True, timeout=seconds + 120
    ).stdout
    server, client = server_cpu() - server_before, children_cpu_seconds() - client_before
    qps = re.search(r"Queries per second:\s+([\d.]+)", output)
    completed = re.search(r"Queries completed:\s+(\d+)", output)
    lost = re.search(r"Queries lost:\s+(\d+)", output)
    if not (qps and completed):
        raise SystemExit(f"unexpected dnsperf output:\n{output}")
    per_million = 1e6 / max(int(completed.group(1)), 1)
    setting = f"{options}, lost {lost.group(1) if lost else '?'}"
    return Run(float(qps.group(1)), server * per_million, client * per_million, setting)


def best_setting(port: int, queries: Path, server_cpu: Callable[[], float]) -> str:
    """The dnsperf setting of SETTINGS that gets the most from this server (short runs)."""
    rates = {options: dnsperf_run(port, queries, 2, options, server_cpu).qps for options in SETTINGS}
    return max(rates, key=rates.__getitem__)


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.qps for r in runs),
        statistics.median(r.server_cpu for r in runs),
        statistics.median(r.client_cpu for r in runs),
        f"{runs[0].setting.split(',')[0]}; lost {', '.join(r.setting.split('lost ')[1] for r in runs)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=5, help="length of each dnsperf run")
    parser.add_argument("--repeat", type=int, default=3, help="turns each server takes")
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

        texts = {domain: (zones / f"{domain}.zone").read_text() for domain in domains}
        with (
            dnsmill.serve(zones=zones, listen="127.0.0.1:0", poll=None, reload_on_events=False) as server,
            nsd(shutil.which("nsd") or "/usr/sbin/nsd", texts, server_count=2) as nsd_port,
        ):
            print(f"dnsmill serve: {server.stats['records']:,} records loaded")
            (nsd_pid,) = child_pids("nsd")
            # Both servers are up and the idle one costs nothing; they take turns, each with
            # the dnsperf setting that suits it best. dnsmill's server runs on this process's
            # threads (the main thread only waits for dnsperf).
            contenders = [
                (server.port, time.process_time),
                (nsd_port, lambda: tree_cpu_seconds(nsd_pid)),
            ]
            settings = [best_setting(port, queries, cpu) for port, cpu in contenders]
            turns: list[list[Run]] = [[], []]
            for _ in range(args.repeat):
                for (port, cpu), options, runs in zip(contenders, settings, turns, strict=True):
                    runs.append(dnsperf_run(port, queries, args.seconds, options, cpu))
            ours, theirs = (median_run(runs) for runs in turns)
            stats = server.stats
            cached = stats["udp_cached"] / max(stats["udp_queries"], 1)
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
