"""The worker: takes batches of domains from the queue and hands each to Rust in one call,
which resolves it and stores the answer records and the domains' outcomes in one
transaction; the worker acks the message only after that commit.

A batch redelivered after a crash is harmless: writes are idempotent (one row per name, type
and rdata) and outcomes are overwritten. What happens to a batch that fails depends on the
error's kind:

- a message that is not a batch, or a batch whose outcomes the store rejects: dead-lettered
  on the queue with the reason (records the store rejects go to its ``dead_letters`` table and
  the rest of the batch commits);
- a lost connection to the store is retried inside the batch (reconnecting with backoff); a
  ``StoreConnectionError`` that still comes out returns the batch to the queue for another try
  after ``RETRY_DELAY`` (the queue's delivery limit dead-letters it in the end);
- a store that stays down after those retries, a wrong schema or configuration, a resolver
  that cannot run, or anything unforeseen: the batch is returned to the queue at once for
  other workers, and this worker stops with the error.

Stopping: set the ``stop`` event (``dnsmill work`` does on SIGTERM or Ctrl-C): the worker
takes no new batch and returns within about a second, whatever its nameservers do. Batches in
hand that finish within ``STOP_GRACE_SECONDS`` are committed and acked; those still resolving
then are stopped, store nothing, and go back to the queue for the next worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field

import dnsmill
from dnsmill import events, metrics
from dnsmill.config import WorkSettings
from dnsmill.pipeline.stores import ensure_apart
from dnsmill.queues import Delivery, Queue, ack_all

log = logging.getLogger("dnsmill.worker")

#: How long a worker waits for a message before looking at its stop signal again.
POLL_SECONDS = 0.25
#: The same while it works until the queue is empty: it then also looks whether anything is
#: left, and the run ends that much sooner after the last batch.
DRAIN_POLL_SECONDS = 0.1
#: How long a batch that failed for a passing reason waits before it is offered again.
RETRY_DELAY = 5.0
#: How long a worker gathers bare-domain messages into one batch before it resolves what it has.
GATHER_SECONDS = 0.2
#: After a stop, how long batches in hand may take to finish before those still resolving are
#: stopped (a silent nameserver would otherwise hold a worker for its timeout times its tries).
STOP_GRACE_SECONDS = 0.5


@dataclass
class WorkReport:
    """What a worker did, so far or in all."""

    batches: int = 0
    domains: int = 0
    records: int = 0
    dead_lettered: int = 0
    failed_batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    stopped_by: str = ""


class Worker:
    """Resolves batches from ``queue`` into the store at ``db``."""

    def __init__(
        self,
        db: str,
        queue: Queue,
        settings: WorkSettings | None = None,
        *,
        table: str = "dns_records",
        bus: events.EventBus | None = None,
        job: dnsmill.BatchJob | None = None,
    ) -> None:
        """``job``: a :class:`dnsmill.BatchJob` to share with other workers of this process
        (their batches then share commits: see :func:`shared_job`); by default the worker opens
        one of its own on ``db`` and closes it in :meth:`close`."""
        ensure_apart(queue.url, db)
        self.settings = settings or WorkSettings()
        self.queue = queue
        self.bus = bus or events.bus
        self.worker_id = self.settings.worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._owns_job = job is None
        self.job = job if job is not None else shared_job(db, self.settings, table=table)
        self.report = WorkReport()
        #: Set when a batch failed in a way that stops this worker.
        self._fatal: BaseException | None = None

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        idle_exit: float | None = None,
        max_batches: int | None = None,
        until_empty: bool = False,
    ) -> WorkReport:
        """Works until a stop message, the ``stop`` event, ``idle_exit`` seconds without a
        message, ``max_batches`` batches, or (``until_empty``) until nothing is left on the
        queue: nothing ready, held by any consumer, or waiting out a retry delay.

        The worker holds up to ``prefetch`` batches (4 by default) and processes them side by
        side: one resolves while another is being stored, so a worker takes about as long per
        batch as the slower of the two. Each is acked after its own commit.

        Bare-domain messages (one domain per message) are gathered into batches of up to
        ``gather`` domains, or for ``GATHER_SECONDS``, and their messages acked together after
        the batch's commit."""
        stop = stop or asyncio.Event()
        report = self.report
        idle_since = time.monotonic()
        taken = 0
        in_hand: set[asyncio.Task[None]] = set()
        gathered: list[tuple[Delivery, dnsmill.Batch]] = []
        gathering_since = 0.0

        def resolve_gathered() -> None:
            nonlocal taken
            deliveries = [delivery for delivery, _ in gathered]
            batch = dnsmill.Batch.join([batch for _, batch in gathered])
            gathered.clear()
            taken += 1
            task = asyncio.create_task(self._process(deliveries, batch))
            in_hand.add(task)
            task.add_done_callback(in_hand.discard)

        async with self.queue.consume(prefetch=self.settings.prefetch) as consumer:
            try:
                while True:
                    if gathered and time.monotonic() - gathering_since >= GATHER_SECONDS:
                        resolve_gathered()
                    if self._fatal is not None:
                        report.stopped_by = "error"
                        break
                    if stop.is_set():
                        report.stopped_by = "signal"
                        break
                    if max_batches is not None and taken >= max_batches:
                        report.stopped_by = "max_batches"
                        break
                    wait = DRAIN_POLL_SECONDS if until_empty else POLL_SECONDS
                    if gathered:
                        wait = min(wait, max(0.0, gathering_since + GATHER_SECONDS - time.monotonic()))
                    delivery = await consumer.get(timeout=wait)
                    if delivery is None:
                        if gathered:
                            resolve_gathered()
                        if in_hand:
                            continue
                        if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                            report.stopped_by = "idle"
                            break
                        if until_empty and await self._queue_is_empty():
                            report.stopped_by = "empty"
                            break
                        continue
                    idle_since = time.monotonic()
                    try:
                        batch = dnsmill.Batch.decode(delivery.body)
                    except dnsmill.MessageError as error:
                        await delivery.dead_letter(str(error))
                        report.dead_lettered += 1
                        log.warning("dead-lettered message %s: %s", delivery.message_id, error)
                        continue
                    if batch.stop:
                        if gathered:
                            resolve_gathered()
                        await asyncio.gather(*in_hand)
                        await delivery.ack()
                        report.stopped_by = "stop message"
                        break
                    if batch.bare:
                        if not gathered:
                            gathering_since = time.monotonic()
                            # Room for the domains of `prefetch` batches, not `prefetch` domains.
                            wanted = self.settings.prefetch * self.settings.gather
                            if consumer.prefetch < wanted:
                                await consumer.set_prefetch(wanted)
                        gathered.append((delivery, batch))
                        if len(gathered) >= self.settings.gather:
                            resolve_gathered()
                        continue
                    taken += 1
                    task = asyncio.create_task(self._process([delivery], batch))
                    in_hand.add(task)
                    task.add_done_callback(in_hand.discard)
            finally:
                # Finish, commit and ack what is in hand; after a stop, only what finishes
                # within the grace period: the rest is stopped and stores nothing. The
                # consumer then returns anything left unsettled to the queue.
                if in_hand and report.stopped_by == "signal":
                    _, unfinished = await asyncio.wait(in_hand, timeout=STOP_GRACE_SECONDS)
                    for task in unfinished:
                        task.cancel()
                await asyncio.gather(*in_hand, return_exceptions=True)
        self.bus.publish("worker", "worker_stopped", {"worker": self.worker_id, "reason": report.stopped_by})
        if self._fatal is not None:
            raise self._fatal
        return report

    async def _queue_is_empty(self) -> bool:
        if "depth" not in self.queue.capabilities:
            return False  # cannot tell: only idle_exit ends the run
        return (await self.queue.depth()).pending == 0

    async def _process(self, deliveries: list[Delivery], batch: dnsmill.Batch) -> None:
        """Resolves and stores ``batch``, then settles ``deliveries``: its message, or the
        bare-domain messages it was gathered from, all alike."""
        started = time.perf_counter()
        message_id = deliveries[0].message_id if len(deliveries) == 1 else f"of {len(deliveries)} messages"
        try:
            done = await self.job.process_async(batch)
        except dnsmill.StoreConnectionError as error:
            await self._failed(deliveries, message_id, error, delay=RETRY_DELAY)
            return
        except dnsmill.StoreRejectedError as error:
            # The store refuses the batch's outcomes themselves (rejected records alone go to
            # the store's dead_letters and the batch commits): retrying can only fail again.
            for delivery in deliveries:
                try:
                    await delivery.dead_letter(f"the store rejected the batch: {error}")
                except dnsmill.QueueError as queue_error:
                    log.warning("batch %s could not be dead-lettered: %s", delivery.message_id, queue_error)
            self.report.dead_lettered += len(deliveries)
            log.warning("dead-lettered batch %s: %s", message_id, error)
            return
        except Exception as error:
            # The store is down after its retries, its schema or configuration is wrong, the
            # resolver cannot run, or something unforeseen: the batch goes back at once for
            # other workers, and this worker stops with the error.
            self._fatal = error  # first: a cancel during the nack still stops the worker
            await self._failed(deliveries, message_id, error, delay=0.0)
            return
        for delivery, not_acked in await ack_all(deliveries):
            # The batch is committed; the queue will offer the message again and the idempotent
            # writes make that harmless (a lease too short for the batch, a lost connection).
            log.warning("batch %s was committed but could not be acked: %s", delivery.message_id, not_acked)
        seconds = time.perf_counter() - started
        report = self.report
        report.batches += 1
        report.domains += done["domains"]
        report.records += done["records"]
        for outcome, count in done["outcomes"].items():
            report.outcomes[outcome] = report.outcomes.get(outcome, 0) + count
            metrics.WORKER_DOMAINS.labels(outcome=outcome).inc(count)
        for name, reason in done["invalid"]:
            log.warning("batch %s: %r is not a domain name: %s", message_id, name, reason)
        metrics.WORKER_BATCHES.labels(outcome="ok").inc()
        metrics.WORKER_RECORDS.inc(done["records"])
        metrics.WORKER_BATCH_SECONDS.observe(seconds)
        self.bus.publish(
            "worker",
            "batch_done",
            {
                "worker": self.worker_id,
                "domains": done["domains"],
                "records": done["records"],
                "seconds": seconds,
                "resolve_seconds": done["resolve_seconds"],
                "store_seconds": done["store_seconds"],
            },
        )

    async def _failed(
        self, deliveries: list[Delivery], message_id: str, error: Exception, *, delay: float
    ) -> None:
        self.report.failed_batches += 1
        metrics.WORKER_BATCHES.labels(outcome="failed").inc()
        log.warning(
            "batch %s failed (%s: %s); it will be offered again",
            message_id,
            getattr(error, "kind", "error"),
            error,
        )
        for delivery in deliveries:
            try:
                await delivery.nack(delay=delay, reason=f"{type(error).__name__}: {error}")
            except dnsmill.QueueError as nack_error:
                log.warning("batch %s could not be returned: %s", delivery.message_id, nack_error)

    def close(self) -> None:
        """Closes the store connection, unless the job is shared."""
        if self._owns_job:
            self.job.close()


def shared_job(db: str, settings: WorkSettings, *, table: str = "dns_records") -> dnsmill.BatchJob:
    """The :class:`dnsmill.BatchJob` that workers of one process can share: one store
    connection, and the batches that wait for it are stored together in one transaction."""
    resolver = dnsmill.Resolver(
        settings.ns or None,
        concurrency=settings.concurrency,
        timeout=settings.timeout.total_seconds(),
        retries=settings.retries,
    )
    return dnsmill.BatchJob(resolver, db, types=settings.types, table=table)
