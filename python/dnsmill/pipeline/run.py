"""Publish and work in one process: what ``dnsmill run`` and ``scripts/demo`` do.

The publisher puts every due domain on the queue followed by one stop message per worker;
the workers (asyncio tasks in one event loop: resolving and storing happen in Rust, without
the GIL) take batches until their stop message. Progress comes from the workers'
``batch_done`` events.
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
from dnsmill.pipeline.worker import Worker, WorkReport
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
    async with open_queue(settings.queue) as queue:
        publisher = Publisher(settings.db, queue, settings.publish, bus=bus)
        try:
            report = await publisher.publish(stop_workers=workers)
        finally:
            publisher.close()
        published_at = time.perf_counter()
        crew = [Worker(settings.db, queue, settings.work, table=table, bus=bus) for _ in range(workers)]
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
        try:
            with bus.subscribe("worker") as done, bar:
                task = bar.add_task("work", total=report.published)
                running = asyncio.gather(*(worker.run(stop) for worker in crew))
                while not running.done():
                    await asyncio.wait([running], timeout=0.2)
                    while (event := done.get_nowait()) is not None:
                        if event.name == "batch_done":
                            bar.advance(task, event.data["domains"])
                reports: list[WorkReport] = running.result()
        finally:
            for worker in crew:
                worker.close()
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
