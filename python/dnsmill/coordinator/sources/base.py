"""What every source kind implements, and what the coordinator hands each running source.

A source kind is a class with a ``kind`` name, a pydantic ``Config`` of its settings, and an
``async run()`` that watches what it watches until it is cancelled: it loads its checkpoints,
writes what changed through :class:`SourceContext` (records and events in batches, in Rust)
together with its checkpoints, in one transaction, and waits for the next change. A source
killed at any moment has either written a change and moved past it, or done neither; and
every event is keyed by what changed and the version it changed to, so the same change
written twice is one row.

A source that raises is restarted by its stream's supervisor (see
:mod:`dnsmill.coordinator.supervisor`); a source that returns has finished (a ``transient``
or ``temporary`` source is then not started again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from dnsmill import _core, metrics
from dnsmill.events import EventBus

if TYPE_CHECKING:
    from dnsmill.coordinator.watch import Watcher

log = logging.getLogger("dnsmill.coordinator")

T = TypeVar("T")


class SourceConfig(BaseModel):
    """Settings of a source kind; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Protocol):
    """One running source. ``kind`` names it in the registry; ``Config`` checks its settings."""

    kind: ClassVar[str]
    Config: ClassVar[type[SourceConfig]]

    def __init__(self, context: SourceContext, config: Any) -> None: ...

    async def run(self) -> None:
        """Watches until cancelled; raises on a failure the supervisor should restart it for."""
        ...


@dataclass
class Checkpoint:
    """Where a source got to with one item: ``position`` (a fingerprint, a serial, an offset)
    and ``state`` (what it keeps to compare the next version with)."""

    position: str
    state: str | None = None


@dataclass
class WorkerHealth:
    """What the coordinator shows of one running source."""

    last_event_at: float | None = None
    last_event: str | None = None
    events: int = 0
    records: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_event_at": self.last_event_at,
            "last_event": self.last_event,
            "events": self.events,
            "records": self.records,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


@dataclass
class SourceContext:
    """What a running source is given: who it is, its store, the bus, the shared watcher."""

    stream: str
    name: str
    poll_interval: float
    store: _core.StreamStore
    bus: EventBus
    db: str
    watcher: Watcher | None = None
    health: WorkerHealth = field(default_factory=WorkerHealth)
    #: Run on the event loop after each write (the coordinator's live view).
    on_change: Callable[[], None] | None = None

    async def checkpoints(self) -> dict[str, Checkpoint]:
        """The saved checkpoints, by item."""
        rows = await asyncio.to_thread(self.store.checkpoints, self.stream, self.name)
        return {item: Checkpoint(position, state) for item, position, state in rows}

    async def save_checkpoints(
        self, checkpoints: Mapping[str, Checkpoint], forgotten: list[str] | None = None
    ) -> None:
        """Saves ``checkpoints`` and forgets ``forgotten`` items, in one transaction."""
        await asyncio.to_thread(
            self.store.save_checkpoints, self.stream, self.name, _rows(checkpoints), forgotten or []
        )

    async def write_changes(
        self,
        changes: list[tuple[str, str, _core.Zone, _core.Zone]],
        checkpoints: Mapping[str, Checkpoint],
        forgotten: list[str] | None = None,
        *,
        records: bool = True,
        events: list[tuple[str, str, str, dict[str, Any], str]] | None = None,
    ) -> Mapping[str, int]:
        """Writes record changes ``[(zone, version, added, removed), ...]``: the added records
        into the records table, then every change as an event, and ``events`` of other kinds
        (as :meth:`write_events` takes them), in one transaction with ``checkpoints`` (and
        ``forgotten`` items dropped); publishes a summary per zone."""
        other = [(s, v, k, json.dumps(d), i) for s, v, k, d, i in events or []]
        done = await _finished(
            asyncio.to_thread(
                lambda: self.store.write_changes(
                    self.stream,
                    self.name,
                    changes,
                    _rows(checkpoints),
                    forgotten or [],
                    records=records,
                    events=other,
                )
            )
        )
        written = {"records": done["records"], "events": done["events"]}
        for zone, version, added, removed in changes:
            if len(added) or len(removed):
                self.announce(
                    "records_changed",
                    {"zone": zone, "version": version, "added": len(added), "removed": len(removed)},
                )
        for subject, version, kind, data, _ in events or []:
            self.announce(kind.removeprefix("dnsmill."), {"subject": subject, "version": version, **data})
        self._count(written)
        return written

    async def write_events(
        self,
        events: list[tuple[str, str, str, dict[str, Any], str]],
        checkpoints: Mapping[str, Checkpoint],
    ) -> int:
        """Writes events of other kinds ``[(subject, version, kind, data, identity), ...]`` in
        one transaction with ``checkpoints``; returns those new to the table. Each is also
        published on the bus."""
        rows = [
            (subject, version, kind, json.dumps(data), identity)
            for subject, version, kind, data, identity in events
        ]
        new: int = await asyncio.to_thread(
            self.store.write_events, self.stream, self.name, rows, _rows(checkpoints)
        )
        for subject, version, kind, data, _ in events:
            self.announce(kind.removeprefix("dnsmill."), {"subject": subject, "version": version, **data})
        self._count({"events": new, "records": 0})
        return new

    def _count(self, written: Mapping[str, int]) -> None:
        metrics.COORDINATOR_EVENTS.labels(stream=self.stream).inc(written.get("events", 0))
        self.health.events += written.get("events", 0)
        self.health.records += written.get("records", 0)

    def announce(self, name: str, data: Mapping[str, Any]) -> None:
        """Publishes ``name`` on the stream's and the source's topics (``stream.<name>``,
        ``source.<name>``) and notes it as the source's last event."""
        payload = {"stream": self.stream, "source": self.name, **data}
        self.bus.publish(f"stream.{self.stream}", name, payload)
        self.bus.publish(f"source.{self.name}", name, payload)
        self.health.last_event_at = time.time()
        self.health.last_event = _summary(name, data)
        if self.on_change is not None:
            self.on_change()

    def problem(self, message: str) -> None:
        """Notes a problem the source carries on past (a bad zone file), without a restart."""
        log.warning("%s/%s: %s", self.stream, self.name, message)
        self.health.last_error = message
        self.health.last_error_at = time.time()
        self.announce("source_problem", {"error": message})


async def _finished(write: Awaitable[T]) -> T:
    """Awaits a write to its end even when the source is being stopped: the write goes on in
    Rust regardless, and the source's stop should mean its last write is done."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def _rows(checkpoints: Mapping[str, Checkpoint]) -> list[tuple[str, str, str | None]]:
    return [(item, point.position, point.state) for item, point in checkpoints.items()]


def _summary(name: str, data: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{key} {value}" for key, value in data.items() if key not in ("stream", "source"))
    return f"{name}: {shown}" if shown else name
