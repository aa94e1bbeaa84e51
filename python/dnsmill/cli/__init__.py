"""The ``dnsmill`` command line: one module per command group, each registering its commands on
the one application in :mod:`dnsmill.cli.app`. Nothing else in dnsmill imports the CLI."""

from __future__ import annotations

import logging
import sys

from dnsmill._core import ConfigError, DnsmillError, StoreSchemaError
from dnsmill.cli import config, db, ingest, pipeline, resolve, seed, serve, streams, sync, zone
from dnsmill.cli.app import Options, app, describe, err_console

#: Failures that mean the command was given something it cannot use: exit 2, as for a bad flag.
USAGE_ERRORS = (
    ConfigError,
    StoreSchemaError,  # a store URL that names no database of dnsmill's
    ValueError,  # UnicodeDecodeError too
    OverflowError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

#: Command groups: their commands are named with two words.
GROUPS = frozenset({"config", "db", "domains", "queue", "streams", "zone"})

__all__ = [
    "app",
    "config",
    "db",
    "ingest",
    "main",
    "pipeline",
    "resolve",
    "seed",
    "serve",
    "streams",
    "sync",
    "zone",
]


def main() -> None:
    """Entry point of the ``dnsmill`` script.

    A user's mistake (a bad value, a missing file, an unreachable store) is one line on
    standard error naming the command, and exit 2 for a usage error or 1 for a failure; a
    traceback is for bugs, or for ``--debug``.
    """
    # Warnings of the library and its Rust core (a nameserver that never answered, a batch
    # returned to the queue) are for the person at the terminal.
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setFormatter(logging.Formatter("dnsmill: %(message)s"))
    warnings.setLevel(logging.WARNING)
    logging.getLogger("dnsmill").addHandler(warnings)
    try:
        app()
    except (DnsmillError, OSError, ValueError, OverflowError) as error:
        if Options.debug:
            raise
        err_console.print(f"dnsmill {_command()}: {describe(error)}", markup=False, highlight=False)
        sys.exit(2 if isinstance(error, USAGE_ERRORS) else 1)


def _command() -> str:
    words = [word for word in sys.argv[1:] if not word.startswith("-")]
    if words and words[0] in GROUPS:
        return " ".join(words[:2])
    return words[0] if words else ""
