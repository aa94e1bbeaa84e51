"""The ``dnsmill`` command line: one module per command group, each registering its commands on
the one application in :mod:`dnsmill.cli.app`. Nothing else in dnsmill imports the CLI."""

from __future__ import annotations

from dnsmill.cli import config, db, pipeline, resolve, seed, serve, zone
from dnsmill.cli.app import app

__all__ = ["app", "config", "db", "main", "pipeline", "resolve", "seed", "serve", "zone"]


def main() -> None:
    """Entry point of the ``dnsmill`` script."""
    app()
