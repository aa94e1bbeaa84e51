"""The event writer against the real NATS JetStream (127.0.0.1:4222, or a server of the test's
own) and the real PostgreSQL: each test has its own stream and database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from dnsmill.config import load_settings
from dnsmill.events import EventBus
from dnsmill.ingest import build_ingest, processor, serve_ingest, unregister
from jetstream import NATS, NatsServer, consumer_info, create_stream, own_stream, publish, read_stream
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import REGISTRY
from stores import admin, postgresql_database
from tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db() -> Iterator[str]:
    with postgresql_database() as url:
        yield url


@pytest.fixture
def stream() -> Iterator[str]:
    with own_stream() as name:
        yield name


def record(i: int, zone: str = "example.com") -> bytes:
    return json.dumps(
        {
            "name": f"host{i}.{zone}.",
            "type": "A",
            "ttl": 300,
            "rdata": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
        }
    ).encode()


def cloud_event(i: int) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"event-{i}",
            "source": "/tests/sensor",
            "type": "dns.seen",
            "time": "2026-11-30T12:00:00Z",
            "data": {"n": i},
        }
    ).encode()


def settings_for(
    stream: str,
    db: str,
    *,
    nats_url: str = NATS,
    batch_size: int = 500,
    batch_timeout: str = "100ms",
    ack_wait: str = "60s",
    max_deliver: int = 5,
    routes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    root = stream.lower()
    return {
        "db": db,
        "ingest": {
            "nats": nats_url,
            "streams": [
                {
                    "name": stream,
                    "subjects": [f"{root}.>"],
                    "durable": "writer",
                    "ack_wait": ack_wait,
                    "max_deliver": max_deliver,
                }
            ],
            "routes": routes
            or [
                {
                    "subject": f"{root}.records",
                    "processor": "records",
                    "batch_size": batch_size,
                    "batch_timeout": batch_timeout,
                },
                {
                    "subject": f"{root}.events",
                    "processor": "events",
                    "batch_size": batch_size,
                    "batch_timeout": batch_timeout,
                },
            ],
        },
    }


class InProcess:
    """The writer in a thread of this process, for tests that read its counters."""

    def __init__(self, settings: dict[str, Any], tmp_path: Path) -> None:
        path = tmp_path / "dnsmill.yaml"
        path.write_text(yaml.safe_dump(settings))
        loaded = load_settings(path)
        self.ingest = build_ingest(loaded.ingest, loaded.db)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ingest.run()
        except BaseException as error:
            self.error = error

    def stats(self) -> dict[str, Any]:
        return self.ingest.stats()

    def stop(self) -> None:
        self.ingest.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the writer did not stop"
        if self.error is not None:
            raise self.error


class Process:
    """``dnsmill ingest`` in a process of its own."""

    def __init__(self, settings: dict[str, Any], tmp_path: Path, name: str = "writer") -> None:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(settings))
        self.log = tmp_path / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dnsmill", "ingest", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            cwd=tmp_path,
        )
        wait_for(
            lambda: "reading" in self.log.read_text() or self.process.poll() is not None,
            60,
            "the writer to start",
        )
        assert self.process.poll() is None, self.log.read_text()

    def stopped(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def count(db: str, table: str) -> int:
    try:
        return int(admin(db, f"SELECT count(*) FROM {table}"))
    except AssertionError:  # the table is not there yet
        return 0


def wait_rows(db: str, table: str, expected: int, timeout: float = 120) -> None:
    wait_for(
        lambda: count(db, table) >= expected, timeout, f"{expected} rows in {table} (have {count(db, table)})"
    )


def test_valid_messages_land_once_duplicates_and_redeliveries_do_not_double_and_poison_is_set_aside(
    stream: str, db: str, tmp_path: Path
) -> None:
    root = stream.lower()
    records = [(f"{root}.records", record(i), f"r-{i}") for i in range(300)]
    # The same Nats-Msg-Id again: the stream drops it. The same record under a new id: one row.
    repeated = [(f"{root}.records", record(i), f"r-{i}") for i in range(50)]
    same_record = [(f"{root}.records", record(i), f"again-{i}") for i in range(30)]
    events = [(f"{root}.events", cloud_event(i), None) for i in range(100)]
    # A CloudEvent published twice (without a msg id) is one event: its source and id.
    events_again = [(f"{root}.events", cloud_event(i), None) for i in range(20)]
    poison = [
        (f"{root}.records", b"{not json", None),
        (
            f"{root}.records",
            json.dumps({"name": "x.example.", "type": "A", "ttl": 1, "rdata": "300.1.1.1"}).encode(),
            None,
        ),
        (f"{root}.events", b'{"hello": "world"}', None),
        (f"{root}.elsewhere", b"no route takes this", None),
    ]
    asyncio.run(create_stream_for(stream))
    stored = asyncio.run(publish(NATS, [*records, *repeated, *same_record, *events, *events_again, *poison]))
    assert stored == 300 + 30 + 100 + 20 + 4
    # Another consumer of the durable took 40 messages and gave them back: they arrive
    # delivered twice. Its settings differ from the writer's, which updates them.
    asyncio.run(take_and_give_back(stream, 40))

    writer = InProcess(settings_for(stream, db, batch_size=64), tmp_path)
    try:
        wait_rows(db, "dns_records", 300)
        wait_rows(db, "dns_events", 100)
        wait_for(lambda: len(asyncio.run(read_stream(NATS, f"{stream}-DLQ"))) >= 4, 60, "the dead letters")
        wait_for(lambda: consumer_state(stream)[0] == 0, 60, "every delivery settled")
        stats = writer.stats()
    finally:
        writer.stop()
    # The durable the other consumer made was brought to the writer's settings.
    live: Any = asyncio.run(consumer_info(NATS, stream, "writer"))
    assert (live.config.ack_wait, live.config.max_deliver) == (60, -1)
    assert live.config.max_ack_pending > 100

    assert count(db, "dns_records") == 300
    names = admin(db, "SELECT name FROM dns_records ORDER BY name").split("\n")
    assert names == sorted(f"host{i}.example.com." for i in range(300))
    assert count(db, "dns_events") == 100
    assert (
        admin(db, "SELECT count(DISTINCT id), min(type), max(data->>'n') FROM dns_events")
        == "100|dns.seen|99"
    )

    dead = asyncio.run(read_stream(NATS, f"{stream}-DLQ"))
    assert len(dead) == 4
    by_subject = {letter.headers["Dnsmill-Subject"]: letter for letter in dead}
    assert set(by_subject) == {f"{root}.records", f"{root}.events", f"{root}.elsewhere"}
    errors = sorted(letter.headers["Dnsmill-Error"] for letter in dead)
    assert any(error.startswith("not JSON") for error in errors), errors
    assert any("300.1.1.1" in error or "record 1" in error for error in errors), errors
    assert any("neither a CloudEvent" in error for error in errors), errors
    assert any(f"no route takes subject {root}.elsewhere" in error for error in errors), errors
    for letter in dead:
        assert letter.headers["Dnsmill-Stream"] == stream
        assert int(letter.headers["Dnsmill-Sequence"]) >= 1
        assert int(letter.headers["Dnsmill-Deliveries"]) >= 1
    assert by_subject[f"{root}.elsewhere"].data == b"no route takes this"

    routes = stats["routes"]
    assert routes[f"{root}.records"]["redeliveries"] + routes[f"{root}.events"]["redeliveries"] >= 40
    assert routes[f"{root}.records"]["dead_lettered"] == 2
    assert routes[f"{root}.events"]["dead_lettered"] == 1
    assert stats["streams"][stream]["unrouted"] == 1
    assert stats["breaker"]["state"] == "closed"


async def create_stream_for(stream: str, url: str = NATS) -> None:
    await create_stream(url, stream, [f"{stream.lower()}.>"])


async def take_and_give_back(stream: str, how_many: int) -> None:
    connection = await nats.connect(NATS)
    try:
        js = connection.jetstream()
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name="writer", ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_ack_pending=100
            ),
        )
        subscription = await js.pull_subscribe_bind("writer", stream=stream)
        taken = await subscription.fetch(how_many, timeout=10)
        assert len(taken) == how_many
        for message in taken:
            await message.nak()
    finally:
        await connection.close()


def consumer_state(stream: str, url: str = NATS) -> tuple[int, int]:
    """(deliveries not yet acked, messages not yet delivered) of the writer's durable."""
    info: Any = asyncio.run(consumer_info(url, stream, "writer"))
    return info.num_ack_pending, info.num_pending


