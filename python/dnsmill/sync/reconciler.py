"""The periodic reconciler: every backend compared with every zone as last applied, drift
repaired.

The queue remembers each zone as it was last applied (its text, or that it was deleted). A
run reads each backend's copy of each zone and compares it with that, record for record: a
zone that differs is written again (the SQL backends then change only the rows that differ),
and a zone deleted here that a backend still holds is deleted there. Zones with a push waiting
are left to the applier. Zones a backend holds that were never pushed here are counted as
unmanaged and left alone: they may be someone else's.

Each zone is compared and repaired holding it against the applier, and as the queue has it at
that moment: a push applied since the run began is never written back over. ``dry_run``
reports what a run would change and changes nothing. ``max_deletions`` caps what one run may
remove (rows a repair deletes, and zones, one each): a repair or a delete that would go past
it is held back and reported, so a mistake (a wrong database, an emptied queue file) cannot
wipe a backend in one run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from dnsmill import events, metrics
from dnsmill.sync.applier import ZoneBackend, ZoneLocks
from dnsmill.sync.backends import ZoneContent
from dnsmill.sync.pushes import PushQueue

log = logging.getLogger("dnsmill.sync")

#: Zones compared at once per backend.
CONCURRENCY = 16


@dataclass
class Reconciled:
    """What one run found and did, over all backends."""

    dry_run: bool = False
    #: (zone, backend) pairs compared.
    compared: int = 0
    drifting: int = 0
    repaired: int = 0
    #: Zones deleted here that a backend still held, removed.
    deleted: int = 0
    #: Changes not made: a dry run, or the deletion cap reached.
    held_back: int = 0
    #: Rows and zones removed.
    deletions: int = 0
    unmanaged: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Reconciler:
    def __init__(
        self,
        pushes: PushQueue,
        backends: Sequence[ZoneBackend],
        *,
        dry_run: bool = False,
        max_deletions: int = 1000,
        locks: ZoneLocks | None = None,
        bus: events.EventBus | None = None,
    ) -> None:
        self.pushes = pushes
        #: Shared with the applier: a zone is compared and repaired while nothing else writes it.
        self.locks = locks or ZoneLocks()
        self.backends = list(backends)
        self.dry_run = dry_run
        self.max_deletions = max_deletions
        self.bus = bus or events.bus

    async def run_once(self) -> Reconciled:
        started = time.monotonic()
        report = Reconciled(dry_run=self.dry_run)
        applied = await asyncio.to_thread(self.pushes.applied)
        known = await asyncio.to_thread(self.pushes.known)
        for backend in self.backends:
            await self._reconcile_backend(backend, applied, known, report)
        report.seconds = time.monotonic() - started
        log.info(
            "sync reconcile%s: %d zone copies compared in %.1f s: %d drifting, %d repaired, %d deleted, "
            "%d held back, %d unmanaged, %d errors",
            " (dry run)" if self.dry_run else "",
            report.compared,
            report.seconds,
            report.drifting,
            report.repaired,
            report.deleted,
            report.held_back,
            report.unmanaged,
            len(report.errors),
        )
        self.bus.publish(
            "sync",
            "sync_reconciled",
            {
                "dry_run": self.dry_run,
                "compared": report.compared,
                "drifting": report.drifting,
                "repaired": report.repaired,
                "deleted": report.deleted,
                "held_back": report.held_back,
                "unmanaged": report.unmanaged,
                "errors": len(report.errors),
                "seconds": round(report.seconds, 3),
            },
        )
        return report

    async def run(self, stop: asyncio.Event, every: float) -> None:
        """A run every ``every`` seconds until ``stop`` is set (the first after ``every``)."""
        while True:
            try:
                await asyncio.wait_for(stop.wait(), every)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.run_once()
            except Exception as error:  # the next run tries again; the applier is unaffected
                log.error("sync reconcile failed: %s", error)

    async def _reconcile_backend(
        self, backend: ZoneBackend, applied: list[tuple[str, str | None]], known: set[str], report: Reconciled
    ) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)
        # Deletions are counted as they are decided, under this lock, so that zones checked
        # side by side never together go past the cap.
        budget = asyncio.Lock()

        async def allow(deletions: int) -> bool:
            async with budget:
                if report.deletions + deletions > self.max_deletions:
                    report.held_back += 1
                    return False
                # (a dry run counts what it would remove, so it tells whether a run would
                # reach the cap)
                report.deletions += deletions
                if self.dry_run:
                    report.held_back += 1
                    return False
                return True

        async def one(zone: str) -> None:
            async with limit, self.locks.holding([zone]):
                try:
                    # The zone as it is now: the applier may have changed it since the run began.
                    current = await asyncio.to_thread(self.pushes.applied, zone)
                    if not current:
                        return  # a push is waiting for it, or its last one died
                    ((_, text),) = current
                    if text is None:
                        if not await backend.holds(zone):
                            return
                        report.drifting += 1
                        if await allow(1):
                            await backend.delete(zone)
                            report.deleted += 1
                            metrics.SYNC_RECONCILED_ZONES.labels(backend.name, "deleted").inc()
                        else:
                            metrics.SYNC_RECONCILED_ZONES.labels(backend.name, "reported").inc()
                            log.warning(
                                "sync reconcile: %s still holds deleted zone %s; left", backend.name, zone
                            )
                        return
                    content = ZoneContent(zone, text)
                    report.compared += 1
                    drift = await backend.drift(content)
                    if not drift:
                        return
                    report.drifting += 1
                    metrics.SYNC_DRIFT_ROWS.labels(backend.name, "missing").inc(drift.missing)
                    metrics.SYNC_DRIFT_ROWS.labels(backend.name, "extra").inc(drift.extra)
                    if await allow(drift.extra):
                        await backend.save(content)
                        report.repaired += 1
                        metrics.SYNC_RECONCILED_ZONES.labels(backend.name, "repaired").inc()
                        log.warning(
                            "sync reconcile: %s zone %s drifted (%s); repaired", backend.name, zone, drift
                        )
                    else:
                        metrics.SYNC_RECONCILED_ZONES.labels(backend.name, "reported").inc()
                        log.warning("sync reconcile: %s zone %s drifts (%s); left", backend.name, zone, drift)
                except Exception as error:
                    report.errors.append(f"{backend.name}: {zone}: {error}")
                    log.warning("sync reconcile: %s zone %s: %s", backend.name, zone, error)

        await asyncio.gather(*(one(zone) for zone, _ in applied))
        try:
            held = await backend.zones()
        except Exception as error:
            report.errors.append(f"{backend.name}: listing zones: {error}")
            return
        unmanaged = sorted(set(held) - known)
        report.unmanaged += len(unmanaged)
        if unmanaged:
            log.info(
                "sync reconcile: %s holds %d zones never pushed here (left alone): %s",
                backend.name,
                len(unmanaged),
                ", ".join(unmanaged[:5]) + (", ..." if len(unmanaged) > 5 else ""),
            )
