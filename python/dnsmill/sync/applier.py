"""Applying queued pushes to every backend: a batch of pushes to all of them at once (each
backend takes the batch its own way: BIND checks and reloads a batch together, the SQL
backends write its zones side by side), and a push leaves the queue only once every backend
has it.

A backend that fails does not hold the others up: the push is applied to the rest, the queue
remembers which backends have it, and it comes back after a backoff for the ones that do not,
until every backend took it, or it is dead after the queue's ``max_attempts``.

Each round is reported: zones applied, failed and dead, seconds and zones/s, in the log, as a
``sync``/``sync_batch`` event and in the ``dnsmill_sync_*`` metrics, with the time from a
push's arrival to each backend holding it in ``dnsmill_sync_propagation_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from dnsmill import events, metrics
from dnsmill.sync.backends import BackendError, Drift, ZoneChange, ZoneContent, ZoneDeletion
from dnsmill.sync.pushes import DELETE, Push, PushQueue

log = logging.getLogger("dnsmill.sync")


class ZoneBackend(Protocol):
    """Where zones go: BIND, CoreDNS-MySQL, PowerDNS."""

    name: str

    async def save(self, zone: ZoneContent) -> None:
        """Writes the zone, then checks the backend holds exactly it (repairing it once)."""

    async def delete(self, zone: str) -> None:
        """Removes the zone; nothing happens for a zone it does not hold."""

    async def drift(self, zone: ZoneContent) -> Drift:
        """How the backend's copy of the zone differs from it (all missing when it has none)."""

    async def apply(self, changes: Sequence[ZoneChange]) -> list[BaseException | None]:
        """Applies several changes (one per zone); each one's error, or None, in order."""

    async def holds(self, zone: str) -> bool: ...

    async def zones(self) -> list[str]:
        """The zones the backend holds."""

    async def close(self) -> None: ...


@dataclass
class Applied:
    """What one round did."""

    applied: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def zones(self) -> int:
        return self.applied + self.failed + self.dead


