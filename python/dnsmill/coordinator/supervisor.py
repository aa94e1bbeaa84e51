"""Supervision: each source of an active stream is a task under its stream's supervisor.

One-for-one: a source that dies is restarted alone, after a backoff that doubles with each
death in a row (from ``backoff`` up to ``max_backoff``; a source that ran longer than
``max_seconds`` starts again from ``backoff``). Restart types, as in OTP:

- ``permanent``: always restarted, whether it raised or returned;
- ``transient``: restarted only when it raised;
- ``temporary``: never restarted.

A stream whose sources were restarted more than ``max_restarts`` times within ``max_seconds``
is failed: its sources stop, and the coordinator marks it ``failed`` with the reason and the
last error. Other streams are untouched, and the process keeps running.

The supervisor's ``workers`` is the registry of every live worker, keyed by source; a restart
replaces the task in place, so the registry never holds a dead one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dnsmill import metrics
from dnsmill.coordinator.sources import check_config, source_class
from dnsmill.coordinator.sources.base import SourceContext, WorkerHealth
from dnsmill.events import EventBus

log = logging.getLogger("dnsmill.coordinator")

RestartType = Literal["permanent", "transient", "temporary"]
RESTART_TYPES: tuple[RestartType, ...] = ("permanent", "transient", "temporary")


@dataclass(frozen=True)
class Intensity:
    """How often a stream's sources may be restarted, and how long to wait between restarts."""

    max_restarts: int = 10
    max_seconds: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 5.0


@dataclass(frozen=True)
class SourceSpec:
    """A source as stored: what the supervisor starts."""

    name: str
    kind: str
    config: str
    poll_interval: float
    restart: RestartType

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SourceSpec:
        restart: RestartType = "permanent"
        for known in RESTART_TYPES:
            if row["restart"] == known:
                restart = known
        return cls(row["name"], row["kind"], row["config"], float(row["poll_interval"]), restart)


@dataclass
class Worker:
    """One source of one stream, as the registry holds it."""

    stream: str
    spec: SourceSpec
    #: starting, running, backoff, finished, exited (a temporary source that died), stopped.
    state: str = "starting"
    restarts: int = 0
    started_at: float | None = None
    health: WorkerHealth = field(default_factory=WorkerHealth)
    task: asyncio.Task[None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "state": self.state,
            "restart": self.spec.restart,
            "restarts": self.restarts,
            "started_at": self.started_at,
            **self.health.as_dict(),
        }


@dataclass
class Services:
    """What the supervisor's workers share."""

    store: Any
    bus: EventBus
    db: str
    watcher: Any
    on_change: Callable[[], None]


