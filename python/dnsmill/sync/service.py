"""``dnsmill sync`` as one asyncio program: the endpoint DirectAdmin pushes to, and the applier
writing queued pushes to the backends, over one durable queue.

A push is answered ``error=0`` once it is in the queue; the applier takes it from there, so a
slow backend never makes DirectAdmin wait. Beside them, the reconciler compares every backend
with every zone every ``reconcile_every``. SIGTERM: the endpoint stops taking requests, the
pushes being applied finish, and the process exits 0; what is still queued is applied when the
service starts again (a push in flight when the process was killed comes back after its
lease).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import IO

from aiohttp import web

from dnsmill._core import ConfigError
from dnsmill.config import SyncSettings
from dnsmill.sync.applier import Applier, ZoneBackend, ZoneLocks
from dnsmill.sync.backends.bind import BindBackend, BindSettings
from dnsmill.sync.backends.sql import (
    CoreDnsCloud66Layout,
    CoreDnsExtendLayout,
    Database,
    PowerDnsLayout,
    SqlBackend,
)
from dnsmill.sync.endpoint import Endpoint, EndpointSettings
from dnsmill.sync.pushes import PushQueue
from dnsmill.sync.reconciler import Reconciled, Reconciler

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
    try:
        if settings.coredns_mysql is not None:
            coredns = settings.coredns_mysql
            layout: CoreDnsExtendLayout | CoreDnsCloud66Layout = (
                CoreDnsExtendLayout(coredns.zones_table, coredns.records_table or "records")
                if coredns.layout == "extend"
                else CoreDnsCloud66Layout(coredns.records_table or "coredns_records")
            )
            backends.append(SqlBackend(Database(coredns.url, connections=coredns.connections), layout))
        if settings.powerdns is not None:
            powerdns = settings.powerdns
            backends.append(
                SqlBackend(
                    Database(powerdns.url, connections=powerdns.connections),
                    PowerDnsLayout(powerdns.domain_type),
                )
            )
    except ValueError as error:
        raise ConfigError(f"sync: {error}") from None
    if not backends:
        raise ConfigError("sync: no backend is configured (sync.bind, sync.coredns_mysql, sync.powerdns)")
    return backends


def _only_service_of(pushes: Path) -> IO[bytes]:
    """Locks the queue file's lock file for this process (released when it exits, however it
    exits): one sync service applies a queue's pushes, so the leases it finds when it starts
    are a dead process's."""
    handle = open(f"{pushes}.lock", "ab")  # held for the service's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"sync: another dnsmill sync is running on {pushes}") from None
    return handle


def tls_context(settings: SyncSettings) -> ssl.SSLContext | None:
    """The TLS settings of the endpoint (TLS 1.2 at least), or None for plain HTTP."""
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ConfigError("sync: set both tls_cert and tls_key, or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"sync: cannot load tls_cert {settings.tls_cert} and tls_key {settings.tls_key}: {error}"
        ) from None
    return context


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
    tls = tls_context(settings)
    backends = backends_of(settings)
    lock = _only_service_of(settings.pushes)
    pushes = await asyncio.to_thread(PushQueue, settings.pushes)
    released = await asyncio.to_thread(pushes.release_leases)
    if released:
        log.info(
            "sync: %d pushes were being applied when the service last stopped; applying them again", released
        )
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
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
        address = "{}:{}".format(*runner.addresses[0][:2])
        log.info("sync: listening on %s; %d pushes waiting", address, await asyncio.to_thread(pushes.waiting))
        if listening is not None:
            listening(address)
        locks = ZoneLocks()
        applier = Applier(
            pushes, backends, backend_timeout=settings.backend_timeout.total_seconds(), locks=locks
        )
        applying = asyncio.create_task(applier.run(stop), name="sync applier")
        reconciling = None
        if settings.reconcile_every is not None:
            reconciler = Reconciler(
                pushes,
                backends,
                dry_run=settings.reconcile_dry_run,
                max_deletions=settings.reconcile_max_deletions,
                locks=locks,
            )
            every = settings.reconcile_every.total_seconds()
            reconciling = asyncio.create_task(reconciler.run(stop, every), name="sync reconciler")
        try:
            # The applier finishes the batch in hand once stop is set; a reconcile run is
            # cancelled (the next start compares everything again).
            await applying
        finally:
            for task in (applying, reconciling):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
    finally:
        await runner.cleanup()
        await asyncio.to_thread(endpoint.close)
        for backend in backends:
            await backend.close()
        await asyncio.to_thread(pushes.close)
        lock.close()


async def reconcile_sync(settings: SyncSettings, *, dry_run: bool | None = None) -> Reconciled:
    """One reconcile run over every configured backend. A dry run may run beside the service;
    a run that repairs may not (the service's own reconciler does that, in step with its
    applier), and says so."""
    dry_run = settings.reconcile_dry_run if dry_run is None else dry_run
    backends = backends_of(settings)
    lock = None
    if not dry_run:
        try:
            lock = _only_service_of(settings.pushes)
        except ConfigError:
            raise ConfigError(
                f"sync: dnsmill sync is running on {settings.pushes}; its reconciler repairs every "
                "reconcile_every (look with --dry-run, or stop the service to repair now)"
            ) from None
    pushes = await asyncio.to_thread(PushQueue, settings.pushes)
    try:
        reconciler = Reconciler(
            pushes,
            backends,
            dry_run=dry_run,
            max_deletions=settings.reconcile_max_deletions,
        )
        return await reconciler.run_once()
    finally:
        for backend in backends:
            await backend.close()
        await asyncio.to_thread(pushes.close)
        if lock is not None:
            lock.close()