def test_a_consumer_that_differs_and_cannot_be_updated_is_refused_with_the_difference(
    stream: str, db: str, tmp_path: Path
) -> None:
    asyncio.run(create_stream_for(stream))

    async def push_consumer() -> None:
        connection = await nats.connect(NATS)
        try:
            await connection.jetstream().add_consumer(
                stream, ConsumerConfig(durable_name="writer", deliver_subject="somewhere.else", ack_wait=30)
            )
        finally:
            await connection.close()

    asyncio.run(push_consumer())
    writer = InProcess(settings_for(stream, db), tmp_path)
    writer.thread.join(timeout=30)
    assert writer.error is not None
    message = str(writer.error)
    assert "consumer writer of stream" in message and "differs from the configuration" in message, message
    assert "ack_wait: 30s -> 60s" in message, message
    assert "nats consumer rm" in message, message


def test_kill_9_mid_batch_then_a_restart_writes_every_message_exactly_once(
    stream: str, db: str, tmp_path: Path
) -> None:
    # Enough that the writer is still busy when it is killed (tens of thousands a second).
    total = 100_000
    root = stream.lower()
    asyncio.run(create_stream_for(stream))
    asyncio.run(publish(NATS, [(f"{root}.events", cloud_event(i), None) for i in range(total)]))
    writer = Process(settings_for(stream, db, batch_size=1000), tmp_path, "first")
    wait_for(lambda: count(db, "dns_events") > 0, 60, "the first batches")
    writer.process.kill()
    writer.process.wait(timeout=30)
    written_before = count(db, "dns_events")
    assert written_before < total, "the writer finished before it could be killed; publish more"

    again = Process(settings_for(stream, db, batch_size=1000, ack_wait="2s"), tmp_path, "second")
    # The killed writer's deliveries come back after their ack wait.
    wait_rows(db, "dns_events", total, timeout=180)
    wait_for(lambda: consumer_state(stream) == (0, 0), 90, "every delivery acked")
    assert again.stopped() == 0, again.output()
    assert admin(db, "SELECT count(*), count(DISTINCT id) FROM dns_events") == f"{total}|{total}"


