"""The ``dnsmill`` application object and what every command shares: consoles, help texts,
settings loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import dnsmill
from dnsmill.config import Settings, load_settings

app = typer.Typer(
    name="dnsmill",
    help="DNS data at scale: parse zones, resolve names, store and serve records.",
    no_args_is_help=True,
    add_completion=False,
)

console = Console()
# Messages name files and lines: never wrapped, so they stay whole for grep and for editors.
err_console = Console(stderr=True, soft_wrap=True)

DB_URL_HELP = (
    "sqlite:///abs/path.db, sqlite://relative.db, postgresql://user@host/db or mysql://user@host/db."
)
CONFIG_HELP = "YAML settings file (default: $DNSMILL_CONFIG)."
METRICS_HELP = "Serve Prometheus metrics on this port (127.0.0.1)."
QUEUE_HELP = "Work queue URL: sqlite:///abs/path.db or sqlite://relative.db."


class Options:
    """Options of the whole command line."""

    #: Show the traceback of a failure instead of one line.
    debug = False


@app.callback(invoke_without_command=True)
def root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On a failure, show the traceback instead of one line.")
    ] = False,
) -> None:
    Options.debug = debug
    if version:
        console.print(f"dnsmill {dnsmill.__version__}")
        raise typer.Exit()


def settings_or_exit(command: str, config: Path | None, **overrides: Any) -> Settings:
    """The settings (see :mod:`dnsmill.config`), or exit 2 with the message that says what is wrong."""
    try:
        return load_settings(config, **overrides)
    except dnsmill.ConfigError as error:
        err_console.print(f"dnsmill {command}: {error}")
        raise typer.Exit(2) from None
