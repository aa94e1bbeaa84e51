"""The event writer against what users write instead: small DNS-record messages pre-published to
a JetStream stream, drained into PostgreSQL, in one run.

Contenders, each with a durable consumer of its own on the same stream (the same messages):

  dnsmill ingest   the Rust consumer: batches of 5,000, records canonicalised (names, rdata),
                   keyed by SHA-256 of name, type and rdata, first_seen/last_seen stamped, one
                   transaction per batch, acks after the commit (all of it counted).
  per-row          what the Go event writer does: nats-py pull fetches of 100, one
                   `INSERT ... ON CONFLICT DO NOTHING` per message (asyncpg), then its ack.
                   Timed on the first --per-row-messages messages (it would take minutes on all).
  fetch + COPY     nats-py pull fetches of 5,000, JSON decoded, asyncpg COPY into a temporary
                   table, `INSERT ... ON CONFLICT DO NOTHING` into the table in one transaction,
                   then each message acked.

The peers write a plain table (name, type, ttl, rdata, unique on name, type, rdata): no
canonical form, no timestamps. A benchmark, not a test.

    scripts/bench ingest                       # or: python benches/ingest.py --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import threading
import time
import uuid

import asyncpg
import dnsmill
import nats
from nats.js.api import AckPolicy, ConsumerConfig

NATS = "nats://127.0.0.1:4222"


def payload(i: int) -> bytes:
    return json.dumps(
        {
            "name": f"host{i}.bench.example.",
            "type": "A",
            "ttl": 300,
            "rdata": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
        },
        separators=(",", ":"),
    ).encode()


async def prepublish(stream: str, subject: str, count: int) -> float:
    connection = await nats.connect(NATS)
    js = connection.jetstream(publish_async_max_pending=20_000)
    await js.add_stream(name=stream, subjects=[subject])
    started = time.perf_counter()
    futures = [await js.publish_async(subject, payload(i)) for i in range(count)]
    for future in futures:
        await future
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed


async def delete_stream(stream: str) -> None:
    connection = await nats.connect(NATS)
    try:
        await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_dnsmill(db: str, stream: str, subject: str, count: int) -> tuple[float, float]:
    ingest = dnsmill.Ingest(
        NATS,
        db,
        [
            {
                "name": stream,
                "subjects": [subject],
                "durable": "dnsmill",
                "dead_letter_subject": f"{stream}.DLQ",
                "max_deliver": 5,
                "ack_wait": 60.0,
            }
        ],
        [
            {
                "subject": subject,
                "processor": "records",
                "table": "dns_records",
                "batch_size": 5000,
                "batch_timeout": 0.2,
            }
        ],
    )
    failed: list[BaseException] = []

    def run() -> None:
        try:
            ingest.run()
        except BaseException as error:
            failed.append(error)

    cpu = cpu_seconds()
    started = time.perf_counter()
    thread = threading.Thread(target=run)
    thread.start()
    while ingest.stats()["routes"][subject]["acked"] < count:
        assert not failed, failed
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    ingest.stop()
    thread.join()
    return elapsed, cpu


async def peer_setup(connection: object, store: asyncpg.Connection, stream: str, table: str) -> object:
    """The peer's table (a plain one, unique on name, type and rdata) and its own durable, named
    after the table; returns the pull subscription."""
    await store.execute(
        f"CREATE TABLE {table} (name TEXT NOT NULL, type TEXT NOT NULL, ttl INTEGER NOT NULL, "
        "rdata TEXT NOT NULL, UNIQUE (name, type, rdata))"
    )
    js = connection.jetstream()  # type: ignore[attr-defined]
    await js.add_consumer(
        stream, ConsumerConfig(durable_name=table, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000)
    )
    return await js.pull_subscribe_bind(table, stream=stream)


async def run_per_row(db: str, stream: str, count: int) -> tuple[float, float]:
    connection = await nats.connect(NATS)
    store = await asyncpg.connect(db)
    subscription = await peer_setup(connection, store, stream, "peer_rows")
    cpu = cpu_seconds()
    started = time.perf_counter()
    done = 0
    while done < count:
        for message in await subscription.fetch(min(100, count - done), timeout=5):  # type: ignore[attr-defined]
            record = json.loads(message.data)
            await store.execute(
                "INSERT INTO peer_rows (name, type, ttl, rdata) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                record["name"],
                record["type"],
                record["ttl"],
                record["rdata"],
            )
            await message.ack()
            done += 1
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    await store.close()
    await connection.close()
    return elapsed, cpu


async def run_fetch_copy(db: str, stream: str, count: int) -> tuple[float, float]:
    connection = await nats.connect(NATS)
    store = await asyncpg.connect(db)
    subscription = await peer_setup(connection, store, stream, "peer_copy")
    cpu = cpu_seconds()
    started = time.perf_counter()
    done = 0
    while done < count:
        messages = await subscription.fetch(min(5000, count - done), timeout=5)  # type: ignore[attr-defined]
        rows = []
        for message in messages:
            record = json.loads(message.data)
            rows.append((record["name"], record["type"], record["ttl"], record["rdata"]))
        async with store.transaction():
            await store.execute(
                "CREATE TEMP TABLE IF NOT EXISTS staging (name TEXT, type TEXT, ttl INTEGER, rdata TEXT) ON COMMIT DELETE ROWS"
            )
            await store.copy_records_to_table("staging", records=rows)
            await store.execute("INSERT INTO peer_copy SELECT * FROM staging ON CONFLICT DO NOTHING")
        for message in messages:
            await message.ack()
        done += len(messages)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    await store.close()
    await connection.close()
    return elapsed, cpu


def psql(database: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-Atc", sql],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-row-messages", type=int, default=30_000)
    arguments = parser.parse_args()
    count = arguments.messages
    database = f"dnsmill_bench_{uuid.uuid4().hex[:8]}"
    psql("postgres", f"CREATE DATABASE {database}")
    db = f"postgresql://postgres@127.0.0.1:5432/{database}"
    stream = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{stream.lower()}.records"
    try:
        publish_seconds = asyncio.run(prepublish(stream, subject, count))
        print(f"{count:,} messages of ~{len(payload(count // 2))} bytes published in {publish_seconds:.1f} s")
        results: dict[str, tuple[int, float, float]] = {}
        elapsed, cpu = run_dnsmill(db, stream, subject, count)
        rows = int(psql(database, "SELECT count(*) FROM dns_records"))
        assert rows == count, f"dnsmill wrote {rows} rows of {count}"
        results["dnsmill ingest"] = (count, elapsed, cpu)
        elapsed, cpu = asyncio.run(run_fetch_copy(db, stream, count))
        assert int(psql(database, "SELECT count(*) FROM peer_copy")) == count
        results["nats-py fetch + COPY"] = (count, elapsed, cpu)
        sample = min(arguments.per_row_messages, count)
        elapsed, cpu = asyncio.run(run_per_row(db, stream, sample))
        assert int(psql(database, "SELECT count(*) FROM peer_rows")) == sample
        results["per-row INSERT"] = (sample, elapsed, cpu)
    finally:
        asyncio.run(delete_stream(stream))
        psql("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    print()
    print("| | messages | seconds | msgs/s | CPU µs/msg (this process) |")
    print("|---|---:|---:|---:|---:|")
    rates = {}
    for name, (messages, elapsed, cpu) in results.items():
        rates[name] = messages / elapsed
        print(f"| {name} | {messages:,} | {elapsed:.2f} | {rates[name]:,.0f} | {cpu / messages * 1e6:.1f} |")
    ours = rates["dnsmill ingest"]
    print()
    print(
        f"dnsmill ingest: {ours / rates['per-row INSERT']:.1f}x per-row INSERT (target 20x), "
        f"{ours / rates['nats-py fetch + COPY']:.2f}x nats-py fetch + COPY (target 2x); "
        f"{ours:,.0f} msgs/s (target 50,000)"
    )
    print(
        "dnsmill canonicalises every record, keys it by SHA-256 and stamps first/last_seen; the peers "
        "store the JSON fields as they are. NATS, PostgreSQL and the contenders share the 2 cores."
    )


if __name__ == "__main__":
    main()