def test_connections_terminated_by_postgresql_mid_run_are_retried_and_nothing_is_lost(
    stream: str, db: str, tmp_path: Path
) -> None:
    total = 30_000
    root = stream.lower()
    asyncio.run(create_stream_for(stream))
    writer = Process(settings_for(stream, db, batch_size=500), tmp_path)
    database = db.rsplit("/", 1)[1]
    publishing = threading.Thread(
        target=lambda: asyncio.run(
            publish(NATS, [(f"{root}.records", record(i), None) for i in range(total)])
        )
    )
    publishing.start()
    for _ in range(5):
        wait_for(lambda: count(db, "dns_records") > 0, 60, "the first rows")
        admin(
            db,
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}' "
            "AND pid <> pg_backend_pid()",
        )
        time.sleep(0.3)
    publishing.join()
    wait_rows(db, "dns_records", total)
    wait_for(lambda: consumer_state(stream) == (0, 0), 60, "every delivery acked")
    assert writer.stopped() == 0, writer.output()
    assert count(db, "dns_records") == total
    assert "Traceback" not in writer.output()


def test_a_store_down_for_a_while_opens_the_breaker_then_it_closes_and_nothing_is_lost(
    stream: str, db: str, tmp_path: Path
) -> None:
    root = stream.lower()
    asyncio.run(create_stream_for(stream))
    proxy = TcpProxy(5432)
    through_proxy = db.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    writer = InProcess(settings_for(stream, through_proxy, batch_size=200), tmp_path)
    try:
        wait_for(lambda: writer.stats()["running"], 30, "the writer to start")
        asyncio.run(publish(NATS, [(f"{root}.records", record(i), None) for i in range(1000)]))
        wait_rows(db, "dns_records", 1000)
        proxy.stop()
        asyncio.run(publish(NATS, [(f"{root}.records", record(i), None) for i in range(1000, 3000)]))
        wait_for(lambda: writer.stats()["breaker"]["state"] == "open", 90, "the breaker to open")
        # Open: reading has paused, so deliveries wait in the stream, not in the writer.
        received = writer.stats()["streams"][stream]["received"]
        time.sleep(2)
        assert writer.stats()["streams"][stream]["received"] - received <= 1000
        proxy.start()
        wait_rows(db, "dns_records", 3000, timeout=120)
        wait_for(lambda: writer.stats()["breaker"]["state"] == "closed", 60, "the breaker to close")
        wait_for(lambda: consumer_state(stream) == (0, 0), 60, "every delivery acked")
        stats = writer.stats()
    finally:
        writer.stop()
        proxy.stop()
    assert count(db, "dns_records") == 3000
    assert stats["breaker"]["opened"] >= 1
    assert stats["routes"][f"{root}.records"]["retries"] >= 1
    assert stats["routes"][f"{root}.records"]["dead_lettered"] == 0


