"""Seed, publish, work: the main job against a real DNS server, with crashes and signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dnsmill
import pytest
from conftest import require_tool
from dnsmill.config import SeedSettings, Settings, load_settings
from dnsmill.events import EventBus
from dnsmill.pipeline import Publisher, Worker, WorkReport, run_pipeline
from dnsmill.queues import Depth, open_queue
from dnsmill.seeder import Seeder
from dnsservers import UdpServer, nsd

APEX_TYPES = "A,AAAA,MX,NS,SOA,TXT"


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """A store seeded with 40 domains, and NSD serving their zones; yields (workdir, the
    server's address, the domains)."""
    zones = tmp_path / "zones"
    settings = SeedSettings(count=40, seed=21, zones_dir=zones)
    seeder = Seeder(settings, f"sqlite://{tmp_path / 'store.db'}", bus=EventBus())
    run = seeder.run_once()
    assert run.domains == 40
    domains = sorted(p.name.removesuffix(".zone") + "." for p in zones.iterdir())
    texts = {name.rstrip("."): (zones / f"{name.rstrip('.')}.zone").read_text() for name in domains}
    with nsd(require_tool("nsd"), texts) as port:
        yield tmp_path, f"127.0.0.1:{port}", domains


def job_settings(workdir: Path, **sections: Any) -> Settings:
    """Settings for the store and queue of ``workdir``, with the given sections."""
    return load_settings(
        db=f"sqlite://{workdir / 'store.db'}", queue=f"sqlite://{workdir / 'queue.db'}", **sections
    )


def apex_records(path: Path, table: str, domains: list[str]) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        marks = ", ".join("?" * len(domains))
        rows = db.execute(
            f"SELECT name, type, rdata FROM {table} WHERE name IN ({marks}) "
            "AND type IN ('A', 'AAAA', 'MX', 'NS', 'SOA', 'TXT') ORDER BY 1, 2, 3",
            domains,
        ).fetchall()
    return [tuple(row) for row in rows]


def test_publish_and_work_resolve_every_seeded_domain(seeded: tuple[Path, str, list[str]]) -> None:
    workdir, server, domains = seeded
    settings = job_settings(
        workdir, publish={"batch_size": 7}, work={"ns": [server], "types": APEX_TYPES, "timeout": 1}
    )
    result = run_pipeline(settings, workers=2, table="resolved", bus=EventBus())
    assert result["published"] == result["domains"] == 40
    assert result["outcomes"] == {"resolved": 40}
    # What came back equals what was seeded, record for record.
    seeded_rows = apex_records(workdir / "store.db", "dns_records", domains)
    assert apex_records(workdir / "store.db", "resolved", domains) == seeded_rows
    assert len(seeded_rows) > 40 * 6
    stats = dnsmill.db_stats(settings.db)
    assert stats["domains_by_status"] == {"resolved": 40}
    # Nothing is due any more, and the queue is empty.

    async def check() -> None:
        async with open_queue(settings.queue) as queue:
            assert (await queue.depth()).pending == 0
            publisher = Publisher(settings.db, queue, settings.publish, bus=EventBus())
            assert await publisher.count_due() == 0
            assert (await publisher.publish()).published == 0
            publisher.close()

    asyncio.run(check())


def test_the_queue_and_the_store_cannot_share_a_sqlite_file(tmp_path: Path) -> None:
    one_file = f"sqlite://{tmp_path / 'both.db'}"
    settings = load_settings(db=one_file, queue=one_file)
    with pytest.raises(dnsmill.ConfigError, match="the queue and the store are the same SQLite file"):
        run_pipeline(settings, workers=1, bus=EventBus())


def test_malformed_messages_are_dead_lettered_and_the_rest_is_worked(
    seeded: tuple[Path, str, list[str]],
) -> None:
    workdir, server, domains = seeded
    settings = job_settings(workdir, work={"ns": [server], "types": "A"})

    async def work() -> None:
        async with open_queue(settings.queue) as queue:
            await queue.put(b"\x00garbage")
            await queue.put_json({"kind": "domains", "domains": "not-a-list"})
            await queue.put(dnsmill.Batch.encode(domains[:3]))
            await queue.put(dnsmill.Batch.encode_stop())
            worker = Worker(settings.db, queue, settings.work, bus=EventBus())
            report = await worker.run()
            worker.close()
            assert report.stopped_by == "stop message"
            assert report.dead_lettered == 2 and report.domains == 3
            reasons = [d.reason for d in await queue.dead_letters()]
            assert "not JSON" in reasons[0]
            assert "not a batch" in reasons[1]
            assert (await queue.depth()).pending == 0

    asyncio.run(work())


def test_a_worker_holds_two_batches_and_acks_each_after_its_commit(
    seeded: tuple[Path, str, list[str]],
) -> None:
    workdir, server, domains = seeded
    settings = job_settings(workdir, work={"ns": [server], "types": APEX_TYPES, "prefetch": 2})
    bus = EventBus()
    batches = [domains[n : n + 5] for n in range(0, len(domains), 5)]

    async def work() -> None:
        async with open_queue(settings.queue) as queue:
            await queue.put_many([dnsmill.Batch.encode(batch) for batch in batches])
            await queue.put(dnsmill.Batch.encode_stop())
            worker = Worker(settings.db, queue, settings.work, table="resolved", bus=bus)
            with bus.subscribe("worker") as done:
                running = asyncio.create_task(worker.run())
                settled = 0
                while settled < len(batches):
                    event = await done.get_async(timeout=30)
                    assert event is not None, "a batch was not finished in time"
                    if event.name != "batch_done":
                        continue
                    settled += 1
                    # Announced after the ack, which comes after the batch's one commit of
                    # records and outcomes: every domain of the batches settled so far has its
                    # outcome stored. At most two batches (the prefetch) are held. (Read through dnsmill: a
                    # second SQLite library in this process, Python's, would drop the file
                    # locks dnsmill's SQLite holds.)
                    stats = await asyncio.to_thread(dnsmill.db_stats, settings.db, "resolved")
                    resolved = stats["domains_by_status"].get("resolved", 0)
                    assert resolved >= sum(len(batch) for batch in batches[:settled])
                    assert (await queue.depth()).held <= 2
                report = await asyncio.wait_for(running, 30)
            worker.close()
            assert report.batches == len(batches) and report.stopped_by == "stop message"
            assert (await queue.depth()).pending == 0

    asyncio.run(work())


def dnsmill_command(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dnsmill", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def depth_of(queue: str) -> Depth:
    async def look() -> Depth:
        async with open_queue(queue) as opened:
            return await opened.depth()

    return asyncio.run(look())


def wait_for_a_lease(queue: str, poll: float) -> None:
    """Returns once a worker holds a batch of `queue` (or after 30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if depth_of(queue).held:
            return
        time.sleep(poll)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(seeded: tuple[Path, str, list[str]]) -> None:
    workdir, server, domains = seeded
    db, queue = f"sqlite://{workdir / 'store.db'}", f"sqlite://{workdir / 'queue.db'}"
    publish = dnsmill_command("publish", "--db", db, "--queue", queue, "--batch-size", "4")
    out, err = publish.communicate(timeout=60)
    assert publish.returncode == 0, err
    assert json.loads(out)["published"] == 40
    # The first worker is killed while it holds a batch (the queue's lease is short, so the
    # batch comes back soon); a second one finishes the queue.
    common = ["--db", db, "--ns", server, "-t", APEX_TYPES, "--table", "resolved"]
    victim = dnsmill_command("work", *common, "--queue", f"{queue}?lease=1", "--idle-exit", "30")
    wait_for_a_lease(queue, poll=0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    survivor = dnsmill_command("work", *common, "--queue", queue, "--idle-exit", "3")
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    assert depth_of(queue).pending == 0
    resolved = apex_records(workdir / "store.db", "resolved", domains)
    assert resolved == apex_records(workdir / "store.db", "dns_records", domains)
    assert len(resolved) == len(set(resolved))  # no duplicate rows
    assert dnsmill.db_stats(db)["domains_by_status"] == {"resolved": 40}


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(seeded: tuple[Path, str, list[str]]) -> None:
    workdir, server, _domains = seeded
    db, queue = f"sqlite://{workdir / 'store.db'}", f"sqlite://{workdir / 'queue.db'}"
    with dnsmill.Domains(db) as table:
        table.add([f"host{n}.nowhere.test" for n in range(2000)])  # refused: failed
    publish = dnsmill_command("publish", "--db", db, "--queue", queue, "--batch-size", "200")
    assert publish.wait(timeout=60) == 0
    worker = dnsmill_command(
        "work", "--db", db, "--queue", queue, "--ns", server, "-t", "A", "--timeout", "0.5s"
    )
    wait_for_a_lease(queue, poll=0.01)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    report = json.loads(out)
    assert report["stopped_by"] == "signal" and report["batches"] >= 1
    depth = depth_of(queue)
    assert depth.held == 0  # the batches in hand were acked, nothing left half-done
    assert depth.ready == (2040 - report["domains"]) // 200 + ((2040 - report["domains"]) % 200 > 0)
    statuses = dnsmill.db_stats(db)["domains_by_status"]
    # Every domain of every acked batch has its outcome; the rest wait on the queue.
    assert statuses["resolved"] + statuses["failed"] == report["domains"]
    assert statuses["queued"] == 2040 - report["domains"]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_worker_waiting_on_a_silent_nameserver_stops_within_a_second(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    """Every query of the batches in hand would wait 4 tries of 5 s: a stop still ends the
    worker at once, and those batches go back to the queue with nothing of them stored."""
    silent = UdpServer()
    try:
        db, queue = f"sqlite://{tmp_path / 'store.db'}", f"sqlite://{tmp_path / 'queue.db'}"
        with dnsmill.Domains(db) as table:
            table.add([f"host{n}.example" for n in range(400)])
        publish = dnsmill_command("publish", "--db", db, "--queue", queue, "--batch-size", "100")
        assert publish.wait(timeout=60) == 0
        worker = dnsmill_command(
            "work", "--db", db, "--queue", queue, "--ns", silent.address, "--timeout", "5s", "--retries", "3"
        )
        deadline = time.monotonic() + 30
        while silent.received < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert silent.received >= 100, "the worker started resolving"
        started = time.monotonic()
        worker.send_signal(stop_signal)
        out, err = worker.communicate(timeout=30)
        stopped_in = time.monotonic() - started
        assert worker.returncode == 0, err
        assert stopped_in < 2.0, (stopped_in, err)  # a second, and the interpreter's own exit
        report = json.loads(out)
        assert report["stopped_by"] == "signal" and report["batches"] == 0
        depth = depth_of(queue)
        assert depth.held == 0 and depth.pending == 4
        assert dnsmill.db_stats(db)["domains_by_status"] == {"queued": 400}
    finally:
        silent.close()


def test_the_demo_runs_the_main_job_with_zero_drift(tmp_path: Path) -> None:
    from dnsmill.demo import main_job

    figures = main_job(tmp_path, domains=150, workers=2, seed=3)
    assert figures["seed"]["domains"] == figures["pipeline"]["domains"] == 150
    assert figures["pipeline"]["outcomes"] == {"resolved": 150}
    check = figures["drift"]
    assert check["seeded"] == check["resolved"] and check["missing"] == check["extra"] == 0
    assert set(check["seeded"]) == {"A", "AAAA", "MX", "NS", "SOA", "TXT"}
    demo = subprocess.run(
        [sys.executable, "-m", "dnsmill.demo", "--domains", "100"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "zero drift" in demo.stdout


def test_cli_domains_add_publish_count_purge_and_run(seeded: tuple[Path, str, list[str]]) -> None:
    workdir, server, _domains = seeded
    db, queue = f"sqlite://{workdir / 'store.db'}", f"sqlite://{workdir / 'queue.db'}"
    names = workdir / "more.txt"
    names.write_text("extra-one.test\nnot a name\nbücher.test\n")
    added = dnsmill_command("domains", "add", str(names), "--db", db)
    out, err = added.communicate(timeout=60)
    assert added.returncode == 0, err
    assert json.loads(out) == {"added": 2, "duplicates": 0, "rejected": 1}
    assert f"{names}:2: 'not a name': name contains whitespace" in err
    count = dnsmill_command("publish", "--db", db, "--queue", queue, "--count-only")
    counted = json.loads(count.communicate(timeout=60)[0])
    assert counted["due"] == 42 and counted["queue"]["pending"] == 0
    first = dnsmill_command("publish", "--db", db, "--queue", queue, "--batch-size", "10")
    assert json.loads(first.communicate(timeout=60)[0])["messages"] == 5
    purge = dnsmill_command("publish", "--db", db, "--queue", queue, "--purge", "--batch-size", "50")
    report = json.loads(purge.communicate(timeout=60)[0])
    assert (report["purged"], report["reset"], report["published"], report["messages"]) == (5, 42, 42, 1)
    run = dnsmill_command(
        "run",
        "--db",
        db,
        "--queue",
        queue,
        "--ns",
        server,
        "-t",
        "A,SOA",
        "--workers",
        "2",
        "--timeout",
        "0.5s",
    )
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    result = json.loads(out)
    # The purge left one message of 42 domains queued; run publishes nothing new and works it.
    assert result["published"] == 0 and result["domains"] == 42
    assert result["outcomes"] == {"resolved": 40, "failed": 2}  # NSD refuses the two extra names


def test_a_worker_dead_letters_rejected_batches_and_stops_on_a_broken_schema(
    seeded: tuple[Path, str, list[str]],
) -> None:
    workdir, server, domains = seeded
    settings = job_settings(workdir, work={"ns": [server], "types": "A"})
    refused = domains[0]
    # The store refuses the outcome of one domain: its batch can never be stored.
    trigger = (
        f"CREATE TRIGGER refuse BEFORE INSERT ON domains WHEN NEW.name = '{refused}' "
        "BEGIN SELECT RAISE(ABORT, 'refused here'); END"
    )
    subprocess.run([sys.executable, "-c", SQL_SCRIPT, str(workdir / "store.db"), trigger], check=True)

    async def work() -> None:
        async with open_queue(settings.queue) as queue:
            await queue.put(dnsmill.Batch.encode([refused, domains[1]]))
            await queue.put(dnsmill.Batch.encode(domains[2:4]))
            worker = Worker(settings.db, queue, settings.work, bus=EventBus())
            report = await worker.run(max_batches=2, idle_exit=1)
            worker.close()
            assert report.dead_lettered == 1 and report.batches == 1 and report.domains == 2
            letters = await queue.dead_letters()
            assert "the store rejected the batch" in letters[0].reason and "refused here" in letters[0].reason
            # Then the schema breaks: the worker returns the batch for others and stops.
            drop = "DROP TABLE domains"
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", SQL_SCRIPT, str(workdir / "store.db"), drop],
                check=True,
            )
            await queue.put(dnsmill.Batch.encode(domains[4:6]))
            broken = Worker(settings.db, queue, settings.work, bus=EventBus())
            with pytest.raises(dnsmill.StoreSchemaError):
                await broken.run(idle_exit=1)
            broken.close()
            depth = await queue.depth()
            assert depth.ready == 1 and depth.held == 0 and depth.dead == 1

    asyncio.run(work())


# Runs SQL on a SQLite file from another process (see stores.admin for why).
SQL_SCRIPT = (
    "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()\n"
)


def test_bare_domain_messages_are_gathered_into_batches_and_the_bare_stop_stops_a_worker(
    seeded: tuple[Path, str, list[str]],
) -> None:
    """Messages as the publishers users run today send them: one domain per message as UTF-8
    text, and `__STOP__`. A worker gathers them into batches, acks them after the commit, and
    adds a domain the table did not hold with its outcome."""
    workdir, server, domains = seeded
    settings = job_settings(workdir, work={"ns": [server], "types": ["A"], "gather": 15})
    unknown = "not-in-the-table.example."

    async def scenario() -> WorkReport:
        async with open_queue(settings.queue, "dns_records") as queue:
            await queue.put_many(
                [name.rstrip(".").encode() for name in domains] + [unknown.encode(), b"__STOP__"]
            )
            worker = Worker(settings.db, queue, settings.work)
            try:
                report = await worker.run(idle_exit=30)
            finally:
                worker.close()
            assert (await queue.depth()).pending == 0
            return report

    report = asyncio.run(scenario())
    assert report.stopped_by == "stop message"
    assert report.domains == 41 and report.batches == 3  # 15 + 15 + 11
    statuses = dnsmill.db_stats(settings.db)["domains_by_status"]
    assert statuses == {"resolved": 40, "failed": 1} or statuses == {"resolved": 40, "nxdomain": 1}, statuses


def test_the_publisher_speaks_bare_domains_to_the_workers_of_other_tools(
    seeded: tuple[Path, str, list[str]],
) -> None:
    """`message_format: bare`: one domain per message, the whole body, without the final dot,
    and `__STOP__` for a stop, as today's workers read them; dnsmill's workers read them too."""
    workdir, server, domains = seeded
    settings = job_settings(
        workdir, publish={"message_format": "bare"}, work={"ns": [server], "types": ["A"], "gather": 100}
    )

    async def scenario() -> tuple[list[bytes], WorkReport]:
        async with open_queue(settings.queue, "dns_records") as queue:
            publisher = Publisher(settings.db, queue, settings.publish)
            try:
                published = await publisher.publish(stop_workers=1)
            finally:
                publisher.close()
            assert (published.published, published.messages) == (40, 40)
            async with queue.consume(prefetch=100) as consumer:
                bodies = []
                for _ in range(41):
                    delivery = await consumer.get(timeout=5)
                    assert delivery is not None
                    bodies.append(delivery.body)
                    await delivery.nack()  # back for the worker, in the same order
            worker = Worker(settings.db, queue, settings.work)
            try:
                return bodies, await worker.run(idle_exit=30)
            finally:
                worker.close()

    bodies, report = asyncio.run(scenario())
    assert sorted(bodies[:40]) == sorted(name.rstrip(".").encode() for name in domains)
    assert bodies[40] == b"__STOP__"
    assert report.stopped_by == "stop message" and report.domains == 40
    assert dnsmill.db_stats(settings.db)["domains_by_status"] == {"resolved": 40}
