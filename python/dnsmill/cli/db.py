"""``dnsmill db``: create and inspect stores."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

import dnsmill
from dnsmill.cli.app import DB_URL_HELP, Quiet, app, console

db_app = typer.Typer(help="Create and inspect stores (SQLite, PostgreSQL, MySQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("init")
def db_init(url: Annotated[str, typer.Argument(help=DB_URL_HELP)], quiet: Quiet = False) -> None:
    """Create the schema, or bring it up to date."""
    applied = dnsmill.init_db(url)
    if not quiet:
        print(f"applied migrations {applied}" if applied else "schema is up to date")


@db_app.command("stats")
def db_stats(
    url: Annotated[str, typer.Argument(help=DB_URL_HELP)],
    table: Annotated[str, typer.Option(help="Records table.")] = "dns_records",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Rows by type, domains by status, dead letters."""
    stats = dnsmill.db_stats(url, table)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    for title, counts in stats.items():
        counts_table = Table(title=f"{title.replace('_', ' ')}: {sum(counts.values()):,}")
        counts_table.add_column("")
        counts_table.add_column("rows", justify="right")
        for key, count in counts.items():
            counts_table.add_row(key, f"{count:,}")
        console.print(counts_table)
