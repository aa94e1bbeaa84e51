"""The built-in authoritative server, from Python: ``dnsmill.serve(...)``.

    with dnsmill.serve("sqlite://dnsmill.db", listen="127.0.0.1:0") as server:
        print(server.address)          # answers on UDP and TCP until the block ends

It answers from the records of a store (every SOA owner is a zone) or from a directory of
``*.zone`` files, and picks up new records by itself: when the seeder in the same process
announces ``dns_records_seeded``, and by polling the source every ``poll`` seconds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dnsmill import _core, events

log = logging.getLogger("dnsmill.server")


class Server:
    """A running server: ``address``, ``port``, ``stats``, ``reload()``, ``stop()``."""

    def __init__(self, core: _core.Server, subscription: events.Subscription | None) -> None:
        self._core = core
        self._subscription = subscription

    @property
    def address(self) -> str:
        return self._core.address

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def running(self) -> bool:
        return self._core.running

    @property
    def stats(self) -> dict[str, Any]:
        """Zones and records served, records skipped (with the first reasons), loads so far."""
        return self._core.stats

    def reload(self) -> dict[str, Any]:
        """Loads the records again now; returns ``stats``."""
        return self._core.reload()

    def stop(self) -> None:
        """Stops answering; returns once the sockets are closed."""
        if self._subscription is not None:
            self._subscription.close()
        self._core.stop()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server({self.address!r})"


def serve(
    db: str | None = None,
    *,
    zones: str | os.PathLike[str] | None = None,
    listen: str = "127.0.0.1:5353",
    table: str = "dns_records",
    poll: float | None = 10.0,
    reload_on_events: bool = True,
    bus: events.EventBus | None = None,
) -> Server:
    """Starts answering for the records of ``db`` (its ``table``) or of the zone files in
    ``zones`` on ``listen`` (``IP:0`` picks a free port). Raises :class:`dnsmill.ServeError`
    when the records cannot be read or the address cannot be bound."""
    core = _core.serve(db, zones=zones, listen=listen, table=table, poll=poll)
    subscription = None
    if reload_on_events:

        def seeded(_event: events.Event) -> None:
            try:
                core.reload_if_changed()
            except Exception:
                log.exception("reloading after seeding failed")

        subscription = (bus or events.bus).subscribe("seeder", callback=seeded, maxsize=4)
    return Server(core, subscription)


class ServerCollector(Collector):
    """The built-in server's figures, read from it at each scrape (its counters live in Rust,
    where the queries are answered)."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        stats = self._server.stats
        yield CounterMetricFamily(
            "dnsmill_server_udp_queries", "UDP queries the server received.", value=stats["udp_queries"]
        )
        yield CounterMetricFamily(
            "dnsmill_server_udp_cached_answers",
            "UDP queries answered from the answer cache.",
            value=stats["udp_cached"],
        )
        yield CounterMetricFamily(
            "dnsmill_server_loads", "Loads of the served records.", value=stats["loads"]
        )
        yield GaugeMetricFamily("dnsmill_server_zones", "Zones served.", value=stats["zones"])
        yield GaugeMetricFamily("dnsmill_server_records", "Records served.", value=stats["records"])
        yield GaugeMetricFamily(
            "dnsmill_server_skipped_records",
            "Records not served (under no SOA, or unreadable).",
            value=stats["skipped"],
        )


def watch_server(server: Server, registry: CollectorRegistry = REGISTRY) -> Callable[[], None]:
    """Adds ``server``'s figures to ``registry``; returns the call that takes them out again."""
    collector = ServerCollector(server)
    registry.register(collector)
    return lambda: registry.unregister(collector)