class StreamSupervisor:
    """The supervisor of one active stream."""

    def __init__(
        self,
        stream: str,
        intensity: Intensity,
        services: Services,
        on_failed: Callable[[StreamSupervisor, str], None],
    ) -> None:
        self.stream = stream
        self.intensity = intensity
        self.services = services
        self._on_failed = on_failed
        #: The registry: every worker of this stream, by source name.
        self.workers: dict[str, Worker] = {}
        self._restarts: deque[float] = deque()
        self.failed: str | None = None
        #: The stream's epoch when its workers began (a stop starts a new one).
        self.epoch = 0

    @property
    def restarts(self) -> int:
        return sum(worker.restarts for worker in self.workers.values())

    def start(self, spec: SourceSpec) -> None:
        """Starts a worker for ``spec`` (a source added while the stream runs, or at start)."""
        if spec.name in self.workers:
            return
        worker = Worker(self.stream, spec)
        self.workers[spec.name] = worker
        worker.task = asyncio.create_task(self._keep(worker), name=f"{self.stream}/{spec.name}")
        metrics.COORDINATOR_WORKERS.inc()

    async def stop_worker(self, name: str) -> None:
        worker = self.workers.pop(name, None)
        if worker is not None and worker.task is not None:
            await _cancel(worker)
            metrics.COORDINATOR_WORKERS.dec()

    async def stop(self) -> None:
        """Stops every worker and waits for them. The registry keeps them, stopped, for the
        status of a stream that failed."""
        workers = [worker for worker in self.workers.values() if worker.task is not None]
        await asyncio.gather(*(_cancel(worker) for worker in workers))
        for worker in workers:
            worker.task = None
        metrics.COORDINATOR_WORKERS.dec(len(workers))

    def _publish(self, name: str, worker: Worker, **data: Any) -> None:
        payload = {"stream": self.stream, "source": worker.spec.name, "kind": worker.spec.kind, **data}
        self.services.bus.publish("coordinator", name, payload)
        self.services.bus.publish(f"stream.{self.stream}", name, payload)
        self.services.bus.publish(f"source.{worker.spec.name}", name, payload)
        self.services.on_change()

    async def _keep(self, worker: Worker) -> None:
        """Runs the worker's source, restarting it as its restart type says."""
        spec = worker.spec
        deaths_in_a_row = 0
        while True:
            worker.state = "running"
            worker.started_at = time.time()
            began = time.monotonic()
            self._publish("worker_started", worker, restarts=worker.restarts)
            error: BaseException | None = None
            try:
                config = check_config(spec.kind, spec.config)
                context = SourceContext(
                    stream=self.stream,
                    name=spec.name,
                    poll_interval=spec.poll_interval,
                    store=self.services.store,
                    bus=self.services.bus,
                    db=self.services.db,
                    watcher=self.services.watcher,
                    health=worker.health,
                    on_change=self.services.on_change,
                )
                source = source_class(spec.kind)(context, config)
                await source.run()
            except asyncio.CancelledError:
                worker.state = "stopped"
                raise
            except Exception as raised:
                error = raised
            ran = time.monotonic() - began
            if error is not None:
                message = f"{type(error).__name__}: {error}"
                worker.health.last_error = message
                worker.health.last_error_at = time.time()
                log.warning(
                    "%s/%s died after %.1f s: %s\n%s",
                    self.stream,
                    spec.name,
                    ran,
                    message,
                    "".join(traceback.format_exception(error)).rstrip(),
                )
            metrics.COORDINATOR_WORKER_EXITS.labels(
                stream=self.stream, outcome="error" if error is not None else "normal"
            ).inc()
            self._publish("worker_exited", worker, error=worker.health.last_error if error else None, ran=ran)
            if spec.restart == "temporary" or (spec.restart == "transient" and error is None):
                worker.state = "finished" if error is None else "exited"
                return
            deaths_in_a_row = 1 if ran > self.intensity.max_seconds else deaths_in_a_row + 1
            if not self._may_restart():
                reason = (
                    f"source {spec.name} ({spec.kind}) was restarted more than "
                    f"{self.intensity.max_restarts} times in {self.intensity.max_seconds:g} s; "
                    f"last error: {worker.health.last_error or 'it returned'}"
                )
                worker.state = "exited"
                self.failed = reason
                # The coordinator ends this stream's workers from a task of its own.
                self._on_failed(self, reason)
                return
            delay = min(self.intensity.max_backoff, self.intensity.backoff * 2 ** (deaths_in_a_row - 1))
            worker.state = "backoff"
            self.services.on_change()
            await asyncio.sleep(delay)
            worker.restarts += 1
            metrics.COORDINATOR_RESTARTS.labels(stream=self.stream).inc()
            self._publish("worker_restarted", worker, restarts=worker.restarts, backoff=delay)

    def _may_restart(self) -> bool:
        now = time.monotonic()
        window = self.intensity.max_seconds
        while self._restarts and now - self._restarts[0] > window:
            self._restarts.popleft()
        if len(self._restarts) >= self.intensity.max_restarts:
            return False
        self._restarts.append(now)
        return True


async def _cancel(worker: Worker) -> None:
    task = worker.task
    if task is None or task.done():
        worker.state = "stopped" if worker.state not in ("finished", "exited") else worker.state
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # it died while being stopped: it is stopped either way
        log.exception("%s/%s failed while stopping", worker.stream, worker.spec.name)
    worker.state = "stopped"
