"""Batch writing: dnsmill's Writer beside each store's usual Python and command-line loaders.

Generates a realistic zone (dnsmill.demo.realistic_zone, 1M records by default) and writes its
records into a table of dnsmill's shape (the dns_records columns, unique on record_key, the
SHA-256 of name, type and rdata), each into a fresh database; the one exception is the staging
peer, which writes the narrower table a user would make for it:

  PostgreSQL  dnsmill  |  psql \\copy from CSV  |  psql COPY into a staging table, then
              INSERT ... ON CONFLICT DO NOTHING into the user's own table (name, type, ttl, rdata,
              unique on the first three: the one index)  |  asyncpg copy_records_to_table  |
              asyncpg executemany INSERT ... ON CONFLICT DO NOTHING
  SQLite      dnsmill  |  sqlite3 executemany INSERT ... ON CONFLICT DO NOTHING, one transaction
  MySQL       dnsmill  |  PyMySQL executemany INSERT IGNORE (multi-row statements)

then writes the same records again with dnsmill and reports the rows added (must be 0) and the
time. The peers' rows (tuples with their keys) are prepared before their clocks start; dnsmill
is timed from the records it holds. A benchmark, not a test: one run each.

    scripts/bench write              # or: python benches/write.py --records 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dnsmill
from dnsmill.demo import realistic_zone

PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
MYSQL_ADMIN = ["mariadb", "-h", "127.0.0.1", "-u", "root"]
# One row as the peers insert it: key, name, type, ttl, rdata, preference, source, first and last seen.
Row = tuple[Any, ...]
COLUMNS = "record_key, name, type, ttl, rdata, preference, source, first_seen, last_seen"


def rows_of(zone: dnsmill.Zone) -> list[Row]:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for record in zone:
        key = hashlib.sha256(f"{record.name}\0{record.type}\0{record.rdata}".encode()).digest()
        rows.append(
            (key, record.name, record.type, record.ttl, record.rdata, record.preference, "bench", now, now)
        )
    return rows


def count_rows(url: str) -> int:
    return sum(dnsmill.db_stats(url)["records_by_type"].values())


def timed(label: str, rows: int, work: Callable[[], object]) -> tuple[str, float, float]:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"  {label:45} {rows / seconds:>12,.0f} rows/s  {seconds:7.2f} s", flush=True)
    return label, rows / seconds, seconds


def dnsmill_write(url: str, zone: dnsmill.Zone) -> None:
    with dnsmill.Writer(url, batch_size=50_000) as writer:
        writer.write(zone)


def postgres(zone: dnsmill.Zone, rows: list[Row], workdir: Path) -> dict[str, float]:
    import asyncpg

    results: dict[str, float] = {}

    def fresh() -> tuple[str, str]:
        name = f"dnsmill_bench_{uuid.uuid4().hex[:10]}"
        subprocess.run([*PG_ADMIN, "-d", "postgres", "-c", f"CREATE DATABASE {name}"], check=True)
        url = f"postgresql://postgres@127.0.0.1/{name}"
        dnsmill.init_db(url)
        return name, url

    def drop(name: str) -> None:
        subprocess.run([*PG_ADMIN, "-d", "postgres", "-c", f"DROP DATABASE {name} WITH (FORCE)"], check=True)

    print("PostgreSQL", flush=True)
    name, url = fresh()
    results["dnsmill"] = timed("dnsmill Writer (COPY + upsert)", len(rows), lambda: dnsmill_write(url, zone))[
        1
    ]
    again = timed("dnsmill again (same records)", len(rows), lambda: dnsmill_write(url, zone))
    print(f"  rows after the second write: {count_rows(url):,} (added {count_rows(url) - len(rows):,})")
    results["again_seconds"] = again[2]
    drop(name)

    csv_path = workdir / "rows.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow(["\\x" + row[0].hex(), *row[1:5], "" if row[5] is None else row[5], *row[6:]])
    name, url = fresh()
    copy = f"\\copy dns_records ({COLUMNS}) FROM '{csv_path}' WITH (FORMAT csv, NULL '')"
    results["psql"] = timed(
        "psql \\copy from CSV (plain COPY, not idempotent)",
        len(rows),
        lambda: subprocess.run([*PG_ADMIN, "-d", name, "-c", copy], check=True),
    )[1]
    drop(name)

    # What a competent user writes by hand: their own table (no key column, no extra index:
    # the unique constraint is the only index), the rows COPYed into a staging table, then one
    # INSERT ... ON CONFLICT DO NOTHING, so a second load adds nothing.
    user_csv = workdir / "user-rows.csv"
    with open(user_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow(row[1:5])
    name, url = fresh()
    staged = (
        "CREATE TABLE user_records (name text NOT NULL, type text NOT NULL, ttl bigint NOT NULL, "
        "rdata text NOT NULL, UNIQUE (name, type, rdata));\n"
        "BEGIN;\n"
        "CREATE TEMP TABLE staging (name text, type text, ttl bigint, rdata text) ON COMMIT DROP;\n"
        f"\\copy staging FROM '{user_csv}' WITH (FORMAT csv)\n"
        "INSERT INTO user_records SELECT * FROM staging ON CONFLICT DO NOTHING;\n"
        "COMMIT;\n"
    )
    results["psql_staged"] = timed(
        "psql staging COPY + INSERT ON CONFLICT (own table)",
        len(rows),
        lambda: subprocess.run([*PG_ADMIN, "-d", name], input=staged, text=True, check=True),
    )[1]
    drop(name)

    async def copy_records(database: str) -> None:
        connection = await asyncpg.connect(user="postgres", host="127.0.0.1", database=database)
        await connection.copy_records_to_table(
            "dns_records", records=rows, columns=[c.strip() for c in COLUMNS.split(",")]
        )
        await connection.close()

    name, url = fresh()
    results["asyncpg_copy"] = timed(
        "asyncpg copy_records_to_table", len(rows), lambda: asyncio.run(copy_records(name))
    )[1]
    drop(name)

    async def executemany(database: str) -> None:
        connection = await asyncpg.connect(user="postgres", host="127.0.0.1", database=database)
        placeholders = ", ".join(f"${i}" for i in range(1, 10))
        await connection.executemany(
            f"INSERT INTO dns_records ({COLUMNS}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            rows,
        )
        await connection.close()

    name, url = fresh()
    results["asyncpg_executemany"] = timed(
        "asyncpg executemany ON CONFLICT DO NOTHING", len(rows), lambda: asyncio.run(executemany(name))
    )[1]
    drop(name)
    return results


def sqlite(zone: dnsmill.Zone, rows: list[Row], workdir: Path) -> dict[str, float]:
    import sqlite3

    results: dict[str, float] = {}
    print("SQLite", flush=True)
    url = f"sqlite://{workdir / 'dnsmill.db'}"
    dnsmill.init_db(url)
    results["dnsmill"] = timed("dnsmill Writer", len(rows), lambda: dnsmill_write(url, zone))[1]
    again = timed("dnsmill again (same records)", len(rows), lambda: dnsmill_write(url, zone))
    print(f"  rows after the second write: {count_rows(url):,} (added {count_rows(url) - len(rows):,})")
    results["again_seconds"] = again[2]

    peer = workdir / "python.db"
    dnsmill.init_db(f"sqlite://{peer}")

    def executemany() -> None:
        text_rows = [(*row[:7], row[7].isoformat(" "), row[8].isoformat(" ")) for row in rows]
        connection = sqlite3.connect(peer)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        with connection:
            connection.executemany(
                f"INSERT INTO dns_records ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (record_key) DO NOTHING",
                text_rows,
            )
        connection.close()

    results["sqlite3"] = timed("sqlite3 executemany, one transaction", len(rows), executemany)[1]
    return results


def mysql(zone: dnsmill.Zone, rows: list[Row]) -> dict[str, float]:
    import pymysql

    results: dict[str, float] = {}
    print("MySQL (MariaDB)", flush=True)

    def fresh() -> tuple[str, str]:
        name = f"dnsmill_bench_{uuid.uuid4().hex[:10]}"
        subprocess.run([*MYSQL_ADMIN, "-e", f"CREATE DATABASE {name}"], check=True)
        url = f"mysql://root@127.0.0.1/{name}"
        dnsmill.init_db(url)
        return name, url

    def drop(name: str) -> None:
        subprocess.run([*MYSQL_ADMIN, "-e", f"DROP DATABASE {name}"], check=True)

    name, url = fresh()
    results["dnsmill"] = timed("dnsmill Writer", len(rows), lambda: dnsmill_write(url, zone))[1]
    again = timed("dnsmill again (same records)", len(rows), lambda: dnsmill_write(url, zone))
    print(f"  rows after the second write: {count_rows(url):,} (added {count_rows(url) - len(rows):,})")
    results["again_seconds"] = again[2]
    drop(name)

    name, url = fresh()

    def executemany() -> None:
        connection = pymysql.connect(host="127.0.0.1", user="root", database=name, autocommit=False)
        with connection.cursor() as cursor:
            for start in range(0, len(rows), 10_000):
                cursor.executemany(
                    f"INSERT IGNORE INTO dns_records ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    rows[start : start + 10_000],
                )
        connection.commit()
        connection.close()

    results["pymysql"] = timed("PyMySQL executemany INSERT IGNORE", len(rows), executemany)[1]
    drop(name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--stores", default="postgresql,sqlite,mysql")
    args = parser.parse_args()
    zone = dnsmill.parse_zone(realistic_zone(args.records))
    rows = rows_of(zone)
    print(f"{len(rows):,} records; {os.cpu_count()} cores shared by the client and the database servers")
    stores = args.stores.split(",")
    ratios: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="dnsmill-bench-") as workdir:
        if "postgresql" in stores:
            pg = postgres(zone, rows, Path(workdir))
            ratios += [
                ("PostgreSQL: dnsmill / psql staging + ON CONFLICT", pg["dnsmill"] / pg["psql_staged"], 1.0),
                ("PostgreSQL: dnsmill / psql \\copy", pg["dnsmill"] / pg["psql"], 0.0),
                ("PostgreSQL: dnsmill / asyncpg executemany", pg["dnsmill"] / pg["asyncpg_executemany"], 3.0),
                (
                    "PostgreSQL: dnsmill / asyncpg copy_records_to_table",
                    pg["dnsmill"] / pg["asyncpg_copy"],
                    0.0,
                ),
            ]
        if "sqlite" in stores:
            lite = sqlite(zone, rows, Path(workdir))
            ratios.append(("SQLite: dnsmill / sqlite3 executemany", lite["dnsmill"] / lite["sqlite3"], 3.0))
        if "mysql" in stores:
            my = mysql(zone, rows)
            ratios.append(("MySQL: dnsmill / PyMySQL executemany", my["dnsmill"] / my["pymysql"], 3.0))
    print()
    for label, ratio, target in ratios:
        verdict = "no target" if target == 0 else ("meets" if ratio >= target else "MISSES")
        print(f"{label:52} {ratio:6.2f}x   (target >= {target}x: {verdict})")


if __name__ == "__main__":
    main()
