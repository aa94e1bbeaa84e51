"""The ``dnsmill`` command line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

import dnsmill
from dnsmill import ZoneSyntaxError, parse_zone

app = typer.Typer(
    name="dnsmill",
    help="DNS data at scale: parse zones, resolve names, store and serve records.",
    no_args_is_help=True,
    add_completion=False,
)
zone_app = typer.Typer(help="Check, summarise and convert zone files.", no_args_is_help=True)
app.add_typer(zone_app, name="zone")

console = Console()
# Messages name files and lines: never wrapped, so they stay whole for grep and for editors.
err_console = Console(stderr=True, soft_wrap=True)

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


def load(path: Path, origin: str | None, allow_include: bool, collect: bool) -> dnsmill.Zone:
    return parse_zone(
        path,
        origin if origin is not None else infer_origin(path),
        allow_include=allow_include,
        collect_errors=collect,
    )


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


@app.callback(invoke_without_command=True)
def root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"dnsmill {dnsmill.__version__}")
        raise typer.Exit()


@zone_app.command("check")
def zone_check(
    files: Annotated[list[Path], typer.Argument(help="Zone files to check.", exists=False)],
    origin: Annotated[str | None, typer.Option("--origin", "-o", help=ORIGIN_HELP)] = None,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Check zone files; print every error as FILE:LINE:COL: message and exit 1 if any."""
    failed = False
    for path in files:
        try:
            zone = load(path, origin, allow_include, collect=True)
        except ZoneSyntaxError as error:
            print(error, file=sys.stderr)
            failed = True
            continue
        except OSError as error:
            print(f"{path}: {error.strerror or error}", file=sys.stderr)
            failed = True
            continue
        for syntax_error in zone.errors:
            print(syntax_error, file=sys.stderr)
        failed = failed or bool(zone.errors)
        if not quiet:
            status = "OK" if not zone.errors else f"{len(zone.errors)} errors"
            print(f"{path}: {len(zone)} records, {status}")
    raise typer.Exit(1 if failed else 0)


@zone_app.command("stats")
def zone_stats(
    file: Annotated[Path, typer.Argument(help="Zone file.")],
    origin: Annotated[str | None, typer.Option("--origin", "-o", help=ORIGIN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
) -> None:
    """Summarise a zone: records by type, owner names, TTL range, parse speed."""
    started = time.perf_counter()
    try:
        zone = load(file, origin, allow_include, collect=False)
    except (ZoneSyntaxError, OSError) as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from None
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
        Path | None, typer.Option("--output", "-O", help="Write here instead of standard output.")
    ] = None,
    origin: Annotated[str | None, typer.Option("--origin", "-o", help=ORIGIN_HELP)] = None,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
) -> None:
    """Convert a zone to canonical zone text, JSON lines or CSV (one record per line)."""
    try:
        zone = load(file, origin, allow_include, collect=False)
    except (ZoneSyntaxError, OSError) as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from None
    if output is not None:
        zone.write(output, to.value)
    else:
        sys.stdout.write(zone.to_text(to.value))


db_app = typer.Typer(help="Create and inspect stores (SQLite, PostgreSQL, MySQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")

DB_URL_HELP = (
    "sqlite:///abs/path.db, sqlite://relative.db, postgresql://user@host/db or mysql://user@host/db."
)


@db_app.command("init")
def db_init(url: Annotated[str, typer.Argument(help=DB_URL_HELP)]) -> None:
    """Create the schema, or bring it up to date."""
    try:
        applied = dnsmill.init_db(url)
    except (dnsmill.DnsmillError, ValueError) as error:
        err_console.print(f"dnsmill db init: {error}")
        raise typer.Exit(2) from None
    print(f"applied migrations {applied}" if applied else "schema is up to date")


