"""``dnsmill serve``: the built-in authoritative server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

import dnsmill
from dnsmill import metrics
from dnsmill.cli.app import (
    CONFIG_HELP,
    DB_URL_HELP,
    METRICS_HELP,
    Options,
    Quiet,
    app,
    duration,
    err_console,
    say,
    settings_or_exit,
)
from dnsmill.config import redacted
from dnsmill.server import watch_server
from dnsmill.service import stop_on_signals


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
        timedelta | None,
        typer.Option(
            parser=duration, metavar="DURATION", help="Look for new records this often (10s); 0 turns it off."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
    quiet: Quiet = False,
) -> None:
    """Answer DNS queries authoritatively from stored records (or zone files) until SIGTERM/Ctrl-C."""
    Options.quiet = quiet
    if db is not None and zones is not None:
        raise typer.BadParameter("give --db or --zones, not both", param_hint="'--db' / '--zones'")
    settings = settings_or_exit(
        "serve", config, db=db, metrics_port=metrics_port, serve={"listen": listen, "poll": poll}
    )
    source_db = None if zones is not None else settings.db
    every = settings.serve.poll.total_seconds() if settings.serve.poll else None
    server = dnsmill.serve(
        source_db, zones=zones, listen=settings.serve.listen, table=table, poll=every or None
    )
    if settings.metrics_port is not None:  # up before the line that says the server is
        watch_server(server)
        metrics.serve(settings.metrics_port)
    stats = server.stats
    where = str(zones) if zones is not None else redacted(settings.db)
    say(f"serving {stats['zones']:,} zones ({stats['records']:,} records) from {where} on {server.address}")
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