def test_the_nats_server_restarted_mid_run_and_the_writer_resumes(db: str, tmp_path: Path) -> None:
    server = NatsServer()
    stream = "RESTARTED"
    try:
        asyncio.run(create_stream_for(stream, server.url))
        writer = InProcess(settings_for(stream, db, nats_url=server.url, batch_size=200), tmp_path)
        try:
            wait_for(lambda: writer.stats()["running"], 30, "the writer to start")
            asyncio.run(publish(server.url, [("restarted.records", record(i), None) for i in range(1000)]))
            wait_rows(db, "dns_records", 1000)
            server.stop()
            time.sleep(1)
            server.start()
            asyncio.run(
                publish(server.url, [("restarted.records", record(i), None) for i in range(1000, 2000)])
            )
            wait_rows(db, "dns_records", 2000, timeout=120)
            wait_for(lambda: consumer_state(stream, server.url) == (0, 0), 60, "every delivery acked")
        finally:
            writer.stop()
    finally:
        server.close()
    assert count(db, "dns_records") == 2000


def test_two_writers_on_one_durable_share_the_work_and_write_each_message_once(
    stream: str, db: str, tmp_path: Path
) -> None:
    total = 20_000
    root = stream.lower()
    asyncio.run(create_stream_for(stream))
    first = Process(settings_for(stream, db, batch_size=250), tmp_path, "first")
    second = Process(settings_for(stream, db, batch_size=250), tmp_path, "second")
    asyncio.run(publish(NATS, [(f"{root}.events", cloud_event(i), None) for i in range(total)]))
    wait_rows(db, "dns_events", total)
    wait_for(lambda: consumer_state(stream) == (0, 0), 60, "every delivery acked")
    assert first.stopped() == 0, first.output()
    assert second.stopped() == 0, second.output()
    assert admin(db, "SELECT count(*), count(DISTINCT id) FROM dns_events") == f"{total}|{total}"
    taken = [messages_of(writer.output(), f"{root}.events") for writer in (first, second)]
    assert sum(taken) >= total and min(taken) > 0, taken


def messages_of(output: str, route: str) -> int:
    for line in output.splitlines():
        if line.startswith(f"{route}: "):
            return int(line.split(": ", 1)[1].split(" ", 1)[0])
    raise AssertionError(f"no summary for {route} in:\n{output}")