class ZoneLocks:
    """The zones being written: the applier and the reconciler never write one zone at the
    same time (the reconciler would write back what the applier just replaced)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def holding(self, zones: Iterable[str]) -> AsyncIterator[None]:
        """Holds every zone of ``zones`` (taken in name order: two holders never wait for
        each other)."""
        ordered = sorted(set(zones))
        for zone in ordered:
            self._users[zone] = self._users.get(zone, 0) + 1
            self._locks.setdefault(zone, asyncio.Lock())
        held: list[asyncio.Lock] = []
        try:
            for zone in ordered:
                await self._locks[zone].acquire()
                held.append(self._locks[zone])
            yield
        finally:
            for lock in held:
                lock.release()
            for zone in ordered:
                self._users[zone] -= 1
                if not self._users[zone]:
                    del self._users[zone], self._locks[zone]


class Applier:
    """Takes pushes from ``pushes`` and applies them to ``backends``, up to ``at_once`` at a time
    (many: a BIND reconfiguration then covers many new zones; 256 took 1,000 zones in 6.2 s where
    32 took 8.0 s)."""

    def __init__(
        self,
        pushes: PushQueue,
        backends: Sequence[ZoneBackend],
        *,
        at_once: int = 256,
        backend_timeout: float = 300.0,
        locks: ZoneLocks | None = None,
        bus: events.EventBus | None = None,
    ) -> None:
        if not backends:
            raise ValueError("the sync service needs at least one backend")
        names = [backend.name for backend in backends]
        if len(set(names)) != len(names):
            raise ValueError(f"backends need names of their own (the queue records who has a push): {names}")
        self.pushes = pushes
        self.backends = list(backends)
        self.at_once = at_once
        #: Seconds a backend may take over a batch; past it, the batch failed for that backend
        #: alone (a hung database never holds the other backends up for longer).
        self.backend_timeout = backend_timeout
        self.locks = locks or ZoneLocks()
        self.bus = bus or events.bus

    async def apply_once(self) -> Applied:
        """Applies the pushes due now (up to ``at_once``)."""
        started = time.monotonic()
        taken = await asyncio.to_thread(self.pushes.take, self.at_once)
        if not taken:
            return Applied()
        async with self.locks.holding(push.zone for push in taken):
            round_ = await self._apply(taken)
        self._report(round_, time.monotonic() - started)
        return round_

    async def _apply(self, taken: list[Push]) -> Applied:
        errors: dict[str, list[str]] = {push.zone: [] for push in taken}
        succeeded: dict[str, set[str]] = {push.zone: set() for push in taken}
        # One change per push for every backend: a zone parsed for one is parsed for all.
        changes = {push.zone: _change(push) for push in taken}

        async def to(backend: ZoneBackend) -> None:
            todo = [push for push in taken if backend.name not in push.backends_done]
            if not todo:
                return
            try:
                results = await asyncio.wait_for(
                    backend.apply([changes[push.zone] for push in todo]), self.backend_timeout
                )
            except asyncio.TimeoutError:
                timed_out = BackendError(f"no answer within {self.backend_timeout:g} s")
                results = [timed_out] * len(todo)
            except Exception as error:  # the whole batch failed, for one reason
                results = [error] * len(todo)
            finished = time.time()
            for push, result in zip(todo, results, strict=True):
                if result is None:
                    succeeded[push.zone].add(backend.name)
                    metrics.SYNC_BACKEND_ZONES.labels(backend.name, "applied").inc()
                    if push.received_at:
                        metrics.SYNC_PROPAGATION_SECONDS.labels(backend.name).observe(
                            max(0.0, finished - push.received_at)
                        )
                else:
                    errors[push.zone].append(f"{backend.name}: {result}")
                    metrics.SYNC_BACKEND_ZONES.labels(backend.name, "failed").inc()

        await asyncio.gather(*(to(backend) for backend in self.backends))
        round_ = Applied()
        complete = [push for push in taken if not errors[push.zone]]
        await asyncio.to_thread(self.pushes.done_many, complete)
        round_.applied = len(complete)
        for push in taken:
            if not errors[push.zone]:
                continue
            if succeeded[push.zone]:
                await asyncio.to_thread(self.pushes.progress, push, frozenset(succeeded[push.zone]))
            error = "; ".join(errors[push.zone])
            log.warning("%s of zone %s failed (attempt %d): %s", push.action, push.zone, push.attempts, error)
            if await asyncio.to_thread(self.pushes.failed, push, error):
                round_.dead += 1
            else:
                round_.failed += 1
        for outcome in ("applied", "failed", "dead"):
            metrics.SYNC_ZONES.labels(outcome).inc(getattr(round_, outcome))
        return round_

    def _report(self, round_: Applied, elapsed: float) -> None:
        rate = round_.zones / elapsed if elapsed > 0 else 0.0
        metrics.SYNC_BATCH_SECONDS.observe(elapsed)
        metrics.SYNC_ZONES_PER_SECOND.set(rate)
        log.info(
            "sync: %d zones in %.3f s (%.0f zones/s): %d applied, %d to retry, %d dead",
            round_.zones,
            elapsed,
            rate,
            round_.applied,
            round_.failed,
            round_.dead,
        )
        self.bus.publish(
            "sync",
            "sync_batch",
            {
                "zones": round_.zones,
                "applied": round_.applied,
                "failed": round_.failed,
                "dead": round_.dead,
                "seconds": round(elapsed, 6),
                "zones_per_second": round(rate, 1),
            },
        )

    async def run(self, stop: asyncio.Event, poll: float = 0.2) -> None:
        """Applies pushes until ``stop`` is set, looking for new ones every ``poll`` seconds."""
        while not stop.is_set():
            try:
                done = await self.apply_once()
                metrics.SYNC_WAITING.set(await asyncio.to_thread(self.pushes.waiting))
            except Exception as error:  # the queue file itself failed (disk full...): keep trying
                log.error("sync: applying pushes failed: %s; trying again", error)
                done = Applied()
            if done.zones == 0:
                try:
                    await asyncio.wait_for(stop.wait(), poll)
                except asyncio.TimeoutError:
                    pass


def _change(push: Push) -> ZoneChange:
    if push.action == DELETE:
        return ZoneDeletion(push.zone)
    assert push.text is not None
    return ZoneContent(push.zone, push.text)
