"""The ``dnsmill`` commands of the services: seed, domains, publish, work, run, config.

Each takes its settings from defaults, ``--config FILE`` (or ``$DNSMILL_CONFIG``), ``DNSMILL_``
variables and its flags (see :mod:`dnsmill.config`). Long-running ones stop gracefully on
SIGTERM or Ctrl-C: they finish and commit what they hold, then exit 0.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

import dnsmill
from dnsmill import events, metrics
from dnsmill.cli import DB_URL_HELP, app, err_console
from dnsmill.config import Settings, load_settings, redacted, shown
from dnsmill.seeder import Seeder

CONFIG_HELP = "YAML settings file (default: $DNSMILL_CONFIG)."
METRICS_HELP = "Serve Prometheus metrics on this port (127.0.0.1)."


def settings_or_exit(command: str, config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except dnsmill.ConfigError as error:
        err_console.print(f"dnsmill {command}: {error}")
        raise typer.Exit(2) from None


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: services finish what they hold, then exit 0."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second signal: stop now
            raise KeyboardInterrupt
        err_console.print(f"{signal.Signals(signum).name}: finishing the work in hand, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


@app.command("seed")
def seed(
    count: Annotated[int | None, typer.Option("--count", "-n", help="Domains per run.")] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    zones_dir: Annotated[
        Path | None, typer.Option("--zones-dir", help="Also write one zone file per domain here.")
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Run on this schedule (30m, 1h, 90s) until stopped.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Domains per batch handed to the writer.")] = None,
    types: Annotated[
        str | None, typer.Option("--types", "-t", help="Record types besides SOA, comma-separated.")
    ] = None,
    tlds: Annotated[str | None, typer.Option(help="Top-level domains of generated names.")] = None,
    domains: Annotated[
        str | None, typer.Option(help="Seed these domains (comma-separated) instead of generated names.")
    ] = None,
    ttl_min: Annotated[int | None, typer.Option(help="Lowest TTL.")] = None,
    ttl_max: Annotated[int | None, typer.Option(help="Highest TTL.")] = None,
    rng_seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed: the same seed writes the same records.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Fill a store with realistic DNS records: once, or --every interval until SIGTERM/Ctrl-C."""
    settings = settings_or_exit(
        "seed",
        config,
        db=db,
        metrics_port=metrics_port,
        seed={
            "count": count,
            "zones_dir": zones_dir,
            "every": every,
            "batch_size": batch_size,
            "types": types,
            "tlds": tlds,
            "domains": domains,
            "ttl_min": ttl_min,
            "ttl_max": ttl_max,
            "seed": rng_seed,
        },
    )
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port)

    def report(event: events.Event) -> None:
        data = event.data
        err_console.print(
            f"seeded {data['count']:,} records for {data['domains']:,} domains "
            f"in {data['duration_ms'] / 1000:.2f} s"
        )

    subscription = events.bus.subscribe("seeder", callback=report)
    seeder = Seeder(settings.seed, settings.db)
    try:
        if settings.seed.every is None:
            run = seeder.run_once()
            print(json.dumps({**asdict(run), "db": redacted(settings.db)}, default=str))
        else:
            seeder.run_every(stop_on_signals())
    except (dnsmill.DnsmillError, OSError) as error:
        err_console.print(f"dnsmill seed: {error}")
        raise typer.Exit(1) from None
    finally:
        time.sleep(0.05)  # let the report of the last run print
        subscription.close()


