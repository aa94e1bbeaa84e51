"""The main job end to end beside resolution alone, in one run, on the same domains.

Seeds realistic domains into SQLite and serves them with the built-in server on loopback. Then:

  pipeline      publish every domain onto the local SQLite queue, and 2 workers take the
                batches (4 each at a time), hand each to Rust in one call that resolves it (A,
                AAAA, MX, NS, SOA, CNAME, TXT) against the server and stores its answer records
                and its domains' outcomes in one transaction (batches that wait for the store
                at the same time share it), and ack after that commit: domains/s from the first
                publish to the last ack.
  resolve-only  one `Resolver.resolve` of the same domains and types against the same server,
                nothing stored: domains/s.

Both ask a server that has answered every question once already (an untimed resolve first), so
both find its answer cache equally warm.

The server, the workers and SQLite share the machine's cores. A benchmark, not a test.

    scripts/bench pipeline           # or: python benches/pipeline.py --domains 20000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import dnsmill
from dnsmill.config import SeedSettings, load_settings
from dnsmill.demo import RESOLVE_TYPES, drift
from dnsmill.events import EventBus
from dnsmill.pipeline import run_pipeline
from dnsmill.seeder import Seeder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2000, help="domains per message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dnsmill-bench-pipeline-") as workdir:
        store = f"sqlite://{Path(workdir) / 'dnsmill.db'}"
        bus = EventBus()
        Seeder(SeedSettings(count=args.domains, seed=9, batch_size=2000), store, bus=bus).run_once()
        with dnsmill.Domains(store) as table:
            domains = [name for _, name in table.due(0, args.domains + 1)]
        print(f"{len(domains):,} domains x {len(RESOLVE_TYPES)} types; {os.cpu_count()} cores shared")
        with dnsmill.serve(store, listen="127.0.0.1:0", poll=None, bus=bus) as server:
            resolver = dnsmill.Resolver([server.address])
            resolver.resolve(domains, RESOLVE_TYPES)  # the warm-up
            started = time.perf_counter()
            results = resolver.resolve(domains, RESOLVE_TYPES)
            resolve_seconds = time.perf_counter() - started
            statuses = results.stats["by_status"]
            settings = load_settings(
                db=store,
                queue=f"sqlite://{Path(workdir) / 'queue.db'}",
                publish={"batch_size": args.batch_size},
                work={"ns": [server.address], "types": RESOLVE_TYPES},
            )
            started = time.perf_counter()
            result = run_pipeline(settings, workers=args.workers, table="resolved", bus=bus)
            pipeline_seconds = time.perf_counter() - started
        check = drift(Path(workdir) / "dnsmill.db")
    resolve_rate = len(domains) / resolve_seconds
    pipeline_rate = result["domains"] / pipeline_seconds
    print(f"resolve-only statuses: {statuses}")
    print(
        f"pipeline outcomes:     {result['outcomes']}; drift: {check['missing']} missing, {check['extra']} extra"
    )
    print(f"{'resolve-only':14} {resolve_rate:>10,.0f} domains/s  {resolve_seconds:6.2f} s")
    print(
        f"{'pipeline':14} {pipeline_rate:>10,.0f} domains/s  {pipeline_seconds:6.2f} s"
        f"  (publish {result['publish_seconds']:.2f} s, work {result['work_seconds']:.2f} s, "
        f"{result['records']:,} answers stored)"
    )
    ratio = pipeline_rate / resolve_rate
    print(
        f"\npipeline / resolve-only {ratio:6.2f}x   (target >= 0.5x: {'meets' if ratio >= 0.5 else 'MISSES'})"
    )


if __name__ == "__main__":
    main()
