"""The record seeder: realistic zones, reproducible from a seed, stored, announced, scheduled."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dnsmill
import pytest
from dnsmill.config import SeedSettings
from dnsmill.events import EventBus
from dnsmill.seeder import Seeder


def stored(path: Path) -> list[tuple[str, str, int, str]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT name, type, ttl, rdata FROM dns_records ORDER BY name, type, rdata"
        ).fetchall()


def test_the_same_seed_writes_the_same_records(tmp_path: Path) -> None:
    settings = SeedSettings(count=300, batch_size=64, seed=42)
    first = Seeder(settings, f"sqlite://{tmp_path / 'a.db'}", bus=EventBus()).run_once()
    second = Seeder(settings, f"sqlite://{tmp_path / 'b.db'}", bus=EventBus()).run_once()
    assert first.domains == second.domains == 300
    assert first.count == second.count == first.written > 300 * 10
    assert stored(tmp_path / "a.db") == stored(tmp_path / "b.db")
    other = Seeder(SeedSettings(count=300, seed=43), f"sqlite://{tmp_path / 'c.db'}", bus=EventBus())
    other.run_once()
    assert stored(tmp_path / "c.db") != stored(tmp_path / "a.db")


def test_zones_are_realistic_and_self_consistent(tmp_path: Path) -> None:
    seeder = Seeder(SeedSettings(count=200, seed=5, ttl_min=300, ttl_max=3600), bus=EventBus())
    batch = next(seeder.generate())
    zone = dnsmill.parse_zone(batch.text)
    names = set(zone.names())
    apexes = {r.name for r in zone.filter(type="SOA")}
    assert apexes == set(batch.domains) and len(apexes) == 200
    assert {r.type for r in zone} == {"SOA", "NS", "A", "AAAA", "MX", "TXT", "CNAME", "SRV", "CAA"}
    for record in zone:
        assert 300 <= record.ttl <= 3600
        if record.type in ("CNAME", "NS"):
            assert record.rdata in names, record
        elif record.type == "MX":
            assert record.preference in (10, 20) and record.rdata.split()[1] in names
        elif record.type == "SRV":
            assert record.rdata.split()[3] in names
    spf = [r for r in zone.filter(type="TXT") if "v=spf1" in r.rdata]
    dmarc = [r for r in zone.filter(type="TXT") if r.name.startswith("_dmarc.")]
    assert len(spf) == len(dmarc) == 200


def test_types_restrict_what_is_generated() -> None:
    seeder = Seeder(SeedSettings(count=20, seed=1, types=["A", "mx"]), bus=EventBus())
    zone = dnsmill.parse_zone(next(seeder.generate()).text)
    assert {r.type for r in zone} == {"SOA", "A", "MX"}


def test_explicit_domains_and_zone_files(tmp_path: Path) -> None:
    settings = SeedSettings(domains=["Example.COM", "example.net."], seed=3, zones_dir=tmp_path / "zones")
    run = Seeder(settings, f"sqlite://{tmp_path / 'z.db'}", bus=EventBus()).run_once()
    assert run.domains == 2 and run.zones_written == 2
    files = sorted(p.name for p in (tmp_path / "zones").iterdir())
    assert files == ["example.com.zone", "example.net.zone"]
    from_file = dnsmill.parse_zone(tmp_path / "zones" / "example.com.zone")
    assert from_file.records()[0].type == "SOA"
    in_store = [row for row in stored(tmp_path / "z.db") if row[0].endswith("example.com.")]
    assert sorted((r.name, r.type, r.ttl, r.rdata) for r in from_file) == sorted(in_store)


def test_a_run_announces_itself_on_the_bus(tmp_path: Path) -> None:
    bus = EventBus()
    with bus.subscribe("seeder") as events:
        run = Seeder(SeedSettings(count=10, seed=9), f"sqlite://{tmp_path / 'e.db'}", bus=bus).run_once()
        event = events.get(timeout=5)
    assert event is not None and event.name == "dns_records_seeded"
    assert event.data == {
        "count": run.count,
        "domains": 10,
        "timestamp": run.timestamp,
        "duration_ms": run.duration_ms,
    }
    assert abs(event.data["timestamp"] - time.time()) < 60


def test_scheduled_runs_never_overlap_and_stop_on_request(tmp_path: Path) -> None:
    bus = EventBus()
    events = bus.subscribe("seeder")
    settings = SeedSettings(count=5, seed=1, every=timedelta(seconds=0.2), jitter=0.5)
    seeder = Seeder(settings, f"sqlite://{tmp_path / 's.db'}", bus=bus)
    assert seeder.run_every(runs=3) == 3
    seen = [events.get(timeout=1) for _ in range(3)]
    starts = [e.data["timestamp"] for e in seen if e]
    ends = [e.data["timestamp"] + e.data["duration_ms"] / 1000 for e in seen if e]
    assert all(start >= end for start, end in zip(starts[1:], ends[:-1], strict=True))
    stop = threading.Event()
    thread = threading.Thread(target=seeder.run_every, args=(stop,))
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_a_store_that_is_down_is_retried_with_backoff(tmp_path: Path) -> None:
    settings = SeedSettings(count=5, seed=1, every=timedelta(seconds=2))
    seeder = Seeder(settings, f"sqlite://{tmp_path / 'missing-dir' / 'x.db'}", bus=EventBus())
    started = time.monotonic()
    assert seeder.run_every(runs=2) == 0
    # The first failure waits 1 s before the second try.
    assert 0.9 <= time.monotonic() - started < 5
    with pytest.raises(dnsmill.StoreError):
        seeder.run_once()


def dnsmill_command(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dnsmill", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_cli_seeds_once_and_prints_the_run(tmp_path: Path) -> None:
    command = dnsmill_command(
        "seed", "--count", "40", "--db", f"sqlite://{tmp_path / 'cli.db'}", "--seed", "11", "-t", "A,MX,TXT"
    )
    out, err = command.communicate(timeout=60)
    assert command.returncode == 0, err
    run = json.loads(out)
    assert run["domains"] == 40 and run["seed"] == 11 and run["written"] == run["count"]
    assert "seeded" in err
    types = {row[1] for row in stored(tmp_path / "cli.db")}
    assert types == {"SOA", "A", "MX", "TXT"}


def test_cli_on_a_schedule_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "every.db"
    command = dnsmill_command("seed", "-n", "30", "--db", f"sqlite://{db}", "--every", "0.2s", "--seed", "2")
    assert command.stderr is not None
    assert "seeded" in command.stderr.readline()  # the first run is done
    command.send_signal(signal.SIGTERM)
    _, err = command.communicate(timeout=30)
    assert command.returncode == 0, err
    assert "SIGTERM" in err
    once = tmp_path / "once.db"
    Seeder(SeedSettings(count=30, seed=2), f"sqlite://{once}", bus=EventBus()).run_once()
    assert stored(db) == stored(once)  # every run wrote the same records, whole


def test_cli_config_errors_and_show(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("db: postgresql://u:topsecret@127.0.0.1/x\nseed:\n  every: soon\n")
    command = dnsmill_command("seed", "--config", str(config))
    _, err = command.communicate(timeout=60)
    assert command.returncode == 2
    assert str(config) in err and "seed.every" in err and "not a duration" in err
    config.write_text("db: postgresql://u:topsecret@127.0.0.1/x\n")
    command = dnsmill_command("config", "show", "--config", str(config))
    out, err = command.communicate(timeout=60)
    assert command.returncode == 0, err
    assert json.loads(out)["db"] == "postgresql://u:***@127.0.0.1/x"
    assert "topsecret" not in out
