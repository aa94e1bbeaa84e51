"""The coordinator: streams of sources, controlled through the store, run under supervisors.

Every control call (create, add a source, start, pause, resume, stop) is a change to the
store's coordination tables, so the command line, Python, the HTTP API and other processes
all control the same streams. :meth:`Coordinator.run` is the running side: it looks at the
tables' revision every ``refresh`` seconds (at once after a call in this process), and
brings the live workers in line with each stream's status:

- ``active``: every source of the stream runs under the stream's supervisor;
- ``paused``: its sources are stopped; their checkpoints are kept, so ``resume`` continues;
- ``stopped``: its sources are stopped and their checkpoints cleared, so ``start`` begins anew;
- ``failed``: set by the supervisor when a source restarts past the limit; the reason says
  which and why. ``start`` or ``resume`` runs it again (checkpoints kept).

Each control call has an ``_async`` twin for asyncio code. Lifecycle changes are events on
the bus (topic ``coordinator`` and ``stream.<name>``) and Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from dnsmill import _core, metrics
from dnsmill._core import ConfigError, DnsmillError
from dnsmill.config import redacted
from dnsmill.coordinator.sources import check_config
from dnsmill.coordinator.supervisor import RESTART_TYPES, Intensity, Services, SourceSpec, StreamSupervisor
from dnsmill.coordinator.watch import Watcher
from dnsmill.events import EventBus
from dnsmill.events import bus as default_bus

log = logging.getLogger("dnsmill.coordinator")

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
STATUSES = ("pending", "active", "paused", "stopped", "failed")


class UnknownStreamError(ConfigError):
    """No stream (or no source in a stream) of that name."""


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"{what} name {name!r}: use 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


class Coordinator:
    """Streams of sources in the store at ``db``; :meth:`run` supervises them."""

    def __init__(
        self,
        db: str = "sqlite://dnsmill.db",
        *,
        intensity: Intensity | None = None,
        refresh: float = 1.0,
        events_table: str = "dns_events",
        records_table: str = "dns_records",
        bus: EventBus | None = None,
    ) -> None:
        self.db = db
        self.intensity = intensity or Intensity()
        self.refresh = refresh
        self.bus = bus if bus is not None else default_bus
        self.store = _core.StreamStore(db, events_table=events_table, records_table=records_table)
        #: The live supervisors, by stream (only while :meth:`run` runs).
        self.supervisors: dict[str, StreamSupervisor] = {}
        #: The supervisors of streams that failed, stopped, kept for their workers' last state.
        self._failed_supervisors: dict[str, StreamSupervisor] = {}
        self._statuses: dict[str, str] = {}
        self._nudge: asyncio.Event | None = None
        #: Streams whose supervisor gave up, while their failure is written.
        self._failing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Bumped on every change worth showing (the status page's long poll waits on it).
        self.version = 0
        self._changed: asyncio.Condition | None = None

    # -- control ------------------------------------------------------------------------

    def create_stream(self, name: str, sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Creates the stream ``name`` (``pending``), with ``sources`` (each the arguments of
        :meth:`add_source`); returns its status."""
        check_name(name, "stream")
        for source in sources or []:
            self._checked_source(**source)
        if not self.store.create_stream(name):
            raise ConfigError(f"a stream named {name!r} exists")
        try:
            for source in sources or []:
                self.add_source(name, **source)
        except BaseException:
            self.store.delete_stream(name)  # all or nothing
            raise
        self._nudged()
        return self.stream_status(name)

    def _checked_source(
        self,
        name: str,
        kind: str,
        config: dict[str, Any] | str | None = None,
        *,
        poll_interval: float = 30.0,
        restart: str = "permanent",
    ) -> tuple[str, str, str, float, str]:
        check_name(name, "source")
        checked = check_config(kind, config)
        if restart not in RESTART_TYPES:
            raise ConfigError(f"restart type {restart!r} (known: {', '.join(RESTART_TYPES)})")
        if not poll_interval > 0:
            raise ConfigError(f"poll_interval {poll_interval}: give a number of seconds above 0")
        return name, kind, checked.model_dump_json(), float(poll_interval), restart

    def add_source(
        self,
        stream: str,
        name: str,
        kind: str,
        config: dict[str, Any] | str | None = None,
        *,
        poll_interval: float = 30.0,
        restart: str = "permanent",
    ) -> None:
        """Adds a source to ``stream``: ``kind`` one of :func:`~dnsmill.coordinator.sources.kinds`,
        ``config`` its settings (a dict or JSON), ``poll_interval`` seconds between its looks,
        ``restart`` its restart type. A running stream starts it at once."""
        checked = self._checked_source(name, kind, config, poll_interval=poll_interval, restart=restart)
        self._stored(stream)
        self.store.add_source(stream, *checked)
        self._nudged()

    def remove_source(self, stream: str, name: str) -> None:
        """Takes a source out of ``stream`` (its worker stops, its checkpoints go)."""
        if not self.store.remove_source(stream, name):
            raise UnknownStreamError(f"stream {stream!r} has no source named {name!r}")
        self._nudged()

    def start_stream(self, name: str) -> dict[str, Any]:
        """Runs the stream's sources (from their checkpoints)."""
        return self._move(name, "active", ("pending", "active", "paused", "stopped", "failed"))

    def pause_stream(self, name: str) -> dict[str, Any]:
        """Stops the stream's sources and keeps their checkpoints."""
        return self._move(name, "paused", ("active", "paused"))

    def resume_stream(self, name: str) -> dict[str, Any]:
        """Runs a paused (or failed) stream's sources again from their checkpoints."""
        return self._move(name, "active", ("paused", "failed", "active"))

    def stop_stream(self, name: str) -> dict[str, Any]:
        """Stops the stream's sources and clears their checkpoints."""
        status = self._move(name, "stopped", STATUSES)
        self.store.clear_checkpoints(name)
        return status

    def delete_stream(self, name: str) -> None:
        """Deletes the stream, its checkpoints, and the sources only it used."""
        if not self.store.delete_stream(name):
            raise UnknownStreamError(f"no stream named {name!r}")
        self._nudged()

    def _move(self, name: str, status: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        current = self._stored(name)["status"]
        if current not in allowed:
            verb = {"paused": "pause", "active": "resume"}.get(status, status)
            raise ConfigError(
                f"stream {name!r} is {current}: only a {' or '.join(allowed)} stream can {verb}"
            )
        self.store.set_status(name, status, None)
        self._nudged()
        return self.stream_status(name)

    def _stored(self, name: str) -> dict[str, Any]:
        for stream in self.store.streams():
            if stream["name"] == name:
                return dict(stream)
        raise UnknownStreamError(f"no stream named {name!r}")

    def stream_status(self, name: str) -> dict[str, Any]:
        """The stream: status, reason, sources with their live state when this process runs them."""
        return self._with_live(self._stored(name))

    def list_streams(self) -> list[dict[str, Any]]:
        """Every stream, as :meth:`stream_status` gives it."""
        return [self._with_live(dict(stream)) for stream in self.store.streams()]

    def stats(self) -> dict[str, Any]:
        """Streams per status, live workers and restarts."""
        return self._stats(self.store.streams())

    def _stats(self, streams: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        counts = {status: 0 for status in STATUSES}
        for stream in streams:
            counts[stream["status"]] = counts.get(stream["status"], 0) + 1
        return {
            "streams": len(streams),
            **counts,
            "workers": sum(
                1 for s in self.supervisors.values() for w in s.workers.values() if w.task is not None
            ),
            "restarts": sum(s.restarts for s in self.supervisors.values()),
            "running": self._loop is not None,
        }

    def _with_live(self, stream: dict[str, Any]) -> dict[str, Any]:
        supervisor = self.supervisors.get(stream["name"])
        if supervisor is None and stream["status"] == "failed":
            supervisor = self._failed_supervisors.get(stream["name"])
        sources = []
        for row in stream["sources"]:
            source = {**row, "config": _shown(json.loads(row["config"]))}
            worker = supervisor.workers.get(row["name"]) if supervisor is not None else None
            source.update(worker.as_dict() if worker is not None else {"state": "stopped", "restarts": 0})
            source["name"], source["kind"] = row["name"], row["kind"]
            sources.append(source)
        stream["sources"] = sources
        stream["restarts"] = sum(source.get("restarts", 0) for source in sources)
        return stream

    # the same, for asyncio code: the store calls run on a worker thread

    async def create_stream_async(
        self, name: str, sources: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        return await self._off_loop(self.create_stream, name, sources)

    async def add_source_async(
        self, stream: str, name: str, kind: str, config: Any = None, **options: Any
    ) -> None:
        await self._off_loop(lambda: self.add_source(stream, name, kind, config, **options))

    async def remove_source_async(self, stream: str, name: str) -> None:
        await self._off_loop(self.remove_source, stream, name)

    async def start_stream_async(self, name: str) -> dict[str, Any]:
        return await self._off_loop(self.start_stream, name)

    async def pause_stream_async(self, name: str) -> dict[str, Any]:
        return await self._off_loop(self.pause_stream, name)

    async def resume_stream_async(self, name: str) -> dict[str, Any]:
        return await self._off_loop(self.resume_stream, name)

    async def stop_stream_async(self, name: str) -> dict[str, Any]:
        return await self._off_loop(self.stop_stream, name)

    async def delete_stream_async(self, name: str) -> None:
        await self._off_loop(self.delete_stream, name)

    # The store is read on a worker thread; the live view is read here, on the loop that
    # changes it.

    async def stream_status_async(self, name: str) -> dict[str, Any]:
        return self._with_live(await self._off_loop(self._stored, name))

    async def list_streams_async(self) -> list[dict[str, Any]]:
        return [self._with_live(dict(stream)) for stream in await self._off_loop(self.store.streams)]

    async def stats_async(self) -> dict[str, Any]:
        return self._stats(await self._off_loop(self.store.streams))

    async def _off_loop(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    def _nudged(self) -> None:
        """Tells a running :meth:`run` (in this process) to look at the store now."""
        loop, nudge = self._loop, self._nudge
        if loop is not None and nudge is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(nudge.set)

    # -- running ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Supervises the stored streams until ``stop`` is set, then stops every source."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._nudge = asyncio.Event()
        self._changed = asyncio.Condition()
        watcher = Watcher(loop)
        self._services = Services(self.store, self.bus, self.db, watcher, self._touched)
        seen: tuple[int, int, int] | None = None
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self._nudge.clear()
                try:
                    revision = await asyncio.to_thread(self.store.revision)
                    if revision != seen:
                        await self._reconcile(await asyncio.to_thread(self.store.streams))
                        seen = revision
                except DnsmillError as error:
                    # The store is away: the sources go on (theirs fail and restart on their
                    # own), and the next look tries again.
                    log.warning("cannot read the streams (%s); trying again", error)
                nudged = asyncio.ensure_future(self._nudge.wait())
                await asyncio.wait(
                    {stopping, nudged}, timeout=self.refresh, return_when=asyncio.FIRST_COMPLETED
                )
                nudged.cancel()
        finally:
            stopping.cancel()
            supervisors = list(self.supervisors.values())
            self.supervisors.clear()
            await asyncio.gather(*(supervisor.stop() for supervisor in supervisors))
            watcher.close()
            self.version += 1
            await _notify(self._changed)  # long polls answer now, not at their timeout
            self._loop = self._nudge = None

    def _touched(self) -> None:
        """Something worth showing changed: wake the status page's long polls."""
        self.version += 1
        loop, changed = self._loop, self._changed
        if loop is None or changed is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(_notify(changed))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: loop.create_task(_notify(changed)))

    async def wait_for_change(self, version: int, timeout: float) -> int:
        """Waits until the live view moves past ``version`` (or ``timeout``); returns the new one."""
        changed = self._changed
        if changed is None or self.version != version:
            return self.version
        async with changed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait_for(lambda: self.version != version), timeout)
        return self.version

    async def _reconcile(self, streams: Sequence[Mapping[str, Any]]) -> None:
        present = {stream["name"] for stream in streams}
        for name in [name for name in self.supervisors if name not in present]:
            await self._halt(name)
            self._lifecycle(name, "stream_deleted")
        for stream in streams:
            name, status = stream["name"], stream["status"]
            before = self._statuses.get(name)
            if name in self._failing:
                continue  # its supervisor gave up; the failed status is being written
            if status == "active":
                supervisor = self.supervisors.get(name)
                if supervisor is not None and supervisor.epoch != stream["epoch"]:
                    # Stopped and started again between two looks: begin anew, as a stop asks.
                    await self._halt(name)
                    self._lifecycle(name, "stream_stopped")
                    supervisor = None
                    before = "stopped"
                if supervisor is None:
                    self._failed_supervisors.pop(name, None)
                    supervisor = StreamSupervisor(name, self.intensity, self._services, self._on_failed)
                    supervisor.epoch = stream["epoch"]
                    self.supervisors[name] = supervisor
                    self._lifecycle(name, "stream_resumed" if before == "paused" else "stream_started")
                wanted = {row["name"]: SourceSpec.from_row(row) for row in stream["sources"]}
                for gone in [
                    source
                    for source, worker in supervisor.workers.items()
                    if source not in wanted or worker.spec != wanted[source]
                ]:
                    await supervisor.stop_worker(gone)
                for spec in wanted.values():
                    supervisor.start(spec)
            else:
                if name in self.supervisors:
                    await self._halt(name)
                if status == "stopped":
                    # A source stopped just now may have saved one more checkpoint.
                    await asyncio.to_thread(self.store.clear_checkpoints, name)
                if before is not None and before != status:
                    self._lifecycle(name, f"stream_{status}", reason=stream["reason"])
            self._statuses[name] = status
        counts = {status: 0 for status in STATUSES}
        for stream in streams:
            counts[stream["status"]] = counts.get(stream["status"], 0) + 1
        for status, count in counts.items():
            metrics.COORDINATOR_STREAMS.labels(status=status).set(count)
        self._touched()

    async def _halt(self, name: str) -> None:
        supervisor = self.supervisors.pop(name, None)
        if supervisor is not None:
            await supervisor.stop()

    def _on_failed(self, supervisor: StreamSupervisor, reason: str) -> None:
        """A supervisor gave up (called from its worker's task): fail the stream from a task
        of its own, kept until done."""
        task = asyncio.get_running_loop().create_task(self._failed(supervisor, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _failed(self, supervisor: StreamSupervisor, reason: str) -> None:
        """The stream's sources stop and it is marked failed, unless it changed meanwhile
        (paused, stopped, or started anew with another supervisor)."""
        name = supervisor.stream
        if self.supervisors.get(name) is not supervisor:
            return
        log.error("stream %s failed: %s", name, reason)
        self._failing.add(name)
        try:
            await self._halt(name)
            self._failed_supervisors[name] = supervisor
            try:
                marked = await asyncio.to_thread(
                    self.store.set_status, name, "failed", reason, expected="active"
                )
            except DnsmillError as error:
                log.error("cannot mark stream %s failed (%s)", name, error)
                marked = False
            if marked:
                self._statuses[name] = "failed"
                self._lifecycle(name, "stream_failed", reason=reason)
                metrics.COORDINATOR_FAILURES.labels(stream=name).inc()
        finally:
            self._failing.discard(name)
            self._nudged()
        self._touched()

    def _lifecycle(self, name: str, event: str, **data: Any) -> None:
        payload = {"stream": name, **data}
        self.bus.publish("coordinator", event, payload)
        self.bus.publish(f"stream.{name}", event, payload)
        log.info("%s %s", event, name)


def _shown(value: Any) -> Any:
    """Settings as shown: passwords in URLs (a NATS server's, a database's) hidden."""
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shown(item) for item in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        return redacted(value)
    return value


async def _notify(changed: asyncio.Condition) -> None:
    async with changed:
        changed.notify_all()
