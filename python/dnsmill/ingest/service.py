"""``dnsmill ingest`` as a service: the settings made into the Rust writer, its counters made
into Prometheus metrics and bus events, and the stop event wired to its drain."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dnsmill import _core, metrics
from dnsmill._core import ConfigError
from dnsmill.events import EventBus
from dnsmill.events import bus as default_bus
from dnsmill.ingest.processors import batch_caller, registered

if TYPE_CHECKING:  # dnsmill.config imports this package's subjects module
    from dnsmill.config import IngestSettings

log = logging.getLogger("dnsmill.ingest")

#: The table each built-in processor writes unless its route names another.
DEFAULT_TABLES = {"records": "dns_records", "results": "dns_records", "events": "dns_events"}

#: How often the counters become metrics and events.
REPORT_EVERY = 2.0


def import_processor_modules(modules: Iterable[str]) -> None:
    """Imports the modules that register processors (their ``@processor`` decorators run)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"ingest.processor_modules: cannot import {module}: {error}") from error


def build_ingest(settings: IngestSettings, db: str) -> _core.Ingest:
    """The Rust writer for ``settings``, writing to ``settings.db`` or else ``db``."""
    import_processor_modules(settings.processor_modules)
    custom = registered()
    processors: dict[str, tuple[Any, str]] = {}
    routes = []
    for route in settings.routes:
        table = route.table
        if route.processor in custom:
            function, writes = custom[route.processor]
            processors[route.processor] = (batch_caller(function, writes), writes)
            table = table or DEFAULT_TABLES[writes]
        elif route.processor in DEFAULT_TABLES:
            table = table or DEFAULT_TABLES[route.processor]
        else:
            known = ", ".join([*DEFAULT_TABLES, *custom])
            raise ConfigError(
                f"ingest route {route.subject}: no processor is called {route.processor!r} (known: {known}); "
                "a processor of your own is registered with @dnsmill.ingest.processor in a module "
                "listed in ingest.processor_modules"
            )
        routes.append(
            {
                "subject": route.subject,
                "processor": route.processor,
                "table": table,
                "batch_size": route.batch_size,
                "batch_timeout": route.batch_timeout.total_seconds(),
            }
        )
    streams = [
        {
            "name": stream.name,
            "subjects": list(stream.subjects),
            "durable": stream.durable,
            "dead_letter_subject": stream.dead_letter_subject or f"{stream.name}.DLQ",
            "max_deliver": stream.max_deliver,
            "ack_wait": stream.ack_wait.total_seconds(),
        }
        for stream in settings.streams
    ]
    if not streams or not routes:
        raise ConfigError(
            "ingest: configure at least one stream (ingest.streams) and one route (ingest.routes); "
            "see the README's event writer section"
        )
    return _core.Ingest(
        settings.nats,
        settings.db or db,
        streams,
        routes,
        processors,
        connections_per_route=settings.connections_per_route,
    )


class Telemetry:
    """Turns the writer's counters into Prometheus metrics and ``ingest`` bus events."""

    def __init__(self, bus: EventBus | None = None) -> None:
        self._bus = bus if bus is not None else default_bus
        self._last: dict[str, dict[str, float]] = {}
        self._breaker_open = False

    def _moved(self, key: str, counters: Mapping[str, float], names: Iterable[str]) -> dict[str, float]:
        """The counters of ``names`` that grew since the last report under ``key``, by how much."""
        last = self._last.setdefault(key, {})
        moved = {}
        for name in names:
            delta = counters[name] - last.get(name, 0)
            last[name] = counters[name]
            if delta > 0:
                moved[name] = delta
        return moved

    def report(self, stats: Mapping[str, Any]) -> None:
        batches: dict[str, dict[str, float]] = {}
        for route, counters in stats["routes"].items():
            moved = self._moved(f"route:{route}", counters, metrics.INGEST_ROUTE)
            for name, delta in moved.items():
                metrics.INGEST_ROUTE[name].labels(route=route).inc(delta)
            if moved:
                batches[route] = moved
        for stream, counters in stats["streams"].items():
            metrics.INGEST_LAG.labels(stream=stream).set(counters["lag"])
            for name, delta in self._moved(f"stream:{stream}", counters, metrics.INGEST_STREAM).items():
                metrics.INGEST_STREAM[name].labels(stream=stream).inc(delta)
        breaker = stats["breaker"]
        is_open = breaker["state"] == "open"
        metrics.INGEST_BREAKER_OPEN.set(1 if is_open else 0)
        if is_open != self._breaker_open:
            self._breaker_open = is_open
            name = "breaker_opened" if is_open else "breaker_closed"
            self._bus.publish("ingest", name, {"last_error": breaker["last_error"]})
        if batches:
            self._bus.publish("ingest", "batches", {"routes": batches})


async def serve_ingest(
    settings: IngestSettings,
    db: str,
    stop: asyncio.Event,
    *,
    bus: EventBus | None = None,
    report_every: float = REPORT_EVERY,
    ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Runs the event writer until ``stop`` is set, then drains (the batches in hand are
    written and acked); returns its final counters. ``ready`` is called once every stream is
    being read."""
    ingest = build_ingest(settings, db)
    telemetry = Telemetry(bus)
    # The blocking run on a thread of the loop's executor, not run_async(): a coroutine's
    # result arrives from a runtime thread that calls into the interpreter, and a process that
    # exits right after (as this command does) can catch that thread inside the interpreter
    # while it shuts down, which aborts. The executor's thread is joined before the loop closes.
    running = asyncio.ensure_future(asyncio.to_thread(ingest.run))
    bus_ = bus if bus is not None else default_bus
    stopping = asyncio.ensure_future(stop.wait())
    announced = False
    failure: BaseException | None = None
    try:
        while not running.done():
            await asyncio.wait(
                {running, stopping},
                timeout=0.2 if not announced else report_every,
                return_when=asyncio.FIRST_COMPLETED,
            )
            stats = ingest.stats()
            if stats["running"] and not announced:
                announced = True
                log.info("ingest: reading %s", ", ".join(s.name for s in settings.streams))
                bus_.publish("ingest", "started", {"streams": [s.name for s in settings.streams]})
                if ready is not None:
                    ready()
            telemetry.report(stats)
            if stopping.done() and not running.done():
                log.info("ingest: stopping; writing the batches in hand")
                ingest.stop()
                await asyncio.wait({running})
        await running  # its error, if it failed
    except BaseException as error:
        failure = error
        raise
    finally:
        stopping.cancel()
        if not running.done():  # cancelled (a second signal): the drain goes on in its thread
            ingest.stop()
        final = ingest.stats()
        telemetry.report(final)
        bus_.publish("ingest", "stopped", {"error": None if failure is None else str(failure)})
    return final
