"""Publish and work in one process: what ``dnsmill run`` and ``scripts/demo`` do.

The publisher puts every due domain on the queue; the workers (asyncio tasks in one event
loop: resolving and storing happen in Rust, without the GIL) take batches until nothing is
left on the queue. No stop messages are sent, so none is left behind for the next run when
this one stops early. Progress comes from the workers' ``batch_done`` events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dnsmill import events
from dnsmill.config import Settings
from dnsmill.pipeline.publisher import Publisher
from dnsmill.pipeline.worker import Worker, WorkReport, shared_job
from dnsmill.queues import open_queue


async def run_pipeline_async(
    settings: Settings,
    *,
    workers: int = 2,
    table: str = "dns_records",
    stop: asyncio.Event | None = None,
    progress: bool = False,
    bus: events.EventBus | None = None,
) -> dict[str, Any]:
    """Publishes the due domains of ``settings.db`` and resolves them with ``workers`` workers
    through ``settings.queue``; returns what was done and how fast."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    bus = bus or events.bus
    stop = stop or asyncio.Event()
    started = time.perf_counter()
    async with open_queue(settings.queue, settings.queue_name) as queue:
        publisher = await asyncio.to_thread(Publisher, settings.db, queue, settings.publish, bus=bus)
        try:
            report = await publisher.publish(stop=stop)
        finally:
            await asyncio.to_thread(publisher.close)
        published_at = time.perf_counter()
        # One job for all the workers: one store connection, and batches that finish resolving
        # while it is busy share its next commit.
        job = await asyncio.to_thread(shared_job, settings.db, settings.work, table=table)
        try:
            crew = [
                Worker(settings.db, queue, settings.work, table=table, bus=bus, job=job)
                for _ in range(workers)
            ]
            reports = await _work_off(crew, stop, report.published, bus, progress)
        finally:
            await asyncio.to_thread(job.close)
    finished = time.perf_counter()
    outcomes: dict[str, int] = {}
    for part in reports:
        for outcome, count in part.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    domains = sum(part.domains for part in reports)
    return {
        "published": report.published,
        "domains": domains,
        "records": sum(part.records for part in reports),
        "outcomes": outcomes,
        "dead_lettered": sum(part.dead_lettered for part in reports),
        "publish_seconds": round(published_at - started, 3),
        "work_seconds": round(finished - published_at, 3),
        "domains_per_second": round(domains / (finished - started), 1) if finished > started else 0.0,
    }


async def _work_off(
    crew: list[Worker], stop: asyncio.Event, total: int, bus: events.EventBus, progress: bool
) -> list[WorkReport]:
    """Runs the workers until the queue is empty, with a progress bar on a terminal. When one
    fails, the others are stopped (finishing what they hold) before its error is raised."""
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("resolving"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("domains"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (progress and console.is_terminal),
    )
    running: list[asyncio.Future[WorkReport]] = []
    try:
        with bus.subscribe("worker") as done, bar:
            task = bar.add_task("work", total=total)
            running = [asyncio.ensure_future(worker.run(stop, until_empty=True)) for worker in crew]
            pending: set[asyncio.Future[WorkReport]] = set(running)
            while pending:
                finished, pending = await asyncio.wait(pending, timeout=0.2)
                if any(not part.cancelled() and part.exception() is not None for part in finished):
                    stop.set()
                while (event := done.get_nowait()) is not None:
                    if event.name == "batch_done":
                        bar.advance(task, event.data["domains"])
    finally:
        # Also when this is cancelled: the workers finish what they hold before the job they
        # share is closed under them.
        stop.set()
        await asyncio.shield(asyncio.gather(*running, return_exceptions=True))
    results = await asyncio.gather(*running, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if isinstance(result, WorkReport)]


def run_pipeline(
    settings: Settings,
    *,
    workers: int = 2,
    table: str = "dns_records",
    progress: bool = False,
    bus: events.EventBus | None = None,
) -> dict[str, Any]:
    """:func:`run_pipeline_async` in its own event loop (scripts, notebooks use the async one)."""
    return asyncio.run(run_pipeline_async(settings, workers=workers, table=table, progress=progress, bus=bus))
