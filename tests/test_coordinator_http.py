"""The coordinator's JSON API over real HTTP, and its status page in a real headless Chromium
(Debian's chromium, driven by Playwright): a started, a paused and a failed stream shown, and
the pause button pausing one."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dnsmill.coordinator import Coordinator, Intensity
from dnsmill.coordinator.http import application, serve_http
from dnsmill.events import EventBus
from dnsservers import free_port
from stores import REQUIRE

ZONE = "@ 300 IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\nwww 300 IN A 192.0.2.1\n"


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    directory = tmp_path / "zones"
    directory.mkdir()
    (directory / "a.example.zone").write_text(ZONE)
    return directory


def test_the_api_does_every_control_call_and_answers_errors_plainly(tmp_path: Path, zones: Path) -> None:
    async def scenario() -> None:
        coordinator = Coordinator(
            f"sqlite://{tmp_path / 'api.db'}",
            intensity=Intensity(max_restarts=1, backoff=0.01, max_backoff=0.01),
            refresh=0.1,
            bus=EventBus(),
        )
        port = free_port()
        runner = await serve_http(application(coordinator, api_token="s3cret"), f"127.0.0.1:{port}")
        stop = asyncio.Event()
        running = asyncio.create_task(coordinator.run(stop))
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": "Bearer s3cret"}
        try:
            async with aiohttp.ClientSession() as http:

                async def call(method: str, path: str, **options: Any) -> tuple[int, Any]:
                    async with http.request(method, base + path, **options) as response:
                        return response.status, await response.json()

                status, body = await call("POST", "/api/streams", json={"name": "lab"})
                assert status == 401 and "Authorization: Bearer" in body["error"]
                # What a page of another site can make a browser send: refused, token or not.
                status, body = await call(
                    "POST",
                    "/api/streams",
                    data='{"name": "lab"}',
                    headers={**auth, "Content-Type": "text/plain"},
                )
                assert status == 415 and "application/json" in body["error"]
                status, body = await call("GET", "/api/streams", headers={"Host": "rebound.example:80"})
                assert status == 403
                status, body = await call("POST", "/api/streams", json={"name": "lab"}, headers=auth)
                assert status == 201 and body["status"] == "pending"
                source = {
                    "name": "dir",
                    "kind": "zone_directory",
                    "config": {"path": str(zones)},
                    "poll_interval": 5,
                }
                status, body = await call("POST", "/api/streams/lab/sources", json=source, headers=auth)
                assert status == 201 and body["sources"][0]["config"]["path"] == str(zones)
                bad = {"name": "feed", "kind": "rss"}
                status, body = await call("POST", "/api/streams/lab/sources", json=bad, headers=auth)
                assert status == 400 and "unknown source kind 'rss' (known: " in body["error"]
                status, body = await call("POST", "/api/streams/nope/start", json={}, headers=auth)
                assert status == 404 and body["error"] == "no stream named 'nope'"
                status, body = await call("POST", "/api/streams/lab/start", json={}, headers=auth)
                assert status == 200 and body["status"] == "active"
                deadline = time.monotonic() + 10
                while True:
                    status, body = await call("GET", "/api/streams/lab")
                    source_status = body["sources"][0]
                    if source_status["state"] == "running" and source_status["events"] == 2:
                        break
                    assert time.monotonic() < deadline, body
                    await asyncio.sleep(0.05)
                assert "records_changed: zone a.example." in source_status["last_event"]
                # A long poll answers when something changes.
                _, listing = await call("GET", "/api/streams")
                waiting = asyncio.create_task(
                    call("GET", f"/api/streams?version={listing['version']}&wait=20")
                )
                await asyncio.sleep(0.2)
                assert not waiting.done()
                status, body = await call("POST", "/api/streams/lab/pause", json={}, headers=auth)
                assert status == 200 and body["status"] == "paused"
                _, moved = await asyncio.wait_for(waiting, 5)
                assert moved["version"] > listing["version"]
                status, body = await call("POST", "/api/streams/lab/pause", json={}, headers=auth)
                assert (status == 400 and "is paused" not in body["error"]) or status == 200
                status, stats = await call("GET", "/api/stats")
                assert stats["paused"] == 1 and stats["streams"] == 1
                status, body = await call("GET", "/api/kinds")
                assert "zone_transfer" in body["kinds"]
                status, body = await call("DELETE", "/api/streams/lab/sources/dir", json={}, headers=auth)
                assert status == 200 and body["sources"] == []
                status, body = await call("DELETE", "/api/streams/lab", json={}, headers=auth)
                assert status == 200
                async with http.get(base + "/metrics") as response:
                    assert "dnsmill_coordinator_workers" in await response.text()
        finally:
            stop.set()
            await running
            await runner.cleanup()

    asyncio.run(scenario())


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (scripts/test installs Debian's chromium)"
        if REQUIRE:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def coordinator_process(tmp_path: Path, zones: Path) -> Iterator[tuple[str, str]]:
    db = f"sqlite://{tmp_path / 'page.db'}"
    coordinator = Coordinator(db, bus=EventBus())
    coordinator.create_stream(
        "good", [{"name": "dir", "kind": "zone_directory", "config": {"path": str(zones)}}]
    )
    coordinator.create_stream(
        "resting", [{"name": "dir2", "kind": "zone_directory", "config": {"path": str(zones)}}]
    )
    coordinator.create_stream(
        "broken", [{"name": "gone", "kind": "zone_directory", "config": {"path": str(tmp_path / "missing")}}]
    )
    for name in ("good", "resting", "broken"):
        coordinator.start_stream(name)
    coordinator.pause_stream("resting")
    coordinator.store.close()
    port = free_port()
    environment = {
        **os.environ,
        "DNSMILL_COORDINATOR__MAX_RESTARTS": "2",
        "DNSMILL_COORDINATOR__BACKOFF": "50ms",
        "DNSMILL_COORDINATOR__MAX_BACKOFF": "100ms",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dnsmill", "coordinate", "--db", db, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        yield f"http://127.0.0.1:{port}/", db
    finally:
        process.terminate()
        assert process.wait(20) == 0


def test_the_status_page_shows_started_paused_and_failed_streams_and_its_pause_button_works(
    coordinator_process: tuple[str, str],
) -> None:
    executable = chromium()
    try:
        from playwright import sync_api
    except ImportError:
        message = "playwright is not installed (scripts/test installs it with the test extras)"
        if REQUIRE:
            pytest.fail(message)
        pytest.skip(message)
    url, db = coordinator_process
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            deadline = time.monotonic() + 20
            while True:
                try:
                    page.goto(url)
                    break
                except sync_api.Error:
                    assert time.monotonic() < deadline, "the status page never answered"
                    time.sleep(0.2)
            good = page.locator('section[data-stream="good"]')
            sync_api.expect(good).to_have_attribute("data-status", "active", timeout=15000)
            sync_api.expect(good.locator('tr[data-source="dir"]')).to_contain_text("running")
            sync_api.expect(good.locator('tr[data-source="dir"]')).to_contain_text("records_changed")
            sync_api.expect(page.locator('section[data-stream="resting"]')).to_have_attribute(
                "data-status", "paused"
            )
            broken = page.locator('section[data-stream="broken"]')
            sync_api.expect(broken).to_have_attribute("data-status", "failed", timeout=15000)
            sync_api.expect(broken.locator(".reason")).to_contain_text(
                "source gone (zone_directory) was restarted more than 2 times"
            )
            sync_api.expect(broken.locator(".reason")).to_contain_text("no such directory")
            sync_api.expect(page.locator("#summary")).to_contain_text("1 active, 1 paused, 1 failed")
            good.locator('button[data-action="pause"]').click()
            sync_api.expect(good).to_have_attribute("data-status", "paused", timeout=10000)
            sync_api.expect(good.locator('tr[data-source="dir"]')).to_contain_text("stopped", timeout=10000)
        finally:
            browser.close()
    assert Coordinator(db, bus=EventBus()).stream_status("good")["status"] == "paused"
