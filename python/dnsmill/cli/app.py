"""The ``dnsmill`` application object and what every command shares: consoles, help texts,
settings loading."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

import dnsmill
from dnsmill.config import Settings, load_settings, parse_duration

# Plain help (click's layout): flags are listed without a value placeholder, and the text
# fits any terminal width without boxes.
app = typer.Typer(
    name="dnsmill",
    help="DNS data at scale: parse zones, resolve names, store and serve records.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

console = Console()
# Messages name files and lines: never wrapped, so they stay whole for grep and for editors.
err_console = Console(stderr=True, soft_wrap=True)

DB_URL_HELP = (
    "sqlite:///abs/path.db, sqlite://relative.db, postgresql://user@host/db or mysql://user@host/db."
)
CONFIG_HELP = "YAML settings file (default: $DNSMILL_CONFIG)."
METRICS_HELP = "Serve Prometheus metrics on this port (127.0.0.1)."
QUEUE_HELP = (
    "Work queue URL: sqlite:///abs/path.db or sqlite://relative.db, or RabbitMQ: "
    "amqp://user:pass@host:port/vhost (amqps:// for TLS), options in the query (?queue_type=classic)."
)
QueueName = Annotated[
    str | None, typer.Option("--queue-name", help="The queue's name at that URL (dns_records).")
]
NS_HELP = (
    "Nameservers, comma-separated: IP, IP:PORT, [IPv6]:PORT, HOST[:PORT], or a file of them one "
    "per line (resolv.conf 'nameserver' lines too). Default: /etc/resolv.conf."
)


def duration(value: str | timedelta) -> timedelta:
    """A duration option: ``90`` (seconds), ``500ms``, ``90s``, ``30m``, ``1h30m``, ``1d`` — the
    syntax of the settings file, so a value can move between the two unchanged."""
    try:
        return parse_duration(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def positive(span: timedelta | None, option: str) -> timedelta | None:
    """``span`` unless it is zero or negative: then a usage error naming ``option``."""
    if span is not None and span <= timedelta(0):
        raise typer.BadParameter("must be more than 0", param_hint=f"'{option}'")
    return span


Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress or summary on standard error; warnings and errors still."
    ),
]


class Options:
    """Options of the whole command line."""

    #: Show the traceback of a failure instead of one line.
    debug = False
    #: No progress lines or summaries (set by a command's --quiet).
    quiet = False


def say(text: str) -> None:
    """A progress line or summary for the person at the terminal, on standard error: silent
    with --quiet, and never mixed into the results on standard output."""
    if not Options.quiet:
        err_console.print(text, markup=False, highlight=False)


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


def describe(error: BaseException) -> str:
    """An error as one line for the terminal: a file error as ``path: reason`` (the path once),
    and control characters from the input written as escapes, never sent to the terminal."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def fail(command: str, error: BaseException, exit_code: int) -> NoReturn:
    """Prints ``dnsmill COMMAND: what went wrong`` on standard error and exits."""
    err_console.print(f"dnsmill {command}: {describe(error)}", markup=False, highlight=False)
    raise typer.Exit(exit_code)


def settings_or_exit(command: str, config: Path | None, **overrides: Any) -> Settings:
    """The settings (see :mod:`dnsmill.config`), or exit 2 with the message that says what is wrong."""
    try:
        return load_settings(config, **overrides)
    except dnsmill.ConfigError as error:
        fail(command, error, 2)