config_app = typer.Typer(help="Show the settings services would use.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Print the effective settings (defaults, file, DNSMILL_ variables) as JSON, passwords hidden."""
    print(json.dumps(shown(settings_or_exit("config show", config)), indent=2))


QUEUE_HELP = "Work queue URL: sqlite:///abs/path.db or sqlite://relative.db."

domains_app = typer.Typer(help="The domains to resolve.", no_args_is_help=True)
app.add_typer(domains_app, name="domains")


@domains_app.command("add")
def domains_add(
    file: Annotated[Path, typer.Argument(help="Domain names, one per line (# comments allowed).")],
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Add domain names to resolve: IDNs become A-labels; bad lines are reported, good ones kept."""
    settings = settings_or_exit("domains add", config, db=db)
    try:
        with dnsmill.Domains(settings.db) as domains:
            result = domains.add(file)
    except (dnsmill.DnsmillError, OSError) as error:
        err_console.print(f"dnsmill domains add: {error}")
        raise typer.Exit(1) from None
    for line, text, reason in result["rejected"]:
        err_console.print(f"{file}:{line}: {text!r}: {reason}", markup=False, highlight=False)
    print(
        json.dumps(
            {
                "added": result["added"],
                "duplicates": result["duplicates"],
                "rejected": len(result["rejected"]),
            }
        )
    )


@app.command("publish")
def publish(
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Domains per message.")] = None,
    max_age: Annotated[
        str | None, typer.Option(help="Resolve again once the last resolution is older (1d, 12h).")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Failures in a row before giving up.")] = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="First empty the queue and make its domains due again.")
    ] = False,
    count_only: Annotated[bool, typer.Option("--count-only", help="Only report how many are due.")] = False,
    stop_workers: Annotated[int, typer.Option(help="Then tell this many workers to finish.")] = 0,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Put the domains that are due on the queue, a batch per message."""
    from dnsmill.publisher import Publisher
    from dnsmill.queue import open_queue

    settings = settings_or_exit(
        "publish",
        config,
        db=db,
        queue=queue,
        publish={"batch_size": batch_size, "max_age": max_age, "max_attempts": max_attempts},
    )
    try:
        with open_queue(settings.queue) as work_queue:
            publisher = Publisher(settings.db, work_queue, settings.publish)
            try:
                if count_only:
                    print(json.dumps({"due": publisher.count_due()}))
                    return
                purged = reset = 0
                if purge:
                    purged, reset = publisher.purge()
                report = publisher.publish(stop_workers=stop_workers)
            finally:
                publisher.close()
    except dnsmill.DnsmillError as error:
        err_console.print(f"dnsmill publish: {error}")
        raise typer.Exit(1) from None
    print(json.dumps({**asdict(report), "purged": purged, "reset": reset}))


def resolver_overrides(
    ns: str | None,
    types: str | None,
    concurrency: int | None,
    timeout: str | None,
    retries: int | None,
    lease: str | None,
    worker_id: str | None = None,
) -> dict[str, Any]:
    return {
        "ns": ns,
        "types": types,
        "concurrency": concurrency,
        "timeout": timeout,
        "retries": retries,
        "lease": lease,
        "worker_id": worker_id,
    }


NS_HELP = "Nameservers IP[:PORT], comma-separated (default: /etc/resolv.conf)."
TYPES_HELP = "Record types to resolve, comma-separated (default A,AAAA,MX,NS,SOA,CNAME,TXT)."
LEASE_HELP = "How long a batch stays with a worker before the queue offers it again (5m)."


@app.command("work")
def work(
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    ns: Annotated[str | None, typer.Option("--ns", help=NS_HELP)] = None,
    types: Annotated[str | None, typer.Option("--types", "-t", help=TYPES_HELP)] = None,
    concurrency: Annotated[int | None, typer.Option(help="Most queries in flight.")] = None,
    timeout: Annotated[str | None, typer.Option(help="Longest wait for one try (2s).")] = None,
    retries: Annotated[int | None, typer.Option(help="Tries after the first.")] = None,
    lease: Annotated[str | None, typer.Option(help=LEASE_HELP)] = None,
    worker_id: Annotated[str | None, typer.Option(help="Name in logs and events.")] = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="Exit after this many seconds without a batch.")
    ] = None,
    table: Annotated[str, typer.Option(help="Records table for the answers.")] = "dns_records",
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Resolve batches from the queue into the store; ack each only after its commit.

    Stops on a stop message, on SIGTERM or Ctrl-C (finishing the batch in hand), or after
    --idle-exit seconds without work."""
    from dnsmill.queue import open_queue
    from dnsmill.worker import Worker

    settings = settings_or_exit(
        "work",
        config,
        db=db,
        queue=queue,
        metrics_port=metrics_port,
        work=resolver_overrides(ns, types, concurrency, timeout, retries, lease, worker_id),
    )
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port)
    stop = stop_on_signals()
    try:
        with open_queue(settings.queue) as work_queue:
            worker = Worker(settings.db, work_queue, settings.work, table=table)
            try:
                report = worker.run(stop, idle_exit=idle_exit)
            finally:
                worker.close()
    except dnsmill.DnsmillError as error:
        err_console.print(f"dnsmill work: {error}")
        raise typer.Exit(1) from None
    print(json.dumps({"worker": worker.worker_id, **asdict(report)}))


@app.command("run")
def run(
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Workers in this process.")] = 2,
    ns: Annotated[str | None, typer.Option("--ns", help=NS_HELP)] = None,
    types: Annotated[str | None, typer.Option("--types", "-t", help=TYPES_HELP)] = None,
    concurrency: Annotated[int | None, typer.Option(help="Most queries in flight per worker.")] = None,
    timeout: Annotated[str | None, typer.Option(help="Longest wait for one try (2s).")] = None,
    retries: Annotated[int | None, typer.Option(help="Tries after the first.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Domains per message.")] = None,
    table: Annotated[str, typer.Option(help="Records table for the answers.")] = "dns_records",
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Publish every due domain and work it off with N workers in this process."""
    settings = settings_or_exit(
        "run",
        config,
        db=db,
        queue=queue,
        metrics_port=metrics_port,
        publish={"batch_size": batch_size},
        work=resolver_overrides(ns, types, concurrency, timeout, retries, None),
    )
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port)
    from dnsmill.pipeline import run_pipeline

    try:
        result = run_pipeline(settings, workers=workers, table=table, stop=stop_on_signals(), progress=True)
    except dnsmill.DnsmillError as error:
        err_console.print(f"dnsmill run: {error}")
        raise typer.Exit(1) from None
    print(json.dumps(result))


