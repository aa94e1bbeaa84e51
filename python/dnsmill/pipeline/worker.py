"""The worker: takes batches of domains from the queue, resolves them with the Rust resolver
straight into the Rust writer, records each domain's outcome, and acks only after the commit.

A batch redelivered after a crash is harmless: writes are idempotent (one row per name, type
and rdata) and outcomes are overwritten. A message that is not a batch of domains goes to the
queue's dead letters with the reason. A store that fails returns the batch to the queue (after
a pause) for another try; after the queue's delivery limit it is dead-lettered.

Stopping: set the ``stop`` event (``dnsmill work`` does on SIGTERM or Ctrl-C): the worker
takes no new batch, finishes the one in hand, commits, acks and returns.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dnsmill
from dnsmill import events, metrics
from dnsmill.config import WorkSettings
from dnsmill.queue import Message, Queue

log = logging.getLogger("dnsmill.worker")

#: How long a worker waits for a message before looking at its stop signal again.
POLL_SECONDS = 0.5
#: How long a batch the store failed on waits before it is offered again.
RETRY_DELAY = 5.0
#: Rows the writer takes into one transaction. The worker flushes after every message, so this
#: only needs to exceed a message's answers for each message to be one commit: every commit
#: rewrites the index pages it touched, and those are spread over the whole table.
WRITE_BATCH_ROWS = 200_000


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


def parse_batch(message: Message) -> list[str] | None:
    """The domains of a batch message; None for a stop message. Raises ValueError saying what
    is wrong with anything else."""
    try:
        body = message.json()
    except ValueError as error:
        raise ValueError(f"message {message.id} is not JSON: {error}") from None
    if not isinstance(body, dict) or body.get("kind") not in ("domains", "stop"):
        raise ValueError(f'message {message.id} is not a batch: expected {{"kind": "domains" | "stop", ...}}')
    if body["kind"] == "stop":
        return None
    names = body.get("domains")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f'message {message.id}: "domains" must be a list of names')
    return names


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
    ) -> None:
        self.settings = settings or WorkSettings()
        self.queue = queue
        self.bus = bus or events.bus
        self.worker_id = (
            self.settings.worker_id or f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
        )
        self.resolver = dnsmill.Resolver(
            self.settings.ns or None,
            concurrency=self.settings.concurrency,
            timeout=self.settings.timeout.total_seconds(),
            retries=self.settings.retries,
        )
        self.writer = dnsmill.Writer(db, table=table, source="worker", batch_size=WRITE_BATCH_ROWS)
        self.domains = dnsmill.Domains(db)
        self.report = WorkReport()
        # Resolving and storing run on two threads, and either may fail a batch.
        self._failures = threading.Lock()

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        idle_exit: float | None = None,
        max_batches: int | None = None,
    ) -> WorkReport:
        """Works until a stop message, the ``stop`` event, ``idle_exit`` seconds without a
        message, or ``max_batches`` batches.

        Storing a batch (write, commit, outcomes, ack) runs beside resolving the next one, so a
        worker takes as long per batch as the slower of the two rather than both: it holds at
        most two messages, and acks each only after its own commit."""
        stop = stop or threading.Event()
        lease = self.settings.lease.total_seconds()
        idle_since = time.monotonic()
        report = self.report
        taken = 0
        storing: Future[None] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnsmill-store") as storer:
            while True:
                if stop.is_set():
                    report.stopped_by = "signal"
                    break
                if max_batches is not None and taken >= max_batches:
                    report.stopped_by = "max_batches"
                    break
                message = self.queue.get(lease=lease, wait=POLL_SECONDS)
                if message is None:
                    if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                        report.stopped_by = "idle"
                        break
                    continue
                idle_since = time.monotonic()
                try:
                    names = parse_batch(message)
                except ValueError as error:
                    self.queue.dead_letter(message, str(error))
                    report.dead_lettered += 1
                    log.warning("dead-lettered: %s", error)
                    continue
                if names is None:
                    if storing is not None:
                        storing.result()
                    self.queue.ack(message)
                    report.stopped_by = "stop message"
                    break
                taken += 1
                started = time.perf_counter()
                results = self._resolve(message, names)
                if storing is not None:
                    storing.result()  # one batch in the store at a time, acked in order
                    storing = None
                if results is not None:
                    storing = storer.submit(self._store, message, names, results, started)
            if storing is not None:
                storing.result()
        self.bus.publish("worker", "worker_stopped", {"worker": self.worker_id, "reason": report.stopped_by})
        return report

    def _resolve(self, message: Message, names: list[str]) -> dnsmill.ResultSet | None:
        try:
            return self.resolver.resolve(names, self.settings.types)
        except dnsmill.DnsmillError as error:
            self._failed(message, error)
            return None

    def _failed(self, message: Message, error: Exception) -> None:
        with self._failures:
            self.report.failed_batches += 1
        metrics.WORKER_BATCHES.labels(outcome="failed").inc()
        log.warning("batch %d failed (%s); it will be offered again", message.id, error)
        self.queue.nack(message, delay=RETRY_DELAY, reason=str(error))

    def _store(self, message: Message, names: list[str], results: dnsmill.ResultSet, started: float) -> None:
        report = self.report
        try:
            self.writer.write(results)
            self.writer.flush()  # committed before the outcomes and the ack
            outcomes = self.domains.record_outcomes(results)
        except dnsmill.DnsmillError as error:
            self._failed(message, error)
            return
        if not self.queue.ack(message):
            # The lease ran out first and another worker may hold the batch: its writes
            # are idempotent, so nothing is doubled, but the lease is too short.
            log.warning("batch %d outlived its lease of %s; raise --lease", message.id, self.settings.lease)
        seconds = time.perf_counter() - started
        records = len(results.records())
        report.batches += 1
        report.domains += len(names)
        report.records += records
        for outcome, count in outcomes.items():
            report.outcomes[outcome] = report.outcomes.get(outcome, 0) + count
            metrics.WORKER_DOMAINS.labels(outcome=outcome).inc(count)
        metrics.WORKER_BATCHES.labels(outcome="ok").inc()
        metrics.WORKER_RECORDS.inc(records)
        metrics.WORKER_BATCH_SECONDS.observe(seconds)
        self.bus.publish(
            "worker",
            "batch_done",
            {"worker": self.worker_id, "domains": len(names), "records": records, "seconds": seconds},
        )

    def close(self) -> dict[str, Any]:
        stats = self.writer.close()
        self.domains.close()
        return stats