def test_sigterm_writes_and_acks_what_is_in_hand_then_exits_0(stream: str, db: str, tmp_path: Path) -> None:
    root = stream.lower()
    asyncio.run(create_stream_for(stream))
    # Batches that would wait a minute to fill: the messages sit in the writer's hands.
    writer = Process(settings_for(stream, db, batch_size=100_000, batch_timeout="60s"), tmp_path)
    asyncio.run(publish(NATS, [(f"{root}.records", record(i), None) for i in range(500)]))
    wait_for(lambda: consumer_state(stream) == (500, 0), 30, "the writer to hold every message")
    assert count(db, "dns_records") == 0
    started = time.monotonic()
    assert writer.stopped(signal.SIGTERM) == 0, writer.output()
    assert time.monotonic() - started < 30
    assert count(db, "dns_records") == 500
    assert consumer_state(stream) == (0, 0)
    assert f"{root}.records: 500 messages, 500 rows in 1 batches, 0 dead-lettered" in writer.output()


def test_a_processor_written_in_python_turns_a_foreign_format_into_records(
    stream: str, db: str, tmp_path: Path
) -> None:
    root = stream.lower()

    @processor("sensor_test", writes="records")
    def sensor(message: Any) -> dict[str, Any]:
        seen = message.json()
        if seen["answer"] == "bad":
            raise ValueError(f"sensor {seen['sensor']} sent no answer")
        return {"name": seen["qname"], "type": "A", "ttl": seen["ttl"], "rdata": seen["answer"]}

    try:
        asyncio.run(create_stream_for(stream))
        payloads = [
            json.dumps(
                {"sensor": 1, "qname": f"s{i}.example.net", "ttl": 60, "answer": f"192.0.2.{i}"}
            ).encode()
            for i in range(1, 11)
        ]
        payloads.append(
            json.dumps({"sensor": 2, "qname": "x.example.net", "ttl": 60, "answer": "bad"}).encode()
        )
        asyncio.run(publish(NATS, [(f"{root}.sensor", payload, None) for payload in payloads]))
        routes = [
            {
                "subject": f"{root}.sensor",
                "processor": "sensor_test",
                "batch_size": 100,
                "batch_timeout": "50ms",
            }
        ]
        writer = InProcess(settings_for(stream, db, routes=routes), tmp_path)
        try:
            wait_rows(db, "dns_records", 10)
            wait_for(lambda: len(asyncio.run(read_stream(NATS, f"{stream}-DLQ"))) == 1, 30, "the dead letter")
        finally:
            writer.stop()
    finally:
        unregister("sensor_test")
    assert (
        admin(db, "SELECT name, rdata FROM dns_records WHERE name = 's7.example.net.'")
        == "s7.example.net.|192.0.2.7"
    )
    (dead,) = asyncio.run(read_stream(NATS, f"{stream}-DLQ"))
    assert dead.headers["Dnsmill-Error"] == "sensor 2 sent no answer"


