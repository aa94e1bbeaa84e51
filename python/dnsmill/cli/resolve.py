"""``dnsmill resolve``: names from a file or standard input, resolved in bulk."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn

import dnsmill
from dnsmill.cli.app import DB_URL_HELP, NS_HELP, Options, Quiet, app, duration, err_console, fail, say
from dnsmill.config import nameservers

#: Statuses that mean a nameserver gave an answer (a name that does not exist is an answer).
ANSWERED = ("NOERROR", "NODATA", "NXDOMAIN")


def names_from_stdin() -> Iterator[str]:
    for line in sys.stdin:
        name = line.strip()
        if name and not name.startswith("#"):
            yield name


class ResultFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    text = "text"


class Order(str, Enum):
    input = "input"
    completion = "completion"


#: The format an output file's extension asks for.
EXTENSION_FORMATS = {".csv": ResultFormat.csv, ".txt": ResultFormat.text}


@app.command("resolve")
def resolve(
    file: Annotated[
        str, typer.Argument(help="File of names, one per line ('-' or nothing: standard input).")
    ] = "-",
    types: Annotated[str, typer.Option("--types", "-t", help="Record types, comma-separated.")] = "A",
    ns: Annotated[str | None, typer.Option("--ns", help=NS_HELP)] = None,
    concurrency: Annotated[int, typer.Option(help="Most queries in flight.", min=1)] = 10_000,
    timeout: Annotated[
        timedelta,
        typer.Option(
            parser=duration,
            metavar="DURATION",
            help="Longest wait for one try (2s, 500ms).",
            show_default="2s",
        ),
    ] = timedelta(seconds=2),
    retries: Annotated[
        int, typer.Option(help="Tries after the first (at the next nameserver).", min=0, max=100)
    ] = 2,
    qps: Annotated[float | None, typer.Option(help="Most queries per second overall.", min=0.001)] = None,
    per_server_qps: Annotated[
        float | None, typer.Option(help="Most queries per second per nameserver.", min=0.001)
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not to standard output.")
    ] = None,
    output_format: Annotated[
        ResultFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="jsonl: a JSON object per name and type; csv: the same as rows; text: one "
            "'owner type rdata' line per answer. Default: from the -o extension (.csv, .txt), "
            "else jsonl.",
        ),
    ] = None,
    order: Annotated[
        Order,
        typer.Option(help="input: results in the order of the names; completion: as they complete."),
    ] = Order.input,
    db: Annotated[
        str | None, typer.Option("--db", help="Also store every answer record here (" + DB_URL_HELP + ")")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Resolve names in bulk: one JSON line (or CSV row) per name and type, with its status.

    With --db the answer records go into the store, and results are printed only with -o."""
    Options.quiet = quiet
    if timeout.total_seconds() <= 0 or timeout > timedelta(hours=1):
        raise typer.BadParameter("must be more than 0 and at most 1h", param_hint="'--timeout'")
    try:
        resolver = dnsmill.Resolver(
            nameservers(ns) or None,
            concurrency=concurrency,
            timeout=timeout.total_seconds(),
            retries=retries,
            qps=qps,
            per_server_qps=per_server_qps,
        )
        source: Path | Iterator[str] = names_from_stdin() if file == "-" else Path(file)
        stream = resolver.stream(source, types, batch_size=10_000, order=order.value)
    except (dnsmill.DnsmillError, ValueError, OSError) as error:
        fail("resolve", error, 2)
    if output_format is None:
        suffix = output.suffix.lower() if output is not None else ""
        output_format = EXTENSION_FORMATS.get(suffix, ResultFormat.jsonl)
    try:
        writer = dnsmill.Writer(db, source="resolve") if db else None
    except (dnsmill.DnsmillError, ValueError) as error:
        stream.close()
        fail("resolve", error, 2)
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
        disable=quiet or not err_console.is_terminal,
    )
    try:
        with progress:
            task = progress.add_task("resolve", total=None, rate="")
            for batch in stream:
                if print_results:
                    sink.write(batch.to_text(output_format.value, header=done == 0))
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
    except BrokenPipeError:
        # The reader has had enough (`| head`): stop quietly. What is still buffered for
        # standard output goes nowhere, so closing it cannot fail again.
        stream.close()
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except (dnsmill.DnsmillError, OSError) as error:
        fail("resolve", error, 2)
    finally:
        sink.flush()
        if sink is not sys.stdout:
            sink.close()
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - started
    summary = " ".join(f"{status}={count}" for status, count in sorted(counts.items()))
    rate = done / elapsed if elapsed > 0 else 0.0
    say(f"{done:,} results in {elapsed:.2f} s ({rate:,.0f} q/s): {summary}")
    if done and not any(counts.get(status) for status in ANSWERED):
        err_console.print("dnsmill resolve: no query got an answer")
        exit_code = 1
    else:
        exit_code = 0
    if writer is not None:
        stored = writer.stats
        say(f"stored {stored['written']:,} answer records in {stored['batches']} batches")
    if exit_code:
        raise typer.Exit(exit_code)
