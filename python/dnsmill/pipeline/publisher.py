"""The publisher: puts the domains that are due on the work queue, a batch per message.

A domain is due when it was never resolved, when its last resolution is older than
``max_age``, when it failed fewer than ``max_attempts`` times in a row, or when it was queued
longer ago than ``requeue_after`` (its message was lost with a broker, or dead-lettered). Domains are read in
pages by id (keyset pagination, never OFFSET), and Rust turns each page into ready message
bodies (no Python object per domain). A page's messages are put in one durable step, and only
then are its domains marked ``queued``: a crash in between publishes them again next time,
which the idempotent workers do not mind, instead of losing them.

Messages are JSON: ``{"kind": "domains", "domains": [...]}``; ``{"kind": "stop"}`` tells the
worker that takes it to finish (:class:`dnsmill.Batch` makes and reads both).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import dnsmill
from dnsmill import events, metrics
from dnsmill.config import PublishSettings
from dnsmill.pipeline.stores import ensure_apart
from dnsmill.queues import Queue

log = logging.getLogger("dnsmill.publisher")

#: Messages' worth of domains read per page: one round trip to the store, one durable put.
PAGE_MESSAGES = 20


@dataclass(frozen=True)
class PublishReport:
    """What one publishing pass did."""

    published: int
    messages: int
    stop_messages: int
    seconds: float


class Publisher:
    """Publishes due domains from the store at ``db`` onto ``queue``."""

    def __init__(
        self,
        db: str,
        queue: Queue,
        settings: PublishSettings | None = None,
        *,
        bus: events.EventBus | None = None,
    ) -> None:
        ensure_apart(queue.url, db)
        self.settings = settings or PublishSettings()
        self.queue = queue
        self.bus = bus or events.bus
        self.domains = dnsmill.Domains(db)

    def _due_policy(self) -> dict[str, Any]:
        requeue_after = self.settings.requeue_after
        return {
            "max_age": self.settings.max_age.total_seconds(),
            "max_attempts": self.settings.max_attempts,
            "requeue_after": requeue_after.total_seconds() if requeue_after else None,
        }

    async def count_due(self) -> int:
        """How many domains are due now."""
        return await asyncio.to_thread(
            self.domains.count_due,
            **self._due_policy(),
        )

    async def purge(self) -> tuple[int, int]:
        """Empties the queue of messages nobody holds and makes their domains due again;
        returns (messages purged, domains reset)."""
        purged = await self.queue.purge()
        reset = await asyncio.to_thread(self.domains.reset_queued)
        self.bus.publish("publisher", "queue_purged", {"messages": purged, "domains_reset": reset})
        return purged, reset

    async def publish(
        self, limit: int | None = None, stop_workers: int = 0, *, stop: asyncio.Event | None = None
    ) -> PublishReport:
        """Publishes every due domain (at most ``limit``), then ``stop_workers`` stop messages.
        Setting ``stop`` ends it after the page in hand, with no stop messages."""
        started = time.perf_counter()
        batch = self.settings.batch_size
        after, published, messages = 0, 0, 0
        while limit is None or published < limit:
            if stop is not None and stop.is_set():
                stop_workers = 0
                break
            want = batch * PAGE_MESSAGES
            if limit is not None:
                want = min(want, limit - published)
            page = await asyncio.to_thread(
                self.domains.due_page,
                after,
                want,
                batch_size=batch,
                bare=self.settings.message_format == "bare",
                **self._due_policy(),
            )
            if not page:
                break
            after = page.last_id
            bodies = page.bodies
            await self.queue.put_many(bodies)
            await asyncio.to_thread(self.domains.mark_queued, page)
            published += page.domains
            messages += len(bodies)
            metrics.PUBLISHER_DOMAINS.inc(page.domains)
        if stop_workers:
            stop_body = b"__STOP__" if self.settings.message_format == "bare" else dnsmill.Batch.encode_stop()
            await self.queue.put_many([stop_body] * stop_workers)
        report = PublishReport(published, messages, stop_workers, time.perf_counter() - started)
        self.bus.publish(
            "publisher",
            "domains_published",
            {"domains": published, "messages": messages, "stop_messages": stop_workers},
        )
        log.info(
            "domains_published domains=%d messages=%d stop_messages=%d seconds=%.3f",
            published,
            messages,
            stop_workers,
            report.seconds,
        )
        return report

    def close(self) -> None:
        self.domains.close()
