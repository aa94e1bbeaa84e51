"""``dnsmill coordinate`` as a service: the coordinator from the settings, its HTTP API and
status page, and the stop event wired to stopping every source."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from dnsmill.config import CoordinatorSettings
from dnsmill.coordinator.core import Coordinator
from dnsmill.coordinator.http import application, serve_http
from dnsmill.coordinator.supervisor import Intensity

log = logging.getLogger("dnsmill.coordinator")


def build_coordinator(settings: CoordinatorSettings, db: str) -> Coordinator:
    """The coordinator of ``settings`` over ``settings.db`` or else ``db``."""
    intensity = Intensity(
        max_restarts=settings.max_restarts,
        max_seconds=settings.max_seconds.total_seconds(),
        backoff=settings.backoff.total_seconds(),
        max_backoff=settings.max_backoff.total_seconds(),
    )
    return Coordinator(
        settings.db or db,
        intensity=intensity,
        refresh=settings.refresh.total_seconds(),
        events_table=settings.events_table,
    )


async def serve_coordinator(
    settings: CoordinatorSettings,
    db: str,
    stop: asyncio.Event,
    *,
    ready: Callable[[str | None], None] | None = None,
) -> dict[str, Any]:
    """Runs the coordinator (and its API on ``settings.listen``) until ``stop`` is set;
    returns its final :meth:`~Coordinator.stats`."""
    coordinator = await asyncio.to_thread(build_coordinator, settings, db)
    runner = None
    if settings.listen:
        runner = await serve_http(
            application(coordinator, api_token=settings.api_token, listen=settings.listen), settings.listen
        )
    try:
        if ready is not None:
            ready(settings.listen)
        await coordinator.run(stop)
        return await coordinator.stats_async()
    finally:
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(coordinator.store.close)