def test_an_unknown_processor_is_a_configuration_error_naming_the_known_ones(
    stream: str, tmp_path: Path
) -> None:
    settings = settings_for(
        stream, "sqlite://x.db", routes=[{"subject": f"{stream.lower()}.x", "processor": "nope"}]
    )
    path = tmp_path / "dnsmill.yaml"
    path.write_text(yaml.safe_dump(settings))
    result = subprocess.run(
        [sys.executable, "-m", "dnsmill", "ingest", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2, result.stderr
    assert "no processor is called 'nope' (known: records, results, events)" in result.stderr


def test_resolution_results_become_records_and_domain_outcomes(stream: str, db: str, tmp_path: Path) -> None:
    root = stream.lower()
    results = {
        "results": [
            {
                "domain": "ok.example",
                "status": "resolved",
                "records": [{"name": "ok.example", "type": "A", "ttl": 60, "rdata": "192.0.2.1"}],
            },
            {"domain": "gone.example", "status": "nxdomain"},
            {"domain": "slow.example", "status": "failed", "error": "A timeout"},
        ]
    }
    asyncio.run(create_stream_for(stream))
    asyncio.run(publish(NATS, [(f"{root}.results", json.dumps(results).encode(), "results-1")]))
    routes = [{"subject": f"{root}.results", "processor": "results", "batch_timeout": "50ms"}]
    writer = InProcess(settings_for(stream, db, routes=routes), tmp_path)
    try:
        wait_rows(db, "domains", 3)
        wait_for(lambda: consumer_state(stream) == (0, 0), 30, "the delivery acked")
    finally:
        writer.stop()
    assert admin(db, "SELECT name, status, coalesce(last_error, '') FROM domains ORDER BY name").split(
        "\n"
    ) == [
        "gone.example.|nxdomain|",
        "ok.example.|resolved|",
        "slow.example.|failed|A timeout",
    ]
    assert admin(db, "SELECT name, type, rdata FROM dns_records") == "ok.example.|A|192.0.2.1"


def test_a_batch_slower_than_the_ack_wait_is_kept_alive_and_not_delivered_again(
    stream: str, db: str, tmp_path: Path
) -> None:
    root = stream.lower()

    @processor("slow_test", writes="records")
    def slow(message: Any) -> bytes:
        time.sleep(0.1)  # 20 messages: 2 s a batch, twice the ack wait
        return bytes(message.data)

    try:
        asyncio.run(create_stream_for(stream))
        asyncio.run(publish(NATS, [(f"{root}.slow", record(i), None) for i in range(20)]))
        routes = [
            {"subject": f"{root}.slow", "processor": "slow_test", "batch_size": 20, "batch_timeout": "1s"}
        ]
        writer = InProcess(settings_for(stream, db, routes=routes, ack_wait="1s"), tmp_path)
        try:
            wait_rows(db, "dns_records", 20)
            wait_for(lambda: consumer_state(stream) == (0, 0), 30, "every delivery acked")
            time.sleep(1.5)  # a delivery whose ack wait ran out would be back by now
            stats = writer.stats()
        finally:
            writer.stop()
    finally:
        unregister("slow_test")
    assert stats["streams"][stream]["received"] == 20
    assert stats["routes"][f"{root}.slow"]["redeliveries"] == 0
    assert count(db, "dns_records") == 20


def test_the_service_reports_metrics_and_bus_events(stream: str, db: str, tmp_path: Path) -> None:
    root = stream.lower()
    route = f"{root}.records"
    path = tmp_path / "dnsmill.yaml"
    path.write_text(yaml.safe_dump(settings_for(stream, db)))
    settings = load_settings(path)
    bus = EventBus()
    asyncio.run(create_stream_for(stream))
    asyncio.run(publish(NATS, [(route, record(i), None) for i in range(300)] + [(route, b"{bad", None)]))
    before = REGISTRY.get_sample_value("dnsmill_ingest_messages_total", {"route": route}) or 0

    async def run() -> dict[str, Any]:
        stop = asyncio.Event()
        with bus.subscribe("ingest") as events:
            service = asyncio.create_task(
                serve_ingest(settings.ingest, settings.db, stop, bus=bus, report_every=0.2)
            )
            deadline = time.monotonic() + 60
            while count(db, "dns_records") < 300:
                assert time.monotonic() < deadline, "the rows did not arrive"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            stop.set()
            final = await service
            seen = []
            while (event := events.get(timeout=1)) is not None:
                seen.append(event)
                if event.name == "stopped":
                    break
        return {"final": final, "events": seen}

    result = asyncio.run(run())
    names = [event.name for event in result["events"]]
    assert names[0] == "started" and names[-1] == "stopped", names
    batches = [event.data["routes"][route] for event in result["events"] if event.name == "batches"]
    assert sum(moved.get("messages", 0) for moved in batches) == 301
    assert sum(moved.get("dead_lettered", 0) for moved in batches) == 1
    assert REGISTRY.get_sample_value("dnsmill_ingest_messages_total", {"route": route}) - before == 301
    assert REGISTRY.get_sample_value("dnsmill_ingest_rows_total", {"route": route}) >= 300
    assert REGISTRY.get_sample_value("dnsmill_ingest_dead_lettered_total", {"route": route}) >= 1
    assert REGISTRY.get_sample_value("dnsmill_ingest_breaker_open") == 0
    assert REGISTRY.get_sample_value("dnsmill_ingest_consumer_lag_messages", {"stream": stream}) == 0
    assert result["final"]["routes"][route]["acked"] == 300
