"""The main job end to end beside resolution alone, in one run, on the same domains.

Seeds realistic domains and serves them with the built-in server on loopback. Then:

  resolve-only  one `Resolver.resolve` of every domain for the types (A, AAAA, MX, TXT by
                default) against that server, nothing stored: domains/s.
  pipeline      for each message format and number of workers asked for: a fresh store
                (a new database on PostgreSQL, a new file on SQLite) holding the domains, a
                fresh queue, W `dnsmill work` processes started and waiting, then timed from
                `dnsmill publish --stop-workers W` to the last worker's exit: every domain
                published, resolved for the same types against the same server, its answer
                records and outcome committed in one transaction per batch (or per group of
                batches waiting together), each message acked after that commit.
                Batch messages carry `--batch-size` domains; bare messages one domain each
                (as the publishers users run today send them), gathered by the workers into
                batches of up to 1,000.

Both ask a server that has answered every question once already (an untimed resolve first).
Resolve-only runs again just before each pipeline run, and each ratio is to that run: this
machine's speed drifts by half within minutes.
The server, the workers, the broker and the database share the machine's cores. The tool users
run today (a Python publisher and workers over RabbitMQ and PostgreSQL) was measured at 180
domains/s end to end on this kind of machine with 2 workers; that figure is quoted, not run here.
A benchmark, not a test.

    scripts/bench pipeline           # SQLite store and queue, 20,000 domains
    python benches/pipeline.py --domains 100000 --queue amqp://guest:guest@127.0.0.1/ \\
        --db postgresql://postgres@127.0.0.1/postgres --workers 1,2,4 --formats batch,bare
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dnsmill
from dnsmill.config import SeedSettings
from dnsmill.events import EventBus
from dnsmill.seeder import Seeder

#: The tool users run today, end to end with 2 workers (quoted from its measurement).
EXISTING_TOOL_RATE = 180


def fresh_store(db: str, workdir: Path, run: str) -> tuple[str, str]:
    """A new, empty store for one run: (its URL, the database to drop afterwards or "")."""
    if db.startswith("sqlite"):
        return f"sqlite://{workdir / f'{run}.db'}", ""
    location, _, options = db.partition("?")
    base = location.rpartition("/")[0]
    database = f"dnsmill_bench_{run}"
    admin_sql(db, f"CREATE DATABASE {database}")
    return f"{base}/{database}" + (f"?{options}" if options else ""), database


def admin_sql(db: str, sql: str) -> None:
    """Runs ``sql`` on the PostgreSQL server of ``db`` with psql (as its user, on its host;
    without the URL's options, which may be dnsmill's own)."""
    server = db.split("?", 1)[0]
    subprocess.run(["psql", server, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


async def delete_queues(url: str, names: list[str]) -> None:
    """Deletes a run's queues from the broker (its dead-letter and delay queues too)."""
    import aio_pika

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            for queue in [name, f"{name}.dead", *(f"{name}.delay.{2**p}s" for p in range(16))]:
                await channel.queue_delete(queue)


