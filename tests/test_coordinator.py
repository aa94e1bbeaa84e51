"""The coordinator: streams of supervised sources over a real store, real zone files, a real
BIND primary for transfers, and a real `dnsmill coordinate` process killed with SIGKILL."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import dnsmill
import pytest
from conftest import require_tool
from dnsmill.coordinator import Coordinator, Intensity, SourceConfig, SourceContext, register
from dnsmill.events import EventBus
from dnsservers import free_port
from stores import admin

FAST = Intensity(max_restarts=3, max_seconds=30, backoff=0.05, max_backoff=0.2)

ZONE = """$ORIGIN {zone}
@ 300 IN SOA ns1.example.net. hostmaster.example.net. {serial} 3600 600 86400 300
@ 300 IN NS ns1.example.net.
{body}"""


def zone_text(zone: str, serial: int, *addresses: str) -> str:
    body = "".join(f"host{i} 300 IN A {address}\n" for i, address in enumerate(addresses))
    return ZONE.format(zone=zone, serial=serial, body=body)


def events(db: str, table: str = "dns_events") -> list[tuple[str, str, str]]:
    """(type, subject, record line) of every event in the table, sorted."""
    rows = admin(db, f"SELECT type, subject, data FROM {table}")
    found = []
    for line in rows.splitlines():
        kind, subject, data = line.split(" ", 2)
        record = json.loads(data).get("record")
        shown = f"{record['name']} {record['type']} {record['rdata']}" if record else data
        found.append((kind, subject, shown))
    return sorted(found)


async def until(
    check: Callable[[], Any], timeout: float = 15.0, show: Callable[[], Any] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out: {show() if show else ''}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running(coordinator: Coordinator) -> AsyncIterator[Coordinator]:
    stop = asyncio.Event()
    task = asyncio.create_task(coordinator.run(stop))
    try:
        yield coordinator
    finally:
        stop.set()
        await task


def drained(subscription: Any) -> list[Any]:
    """The events a subscription holds now (iterating one waits for more)."""
    held = []
    while (event := subscription.get_nowait()) is not None:
        held.append(event)
    return held


def source_states(coordinator: Coordinator, stream: str) -> dict[str, dict[str, Any]]:
    return {source["name"]: source for source in coordinator.stream_status(stream)["sources"]}


def run_async(test: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine test run in an event loop of its own."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return wrapper


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'coordinator.db'}"


class CrashConfig(SourceConfig):
    message: str = "boom"


@register
class AlwaysCrashes:
    """A source that dies as soon as it starts."""

    kind = "test_crash"
    Config = CrashConfig

    def __init__(self, context: SourceContext, config: CrashConfig) -> None:
        self.message = config.message

    async def run(self) -> None:
        raise RuntimeError(self.message)


def test_the_model_keeps_streams_sources_and_checkpoints_in_every_store(store: str, tmp_path: Path) -> None:
    coordinator = Coordinator(store, bus=EventBus())
    coordinator.create_stream(
        "zones", [{"name": "lab", "kind": "zone_directory", "config": {"path": str(tmp_path)}}]
    )
    with pytest.raises(dnsmill.ConfigError, match="exists"):
        coordinator.create_stream("zones")
    with pytest.raises(dnsmill.ConfigError, match=r"unknown source kind 'rss' \(known: .*zone_directory"):
        coordinator.add_source("zones", "feed", "rss", {})
    with pytest.raises(dnsmill.ConfigError, match="zone_transfer source settings: primary: Field required"):
        coordinator.add_source("zones", "xfr", "zone_transfer", {"zones": ["example.com"]})
    with pytest.raises(dnsmill.ConfigError, match="no stream named 'nope'"):
        coordinator.start_stream("nope")
    assert coordinator.stream_status("zones")["status"] == "pending"
    with pytest.raises(dnsmill.ConfigError, match="is pending: only a active or paused stream can pause"):
        coordinator.pause_stream("zones")
    store_ = coordinator.store
    store_.save_checkpoints("zones", "lab", [("a.zone", "fp1", "state"), ("b.zone", "fp2", None)])
    assert coordinator.start_stream("zones")["status"] == "active"
    assert coordinator.pause_stream("zones")["status"] == "paused"
    assert store_.checkpoints("zones", "lab") == [("a.zone", "fp1", "state"), ("b.zone", "fp2", None)]
    assert coordinator.resume_stream("zones")["status"] == "active"
    store_.save_checkpoints("zones", "lab", [("a.zone", "fp3", "new")], ["b.zone"])
    assert store_.checkpoints("zones", "lab") == [("a.zone", "fp3", "new")]
    # A change and the checkpoint after it: one transaction, in every store.
    before = dnsmill.parse_zone(zone_text("a.example.", 1, "192.0.2.1").encode(), origin="a.example.")
    after = dnsmill.parse_zone(zone_text("a.example.", 2, "192.0.2.2").encode(), origin="a.example.")
    added, removed = after.diff(before)
    transferred = ("a.example.", "2:2", "dnsmill.zone.transferred", '{"serial": 2}', "")
    written = store_.write_changes(
        "zones",
        "lab",
        [("a.example.", "2:2", added, removed)],
        [("a.zone", "2:2", "text")],
        events=[transferred],
    )
    assert written == {"records": 2, "events": 5}
    store_.write_changes("zones", "lab", [("a.example.", "2:2", added, removed)], [("a.zone", "2:2", "text")])
    assert admin(store, "SELECT COUNT(*) FROM dns_events") == "5"  # written twice, stored once
    assert ("a.zone", "2:2", "text") in store_.checkpoints("zones", "lab")
    revision = store_.revision()
    assert coordinator.stop_stream("zones")["status"] == "stopped"
    assert store_.revision() != revision
    assert store_.checkpoints("zones", "lab") == []
    # A write that ends after the stream stopped saves no checkpoint.
    store_.write_changes("zones", "lab", [("a.example.", "3:3", removed, added)], [("a.zone", "3:3", None)])
    assert store_.checkpoints("zones", "lab") == []
    assert not store_.set_status("zones", "failed", "late", expected="active")
    assert coordinator.stream_status("zones")["status"] == "stopped"
    assert coordinator.stats() | {"running": False} == {
        "streams": 1,
        "pending": 0,
        "active": 0,
        "paused": 0,
        "stopped": 1,
        "failed": 0,
        "workers": 0,
        "restarts": 0,
        "running": False,
    }
    coordinator.delete_stream("zones")
    assert coordinator.list_streams() == []
    coordinator.store.close()


@run_async
async def test_start_pause_resume_and_stop_run_the_sources_from_their_checkpoints(
    db: str, tmp_path: Path
) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "a.example.zone").write_text(zone_text("a.example.", 1, "192.0.2.1"))
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=EventBus())
    coordinator.create_stream(
        "lab", [{"name": "dir", "kind": "zone_directory", "config": {"path": str(zones)}}]
    )
    coordinator.start_stream("lab")
    async with running(coordinator):
        await until(lambda: len(events(db)) == 3)  # SOA, NS, A
        await coordinator.pause_stream_async("lab")
        await until(lambda: source_states(coordinator, "lab")["dir"]["state"] == "stopped")
        # Changed while paused: nothing is read until the stream resumes, then only the change.
        (zones / "a.example.zone").write_text(zone_text("a.example.", 1, "192.0.2.1", "192.0.2.2"))
        await asyncio.sleep(0.5)
        assert len(events(db)) == 3
        assert [point[0] for point in coordinator.store.checkpoints("lab", "dir")] == ["a.example.zone"]
        await coordinator.resume_stream_async("lab")
        await until(lambda: len(events(db)) == 4)
        assert ("dnsmill.record.added", "a.example.", "host1.a.example. A 192.0.2.2") in events(db)
        # Stopped: the checkpoints go, so the next start reads every file as new, from its
        # first generation: each of its four records is added again.
        await coordinator.stop_stream_async("lab")
        await until(lambda: source_states(coordinator, "lab")["dir"]["state"] == "stopped")
        assert coordinator.store.checkpoints("lab", "dir") == []
        await coordinator.start_stream_async("lab")
        await until(lambda: coordinator.store.checkpoints("lab", "dir") != [])
        await until(lambda: len(events(db)) == 4 + 4)
        # Stopped and started again by another process between two looks: the workers
        # begin anew all the same (the stop started a new epoch).
        began = source_states(coordinator, "lab")["dir"]["started_at"]
        elsewhere = Coordinator(db, bus=EventBus())
        elsewhere.stop_stream("lab")
        elsewhere.start_stream("lab")
        elsewhere.store.close()
        await until(lambda: (source_states(coordinator, "lab")["dir"]["started_at"] or 0) > began)
        await until(lambda: coordinator.store.checkpoints("lab", "dir") != [])
    assert coordinator.stats()["workers"] == 0


@run_async
async def test_a_source_that_always_crashes_fails_its_stream_and_the_others_go_on(
    db: str, tmp_path: Path
) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "a.example.zone").write_text(zone_text("a.example.", 1, "192.0.2.1"))
    bus = EventBus()
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=bus)
    coordinator.create_stream(
        "broken", [{"name": "crash", "kind": "test_crash", "config": {"message": "disk on fire"}}]
    )
    coordinator.create_stream(
        "good", [{"name": "dir", "kind": "zone_directory", "config": {"path": str(zones)}}]
    )
    with bus.subscribe("coordinator") as lifecycle:
        coordinator.start_stream("broken")
        coordinator.start_stream("good")
        started = time.monotonic()
        async with running(coordinator):
            await until(lambda: coordinator.stream_status("broken")["status"] == "failed")
            took = time.monotonic() - started
            status = coordinator.stream_status("broken")
            assert "source crash (test_crash) was restarted more than 3 times in 30 s" in status["reason"]
            assert "last error: RuntimeError: disk on fire" in status["reason"]
            crash = status["sources"][0]
            assert crash["restarts"] == 3 and crash["state"] == "exited"
            assert crash["last_error"] == "RuntimeError: disk on fire"
            # Backoff 0.05, 0.1, 0.2 s between the restarts.
            assert took >= 0.35
            # The other stream still produces.
            (zones / "a.example.zone").write_text(zone_text("a.example.", 2, "192.0.2.1", "192.0.2.9"))
            await until(
                lambda: ("dnsmill.record.added", "a.example.", "host1.a.example. A 192.0.2.9") in events(db)
            )
            assert coordinator.stream_status("good")["status"] == "active"
            assert coordinator.stats()["failed"] == 1
            # Resuming a failed stream runs it again (and it fails again).
            await coordinator.resume_stream_async("broken")
            await until(
                lambda: (
                    coordinator.stream_status("broken")["status"] == "failed"
                    and coordinator.supervisors.get("broken") is None
                )
            )
        names = [event.name for event in drained(lifecycle)]
    assert names.count("worker_restarted") >= 6
    assert "stream_failed" in names and "stream_started" in names


@run_async
async def test_a_zone_file_edit_is_exactly_its_changed_records_and_the_same_edit_again_is_nothing(
    db: str, tmp_path: Path
) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    for name in ("a", "b"):
        (zones / f"{name}.example.zone").write_text(
            zone_text(f"{name}.example.", 1, "192.0.2.1", "192.0.2.2")
        )
    bus = EventBus()
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=bus)
    coordinator.create_stream(
        "lab",
        [{"name": "dir", "kind": "zone_directory", "config": {"path": str(zones)}, "poll_interval": 60}],
    )
    coordinator.start_stream("lab")
    with bus.subscribe("stream.lab") as stream_events, bus.subscribe("source.dir") as source_events:
        async with running(coordinator):
            await until(lambda: len(events(db)) == 8)
            initial = events(db)
            # One record changed, one removed, one added, and the serial bumped: watched, not polled.
            (zones / "a.example.zone").write_text(
                zone_text("a.example.", 2, "192.0.2.7", "192.0.2.2", "192.0.2.3")
            )
            await until(lambda: len(events(db)) == 8 + 5)
            new = sorted(set(events(db)) - set(initial))
            assert new == [
                (
                    "dnsmill.record.added",
                    "a.example.",
                    "a.example. SOA ns1.example.net. hostmaster.example.net. 2 3600 600 86400 300",
                ),
                ("dnsmill.record.added", "a.example.", "host0.a.example. A 192.0.2.7"),
                ("dnsmill.record.added", "a.example.", "host2.a.example. A 192.0.2.3"),
                (
                    "dnsmill.record.removed",
                    "a.example.",
                    "a.example. SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300",
                ),
                ("dnsmill.record.removed", "a.example.", "host0.a.example. A 192.0.2.1"),
            ]
            # The same edit again (rewritten, same content), and a touch: nothing, not even
            # an event that would have been a second row.
            changes_so_far = [event for event in drained(source_events) if event.name == "records_changed"]
            (zones / "a.example.zone").write_text(
                zone_text("a.example.", 2, "192.0.2.7", "192.0.2.2", "192.0.2.3")
            )
            os.utime(zones / "b.example.zone")
            await asyncio.sleep(1.0)
            assert len(events(db)) == 13
            assert [event for event in drained(source_events) if event.name == "records_changed"] == []
            # Back to the first content: the change back is new events, not the first ones.
            (zones / "a.example.zone").write_text(zone_text("a.example.", 1, "192.0.2.1", "192.0.2.2"))
            await until(lambda: len(events(db)) == 13 + 5)
            # A file that does not parse is reported and skipped; a removed file is every
            # record removed.
            (zones / "bad.example.zone").write_text("@ 300 IN A not-an-address\n")
            b_text = (zones / "b.example.zone").read_text()
            (zones / "b.example.zone").unlink()
            await until(lambda: len(events(db)) == 18 + 4)
            assert [kind for kind, zone, _ in events(db) if zone == "b.example."].count(
                "dnsmill.record.removed"
            ) == 4
            # Restored as it was: its records are added again, as new events.
            (zones / "b.example.zone").write_text(b_text)
            await until(lambda: len(events(db)) == 22 + 4)
            status = source_states(coordinator, "lab")["dir"]
            assert "bad.example.zone:1:" in status["last_error"] and "not-an-address" in status["last_error"]
            assert status["state"] == "running" and status["restarts"] == 0
        assert {event.name for event in drained(stream_events)} >= {
            "records_changed",
            "worker_started",
            "source_problem",
        }
        # The first edit of a.example was its second generation.
        edited = zone_text("a.example.", 2, "192.0.2.7", "192.0.2.2", "192.0.2.3").encode()
        assert {
            "zone": "a.example.",
            "added": 3,
            "removed": 2,
            "version": f"2:{hashlib.sha256(edited).hexdigest()}",
        } in [
            {key: event.data[key] for key in ("zone", "added", "removed", "version")}
            for event in changes_so_far
        ]
    # The added records are in the records table too.
    assert "192.0.2.7" in admin(db, "SELECT rdata FROM dns_records WHERE name = 'host0.a.example.'")


def test_a_domain_list_that_grows_feeds_the_domains_table_from_its_offset(db: str, tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("one.example\ntwo.example\nnot a name\n")
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=EventBus())
    coordinator.create_stream(
        "names",
        [{"name": "list", "kind": "domain_list", "config": {"path": str(names)}, "poll_interval": 0.2}],
    )
    coordinator.start_stream("names")

    async def grow() -> None:
        async with running(coordinator):
            await until(lambda: admin(db, "SELECT COUNT(*) FROM domains") == "2")
            with names.open("a") as file:
                file.write("three.example\nfour.exa")  # the last line is still being written
            await until(lambda: admin(db, "SELECT COUNT(*) FROM domains") == "3")
            await asyncio.sleep(0.5)
            assert admin(db, "SELECT COUNT(*) FROM domains") == "3"
            status = source_states(coordinator, "names")["list"]
            assert "1 names refused, the first 'not a name'" in status["last_error"]
        with names.open("a") as file:
            file.write("mple\n")
        async with running(coordinator):  # a restart: on from the checkpoint
            await until(lambda: admin(db, "SELECT COUNT(*) FROM domains") == "4")

    asyncio.run(grow())
    assert admin(db, "SELECT name FROM domains ORDER BY id").split() == [
        "one.example.",
        "two.example.",
        "three.example.",
        "four.example.",
    ]
    added = [data for kind, _, data in events(db) if kind == "dnsmill.domains.added"]
    assert len(added) == 3


def test_the_seeder_runs_as_a_source_on_its_interval(db: str) -> None:
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=EventBus())
    coordinator.create_stream(
        "seeding",
        [
            {
                "name": "seed",
                "kind": "seeder",
                "config": {"seed": {"count": 20, "seed": 7}},
                "poll_interval": 3600,
            }
        ],
    )
    coordinator.start_stream("seeding")

    async def run_once() -> None:
        async with running(coordinator):
            await until(lambda: admin(db, "SELECT COUNT(*) FROM dns_events") == "1", timeout=30)

    asyncio.run(run_once())
    assert int(admin(db, "SELECT COUNT(*) FROM dns_records")) > 20
    # Restarted within its interval: it does not seed again at once.
    asyncio.run(_briefly(coordinator))
    assert admin(db, "SELECT COUNT(*) FROM dns_events") == "1"


async def _briefly(coordinator: Coordinator) -> None:
    async with running(coordinator):
        await asyncio.sleep(0.5)


class Primary:
    """A named serving zones from files, keeping the differences between versions for IXFR."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.control = free_port()
        self.zones: list[str] = []
        #: Where named sends NOTIFY after a change (None: nowhere).
        self.notify_port: int | None = None
        self.process: subprocess.Popen[str] | None = None
        key = (
            'key "test" { algorithm hmac-sha256; secret "c3luYy10ZXN0LWtleS1mb3ItZG5zbWlsbC10ZXN0cw=="; };\n'
        )
        self.key = key
        (workdir / "rndc.conf").write_text(
            key
            + f'options {{ default-key "test"; default-server 127.0.0.1; default-port {self.control}; }};\n'
        )

    def write(self, zone: str, text: str) -> None:
        (self.workdir / f"{zone}zone").write_text(text)
        if zone not in self.zones:
            self.zones.append(zone)

    def start(self) -> None:
        notify = (
            f"notify explicit; also-notify {{ 127.0.0.1 port {self.notify_port}; }}; "
            if self.notify_port is not None
            else "notify no; "
        )
        zones = "".join(
            f'zone "{zone}" {{ type primary; file "{self.workdir}/{zone}zone"; ixfr-from-differences yes; max-ixfr-ratio unlimited; '
            f"allow-transfer {{ 127.0.0.1; }}; {notify}}};\n"
            for zone in self.zones
        )
        conf = self.workdir / "named.conf"
        conf.write_text(
            self.key + f'options {{ directory "{self.workdir}"; pid-file "{self.workdir}/named.pid"; '
            f"listen-on port {self.port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; recursion no; }};\n"
            f'controls {{ inet 127.0.0.1 port {self.control} allow {{ 127.0.0.1; }} keys {{ "test"; }}; }};\n'
            + zones
        )
        self.process = subprocess.Popen(
            [require_tool("named"), "-g", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while self.rndc("status").returncode != 0:
            assert self.process.poll() is None, self.process.stderr.read() if self.process.stderr else ""
            assert time.monotonic() < deadline, "named did not start"
            time.sleep(0.1)

    def rndc(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["rndc", "-c", str(self.workdir / "rndc.conf"), *command], capture_output=True, text=True
        )

    def reload(self, zone: str, serial: int) -> None:
        assert self.rndc("reload", zone.rstrip(".")).returncode == 0
        deadline = time.monotonic() + 10
        while dnsmill.soa_serial(f"127.0.0.1:{self.port}", zone) != serial:
            assert time.monotonic() < deadline, "named did not load the new serial"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def primary(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Primary]:
    require_tool("rndc")
    workdir = tmp_path / "primary"
    workdir.mkdir()
    server = Primary(workdir)
    server.notify_port = getattr(request, "param", None)
    server.write("a.example.", zone_text("a.example.", 1, "192.0.2.1", "192.0.2.2"))
    server.write("b.example.", zone_text("b.example.", 10, "198.51.100.1"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def lines(zone: dnsmill.Zone) -> list[str]:
    return sorted(f"{record.name} {record.type} {record.rdata}" for record in zone)


def test_a_transfer_is_axfr_first_then_ixfr_of_only_the_difference(primary: Primary) -> None:
    address = f"127.0.0.1:{primary.port}"
    first = dnsmill.transfer_zone(address, "a.example.")
    assert first["kind"] == "axfr" and first["serial"] == 1
    assert lines(first["zone"]) == lines(first["added"]) and len(first["zone"]) == 4
    assert len(first["removed"]) == 0
    assert dnsmill.transfer_zone(address, "a.example.", known=first["zone"])["kind"] == "current"
    primary.write("a.example.", zone_text("a.example.", 2, "192.0.2.1", "192.0.2.3"))
    primary.reload("a.example.", 2)
    second = dnsmill.transfer_zone(address, "a.example.", known=first["zone"])
    assert second["kind"] == "ixfr" and second["serial"] == 2
    assert lines(second["added"]) == [
        "a.example. SOA ns1.example.net. hostmaster.example.net. 2 3600 600 86400 300",
        "host1.a.example. A 192.0.2.3",
    ]
    assert lines(second["removed"]) == [
        "a.example. SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300",
        "host1.a.example. A 192.0.2.2",
    ]
    # The zone after the changes is the zone named now serves.
    assert lines(second["zone"]) == lines(dnsmill.transfer_zone(address, "a.example.")["zone"])
    with pytest.raises(
        dnsmill.ResolveError, match=r"AXFR of nope\.example\. from 127\.0\.0\.1:\d+: (REFUSED|NOTAUTH)"
    ):
        dnsmill.transfer_zone(address, "nope.example.")


@run_async
async def test_the_transfer_source_writes_only_what_changed_after_a_serial_bump(
    db: str, primary: Primary
) -> None:
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=EventBus())
    config = {"primary": f"127.0.0.1:{primary.port}", "zones": ["a.example", "b.example"]}
    coordinator.create_stream(
        "xfr", [{"name": "primary", "kind": "zone_transfer", "config": config, "poll_interval": 0.2}]
    )
    coordinator.start_stream("xfr")
    async with running(coordinator):
        await until(
            lambda: len(events(db)) == 4 + 3 + 2, show=lambda: (events(db), coordinator.list_streams())
        )
        before = set(events(db))
        primary.write("a.example.", zone_text("a.example.", 2, "192.0.2.1", "192.0.2.2", "192.0.2.5"))
        primary.reload("a.example.", 2)
        await until(lambda: len(events(db)) == 9 + 3 + 1)
        new = sorted(set(events(db)) - before)
        assert [(kind, line) for kind, _, line in new if kind != "dnsmill.zone.transferred"] == [
            (
                "dnsmill.record.added",
                "a.example. SOA ns1.example.net. hostmaster.example.net. 2 3600 600 86400 300",
            ),
            ("dnsmill.record.added", "host2.a.example. A 192.0.2.5"),
            (
                "dnsmill.record.removed",
                "a.example. SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300",
            ),
        ]
        transferred = [json.loads(data) for kind, _, data in new if kind == "dnsmill.zone.transferred"]
        assert transferred == [
            {
                "transfer": "ixfr",
                "serial": 2,
                "records": 5,
                "added": 2,
                "removed": 1,
            }
        ]
    # Per zone: the generation (one more per transfer written) and the serial.
    assert [point[:2] for point in coordinator.store.checkpoints("xfr", "primary")] == [
        ("a.example.", "2:2"),
        ("b.example.", "1:10"),
    ]


def coordinate(db: str, port: int) -> subprocess.Popen[str]:
    """`dnsmill coordinate` in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "dnsmill", "coordinate", "--db", db, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_coordinator_killed_with_sigkill_resumes_from_its_checkpoints_and_writes_nothing_twice(
    db: str, tmp_path: Path
) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    files = {f"z{i}.example": zones / f"z{i}.example.zone" for i in range(200)}
    for index, (zone, path) in enumerate(files.items()):
        path.write_text(zone_text(f"{zone}.", 1, f"10.0.{index // 250}.{index % 250}"))
    coordinator = Coordinator(db, bus=EventBus())
    coordinator.create_stream(
        "lab",
        [{"name": "dir", "kind": "zone_directory", "config": {"path": str(zones)}, "poll_interval": 0.5}],
    )
    coordinator.start_stream("lab")
    coordinator.store.close()
    port = free_port()
    first = {zone: path.read_text() for zone, path in files.items()}
    for cycle, delay in enumerate((1.0, 1.6, 2.4)):
        process = coordinate(db, port)
        time.sleep(delay)  # somewhere in starting, reading or writing
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        # Changed while no coordinator runs: edits, a zone gone, a zone new, and in the last
        # round the first edits undone (the zones as they first were).
        for index in range(cycle * 10, cycle * 10 + 10):
            zone = f"z{index}.example"
            files[zone].write_text(zone_text(f"{zone}.", cycle + 2, f"192.0.{cycle}.{index}"))
        if cycle == 2:
            for index in range(10):
                files[f"z{index}.example"].write_text(first[f"z{index}.example"])
        files.pop(f"z{199 - cycle}.example").unlink()
        files[f"new{cycle}.example"] = zones / f"new{cycle}.example.zone"
        files[f"new{cycle}.example"].write_text(zone_text(f"new{cycle}.example.", 1, "198.51.100.1"))
    process = coordinate(db, port)
    try:
        wanted = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}

        def caught_up() -> bool:
            rows = admin(db, "SELECT item, position FROM source_checkpoints")
            held = {
                item: position.split(":")[1]
                for item, position in (line.split(" ") for line in rows.splitlines())
            }
            present = {item: fingerprint for item, fingerprint in held.items() if fingerprint != "-"}
            return present == {f"{name}.zone": fingerprint for name, fingerprint in wanted.items()}

        deadline = time.monotonic() + 30
        while not caught_up():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the coordinator did not catch up"
            time.sleep(0.2)
        settled = len(events(db))
        time.sleep(1.5)
        assert len(events(db)) == settled, "nothing changed, yet events were written"
    finally:
        process.terminate()
        assert process.wait(20) == 0
    written = events(db)
    assert len(written) == len(set(written)), "an event was written twice"
    # Replaying the events gives exactly the zones on disk: every record there was added once
    # more than it was removed, and every other record as often added as removed.
    balance: dict[tuple[str, str], int] = {}
    for kind, zone, line in written:
        change = 1 if kind == "dnsmill.record.added" else -1
        balance[(zone, line)] = balance.get((zone, line), 0) + change
    on_disk = {
        (f"{name}.", f"{record.name} {record.type} {record.rdata}")
        for name, path in files.items()
        for record in dnsmill.parse_zone(path.read_bytes(), origin=f"{name}.")
    }
    assert {key for key, count in balance.items() if count == 1} == on_disk
    assert all(count in (0, 1) for count in balance.values())


def test_the_streams_commands_create_add_start_pause_and_show(db: str, tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    environment = {**os.environ, "DNSMILL_DB": db, "DNSMILL_COORDINATOR__LISTEN": f"127.0.0.1:{free_port()}"}

    def dnsmill_command(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dnsmill", *argv],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )

    assert dnsmill_command("streams", "create", "lab").returncode == 0
    added = dnsmill_command(
        "streams",
        "add-source",
        "lab",
        "dir",
        "--kind",
        "zone_directory",
        "--set",
        f"path={zones}",
        "--poll-interval",
        "2s",
    )
    assert added.returncode == 0, added.stderr
    unknown = dnsmill_command("streams", "add-source", "lab", "feed", "--kind", "rss")
    assert unknown.returncode == 2
    assert (
        "dnsmill streams add-source: unknown source kind 'rss' (known: domain_list, jetstream, seeder"
        in unknown.stderr
    )
    wrong = dnsmill_command(
        "streams", "add-source", "lab", "x", "--kind", "zone_transfer", "--set", "zones=[1"
    )
    assert wrong.returncode == 2 and "zone_transfer source settings: primary: Field required" in wrong.stderr
    assert dnsmill_command("streams", "start", "lab").stderr.strip() == "stream lab is active"
    paused = dnsmill_command("streams", "pause", "lab")
    assert paused.returncode == 0 and "stream lab is paused" in paused.stderr
    listing = dnsmill_command("streams", "list")
    assert listing.stdout.splitlines()[0].split("\t")[:3] == ["lab", "paused", "1 sources"]
    status = json.loads(dnsmill_command("streams", "status", "lab", "--json").stdout)
    assert status["sources"][0]["config"] == {
        "path": str(zones),
        "pattern": "*.zone",
        "records": True,
        "settle": 0.05,
    }
    assert status["sources"][0]["poll_interval"] == 2.0
    missing = dnsmill_command("streams", "resume", "nope")
    assert missing.returncode == 2 and "no stream named 'nope'" in missing.stderr
    assert "zone_directory" in dnsmill_command("streams", "kinds").stdout.split()


def test_a_jetstream_source_writes_a_subject_through_the_event_writer(db: str) -> None:
    from jetstream import NATS, own_stream, publish

    with own_stream() as name:
        subject = f"{name.lower()}.records"
        coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=EventBus())
        config = {
            "nats": NATS,
            "stream": {"name": name, "subjects": [f"{name.lower()}.>"], "durable": "coordinator"},
            "route": {"processor": "records", "batch_size": 100, "batch_timeout": "50ms"},
        }
        coordinator.create_stream(
            "bus", [{"name": "nats", "kind": "jetstream", "config": config, "poll_interval": 0.2}]
        )
        coordinator.start_stream("bus")
        messages = [
            (
                subject,
                json.dumps(
                    {"name": f"h{i}.example.", "type": "A", "ttl": 60, "rdata": f"192.0.2.{i}"}
                ).encode(),
                f"m{i}",
            )
            for i in range(50)
        ]

        async def scenario() -> None:
            async with running(coordinator):
                await until(lambda: source_states(coordinator, "bus")["nats"]["state"] == "running")
                await publish(NATS, messages)
                await until(lambda: admin(db, "SELECT COUNT(*) FROM dns_records") == "50", timeout=30)
                await until(lambda: source_states(coordinator, "bus")["nats"]["records"] == 50)
                # Paused: the writer drains and stops; what comes meanwhile waits in JetStream.
                await coordinator.pause_stream_async("bus")
                await until(lambda: source_states(coordinator, "bus")["nats"]["state"] == "stopped")
                await publish(NATS, [(subject, messages[0][1].replace(b"h0.", b"late."), "late")])
                await asyncio.sleep(0.5)
                assert admin(db, "SELECT COUNT(*) FROM dns_records") == "50"
                await coordinator.resume_stream_async("bus")
                await until(lambda: admin(db, "SELECT COUNT(*) FROM dns_records") == "51", timeout=30)

        asyncio.run(scenario())


NOTIFY_PORT = free_port()


@pytest.mark.parametrize("primary", [NOTIFY_PORT], indirect=True)
@run_async
async def test_a_notify_from_the_primary_transfers_at_once(db: str, primary: Primary) -> None:
    coordinator = Coordinator(db, intensity=FAST, refresh=0.1, bus=EventBus())
    config = {
        "primary": f"127.0.0.1:{primary.port}",
        "zones": ["a.example"],
        "notify": f"127.0.0.1:{NOTIFY_PORT}",
    }
    # Polled once an hour: only the NOTIFY can bring the change in time.
    coordinator.create_stream(
        "xfr", [{"name": "primary", "kind": "zone_transfer", "config": config, "poll_interval": 3600}]
    )
    coordinator.start_stream("xfr")
    async with running(coordinator):
        await until(lambda: len(events(db)) == 4 + 1)
        primary.write("a.example.", zone_text("a.example.", 2, "192.0.2.1", "192.0.2.2", "192.0.2.5"))
        primary.reload("a.example.", 2)
        await until(
            lambda: ("dnsmill.record.added", "a.example.", "host2.a.example. A 192.0.2.5") in events(db)
        )