@app.command("serve")
def serve(
    db: Annotated[
        str | None, typer.Option("--db", help="Serve the records of this store. " + DB_URL_HELP)
    ] = None,
    zones: Annotated[
        Path | None, typer.Option("--zones", help="Serve the *.zone files in this directory.")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="IP:PORT for UDP and TCP (port 0: any free port).")
    ] = None,
    table: Annotated[str, typer.Option(help="Records table to serve.")] = "dns_records",
    poll: Annotated[
        str | None, typer.Option(help="Look for new records this often (10s); 0 turns it off.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Answer DNS queries authoritatively from stored records (or zone files) until SIGTERM/Ctrl-C."""
    settings = settings_or_exit(
        "serve", config, db=db, metrics_port=metrics_port, serve={"listen": listen, "poll": poll}
    )
    source_db = None if zones is not None else settings.db
    every = settings.serve.poll.total_seconds() if settings.serve.poll else None
    try:
        server = dnsmill.serve(
            source_db, zones=zones, listen=settings.serve.listen, table=table, poll=every or None
        )
    except (dnsmill.DnsmillError, ValueError) as error:
        err_console.print(f"dnsmill serve: {error}")
        raise typer.Exit(1) from None
    if settings.metrics_port is not None:  # up before the line that says the server is
        metrics.watch_server(server)
        metrics.serve(settings.metrics_port)
    stats = server.stats
    where = str(zones) if zones is not None else redacted(settings.db)
    err_console.print(
        f"serving {stats['zones']:,} zones ({stats['records']:,} records) from {where} on {server.address}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for reason in stats["skip_reasons"]:
        err_console.print(f"  not served: {reason}", markup=False, highlight=False)
    stop = stop_on_signals()
    try:
        while not stop.wait(0.5):
            if not server.running:
                err_console.print("dnsmill serve: the server stopped")
                raise typer.Exit(1)
    finally:
        server.stop()