def run_pipeline(
    args: argparse.Namespace,
    domains: list[str],
    server: str,
    workdir: Path,
    message_format: str,
    workers: int,
) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    db, database = fresh_store(args.db or "sqlite", workdir, run)
    queue = args.queue or f"sqlite://{workdir / f'{run}-queue.db'}"
    name = f"dnsmill-bench-{run}"
    dnsmill.init_db(db)
    with dnsmill.Domains(db) as table:
        table.add(domains)
    common = ["--db", db, "--queue", queue, "--queue-name", name]
    command = [sys.executable, "-m", "dnsmill"]
    crew = [
        subprocess.Popen(
            [*command, "work", *common, "--ns", server, "-t", args.types, "--worker-id", f"w{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    try:
        time.sleep(2)  # started, connected, waiting for work
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = time.process_time()
        started = time.perf_counter()
        publish = [*command, "publish", *common, "--stop-workers", str(workers)]
        publish += ["--message-format", message_format, "--batch-size", str(args.batch_size)]
        published = json.loads(subprocess.run(publish, check=True, capture_output=True, text=True).stdout)
        reports = [json.loads(worker.communicate(timeout=3600)[0]) for worker in crew]
        seconds = time.perf_counter() - started
        server_cpu = time.process_time() - server_before
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The workers' start-up before the clock started counts too (a fraction of a second).
        dnsmill_cpu = (children.ru_utime - children_before.ru_utime) + (
            children.ru_stime - children_before.ru_stime
        )
        assert all(worker.returncode == 0 for worker in crew), "a worker failed"
        stats = dnsmill.db_stats(db)
    finally:
        for worker in crew:
            worker.kill()
        if database:
            admin_sql(args.db, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if queue.startswith("amqp"):
            asyncio.run(delete_queues(queue, [name]))
    assert published["published"] == len(domains), published
    outcomes = stats["domains_by_status"]
    return {
        "seconds": seconds,
        "rate": len(domains) / seconds,
        "messages": published["messages"],
        "records": sum(stats["records_by_type"].values()),
        "outcomes": outcomes,
        "batches": sum(report["batches"] for report in reports),
        "dnsmill_cpu_ms": 1000 * dnsmill_cpu / len(domains),
        "server_cpu_ms": 1000 * server_cpu / len(domains),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=20_000)
    parser.add_argument("--types", default="A,AAAA,MX,TXT")
    parser.add_argument("--workers", default="2", help="numbers of workers to run, comma-separated (1,2,4)")
    parser.add_argument(
        "--formats", default="batch", help="message formats: batch, bare or both (batch,bare)"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="domains per batch message")
    parser.add_argument("--queue", help="queue URL (default: a SQLite queue file per run)")
    parser.add_argument(
        "--db", help="store: a PostgreSQL URL (a database per run is made beside it) or SQLite"
    )
    args = parser.parse_args()
    types = args.types.split(",")
    with tempfile.TemporaryDirectory(prefix="dnsmill-bench-pipeline-") as directory:
        workdir = Path(directory)
        zones = f"sqlite://{workdir / 'zones.db'}"
        bus = EventBus()
        Seeder(SeedSettings(count=args.domains, seed=9, batch_size=2000), zones, bus=bus).run_once()
        with dnsmill.Domains(zones) as table:
            domains = [name for _, name in table.due(0, args.domains + 1)]
        print(f"{len(domains):,} domains x {types}; {os.cpu_count()} cores shared by everything")
        print(
            f"queue: {args.queue or 'SQLite file'}; store: {args.db or 'SQLite file'} (a fresh one per run)"
        )
        with dnsmill.serve(zones, listen="127.0.0.1:0", poll=None, bus=bus) as server:
            resolver = dnsmill.Resolver([server.address])
            resolver.resolve(domains, types)  # the warm-up

            def resolve_only() -> tuple[float, dnsmill.ResultSet]:
                started = time.perf_counter()
                results = resolver.resolve(domains, types)
                return len(domains) / (time.perf_counter() - started), results

            resolve_rate, results = resolve_only()
            answers = len(results.records())
            print(
                f"resolve-only: {resolve_rate:,.0f} domains/s, {answers:,} answer records; {results.stats['by_status']}"
            )
            print(
                "(resolve-only runs again just before each pipeline run: each ratio is to that run, as "
                "the machine's speed drifts)"
            )
            print(
                f"\n{'messages':8} {'workers':>7} {'domains/s':>10} {'seconds':>8} {'resolve':>8} "
                f"{'ratio':>6} {'vs today':>8} {'CPU ms/domain':>13}  stored"
            )
            for message_format in args.formats.split(","):
                for workers in (int(n) for n in args.workers.split(",")):
                    resolve_rate, _ = resolve_only()
                    got = run_pipeline(args, domains, server.address, workdir, message_format, workers)
                    ratio = got["rate"] / resolve_rate
                    print(
                        f"{message_format:8} {workers:>7} {got['rate']:>10,.0f} {got['seconds']:>8.2f} "
                        f"{resolve_rate:>8,.0f} {ratio:>5.2f}x {got['rate'] / EXISTING_TOOL_RATE:>7.0f}x "
                        f"{got['dnsmill_cpu_ms']:>6.3f} +{got['server_cpu_ms']:>5.3f}  "
                        f"{got['records']:,} records, {got['outcomes']}, {got['messages']:,} messages, "
                        f"{got['batches']:,} batches"
                        + ("" if got["records"] == answers else f"  (resolve-only found {answers:,})"),
                        flush=True,
                    )
    print(
        "\nCPU ms/domain: dnsmill's publisher and workers + the DNS server (in this process); the "
        "database and the broker are not counted. The tool users run today: 8 CPU-ms per domain (quoted)."
    )
    print("target: >= 0.5x resolve-only; >= 50x the tool users run today (180 domains/s, quoted)")


if __name__ == "__main__":
    main()
