"""``dnsmill ingest``: the event writer, NATS JetStream streams drained into tables."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from dnsmill.cli.app import CONFIG_HELP, METRICS_HELP, app, settings_or_exit
from dnsmill.ingest.service import serve_ingest
from dnsmill.service import run_service


@app.command("ingest")
def ingest(
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    db: Annotated[str | None, typer.Option(help="The database written to (ingest.db, else db).")] = None,
    nats: Annotated[str | None, typer.Option(help="The NATS server (nats://127.0.0.1:4222).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Drain the configured JetStream streams into tables (ingest.streams, ingest.routes).

    Each message is written once (rows have deterministic keys) or set aside on its stream's
    dead-letter subject with the reason. Several processes on one durable share the work.
    Stops on SIGTERM or Ctrl-C once the batches in hand are written and acked."""
    settings = settings_or_exit("ingest", config, metrics_port=metrics_port, ingest={"db": db, "nats": nats})

    def ready() -> None:
        streams = ", ".join(stream.name for stream in settings.ingest.streams)
        print(f"reading {streams}", file=sys.stderr, flush=True)

    final = asyncio.run(
        run_service(
            lambda stop: serve_ingest(settings.ingest, settings.db, stop, ready=ready),
            metrics_port=settings.metrics_port,
        )
    )
    for route, counters in final["routes"].items():
        print(
            f"{route}: {counters['messages']} messages, {counters['rows']} rows in {counters['batches']} batches, "
            f"{counters['dead_lettered']} dead-lettered",
            file=sys.stderr,
        )
