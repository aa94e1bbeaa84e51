"""``dnsmill seed``: fill a store with realistic records, once or on a schedule."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

import dnsmill
from dnsmill import events, metrics
from dnsmill.cli.app import (
    CONFIG_HELP,
    DB_URL_HELP,
    METRICS_HELP,
    Options,
    Quiet,
    app,
    duration,
    fail,
    positive,
    say,
    settings_or_exit,
)
from dnsmill.config import redacted
from dnsmill.seeder import Seeder
from dnsmill.service import stop_on_signals


@app.command("seed")
def seed(
    count: Annotated[int | None, typer.Option("--count", "-n", help="Domains per run.")] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    zones_dir: Annotated[
        Path | None, typer.Option("--zones-dir", help="Also write one zone file per domain here.")
    ] = None,
    every: Annotated[
        timedelta | None,
        typer.Option(
            "--every",
            parser=duration,
            metavar="DURATION",
            help="Run on this schedule (30m, 1h, 90s) until stopped.",
        ),
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
    quiet: Quiet = False,
) -> None:
    """Fill a store with realistic DNS records: once, or --every interval until SIGTERM/Ctrl-C."""
    Options.quiet = quiet
    settings = settings_or_exit(
        "seed",
        config,
        db=db,
        metrics_port=metrics_port,
        seed={
            "count": count,
            "zones_dir": zones_dir,
            "every": positive(every, "--every"),
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
        say(
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
        fail("seed", error, 1)
    finally:
        time.sleep(0.05)  # let the report of the last run print
        subscription.close()
