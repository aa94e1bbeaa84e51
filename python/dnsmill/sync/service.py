"""``dnsmill sync`` as one asyncio program: the endpoint DirectAdmin pushes to, and the applier
writing queued pushes to the backends, over one durable queue.

A push is answered ``error=0`` once it is in the queue; the applier takes it from there, so a
slow backend never makes DirectAdmin wait. SIGTERM: the endpoint stops taking requests, the
pushes being applied finish, and the process exits 0; what is still queued is applied when the
service starts again (a push in flight when the process was killed comes back after its
lease).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from dnsmill._core import ConfigError
from dnsmill.config import SyncSettings
from dnsmill.sync.applier import Applier, ZoneBackend
from dnsmill.sync.backends.bind import BindBackend, BindSettings
from dnsmill.sync.endpoint import Endpoint, EndpointSettings
from dnsmill.sync.pushes import PushQueue

log = logging.getLogger("dnsmill.sync")


def backends_of(settings: SyncSettings) -> list[ZoneBackend]:
    backends: list[ZoneBackend] = []
    if settings.bind is not None:
        bind = settings.bind
        backends.append(
            BindBackend(
                BindSettings(
                    zones_dir=bind.zones_dir,
                    include_file=bind.include_file,
                    named_conf=bind.named_conf,
                    reconfig_command=tuple(bind.reconfig_command),
                    reload_command=tuple(bind.reload_command),
                )
            )
        )
    if not backends:
        raise ConfigError("sync: no backend is configured (sync.bind)")
    return backends


def listen_address(listen: str) -> tuple[str, int]:
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"sync.listen: {listen!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve_sync(
    settings: SyncSettings, stop: asyncio.Event, *, listening: Callable[[str], None] | None = None
) -> None:
    """Runs the sync service until ``stop`` is set; ``listening`` is told the address."""
    if not settings.user or not settings.password:
        raise ConfigError(
            "sync: set sync.user and sync.password (the credentials DirectAdmin is configured with); "
            "there are no defaults"
        )
    host, port = listen_address(settings.listen)
    backends = backends_of(settings)
    pushes = await asyncio.to_thread(PushQueue, settings.pushes)
    endpoint = Endpoint(
        EndpointSettings(
            user=settings.user,
            password=settings.password,
            hostname=settings.hostname,
            allowed_sources=settings.allowed_sources,
            trust_proxy=settings.trust_proxy,
            max_body=settings.max_body,
            allowed_suffixes=settings.allowed_suffixes,
            takeover=settings.takeover,
            legacy_parent_reply=settings.legacy_parent_reply,
        ),
        pushes,
    )
    runner = web.AppRunner(endpoint.application(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        address = "{}:{}".format(*runner.addresses[0][:2])
        log.info("sync: listening on %s; %d pushes waiting", address, await asyncio.to_thread(pushes.waiting))
        if listening is not None:
            listening(address)
        await Applier(pushes, backends).run(stop)
    finally:
        await runner.cleanup()
        await asyncio.to_thread(pushes.close)
