"""Publish and work in one process: what ``dnsmill run`` and ``scripts/demo`` do.

The publisher puts every due domain on the queue followed by one stop message per worker;
the workers (threads: resolving and writing release the GIL) take batches until their stop
message. Progress comes from the workers' ``batch_done`` events.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dnsmill import events
from dnsmill.config import Settings
from dnsmill.publisher import Publisher
from dnsmill.queue import open_queue
from dnsmill.worker import Worker, WorkReport


def run_pipeline(
    settings: Settings,
    *,
    workers: int = 2,
    table: str = "dns_records",
    stop: threading.Event | None = None,
    progress: bool = False,
    bus: events.EventBus | None = None,
) -> dict[str, Any]:
    """Publishes the due domains of ``settings.db`` and resolves them with ``workers`` workers
    through ``settings.queue``; returns what was done and how fast."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    bus = bus or events.bus
    stop = stop or threading.Event()
    started = time.perf_counter()
    with open_queue(settings.queue) as queue:
        publisher = Publisher(settings.db, queue, settings.publish, bus=bus)
        try:
            report = publisher.publish(stop_workers=workers)
        finally:
            publisher.close()
        published_at = time.perf_counter()
        reports: list[WorkReport] = []
        failures: list[BaseException] = []

        def work() -> None:
            try:
                worker = Worker(settings.db, queue, settings.work, table=table, bus=bus)
                try:
                    reports.append(worker.run(stop))
                finally:
                    worker.close()
            except BaseException as error:  # surfaced in the calling thread below
                failures.append(error)

        threads = [threading.Thread(target=work, name=f"dnsmill-worker-{n}") for n in range(workers)]
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
        with bus.subscribe("worker") as done, bar:
            task = bar.add_task("work", total=report.published)
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                event = done.get(timeout=0.2)
                if event is not None and event.name == "batch_done":
                    bar.advance(task, event.data["domains"])
            for thread in threads:
                thread.join()
    if failures:
        raise failures[0]
    finished = time.perf_counter()
    outcomes: dict[str, int] = {}
    for part in reports:
        for outcome, count in part.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    domains = sum(part.domains for part in reports)
    work_seconds = finished - published_at
    return {
        "published": report.published,
        "domains": domains,
        "records": sum(part.records for part in reports),
        "outcomes": outcomes,
        "dead_lettered": sum(part.dead_lettered for part in reports),
        "publish_seconds": round(published_at - started, 3),
        "work_seconds": round(work_seconds, 3),
        "domains_per_second": round(domains / (finished - started), 1) if finished > started else 0.0,
    }
