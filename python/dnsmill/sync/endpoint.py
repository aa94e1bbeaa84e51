"""The HTTP endpoint DirectAdmin pushes zones to (aiohttp): who may ask, and what it is told.

In order, for every request: the source address against the allowlist (403); failed logins from
that address in the last minute against the limit (429); Basic credentials compared in
constant time on bytes (401 with a challenge); the body against the size cap (413, before it is
read); then :func:`dnsmill.sync.protocol.parse` (400, 404, 405). A rawsave's zone is parsed by
the Rust parser (``$INCLUDE`` refused, ``$GENERATE`` capped, every owner inside the zone) and
queued as its canonical text, never as sent; ``error=0`` comes only once the push is durably
queued. A zone belongs to the DirectAdmin server and user that pushed it: a rawsave or delete
from another is refused with ``error=1`` unless ``takeover`` is on (for migrations).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import logging
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

import dnsmill
from dnsmill import metrics
from dnsmill.sync import protocol
from dnsmill.sync.protocol import BadRequest, Command, Delete, Exists, LoginTest, Ping, RawSave, reply
from dnsmill.sync.pushes import DELETE, SAVE, PushQueue

log = logging.getLogger("dnsmill.sync")

#: Records ``$GENERATE`` may make in one pushed zone.
MAX_GENERATED = 65_536


@dataclass
class EndpointSettings:
    """Who may push, and how much."""

    user: str
    password: str
    #: This server's name, in ``exists`` replies.
    hostname: str = "dnsmill"
    #: Networks DirectAdmin may connect from (empty: any).
    allowed_sources: Sequence[str] = ()
    #: Take the client address from X-Forwarded-For (only behind a proxy you run).
    trust_proxy: bool = False
    #: Largest request body, in bytes.
    max_body: int = 4 * 1024 * 1024
    #: Zones must be under one of these (empty: any).
    allowed_suffixes: Sequence[str] = ()
    #: Let a zone pushed by one DirectAdmin server or user be pushed or deleted by another.
    takeover: bool = False
    #: Answer a parent zone held here as older DirectAdmin versions expect (``exists=2``).
    legacy_parent_reply: bool = False
    #: Failed logins from one address per minute before it is refused outright.
    failed_logins_per_minute: int = 10
    _networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._networks = [ipaddress.ip_network(network, strict=False) for network in self.allowed_sources]


class Endpoint:
    """The request handling, over the push queue."""

    def __init__(self, settings: EndpointSettings, pushes: PushQueue) -> None:
        self.settings = settings
        self.pushes = pushes
        self._credentials = (settings.user.encode(), settings.password.encode())
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        # Threads of its own for the queue calls: DirectAdmin's requests never wait behind the
        # applier's file and database work.
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dnsmill-sync-endpoint")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body)
        # Health, without credentials and without a word about any zone.
        app.on_response_prepare.append(_plain_server_header)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/readyz", self.ready)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return answer(200, b"ok")

    async def metrics(self, request: web.Request) -> web.Response:
        """The Prometheus metrics (counts by backend and outcome; no zone is named), to the
        addresses the allowlist lets in."""
        if not self._allowed(self._source(request)):
            return answer(403, b"forbidden")
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def ready(self, request: web.Request) -> web.Response:
        try:
            waiting = await asyncio.to_thread(self.pushes.waiting)
        except Exception as error:  # the queue file is unreadable: not ready
            return answer(503, f"the push queue cannot be read: {error}".encode())
        return answer(200, f"ready; {waiting} pushes waiting".encode())

    def _source(self, request: web.Request) -> str:
        if self.settings.trust_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[-1].strip()
        return request.remote or ""

    def _allowed(self, source: str) -> bool:
        if not self.settings._networks:
            return True
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return False
        return any(address in network for network in self.settings._networks)

    def _throttled(self, source: str) -> bool:
        failures = self._failures[source]
        while failures and failures[0] < time.monotonic() - 60:
            failures.popleft()
        return len(failures) >= self.settings.failed_logins_per_minute

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        wanted_user, wanted_password = self._credentials
        # Both compared, always: the time taken says nothing about which one was wrong.
        user_ok = hmac.compare_digest(user, wanted_user)
        password_ok = hmac.compare_digest(password, wanted_password)
        return bool(colon) and user_ok and password_ok

    async def handle(self, request: web.Request) -> web.Response:
        source = self._source(request)
        if not self._allowed(source):
            return answer(403, reply(error=1, text="this address may not push zones"))
        if self._throttled(source):
            return answer(429, reply(error=1, text="too many failed logins; try again in a minute"))
        if not self._authenticated(request):
            self._failures[source].append(time.monotonic())
            log.warning("failed login from %s", source)
            response = answer(401, reply(error=1, text="wrong credentials"))
            response.headers["WWW-Authenticate"] = 'Basic realm="dnsmill sync"'
            return response
        if (request.content_length or 0) > self.settings.max_body:
            return answer(413, reply(error=1, text=f"the body is over {self.settings.max_body} bytes"))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return answer(413, reply(error=1, text=f"the body is over {self.settings.max_body} bytes"))
        try:
            command = protocol.parse(
                request.method,
                request.path,
                request.query_string,
                body,
                request.headers.get("Content-Type"),
                self.settings.allowed_suffixes,
            )
            return answer(200, await self.run(command))
        except BadRequest as error:
            return answer(error.status, protocol.refused(error))

    async def run(self, command: Command) -> bytes:
        """Carries out ``command``; returns the reply body (raises BadRequest to refuse)."""
        if isinstance(command, LoginTest):
            return reply(error=0, text="Login OK")
        if isinstance(command, Ping):
            return reply(error=0, text="OK")
        loop = asyncio.get_running_loop()
        if isinstance(command, Exists):
            return await loop.run_in_executor(self._executor, self._exists, command)
        if isinstance(command, RawSave):
            return await loop.run_in_executor(self._executor, self._save, command)
        return await loop.run_in_executor(self._executor, self._delete, command)

    def _exists(self, command: Exists) -> bytes:
        if self.pushes.owner(command.domain) is not None:
            return reply(error=0, exists=1, details=f"Domain exists on {self.settings.hostname}")
        if command.check_parent:
            labels = command.domain.split(".")
            for start in range(1, len(labels) - 1):  # every ancestor with two labels or more
                owner = self.pushes.owner(".".join(labels[start:]))
                if owner is None:
                    continue
                if self.settings.legacy_parent_reply:
                    return reply(
                        error=0, exists=2, details=f"Parent Domain exists on {self.settings.hostname}"
                    )
                return reply(error=0, exists=3, hostname=owner.hostname, username=owner.username)
        return reply(error=0, exists=0)

    def _check_owner(self, zone: str, hostname: str, username: str) -> None:
        owner = self.pushes.owner(zone)
        if owner is None or self.settings.takeover:
            return
        if owner.hostname != hostname or (username and owner.username != username):
            raise BadRequest(
                400,
                f"zone {zone} belongs to {owner.username} on {owner.hostname}, not {username or '?'} on "
                f"{hostname} (set takeover to move it)",
            )

    def _save(self, command: RawSave) -> bytes:
        self._check_owner(command.domain, command.hostname, command.username)
        origin = f"{command.domain}."
        try:
            zone = dnsmill.parse_zone(
                command.zone, origin, check=True, limits={"max_generate_total": MAX_GENERATED}
            )
        except dnsmill.ZoneSyntaxError as error:
            metrics.SYNC_PUSHES.labels("save", "refused").inc()
            raise BadRequest(400, f"zone {command.domain}: {error}") from None
        # Warnings refuse the push too: data out of the zone, or hidden below a delegation.
        if zone.warnings:
            metrics.SYNC_PUSHES.labels("save", "refused").inc()
            first = zone.warnings[0]
            raise BadRequest(
                400, f"zone {command.domain}: {first['line']}:{first['column']}: {first['message']}"
            )
        soa = zone.soa
        if soa is None or soa.name != origin:
            raise BadRequest(400, f"zone {command.domain}: no SOA record at its apex")
        queued = self.pushes.put(
            command.domain,
            SAVE,
            text=zone.to_text(),
            serial=soa.serial,
            hostname=command.hostname,
            username=command.username,
        )
        if not queued:
            metrics.SYNC_PUSHES.labels("save", "stale").inc()
            return reply(error=0, text=f"serial {soa.serial} is older than the zone's; kept the newer")
        metrics.SYNC_PUSHES.labels("save", "queued").inc()
        return reply(error=0)

    def _delete(self, command: Delete) -> bytes:
        for domain in command.domains:  # all checked before any is queued
            self._check_owner(domain, command.hostname, command.username)
        for domain in command.domains:
            if self.pushes.owner(domain) is not None:
                self.pushes.put(domain, DELETE, hostname=command.hostname, username=command.username)
                metrics.SYNC_PUSHES.labels("delete", "queued").inc()
        return reply(error=0)


async def _plain_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """No software versions for whoever connects."""
    response.headers["Server"] = "dnsmill"


def answer(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type="text/plain")
