"""``dnsmill streams ...`` (streams of sources, controlled through the store) and ``dnsmill
coordinate`` (the coordinator that runs them)."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dnsmill.cli.app import CONFIG_HELP, DB_URL_HELP, METRICS_HELP, app, duration, say, settings_or_exit
from dnsmill.config import Settings
from dnsmill.coordinator import Coordinator
from dnsmill.coordinator.service import serve_coordinator
from dnsmill.coordinator.sources import kinds
from dnsmill.service import run_service

streams_app = typer.Typer(
    name="streams",
    help="Streams of DNS sources: create them, add sources, start, pause, resume, stop, see their status.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(streams_app)

Db = Annotated[str | None, typer.Option(help=f"The store ({DB_URL_HELP}); default: coordinator.db, else db.")]
Config = Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _settings(command: str, config: Path | None, db: str | None) -> Settings:
    return settings_or_exit(command, config, coordinator={"db": db})


def _coordinator(settings: Settings) -> Coordinator:
    return Coordinator(settings.coordinator.db or settings.db, events_table=settings.coordinator.events_table)


def _show(stream: dict[str, Any]) -> None:
    reason = f"  ({stream['reason']})" if stream.get("reason") else ""
    print(
        f"{stream['name']}\t{stream['status']}\t{len(stream['sources'])} sources\t{stream.get('restarts', 0)} restarts{reason}"
    )
    for source in stream["sources"]:
        line = f"  {source['name']}\t{source['kind']}\t{source.get('state', 'stopped')}\trestarts {source.get('restarts', 0)}"
        if source.get("last_event"):
            line += f"\tlast event: {source['last_event']}"
        if source.get("last_error"):
            line += f"\tlast error: {source['last_error']}"
        print(line)


def _live(settings: Settings, path: str) -> Any | None:
    """The running coordinator's answer at ``path``, or None when none answers."""
    listen = settings.coordinator.listen
    if not listen:
        return None
    request = urllib.request.Request(f"http://{listen}{path}")
    try:
        with urllib.request.urlopen(request, timeout=1.0) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


@streams_app.command("create")
def create(name: str, config: Config = None, db: Db = None) -> None:
    """Create a stream (pending until started)."""
    settings = _settings("streams create", config, db)
    _coordinator(settings).create_stream(name)
    say(f"stream {name} created; add sources with: dnsmill streams add-source {name} NAME --kind KIND ...")


@streams_app.command("add-source")
def add_source(
    stream: str,
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="The source kind (see: dnsmill streams kinds).")],
    settings_json: Annotated[
        str | None,
        typer.Option("--settings", help='The source\'s settings as JSON, e.g. \'{"path": "/srv/zones"}\'.'),
    ] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="One setting as KEY=VALUE (the value read as JSON when it is, else text); repeatable.",
        ),
    ] = None,
    poll_interval: Annotated[
        timedelta,
        typer.Option("--poll-interval", parser=duration, help="Time between the source's looks (30s)."),
    ] = timedelta(seconds=30),
    restart: Annotated[
        str, typer.Option(help="Restart type: permanent, transient or temporary.")
    ] = "permanent",
    config: Config = None,
    db: Db = None,
) -> None:
    """Add a source to a stream; a running stream starts it at once."""
    settings = _settings("streams add-source", config, db)
    values: dict[str, Any] = json.loads(settings_json) if settings_json else {}
    for item in set_values or []:
        key, equals, text = item.partition("=")
        if not equals:
            raise typer.BadParameter(f"{item!r}: give KEY=VALUE", param_hint="'--set'")
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text
    _coordinator(settings).add_source(
        stream, name, kind, values, poll_interval=poll_interval.total_seconds(), restart=restart
    )
    say(f"source {name} ({kind}) added to {stream}")