@db_app.command("stats")
def db_stats(
    url: Annotated[str, typer.Argument(help=DB_URL_HELP)],
    table: Annotated[str, typer.Option(help="Records table.")] = "dns_records",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Rows by type, domains by status, dead letters."""
    try:
        stats = dnsmill.db_stats(url, table)
    except (dnsmill.DnsmillError, ValueError) as error:
        err_console.print(f"dnsmill db stats: {error}")
        raise typer.Exit(2) from None
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


@zone_app.command("load")
def zone_load(
    file: Annotated[Path, typer.Argument(help="Zone file.")],
    db: Annotated[str, typer.Option("--db", help=DB_URL_HELP)] = "sqlite://dnsmill.db",
    origin: Annotated[str | None, typer.Option("--origin", "-o", help=ORIGIN_HELP)] = None,
    allow_include: Annotated[bool, typer.Option("--allow-include", help="Follow $INCLUDE.")] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 10_000,
) -> None:
    """Parse a zone and write its records into a store (idempotent: loading twice adds nothing)."""
    started = time.perf_counter()
    try:
        zone = load(file, origin, allow_include, collect=False)
        with dnsmill.Writer(db, batch_size=batch_size, source=f"zone:{file.name}") as writer:
            writer.write(zone)
    except (ZoneSyntaxError, dnsmill.DnsmillError, OSError, ValueError) as error:
        err_console.print(f"dnsmill zone load: {error}")
        raise typer.Exit(1) from None
    stats = writer.stats
    elapsed = time.perf_counter() - started
    print(
        f"{file}: {stats['written']:,} rows written in {stats['batches']} batches "
        f"({stats['deduplicated']:,} duplicates dropped) in {elapsed:.2f} s"
    )


def names_from_stdin() -> Iterator[str]:
    for line in sys.stdin:
        name = line.strip()
        if name and not name.startswith("#"):
            yield name


@app.command("resolve")
def resolve(
    file: Annotated[
        str, typer.Argument(help="File of names, one per line ('-' or nothing: standard input).")
    ] = "-",
    types: Annotated[str, typer.Option("--types", "-t", help="Record types, comma-separated.")] = "A",
    ns: Annotated[
        str | None,
        typer.Option("--ns", help="Nameservers IP[:PORT], comma-separated (default: /etc/resolv.conf)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Most queries in flight.")] = 10_000,
    timeout: Annotated[float, typer.Option(help="Longest wait for one try, seconds.")] = 2.0,
    retries: Annotated[int, typer.Option(help="Tries after the first (at the next nameserver).")] = 2,
    qps: Annotated[float | None, typer.Option(help="Most queries per second overall.")] = None,
    per_server_qps: Annotated[
        float | None, typer.Option(help="Most queries per second per nameserver.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (.csv for CSV, else JSON lines).")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Also store every answer record here (" + DB_URL_HELP + ")")
    ] = None,
) -> None:
    """Resolve names in bulk: one JSON line (or CSV row) per name and type, with its status.

    With --db the answer records go into the store, and results are printed only with -o."""
    try:
        resolver = dnsmill.Resolver(
            ns.split(",") if ns else None,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            qps=qps,
            per_server_qps=per_server_qps,
        )
        source: Path | Iterator[str] = names_from_stdin() if file == "-" else Path(file)
        stream = resolver.stream(source, types, batch_size=10_000)
    except (dnsmill.DnsmillError, ValueError, OSError) as error:
        err_console.print(f"dnsmill resolve: {error}")
        raise typer.Exit(2) from None
    output_format: Literal["jsonl", "csv"] = (
        "csv" if output is not None and output.suffix.lower() == ".csv" else "jsonl"
    )
    try:
        writer = dnsmill.Writer(db, source="resolve") if db else None
    except (dnsmill.DnsmillError, ValueError) as error:
        stream.close()
        err_console.print(f"dnsmill resolve: {error}")
        raise typer.Exit(2) from None
    print_results = output is not None or writer is None
    sink = open(output, "w") if output is not None else sys.stdout
    counts: dict[str, int] = {}
    done = 0
    started = time.perf_counter()
    progress = Progress(
        TextColumn("resolving"),
        BarColumn(),
        TextColumn("{task.completed:,} results"),
        TextColumn("{task.fields[rate]}"),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    try:
        with progress:
            task = progress.add_task("resolve", total=None, rate="")
            for batch in stream:
                if print_results:
                    sink.write(batch.to_text(output_format, header=done == 0))
                if writer is not None:
                    writer.write(batch)
                for status, count in batch.stats["by_status"].items():
                    counts[status] = counts.get(status, 0) + count
                done += len(batch)
                elapsed = time.perf_counter() - started
                progress.update(task, completed=done, rate=f"{done / elapsed:,.0f} q/s" if elapsed else "")
    except KeyboardInterrupt:
        stream.close()
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except (dnsmill.DnsmillError, OSError) as error:
        err_console.print(f"dnsmill resolve: {error}")
        raise typer.Exit(2) from None
    finally:
        sink.flush()
        if sink is not sys.stdout:
            sink.close()
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - started
    summary = " ".join(f"{status}={count}" for status, count in sorted(counts.items()))
    rate = done / elapsed if elapsed > 0 else 0.0
    err_console.print(f"{done:,} results in {elapsed:.2f} s ({rate:,.0f} q/s): {summary}")
    if writer is not None:
        stored = writer.stats
        err_console.print(f"stored {stored['written']:,} answer records in {stored['batches']} batches")


def main() -> None:
    """Entry point of the ``dnsmill`` script."""
    app()


# The services' commands (seed, domains, publish, work, run, serve, config) live in their own
# module and register themselves on `app`.
from dnsmill import cli_services  # noqa: E402, F401

if __name__ == "__main__":
    main()
