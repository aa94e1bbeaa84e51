"""The batch writer against the real stores on this machine: SQLite, PostgreSQL 127.0.0.1:5432
and MariaDB 127.0.0.1:3306, each test in a database of its own, dropped afterwards."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dnsmill
import pytest
from dnsmill.demo import realistic_zone
from stores import admin, run_client


def total(stats: dict[str, dict[str, int]]) -> int:
    return sum(stats["records_by_type"].values())


def test_schema_is_created_once(store: str) -> None:
    assert dnsmill.init_db(store) == [1, 2, 3]
    assert dnsmill.init_db(store) == []
    assert dnsmill.db_stats(store) == {"records_by_type": {}, "domains_by_status": {}, "dead_letters": {}}


def test_writing_the_same_records_twice_leaves_one_copy(store: str) -> None:
    zone = dnsmill.parse_zone(realistic_zone(3000))
    for expected in ("added", "unchanged"):
        with dnsmill.Writer(store, batch_size=700, source="test") as writer:
            writer.write(zone)
        assert writer.stats["written"] == len(zone)
        assert writer.stats[expected] == len(zone), writer.stats
        assert writer.stats["batches"] == -(-len(zone) // 700)
    stats = dnsmill.db_stats(store)
    assert stats["records_by_type"] == zone.count_by_type()
    assert total(stats) == len(zone)


def test_a_new_ttl_refreshes_a_stored_record_and_new_data_is_added(store: str) -> None:
    """Added, refreshed and unchanged are told apart in one batch, on every store."""
    records = [dnsmill.Record(f"n{i}.example.", "A", 60, f"192.0.2.{i}") for i in range(10)]
    with dnsmill.Writer(store) as writer:
        writer.write(records)
    changed = [dnsmill.Record(r.name, r.type, 120, r.rdata) for r in records[:3]]
    new = [dnsmill.Record(f"new{i}.example.", "A", 60, "192.0.2.99") for i in range(4)]
    with dnsmill.Writer(store) as writer:
        writer.write(changed + records[3:] + new)
    assert {key: writer.stats[key] for key in ("written", "added", "refreshed", "unchanged")} == {
        "written": 14,
        "added": 4,
        "refreshed": 3,
        "unchanged": 7,
    }
    assert total(dnsmill.db_stats(store)) == 14


def test_duplicates_inside_one_batch_are_written_once(store: str) -> None:
    records = [
        dnsmill.Record("a.example.", "A", 60, "192.0.2.1"),
        dnsmill.Record("a.example.", "A", 300, "192.0.2.1"),
        dnsmill.Record("A.Example.", "MX", 300, "10 Mail.Example."),
        dnsmill.Record("a.example.", "MX", 300, "10 mail.example."),
        dnsmill.Record("b.example.", "TXT", 60, '"' + "x" * 250 + '" "' + "y" * 250 + '"'),
    ]
    writer = dnsmill.Writer(store, flush_interval=30)
    writer.write(records)
    writer.write(records[:1])
    stats = writer.close()
    assert stats == {
        "received": 6,
        "written": 3,
        "added": 3,
        "refreshed": 0,
        "unchanged": 0,
        "deduplicated": 3,
        "batches": 1,
        "retried": 0,
        "dead_lettered": 0,
    }
    assert dnsmill.db_stats(store)["records_by_type"] == {"A": 1, "MX": 1, "TXT": 1}


def test_rows_are_written_after_the_flush_interval_without_a_flush(store: str) -> None:
    writer = dnsmill.Writer(store, flush_interval=0.2)
    writer.write(dnsmill.Record("late.example.", "A", 60, "192.0.2.9"))
    deadline = time.monotonic() + 10
    while total(dnsmill.db_stats(store)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert total(dnsmill.db_stats(store)) == 1
    writer.flush()
    assert writer.close()["written"] == 1


def test_bad_table_names_and_unreachable_stores_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(dnsmill.StoreError, match="not a valid table name"):
        dnsmill.Writer(f"sqlite://{tmp_path / 'x.db'}", table="records; DROP TABLE x")
    with pytest.raises(dnsmill.StoreError, match="cannot connect"):
        dnsmill.Writer("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError, match="unknown store"):
        dnsmill.Writer("oracle://x")


def test_cli_loads_a_zone_and_reports(store: str, tmp_path: Path) -> None:
    path = tmp_path / "example.com.zone"
    path.write_text(realistic_zone(500))
    command = [sys.executable, "-m", "dnsmill"]
    init = subprocess.run([*command, "db", "init", store], capture_output=True, text=True, check=True)
    assert "applied migrations [1, 2, 3]" in init.stdout
    records = len(dnsmill.parse_zone(path))
    for report in (
        f"{records} added, 0 refreshed, 0 unchanged",
        f"0 added, 0 refreshed, {records} unchanged",
    ):
        loaded = subprocess.run(
            [*command, "zone", "load", str(path), "--db", store], capture_output=True, text=True
        )
        assert loaded.returncode == 0, loaded.stderr
        assert f"{records} rows in 1 batches: {report}" in loaded.stdout
    stats = subprocess.run(
        [*command, "db", "stats", store, "--json"], capture_output=True, text=True, check=True
    )
    assert '"records_by_type"' in stats.stdout
    assert total(dnsmill.db_stats(store)) == len(dnsmill.parse_zone(path))


def test_rows_the_store_rejects_go_to_dead_letters_and_the_rest_commits(store: str) -> None:
    dnsmill.Writer(store, table="narrow").close()
    if store.startswith("sqlite://"):
        admin(
            store,
            "CREATE TRIGGER narrow_rdata BEFORE INSERT ON narrow WHEN length(NEW.rdata) > 60 "
            "BEGIN SELECT RAISE(ABORT, 'rdata longer than 60'); END",
        )
    else:
        length = "length" if store.startswith("postgresql://") else "CHAR_LENGTH"
        admin(store, f"ALTER TABLE narrow ADD CONSTRAINT narrow_rdata CHECK ({length}(rdata) <= 60)")
    records = [dnsmill.Record(f"h{i}.example.", "A", 60, f"192.0.2.{i}") for i in range(97)]
    poison = [dnsmill.Record(f"t{i}.example.", "TXT", 60, '"' + "x" * 80 + '"') for i in range(3)]
    records[10:10] = poison[:1]
    records[50:50] = poison[1:]
    with dnsmill.Writer(store, table="narrow", batch_size=100) as writer:
        writer.write(records)
    assert writer.stats["written"] == 97 and writer.stats["dead_lettered"] == 3
    assert dnsmill.db_stats(store, "narrow")["records_by_type"] == {"A": 97}
    assert dnsmill.db_stats(store)["dead_letters"] == {"record": 3}
    reasons = admin(store, "SELECT reason FROM dead_letters")
    assert reasons.count("\n") == 2 and ("narrow_rdata" in reasons or "longer than 60" in reasons)
    assert "t0.example." in admin(store, "SELECT payload FROM dead_letters")


@pytest.mark.parametrize("store", ["postgresql", "mysql"], indirect=True)
def test_a_killed_connection_is_retried_without_loss_or_duplicates(store: str) -> None:
    zone = dnsmill.parse_zone(realistic_zone(40000))
    writer = dnsmill.Writer(store, batch_size=400)
    worker = threading.Thread(target=lambda: (writer.write(zone), writer.close()))
    worker.start()
    if store.startswith("postgresql://"):
        database = store.rsplit("/", 1)[1]
        kill = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    else:
        database = store.rsplit("/", 1)[1]
        kill = ""
    kills = 0
    while worker.is_alive() and kills < 3:
        time.sleep(0.15)
        if store.startswith("postgresql://"):
            admin(store, kill)
        else:
            ids = admin(
                store,
                f"SELECT id FROM information_schema.processlist WHERE db = '{database}' AND id <> CONNECTION_ID()",
            )
            for ident in ids.split():
                run_client(["mariadb", "-h", "127.0.0.1", "-u", "root", "-e"], f"KILL {ident}")
        kills += 1
    worker.join(timeout=120)
    assert kills >= 1 and writer.stats["retried"] >= 1, writer.stats
    assert total(dnsmill.db_stats(store)) == len(zone)
    assert writer.stats["written"] >= len(zone)


def test_a_full_queue_blocks_producers_instead_of_growing(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = f"sqlite://{path}"
    writer = dnsmill.Writer(store, batch_size=10, flush_interval=0.05)
    # Another process holds the write lock until its standard input closes.
    script = (
        "import sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "connection.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
        "connection.execute('COMMIT')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    done: list[int] = []

    def produce() -> None:
        for i in range(30):
            writer.write([dnsmill.Record(f"n{i}-{j}.example.", "A", 60, "192.0.2.1") for j in range(10)])
            done.append(i)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.0)
    blocked_at = len(done)
    assert producer.is_alive() and blocked_at < 10, (
        f"the producer got {blocked_at} writes past a blocked store"
    )
    holder.communicate(timeout=30)
    producer.join(timeout=60)
    writer.close()
    assert len(done) == 30
    assert total(dnsmill.db_stats(store)) == 300


def test_arrow_tables_are_written_without_a_python_object_per_row(tmp_path: Path) -> None:
    import polars as pl
    import pyarrow as pa

    store = f"sqlite://{tmp_path / 'arrow.db'}"
    zone = dnsmill.parse_zone(realistic_zone(2000))
    table = zone.to_arrow()
    with dnsmill.Writer(store) as writer:
        writer.write(table)
        writer.write(pl.from_arrow(table))
        writer.write(
            pa.table(
                {"name": ["Mixed.Case.example"], "type": ["mx"], "ttl": [60], "rdata": ["10 MX.example."]}
            )
        )
    assert writer.stats["received"] == 2 * len(zone) + 1
    assert total(dnsmill.db_stats(store)) == len(zone) + 1
    bad = pa.table({"name": ["a.example."], "type": ["A"], "ttl": [60], "rdata": ["not-an-address"]})
    with dnsmill.Writer(store) as writer, pytest.raises(ValueError, match="Arrow row 0: A: bad IPv4 address"):
        writer.write(bad)
    with dnsmill.Writer(store) as writer, pytest.raises(ValueError, match="no 'rdata' column"):
        writer.write(pa.table({"name": ["a."], "type": ["A"], "ttl": [1]}))


def test_two_writers_racing_on_the_same_records_leave_one_copy(store: str) -> None:
    zone = dnsmill.parse_zone(realistic_zone(20000))
    dnsmill.init_db(store)
    writers = [dnsmill.Writer(store, batch_size=500) for _ in range(2)]
    threads = [threading.Thread(target=lambda w=writer: (w.write(zone), w.close())) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(writer.stats["dead_lettered"] == 0 for writer in writers)
    assert all(writer.stats["written"] >= len(zone) for writer in writers)
    assert total(dnsmill.db_stats(store)) == len(zone)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_ctrl_c_during_a_long_write_leaves_only_whole_batches(store: str) -> None:
    dnsmill.init_db(store)
    script = (
        "import sys, dnsmill\n"
        "from dnsmill.demo import realistic_zone\n"
        "records = list(dnsmill.parse_zone(realistic_zone(300000)))[:300000]\n"
        "writer = dnsmill.Writer(sys.argv[1], batch_size=1000, flush_interval=60)\n"
        "print('writing', flush=True)\n"
        "try:\n"
        "    for start in range(0, len(records), 5000):\n"
        "        writer.write(records[start : start + 5000])\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
        "writer.close()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, store], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 60
    while total(dnsmill.db_stats(store)) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130, "the write was still running when interrupted"
    rows = total(dnsmill.db_stats(store))
    assert 0 < rows < 300000 and rows % 1000 == 0, rows


def test_reading_a_store_creates_nothing(store: str, tmp_path: Path) -> None:
    """`db_stats` (and `dnsmill db stats`, `dnsmill serve --db`) read what is there: a mistyped
    SQLite path is not created, an empty database gets no schema."""
    with pytest.raises(dnsmill.StoreSchemaError, match=r"is this a dnsmill store|no such file"):
        dnsmill.db_stats(store)
    if store.startswith("sqlite://"):
        assert not Path(store.removeprefix("sqlite://")).exists()
    else:
        with pytest.raises(dnsmill.StoreSchemaError):  # still no tables: nothing was migrated
            dnsmill.db_stats(store)
    missing = tmp_path / "typo" / "dnsmill.db"
    result = subprocess.run(
        [sys.executable, "-m", "dnsmill", "db", "stats", f"sqlite://{missing}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "no such file" in result.stderr and "Traceback" not in result.stderr
    served = subprocess.run(
        [
            sys.executable,
            "-m",
            "dnsmill",
            "serve",
            "--db",
            f"sqlite://{tmp_path / 'nothing.db'}",
            "--listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode != 0 and "no such file" in served.stderr
    assert not (tmp_path / "nothing.db").exists()


def test_a_fresh_table_loads_without_the_writers_connections_tripping_over_each_other(store: str) -> None:
    """Batches go to two connections side by side; inserting only keys that were not stored
    takes no gap locks, so on a fresh MySQL table they no longer deadlock (and retry)."""
    zone = dnsmill.parse_zone(realistic_zone(40_000))
    with dnsmill.Writer(store, batch_size=2000) as writer:
        writer.write(zone)
    assert writer.stats["added"] == len(zone)
    assert writer.stats["retried"] == 0, writer.stats


def test_a_store_of_schema_1_is_brought_up_to_date_keeping_its_queued_domains(store: str) -> None:
    """Schema 2 adds domains.queued_at; domains queued before it count from the migration."""
    from stores import admin

    dnsmill.init_db(store)
    admin(store, "ALTER TABLE domains DROP COLUMN queued_at")
    admin(store, "DELETE FROM dnsmill_schema WHERE version = 2")
    admin(store, "INSERT INTO domains (name, status) VALUES ('old.example.', 'queued')")
    assert dnsmill.init_db(store) == [2]
    assert (
        admin(store, "SELECT COUNT(*) FROM domains WHERE status = 'queued' AND queued_at IS NOT NULL") == "1"
    )
    with dnsmill.Domains(store) as domains:
        assert domains.count_due(requeue_after=3600) == 0


def hold_the_records_table(store: str, seconds: float) -> subprocess.Popen[str]:
    """Another client holding the records table locked against writes for ``seconds``."""
    if store.startswith("postgresql://"):
        database = store.rsplit("/", 1)[1]
        sql = f"BEGIN; LOCK TABLE dns_records IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"
        argv = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql]
    elif store.startswith("mysql://"):
        database = store.rsplit("/", 1)[1]
        sql = f"LOCK TABLES dns_records WRITE; SELECT SLEEP({seconds}); UNLOCK TABLES;"
        argv = ["mariadb", "-h", "127.0.0.1", "-u", "root", "-D", database, "-e", sql]
    else:
        script = (
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "time.sleep(float(sys.argv[2]))\n"
            "db.execute('COMMIT')\n"
        )
        argv = [sys.executable, "-c", script, store.removeprefix("sqlite://"), str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_statement_over_the_urls_statement_timeout_is_retried(store: str) -> None:
    """``?statement_timeout=`` bounds every statement (on SQLite, the wait for the write lock):
    a write stuck behind a lock fails in time and is tried again, and nothing is lost."""
    dnsmill.init_db(store)
    dnsmill.Writer(store).close()  # the records table
    separator = "&" if "?" in store else "?"
    writer = dnsmill.Writer(f"{store}{separator}statement_timeout=0.3", batch_size=500)
    locker = hold_the_records_table(store, seconds=2.5)
    try:
        time.sleep(0.8)  # the lock is taken
        zone = dnsmill.parse_zone(realistic_zone(200))
        started = time.monotonic()
        writer.write(zone)
        writer.close()
        waited = time.monotonic() - started
    finally:
        _out, err = locker.communicate(timeout=30)
    assert locker.returncode == 0, err
    assert writer.stats["retried"] >= 1, writer.stats
    assert waited > 1.0, waited  # it waited for the lock, through retries
    assert total(dnsmill.db_stats(store)) == len(zone)


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_records_table_of_the_earlier_shape_is_written_as_before(store: str) -> None:
    """PostgreSQL records tables used to carry an id, a unique record_key and an index on
    (name, type); tables made now are keyed on (name, type, record_key) alone. A table of the
    earlier shape is used as it is: added, refreshed and unchanged rows as on the new one."""
    dnsmill.init_db(store)
    admin(
        store,
        "CREATE TABLE earlier (id BIGSERIAL PRIMARY KEY, record_key BYTEA NOT NULL UNIQUE, "
        "name TEXT NOT NULL, type TEXT NOT NULL, ttl BIGINT NOT NULL, rdata TEXT NOT NULL, "
        "preference INTEGER, source TEXT, first_seen TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL); "
        "CREATE INDEX earlier_name ON earlier (name, type)",
    )
    zone = dnsmill.parse_zone(realistic_zone(2000))
    with dnsmill.Writer(store, table="earlier", batch_size=500) as writer:
        writer.write(zone)
    assert writer.stats["added"] == len(zone), writer.stats
    with dnsmill.Writer(store, table="earlier", batch_size=500) as writer:
        writer.write(zone)
    assert writer.stats["unchanged"] == len(zone), writer.stats
    refreshed = [dnsmill.Record(r.name, r.type, r.ttl + 1, r.rdata) for r in list(zone)[:10]]
    with dnsmill.Writer(store, table="earlier") as writer:
        writer.write(refreshed)
    assert writer.stats["refreshed"] == 10, writer.stats
    assert admin(store, "SELECT count(*), max(id) FROM earlier") == f"{len(zone)}|{len(zone)}"
    assert total(dnsmill.db_stats(store, table="earlier")) == len(zone)
    assert admin(store, "SELECT count(*) FROM pg_indexes WHERE tablename = 'earlier'") == "3"
    # A table made now has the one key, and no id.
    assert admin(store, "SELECT indexdef FROM pg_indexes WHERE tablename = 'dns_records'").endswith(
        "USING btree (name, type, record_key)"
    )
