"""``dnsmill zone``: check, summarise, convert and load zone files."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import dnsmill
from dnsmill import ZoneSyntaxError, parse_zone
from dnsmill.cli.app import DB_URL_HELP, Quiet, app, console, describe

zone_app = typer.Typer(help="Check, summarise and convert zone files.", no_args_is_help=True)
app.add_typer(zone_app, name="zone")

ORIGIN_HELP = "Zone origin for relative names (default: $ORIGIN in the file, else the file name)."


def infer_origin(path: Path) -> str | None:
    """Guess a zone's origin from its file name, the way kzonecheck does (``example.com.zone``,
    ``db.example.com``); None when the name does not look like a domain."""
    name = path.name
    for suffix in (".zone", ".db", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.startswith("db."):
        name = name[3:]
    labels = name.rstrip(".").split(".")
    if len(labels) < 2 or not all(labels) or any(" " in label for label in labels):
        return None
    return name if name.endswith(".") else name + "."


def load(
    path: Path, origin: str | None, allow_include: bool, collect: bool, check: bool = False
) -> dnsmill.Zone:
    return parse_zone(
        path,
        origin if origin is not None else infer_origin(path),
        allow_include=allow_include,
        collect_errors=collect,
        check=check,
    )


def load_or_exit(path: Path, origin: str | None, allow_include: bool) -> dnsmill.Zone:
    """The zone, or exit 1 after printing its first error as FILE:LINE:COL: message. A file
    that cannot be read is the central handler's (exit 2, the path once)."""
    try:
        return load(path, origin, allow_include, collect=False)
    except ZoneSyntaxError as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from None


def counted(count: int, what: str) -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def type_table(stats: dict[str, Any], title: str) -> Table:
    """Records per type, most common first, from `Zone.stats()`."""
    table = Table(title=title)
    table.add_column("type")
    table.add_column("records", justify="right")
    for rtype, count in sorted(stats["by_type"].items(), key=lambda item: -item[1]):
        table.add_row(rtype, f"{count:,}")
    return table


class OutputFormat(str, Enum):
    zone = "zone"
    jsonl = "jsonl"
    csv = "csv"


@zone_app.command("check")
def zone_check(
    files: Annotated[list[Path], typer.Argument(help="Zone files to check.", exists=False)],
    origin: Annotated[str | None, typer.Option("--origin", help=ORIGIN_HELP)] = None,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check zone files as BIND and Knot do: the syntax, then the content (CNAME and other
    data, the apex's SOA and NS, glue, out-of-zone and occluded data). Print every problem as
    FILE:LINE:COL: message, warnings as FILE:LINE:COL: warning: message; exit 1 on any error
    (or, with --strict, any warning)."""
    failed = False
    for path in files:
        try:
            zone = load(path, origin, allow_include, collect=True, check=True)
        except ZoneSyntaxError as error:
            print(error, file=sys.stderr)
            failed = True
            continue
        except OSError as error:
            print(describe(error), file=sys.stderr)
            failed = True
            continue
        for zone_error in zone.errors:
            print(zone_error, file=sys.stderr)
        for warning in zone.warnings:
            print(
                f"{warning['file']}:{warning['line']}:{warning['column']}: warning: {warning['message']}",
                file=sys.stderr,
            )
        failed = failed or bool(zone.errors) or (strict and bool(zone.warnings))
        if not quiet:
            problems = [
                counted(len(found), what)
                for found, what in ((zone.errors, "error"), (zone.warnings, "warning"))
                if found
            ]
            print(f"{path}: {len(zone)} records, {', '.join(problems) or 'OK'}")
    raise typer.Exit(1 if failed else 0)


@zone_app.command("stats")
def zone_stats(
    file: Annotated[Path, typer.Argument(help="Zone file.")],
    origin: Annotated[str | None, typer.Option("--origin", help=ORIGIN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
) -> None:
    """Summarise a zone: records by type, owner names, TTL range, parse speed."""
    started = time.perf_counter()
    zone = load_or_exit(file, origin, allow_include)
    elapsed = time.perf_counter() - started
    stats = zone.stats()
    stats["file"] = str(file)
    stats["parse_seconds"] = round(elapsed, 6)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    console.print(type_table(stats, f"{file}: {stats['records']:,} records, {stats['names']:,} owner names"))
    if stats["ttl_min"] is not None:
        console.print(f"TTL range: {stats['ttl_min']} .. {stats['ttl_max']} s")
    rate = stats["records"] / elapsed if elapsed > 0 else 0.0
    console.print(f"parsed in {elapsed:.3f} s ({rate:,.0f} records/s)")


@zone_app.command("convert")
def zone_convert(
    file: Annotated[Path, typer.Argument(help="Zone file.")],
    to: Annotated[OutputFormat, typer.Option("--to", help="Output format.")] = OutputFormat.zone,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
    origin: Annotated[str | None, typer.Option("--origin", help=ORIGIN_HELP)] = None,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
) -> None:
    """Convert a zone to canonical zone text, JSON lines or CSV (one record per line)."""
    zone = load_or_exit(file, origin, allow_include)
    if output is not None:
        zone.write(output, to.value)
    else:
        sys.stdout.write(zone.to_text(to.value))


@zone_app.command("load")
def zone_load(
    file: Annotated[Path, typer.Argument(help="Zone file.")],
    db: Annotated[str, typer.Option("--db", help=DB_URL_HELP)] = "sqlite://dnsmill.db",
    origin: Annotated[str | None, typer.Option("--origin", help=ORIGIN_HELP)] = None,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.", min=1)] = 10_000,
    quiet: Quiet = False,
) -> None:
    """Parse a zone and write its records into a store (idempotent: loading twice adds nothing).

    Reports the rows added, refreshed (stored before with another TTL) and unchanged."""
    started = time.perf_counter()
    zone = load_or_exit(file, origin, allow_include)
    with dnsmill.Writer(db, batch_size=batch_size, source=f"zone:{file.name}") as writer:
        writer.write(zone)
    stats = writer.stats
    elapsed = time.perf_counter() - started
    if not quiet:
        print(
            f"{file}: {stats['written']:,} rows in {stats['batches']} batches: {stats['added']:,} added, "
            f"{stats['refreshed']:,} refreshed, {stats['unchanged']:,} unchanged "
            f"({stats['deduplicated']:,} duplicates dropped) in {elapsed:.2f} s"
        )
