"""``dnsmill domains``, ``publish``, ``work`` and ``run``: the work pipeline's commands."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

import dnsmill
from dnsmill.cli.app import (
    CONFIG_HELP,
    DB_URL_HELP,
    METRICS_HELP,
    NS_HELP,
    QUEUE_HELP,
    Options,
    QueueName,
    Quiet,
    app,
    duration,
    err_console,
    positive,
    settings_or_exit,
)
from dnsmill.config import Settings
from dnsmill.pipeline import Publisher, PublishReport, Worker, WorkReport, run_pipeline_async
from dnsmill.queues import Queue, open_queue
from dnsmill.queues.base import redact_url
from dnsmill.service import run_service

domains_app = typer.Typer(help="The domains to resolve.", no_args_is_help=True)
app.add_typer(domains_app, name="domains")
queue_app = typer.Typer(help="The work queue between publisher and workers.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")


async def queue_depth(work_queue: Queue) -> dict[str, int] | None:
    """The queue's depth as JSON-ready numbers, or None when the queue cannot tell."""
    if "depth" not in work_queue.capabilities:
        return None
    counted = await work_queue.depth()
    return {**asdict(counted), "pending": counted.pending}


@queue_app.command("stats")
def queue_stats(
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    queue_name: Annotated[
        str | None, typer.Option("--queue-name", "--name", help="The queue's name at that URL (dns_records).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Messages ready, held by workers, delayed for a retry and dead-lettered, as JSON."""
    settings = settings_or_exit("queue stats", config, queue=queue, queue_name=queue_name)

    async def look() -> dict[str, Any]:
        async with open_queue(settings.queue, settings.queue_name) as work_queue:
            return {
                "queue": redact_url(settings.queue),
                "name": settings.queue_name,
                "depth": await queue_depth(work_queue),
            }

    print(json.dumps(asyncio.run(look())))


@domains_app.command("add")
def domains_add(
    file: Annotated[Path, typer.Argument(help="Domain names, one per line (# comments allowed).")],
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Add domain names to resolve: IDNs become A-labels; bad lines are reported, good ones kept."""
    settings = settings_or_exit("domains add", config, db=db)
    with dnsmill.Domains(settings.db) as domains:
        result = domains.add(file)
    for line, text, reason in result["rejected"]:
        err_console.print(f"{file}:{line}: {text!r}: {reason}", markup=False, highlight=False)
    print(
        json.dumps(
            {
                "added": result["added"],
                "duplicates": result["duplicates"],
                "rejected": len(result["rejected"]),
            }
        )
    )


@app.command("publish")
def publish(
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    queue_name: QueueName = None,
    batch_size: Annotated[int | None, typer.Option(help="Domains per message.")] = None,
    max_age: Annotated[
        timedelta | None,
        typer.Option(
            parser=duration,
            metavar="DURATION",
            help="Resolve again once the last resolution is older (1d, 12h).",
        ),
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Failures in a row before giving up.")] = None,
    requeue_after: Annotated[
        timedelta | None,
        typer.Option(
            parser=duration,
            metavar="DURATION",
            help="Publish a domain again once it has been queued this long: its message was lost (6h).",
        ),
    ] = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="First empty the queue and make its domains due again.")
    ] = False,
    count_only: Annotated[bool, typer.Option("--count-only", help="Only report how many are due.")] = False,
    message_format: Annotated[
        str | None,
        typer.Option(
            "--message-format",
            help="batch (dnsmill's) or bare (one domain per message, for the workers of other tools).",
        ),
    ] = None,
    stop_workers: Annotated[int, typer.Option(help="Then tell this many workers to finish.", min=0)] = 0,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Put the domains that are due on the queue, a batch per message."""
    settings = settings_or_exit(
        "publish",
        config,
        db=db,
        queue=queue,
        queue_name=queue_name,
        publish={
            "batch_size": batch_size,
            "max_age": max_age,
            "max_attempts": max_attempts,
            "requeue_after": positive(requeue_after, "--requeue-after"),
            "message_format": message_format,
        },
    )

    async def publish_due(settings: Settings) -> dict[str, Any]:
        async with open_queue(settings.queue, settings.queue_name) as work_queue:
            publisher = await asyncio.to_thread(Publisher, settings.db, work_queue, settings.publish)
            try:
                if count_only:
                    due = await publisher.count_due()
                    return {"due": due, "queue": await queue_depth(work_queue)}
                purged = reset = 0
                if purge:
                    purged, reset = await publisher.purge()
                report: PublishReport = await publisher.publish(stop_workers=stop_workers)
                return {**asdict(report), "purged": purged, "reset": reset}
            finally:
                await asyncio.to_thread(publisher.close)

    result = asyncio.run(publish_due(settings))
    print(json.dumps(result))


def resolver_overrides(
    ns: str | None,
    types: str | None,
    concurrency: int | None,
    timeout: timedelta | None,
    retries: int | None,
    prefetch: int | None = None,
    worker_id: str | None = None,
) -> dict[str, Any]:
    return {
        "ns": ns,
        "types": types,
        "concurrency": concurrency,
        "timeout": positive(timeout, "--timeout"),
        "retries": retries,
        "prefetch": prefetch,
        "worker_id": worker_id,
    }


TYPES_HELP = "Record types to resolve, comma-separated (default A,AAAA,MX,NS,SOA,CNAME,TXT)."
PREFETCH_HELP = "Batches a worker holds at once: some resolve while others are stored (4)."


@app.command("work")
def work(
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    queue_name: QueueName = None,
    ns: Annotated[str | None, typer.Option("--ns", help=NS_HELP)] = None,
    types: Annotated[str | None, typer.Option("--types", "-t", help=TYPES_HELP)] = None,
    concurrency: Annotated[int | None, typer.Option(help="Most queries in flight.")] = None,
    timeout: Annotated[
        timedelta | None,
        typer.Option(parser=duration, metavar="DURATION", help="Longest wait for one try (2s, 500ms)."),
    ] = None,
    retries: Annotated[int | None, typer.Option(help="Tries after the first.")] = None,
    prefetch: Annotated[int | None, typer.Option(help=PREFETCH_HELP)] = None,
    worker_id: Annotated[str | None, typer.Option(help="Name in logs and events.")] = None,
    idle_exit: Annotated[
        timedelta | None,
        typer.Option(parser=duration, metavar="DURATION", help="Exit after this long without a batch (30s)."),
    ] = None,
    table: Annotated[str, typer.Option(help="Records table for the answers.")] = "dns_records",
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
) -> None:
    """Resolve batches from the queue into the store; ack each only after its commit.

    Stops on a stop message, on SIGTERM or Ctrl-C (within a second: batches still resolving go
    back to the queue), or after --idle-exit without work."""
    settings = settings_or_exit(
        "work",
        config,
        db=db,
        queue=queue,
        queue_name=queue_name,
        metrics_port=metrics_port,
        work=resolver_overrides(ns, types, concurrency, timeout, retries, prefetch, worker_id),
    )

    async def work_off(stop: asyncio.Event) -> tuple[str, WorkReport]:
        async with open_queue(settings.queue, settings.queue_name) as work_queue:
            worker = await asyncio.to_thread(Worker, settings.db, work_queue, settings.work, table=table)
            try:
                idle_seconds = idle_exit.total_seconds() if idle_exit is not None else None
                return worker.worker_id, await worker.run(stop, idle_exit=idle_seconds)
            finally:
                await asyncio.to_thread(worker.close)

    worker_id, report = asyncio.run(run_service(work_off, metrics_port=settings.metrics_port))
    print(json.dumps({"worker": worker_id, **asdict(report)}))


@app.command("run")
def run(
    db: Annotated[str | None, typer.Option("--db", help=DB_URL_HELP)] = None,
    queue: Annotated[str | None, typer.Option("--queue", help=QUEUE_HELP)] = None,
    queue_name: QueueName = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Workers in this process.", min=1)] = 2,
    ns: Annotated[str | None, typer.Option("--ns", help=NS_HELP)] = None,
    types: Annotated[str | None, typer.Option("--types", "-t", help=TYPES_HELP)] = None,
    concurrency: Annotated[int | None, typer.Option(help="Most queries in flight per worker.")] = None,
    timeout: Annotated[
        timedelta | None,
        typer.Option(parser=duration, metavar="DURATION", help="Longest wait for one try (2s, 500ms)."),
    ] = None,
    retries: Annotated[int | None, typer.Option(help="Tries after the first.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Domains per message.")] = None,
    table: Annotated[str, typer.Option(help="Records table for the answers.")] = "dns_records",
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_HELP)] = None,
    quiet: Quiet = False,
) -> None:
    """Publish every due domain and work it off with N workers in this process."""
    Options.quiet = quiet
    settings = settings_or_exit(
        "run",
        config,
        db=db,
        queue=queue,
        queue_name=queue_name,
        metrics_port=metrics_port,
        publish={"batch_size": batch_size},
        work=resolver_overrides(ns, types, concurrency, timeout, retries),
    )

    async def run_all(stop: asyncio.Event) -> dict[str, Any]:
        return await run_pipeline_async(settings, workers=workers, table=table, stop=stop, progress=not quiet)

    result = asyncio.run(run_service(run_all, metrics_port=settings.metrics_port))
    print(json.dumps(result))
