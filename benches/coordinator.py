"""The coordinator's zone-directory source against what users write instead, in one run:

  latency   1,000 zone files in one watched directory; 100 of them edited together (a record
            changed and the serial bumped). Measured: from the last write to every change's
            events committed (polled from another process, as a consumer of the table sees it).
  idle CPU  1,000 sources (one watched directory each, one zone file each), settled, for
            --idle-seconds: the process's user+system CPU time over that span.

Contenders (each a process of its own, SQLite store):

  dnsmill coordinate   one stream of zone_directory sources: inotify (watchdog) plus a 30 s
                       poll, changed files parsed in Rust, compared with the zone held, the
                       added records upserted into dns_records (canonical, SHA-256 keys,
                       first/last seen) and one event per record added or removed written with
                       the checkpoints in one transaction, plus the live status and bus events.
  watchdog + dnspython the script a user writes: one watchdog observer, changed files parsed with
                       dnspython, compared with the records held in memory, and one event row
                       per change inserted (INSERT OR IGNORE, one transaction per look). No
                       records table, no checkpoints (a restart re-reads everything).

A benchmark, not a test.

    scripts/bench coordinator            # or: python benches/coordinator.py --files 1000 --changed 100
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from measure import cpu_seconds

ZONE = """$ORIGIN {zone}
@ 300 IN SOA ns1.example.net. hostmaster.example.net. {serial} 3600 600 86400 300
@ 300 IN NS ns1.example.net.
@ 300 IN NS ns2.example.net.
@ 300 IN MX 10 mail.{zone}
@ 300 IN TXT "v=spf1 mx -all"
www 300 IN A 192.0.2.{host}
mail 300 IN A 192.0.2.{mail}
api 300 IN AAAA 2001:db8::{host:x}
ftp 300 IN CNAME www.{zone}
"""


def zone_text(zone: str, serial: int, host: int) -> str:
    return ZONE.format(zone=zone, serial=serial, host=host % 250 + 1, mail=(host + 7) % 250 + 1)


# -- the peer: what a user writes ------------------------------------------------------------


def peer(directories: list[str], db: str, ready: str) -> None:
    import dns.zone
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    connection = sqlite3.connect(db)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, zone TEXT, kind TEXT, record TEXT, version TEXT)"
    )
    held: dict[str, tuple[tuple[int, int], set[str]]] = {}
    woken = threading.Event()

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event: object) -> None:
            woken.set()

    def look() -> None:
        rows = []
        for directory in directories:
            for entry in os.scandir(directory):
                if not entry.name.endswith(".zone"):
                    continue
                info = entry.stat()
                stat = (info.st_mtime_ns, info.st_size)
                before = held.get(entry.path)
                if before is not None and before[0] == stat:
                    continue
                origin = entry.name[: -len(".zone")] + "."
                text = Path(entry.path).read_text()
                version = hashlib.sha256(text.encode()).hexdigest()
                zone = dns.zone.from_text(text, origin=origin, relativize=False)
                records = {
                    f"{name} {rdataset.ttl} {rdataset.rdclass!s} {rdataset.rdtype!s} {rdata.to_text()}"
                    for name, rdataset in zone.iterate_rdatasets()
                    for rdata in rdataset
                }
                old = before[1] if before is not None else set()
                for kind, changed in (("added", records - old), ("removed", old - records)):
                    for record in changed:
                        key = hashlib.sha256(f"{origin}\0{kind}\0{record}\0{version}".encode()).hexdigest()
                        rows.append((key, origin, kind, record, version))
                held[entry.path] = (stat, records)
        if rows:
            with connection:
                connection.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)", rows)

    observer = Observer()
    for directory in directories:
        observer.schedule(Wake(), directory, recursive=False)
    observer.start()
    look()
    Path(ready).touch()
    while True:
        if woken.wait(30):
            time.sleep(0.05)
            woken.clear()
        look()


# -- the runs ------------------------------------------------------------------------------


def count(db: str, table: str) -> int:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()


def wait_for(db: str, table: str, wanted: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while (have := count(db, table)) < wanted:
        if time.monotonic() > deadline:
            raise SystemExit(f"{table} in {db}: {have} rows, waited for {wanted}")
        time.sleep(0.01)
    return time.perf_counter()


def start_dnsmill(db: str, directories: list[Path]) -> subprocess.Popen[bytes]:
    from dnsmill.coordinator import Coordinator
    from dnsmill.events import EventBus

    coordinator = Coordinator(f"sqlite://{db}", bus=EventBus())
    sources = [
        {
            "name": f"dir{index}",
            "kind": "zone_directory",
            "config": {"path": str(directory)},
            "poll_interval": 30,
        }
        for index, directory in enumerate(directories)
    ]
    coordinator.create_stream("bench", sources)
    coordinator.start_stream("bench")
    # Closed before this process reads the file with Python's sqlite3 (two SQLite libraries in
    # one process must not hold one file at once).
    coordinator.store.close()
    return subprocess.Popen(
        [sys.executable, "-m", "dnsmill", "coordinate", "--db", f"sqlite://{db}", "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_peer(db: str, directories: list[Path], workdir: Path) -> subprocess.Popen[bytes]:
    ready = workdir / "peer.ready"
    argv = [sys.executable, __file__, "--peer", db, str(ready), *map(str, directories)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    while not ready.exists():
        if process.poll() is not None:
            raise SystemExit("the peer died")
        time.sleep(0.05)
    return process


def latency_run(name: str, workdir: Path, files: int, changed: int, rounds: int) -> list[float]:
    """Seconds from the last write to all its events committed, per round."""
    zones = workdir / f"{name}-zones"
    zones.mkdir()
    for index in range(files):
        (zones / f"z{index}.bench.zone").write_text(zone_text(f"z{index}.bench.", 1, index))
    db = str(workdir / f"{name}.db")
    records = 9
    if name == "dnsmill":
        process = start_dnsmill(db, [zones])
        table = "dns_events"
    else:
        process = start_peer(db, [zones], workdir)
        table = "events"
    try:
        total = wait_for(db, table, files * records) and files * records
        times = []
        for round_ in range(rounds):
            for index in range(changed):
                (zones / f"z{index}.bench.zone").write_text(
                    zone_text(f"z{index}.bench.", round_ + 2, index + round_ + 1)
                )
            written = time.perf_counter()
            # Per file: the SOA and three addresses (www, mail, api), each removed and added.
            total += changed * 8
            times.append(wait_for(db, table, total) - written)
        return times
    finally:
        process.terminate()
        process.wait(30)


def idle_run(name: str, workdir: Path, sources: int, seconds: float) -> float:
    """CPU seconds per second of the settled process watching ``sources`` directories."""
    directories = []
    for index in range(sources):
        directory = workdir / f"{name}-idle" / f"d{index}"
        directory.mkdir(parents=True)
        (directory / f"i{index}.bench.zone").write_text(zone_text(f"i{index}.bench.", 1, index))
        directories.append(directory)
    db = str(workdir / f"{name}-idle.db")
    if name == "dnsmill":
        process = start_dnsmill(db, directories)
        wait_for(db, "dns_events", sources * 9)
    else:
        process = start_peer(db, directories, workdir)
    try:
        time.sleep(3)  # settle
        before, clock = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(process.pid) - before) / (time.monotonic() - clock)
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-sources", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--peer", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.peer:
        db, ready, *directories = options.peer
        peer(directories, db, ready)
        return
    workdir = Path(tempfile.mkdtemp(prefix="dnsmill-bench-coordinator-"))
    try:
        print(
            f"{options.files} zone files (9 records each) in one watched directory; {options.changed} edited together"
        )
        latencies = {
            name: latency_run(name, workdir, options.files, options.changed, options.rounds)
            for name in ("dnsmill", "peer")
        }
        idle = {
            name: idle_run(name, workdir, options.idle_sources, options.idle_seconds)
            for name in ("dnsmill", "peer")
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    labels = {"dnsmill": "dnsmill coordinate", "peer": "watchdog + dnspython"}
    print(
        f"\n| | change → committed, median of {options.rounds} (s) | worst (s) | idle CPU, {options.idle_sources} sources |"
    )
    print("|---|---:|---:|---:|")
    for name in ("dnsmill", "peer"):
        times = latencies[name]
        print(
            f"| {labels[name]} | {statistics.median(times):.3f} | {max(times):.3f} | {idle[name] * 100:.2f}% of a core |"
        )
    ratio = statistics.median(latencies["peer"]) / statistics.median(latencies["dnsmill"])
    print(
        f"\nlatency: the peer's median over dnsmill's = {ratio:.2f} "
        f"(target: all {options.changed} committed within 2 s; dnsmill's worst {max(latencies['dnsmill']):.3f} s)"
    )
    print(f"idle: dnsmill {idle['dnsmill'] * 100:.2f}% of a core (target: below 2%)")


if __name__ == "__main__":
    main()
