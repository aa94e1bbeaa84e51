"""The coordinator's HTTP side: a JSON API for every control call and a live status page.

    GET  /                                   the status page
    GET  /api/streams[?version=N&wait=S]     every stream (long poll: answers when the view
                                             moves past version N, or after S seconds)
    GET  /api/streams/{name}                 one stream
    GET  /api/stats  /api/kinds              counts; the source kinds
    POST /api/streams                        {"name", "sources": [...]}: create
    POST /api/streams/{name}/sources         {"name", "kind", "config", "poll_interval", "restart"}
    DELETE /api/streams/{name}/sources/{source}
    POST /api/streams/{name}/start|pause|resume|stop
    DELETE /api/streams/{name}
    GET  /metrics  /health

Errors are ``{"error": "..."}``: 400 for a request that cannot be done, 404 for an unknown
stream, 401 without the token when ``coordinator.api_token`` is set (compared in constant time).
Changing requests must carry ``Content-Type: application/json`` (415 otherwise), and on a
loopback address the API answers only for loopback host names (403): a web page of another
site can make a browser send neither.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dnsmill._core import ConfigError, DnsmillError
from dnsmill.coordinator.core import Coordinator, UnknownStreamError
from dnsmill.coordinator.page import PAGE
from dnsmill.coordinator.sources import kinds

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Most bytes of a request body: stream and source definitions are small.
MAX_BODY = 1 << 20

#: Longest wait of a long poll, seconds.
MAX_WAIT = 60.0


def application(
    coordinator: Coordinator, *, api_token: str = "", listen: str = "127.0.0.1:8053"
) -> web.Application:
    """The aiohttp application serving ``coordinator`` on ``listen``."""
    app = web.Application(
        client_max_size=MAX_BODY, middlewares=[_errors, _same_origin(listen), _authorised(api_token)]
    )
    api = _Api(coordinator)
    app.router.add_get("/", api.page)
    app.router.add_get("/health", api.health)
    app.router.add_get("/metrics", api.metrics)
    app.router.add_get("/api/stats", api.stats)
    app.router.add_get("/api/kinds", api.kinds)
    app.router.add_get("/api/streams", api.streams)
    app.router.add_post("/api/streams", api.create)
    app.router.add_get("/api/streams/{name}", api.stream)
    app.router.add_delete("/api/streams/{name}", api.delete)
    app.router.add_post("/api/streams/{name}/sources", api.add_source)
    app.router.add_delete("/api/streams/{name}/sources/{source}", api.remove_source)
    app.router.add_post("/api/streams/{name}/{action:start|pause|resume|stop}", api.act)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except UnknownStreamError as error:
        return web.json_response({"error": str(error)}, status=404)
    except (ConfigError, ValueError) as error:
        return web.json_response({"error": str(error)}, status=400)
    except DnsmillError as error:
        return web.json_response({"error": str(error)}, status=503)


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def _same_origin(listen: str) -> Any:
    """Refuses what a web page of another site could make a browser send: a changing request
    without a JSON body (a form or a no-cors fetch cannot send one without asking first), and,
    on a loopback address, a request for another host name (DNS rebinding)."""
    host = listen.rpartition(":")[0].strip("[]")
    loopback = host in LOOPBACK_NAMES or host.startswith("127.")

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback and request.host.rpartition(":")[0].strip("[]") not in (*LOOPBACK_NAMES, host):
            return web.json_response({"error": f"this API answers for {listen} only"}, status=403)
        if request.method not in ("GET", "HEAD") and request.content_type != "application/json":
            return web.json_response(
                {"error": "send changing requests with Content-Type: application/json"}, status=415
            )
        return await handler(request)

    return check


def _authorised(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.method not in ("GET", "HEAD"):
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "send the API token as Authorization: Bearer ..."}, status=401
                )
        return await handler(request)

    return check


class _Api:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "running": (await self.coordinator.stats_async())["running"]})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(await self.coordinator.stats_async())

    async def kinds(self, request: web.Request) -> web.Response:
        return web.json_response({"kinds": kinds()})

    async def streams(self, request: web.Request) -> web.Response:
        coordinator = self.coordinator
        if "version" in request.query:
            wait = min(float(request.query.get("wait", "25")), MAX_WAIT)
            await coordinator.wait_for_change(int(request.query["version"]), wait)
        version = coordinator.version
        streams, stats = await asyncio.gather(coordinator.list_streams_async(), coordinator.stats_async())
        return web.json_response({"version": version, "streams": streams, "stats": stats})

    async def stream(self, request: web.Request) -> web.Response:
        return web.json_response(await self.coordinator.stream_status_async(request.match_info["name"]))

    async def create(self, request: web.Request) -> web.Response:
        body = await _json(request)
        status = await self.coordinator.create_stream_async(
            str(body.get("name", "")), body.get("sources") or []
        )
        return web.json_response(status, status=201)

    async def delete(self, request: web.Request) -> web.Response:
        await self.coordinator.delete_stream_async(request.match_info["name"])
        return web.json_response({"deleted": request.match_info["name"]})

    async def add_source(self, request: web.Request) -> web.Response:
        body = await _json(request)
        stream = request.match_info["name"]
        options = {key: body[key] for key in ("poll_interval", "restart") if key in body}
        await self.coordinator.add_source_async(
            stream, str(body.get("name", "")), str(body.get("kind", "")), body.get("config"), **options
        )
        return web.json_response(await self.coordinator.stream_status_async(stream), status=201)

    async def remove_source(self, request: web.Request) -> web.Response:
        stream = request.match_info["name"]
        await self.coordinator.remove_source_async(stream, request.match_info["source"])
        return web.json_response(await self.coordinator.stream_status_async(stream))

    async def act(self, request: web.Request) -> web.Response:
        name, action = request.match_info["name"], request.match_info["action"]
        call = {
            "start": self.coordinator.start_stream_async,
            "pause": self.coordinator.pause_stream_async,
            "resume": self.coordinator.resume_stream_async,
            "stop": self.coordinator.stop_stream_async,
        }[action]
        return web.json_response(await call(name))


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError as error:
        raise ConfigError(f"the request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object")
    return body


async def serve_http(app: web.Application, listen: str) -> web.AppRunner:
    """Starts ``app`` on ``listen`` (HOST:PORT); returns the runner to clean up."""
    host, _, port = listen.rpartition(":")
    # Long polls in flight get a moment to answer (the coordinator wakes them as it stops).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port))
    await site.start()
    return runner
