"""``dnsmill sync``: the zone sync service DirectAdmin pushes zones to."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from dnsmill.cli.app import CONFIG_HELP, METRICS_HELP, app, settings_or_exit
from dnsmill.service import run_service
from dnsmill.sync.pushes import PushQueue
from dnsmill.sync.service import reconcile_sync, serve_sync


@app.command("sync")
def sync(
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to listen on (127.0.0.1:2222).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="Compare every backend with every zone once, repair what drifted, print what it did, and exit.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --reconcile: report the drift, change nothing.")
    ] = False,
    dead: Annotated[
        bool,
        typer.Option(
            "--dead", help="List the pushes that failed for good (zone, action, last error), and exit."
        ),
    ] = False,
    retry_dead: Annotated[
        bool,
        typer.Option(
            "--retry-dead", help="Queue the dead pushes again (the running service applies them), and exit."
        ),
    ] = False,
) -> None:
    """Take DirectAdmin's zone pushes and write them to the configured DNS backends.

    Needs sync.user and sync.password (no defaults) and a backend (sync.bind,
    sync.coredns_mysql, sync.powerdns) in the settings. Stops on SIGTERM or Ctrl-C once the
    pushes in hand are applied."""
    settings = settings_or_exit("sync", config, metrics_port=metrics_port, sync={"listen": listen})
    if dead or retry_dead:
        pushes = PushQueue(settings.sync.pushes)
        try:
            if retry_dead:
                queued, superseded = pushes.retry_dead()
                print(f"{queued} dead pushes queued again; {superseded} superseded by newer pushes, dropped")
            else:
                for zone, action, error in pushes.dead():
                    print(f"{zone}\t{action}\t{error}")
        finally:
            pushes.close()
        raise typer.Exit(0)
    if reconcile:
        report = asyncio.run(reconcile_sync(settings.sync, dry_run=dry_run or None))
        print(
            f"{'dry run: ' if report.dry_run else ''}{report.compared} zone copies compared: "
            f"{report.drifting} drifting, {report.repaired} repaired, {report.deleted} deleted, "
            f"{report.held_back} held back, {report.unmanaged} not pushed here (left alone)"
        )
        for error in report.errors:
            print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1 if report.errors else 0)
    if dry_run:
        raise typer.BadParameter("--dry-run goes with --reconcile", param_hint="--dry-run")

    def listening(address: str) -> None:
        print(f"listening on {address}", file=sys.stderr, flush=True)

    asyncio.run(
        run_service(
            lambda stop: serve_sync(settings.sync, stop, listening=listening),
            metrics_port=settings.metrics_port,
        )
    )