@streams_app.command("remove-source")
def remove_source(stream: str, name: str, config: Config = None, db: Db = None) -> None:
    """Take a source out of a stream (its checkpoints go with it)."""
    _coordinator(_settings("streams remove-source", config, db)).remove_source(stream, name)
    say(f"source {name} removed from {stream}")


def _act(command: str, name: str, config: Path | None, db: str | None) -> None:
    coordinator = _coordinator(_settings(f"streams {command}", config, db))
    status = {
        "start": coordinator.start_stream,
        "pause": coordinator.pause_stream,
        "resume": coordinator.resume_stream,
        "stop": coordinator.stop_stream,
    }[command](name)
    say(f"stream {name} is {status['status']}")


@streams_app.command("start")
def start(name: str, config: Config = None, db: Db = None) -> None:
    """Run a stream's sources from their checkpoints (a running coordinator picks it up)."""
    _act("start", name, config, db)


@streams_app.command("pause")
def pause(name: str, config: Config = None, db: Db = None) -> None:
    """Stop a stream's sources, keeping their checkpoints."""
    _act("pause", name, config, db)


@streams_app.command("resume")
def resume(name: str, config: Config = None, db: Db = None) -> None:
    """Run a paused or failed stream again from its checkpoints."""
    _act("resume", name, config, db)


@streams_app.command("stop")
def stop(name: str, config: Config = None, db: Db = None) -> None:
    """Stop a stream's sources and clear their checkpoints (the next start begins anew)."""
    _act("stop", name, config, db)


@streams_app.command("delete")
def delete(name: str, config: Config = None, db: Db = None) -> None:
    """Delete a stream with its checkpoints (its events stay)."""
    _coordinator(_settings("streams delete", config, db)).delete_stream(name)
    say(f"stream {name} deleted")


@streams_app.command("status")
def status(name: str, config: Config = None, db: Db = None, as_json: AsJson = False) -> None:
    """One stream: its status, and each source's state, restarts, last event and last error
    (live from the running coordinator when one answers at coordinator.listen)."""
    settings = _settings("streams status", config, db)
    stream = _live(settings, f"/api/streams/{name}")
    if stream is None or "error" in stream:
        stream = _coordinator(settings).stream_status(name)
    print(json.dumps(stream, indent=2)) if as_json else _show(stream)


@streams_app.command("list")
def list_streams(config: Config = None, db: Db = None, as_json: AsJson = False) -> None:
    """Every stream (live from the running coordinator when one answers)."""
    settings = _settings("streams list", config, db)
    live = _live(settings, "/api/streams")
    streams = live["streams"] if live is not None else _coordinator(settings).list_streams()
    if as_json:
        print(json.dumps(streams, indent=2))
        return
    if not streams:
        say("no streams; create one with: dnsmill streams create NAME")
    for stream in streams:
        _show(stream)


@streams_app.command("kinds")
def source_kinds() -> None:
    """The source kinds."""
    for kind in kinds():
        print(kind)


@app.command("coordinate")
def coordinate(
    listen: Annotated[
        str | None, typer.Option(help="HOST:PORT of the JSON API and status page (127.0.0.1:8053).")
    ] = None,
    config: Config = None,
    db: Db = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Run the coordinator: every active stream's sources under supervisors, the JSON API and
    the status page. Stops on SIGTERM or Ctrl-C once every source has stopped."""
    settings = settings_or_exit(
        "coordinate", config, metrics_port=metrics_port, coordinator={"db": db, "listen": listen}
    )

    def ready(address: str | None) -> None:
        where = f"; status page at http://{address}/" if address else ""
        print(
            f"coordinating the streams of {settings.coordinator.db or settings.db}{where}",
            file=sys.stderr,
            flush=True,
        )

    stats = asyncio.run(
        run_service(
            lambda stop: serve_coordinator(settings.coordinator, settings.db, stop, ready=ready),
            metrics_port=settings.metrics_port,
        )
    )
    print(f"stopped: {stats['streams']} streams, {stats['failed']} failed", file=sys.stderr)
