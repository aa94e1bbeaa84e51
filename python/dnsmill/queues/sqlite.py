"""The embedded queue: a durable queue in one SQLite file that every process on the machine shares.

``sqlite:///abs/path.db`` or ``sqlite://relative.db`` (as store URLs), with the options
``delivery_limit`` (default 5) and ``lease`` (seconds, default 30).

Each operation is one ``BEGIN IMMEDIATE`` transaction, committed with ``synchronous=FULL``
before it returns: a message put or acked stays so through ``kill -9`` or a power cut. The
work runs in a thread (one connection per :class:`SqliteQueue`), never on the event loop.

A delivery is a lease on a message row: the row is hidden from other consumers for ``lease``
seconds, and an open consumer renews the leases of what it holds every ``lease / 3`` seconds.
A live consumer so keeps a message however long it works on it, while one killed (``kill -9``,
a power cut) loses its messages to others within one lease. A consumer whose event loop stalls
longer than a lease may lose a message the same way; its settle then raises
:class:`~dnsmill.QueueError` and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dnsmill import events, metrics
from dnsmill._core import QueueConnectionError, QueueError
from dnsmill.queues.base import (
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_QUEUE_NAME,
    Consumer,
    DeadLetter,
    Delivery,
    Depth,
    Queue,
    to_completion,
)

log = logging.getLogger("dnsmill.queues")

#: Seconds a delivery stays hidden from other consumers without a renewal.
DEFAULT_LEASE = 30.0
#: Seconds an operation waits for another process's transaction before giving up as busy.
BUSY_TIMEOUT = 30.0
# An empty queue is polled, first after 10 ms, then twice as long each time up to 250 ms.
_FIRST_POLL = 0.01
_LAST_POLL = 0.25

_T = TypeVar("_T")

# The queues on one file in this process take turns at a lock of the file's, which wakes the next
# as soon as it is free, rather than in SQLite's busy handler, which sleeps up to 100 ms at a time
# and lets one connection starve another.
_gates: dict[str, threading.Lock] = {}
_gates_lock = threading.Lock()
# Work to run once its transaction has committed (metrics, events).
_AfterCommit = list[Callable[[], object]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease_token TEXT,
    last_error TEXT,
    enqueued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_next ON queue_messages (queue, available_at, id);
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    failed_at REAL NOT NULL
);
"""


class SqliteDelivery(Delivery):
    """A delivery from a :class:`SqliteQueue`: a lease on the message's row."""

    def __init__(self, consumer: SqliteConsumer, row_id: int, body: bytes, redeliveries: int, token: str):
        super().__init__(body, str(row_id), redeliveries)
        self.row_id = row_id
        #: Identifies this delivery in the row: only its holder can settle it.
        self.token = token
        self._consumer = consumer

    async def _ack(self) -> None:
        await self._consumer._settle(self, "acked", self._consumer.queue._ack_now)

    async def _nack(self, delay: float, reason: str | None) -> None:
        def nack(db: sqlite3.Connection, after: _AfterCommit, delivery: SqliteDelivery) -> bool:
            return self._consumer.queue._nack_now(db, after, delivery, delay, reason)

        await self._consumer._settle(self, "nacked", nack)

    async def _dead_letter(self, reason: str) -> None:
        def bury(db: sqlite3.Connection, after: _AfterCommit, delivery: SqliteDelivery) -> bool:
            return self._consumer.queue._dead_letter_now(db, after, delivery, reason)

        await self._consumer._settle(self, "dead-lettered", bury)

    @classmethod
    async def _ack_together(cls, deliveries: Sequence[Delivery]) -> list[tuple[Delivery, QueueError]]:
        # One transaction per consumer, instead of one per delivery.
        by_consumer: dict[int, list[SqliteDelivery]] = {}
        for delivery in deliveries:
            assert isinstance(delivery, SqliteDelivery)
            by_consumer.setdefault(id(delivery._consumer), []).append(delivery)
        failed: list[tuple[Delivery, QueueError]] = []
        for group in by_consumer.values():
            failed += await group[0]._consumer._ack_all(group)
        return failed

    async def extend(self, seconds: float) -> None:
        """Keeps the message from other consumers for at least ``seconds`` more, even if this
        consumer's event loop stops meanwhile (its renewals then stop too)."""
        self._check_unsettled()
        if not math.isfinite(seconds) or seconds < 0:
            raise QueueError(f"extend: seconds must be a finite number, at least 0, not {seconds}")
        if not await self._consumer.queue._renew([self], seconds):
            self._consumer._lost(self, "extended")
            self._check_unsettled()


class SqliteConsumer(Consumer):
    """A consumer of a :class:`SqliteQueue`; renews the leases of what it holds while open."""

    def __init__(self, queue: SqliteQueue, prefetch: int) -> None:
        self.queue = queue
        self.prefetch = prefetch
        # Unsettled deliveries by lease token; includes those taken and not yet handed out.
        self._held: dict[str, SqliteDelivery] = {}
        # Taken for a get that was cancelled before it returned: the next get hands them out.
        self._taken: deque[SqliteDelivery] = deque()
        self._taking = 0
        self._in_flight: set[asyncio.Task[Any]] = set()
        # Set by a settle (a prefetch slot may be free) and by close.
        self._wakeup = asyncio.Event()
        self._renewing: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def get(self, timeout: float | None = None) -> SqliteDelivery | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = _FIRST_POLL
        if self._renewing is None and not self._closed:
            self._renewing = loop.create_task(self._renew_forever(), name=f"dnsmill-queue-{self.queue.name}")
        while not self._closed:
            self._wakeup.clear()
            while self._taken:
                delivery = self._taken.popleft()
                if not delivery.settled:  # its lease may have been lost meanwhile
                    return delivery
            pause: float | None = None  # at the prefetch limit: until a settle frees a slot
            if len(self._held) + self._taking < self.prefetch:
                # Counted before the first await, so that concurrent gets respect the limit.
                self._taking += 1
                if await to_completion(self._take(), self._in_flight):
                    continue
                pause, poll = poll, min(poll * 2, _LAST_POLL)
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                pause = remaining if pause is None else min(pause, remaining)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), pause)
        return None

    async def _take(self) -> bool:
        try:
            delivery = await self.queue._take(self)
        finally:
            self._taking -= 1
        if delivery is None:
            return False
        self._held[delivery.token] = delivery
        self._taken.append(delivery)
        return True

    async def _settle(
        self,
        delivery: SqliteDelivery,
        done: str,
        work: Callable[[sqlite3.Connection, _AfterCommit, SqliteDelivery], bool],
    ) -> None:
        async def settle() -> bool:
            held: bool = await self.queue._run(f"message {delivery.message_id}", work, delivery)
            if held:
                self._forget(delivery)
            else:
                self._lost(delivery, done)
            return held

        if not await to_completion(settle(), self._in_flight):
            delivery._check_unsettled()  # raises, saying why

    async def _ack_all(self, deliveries: list[SqliteDelivery]) -> list[tuple[Delivery, QueueError]]:
        """Acks ``deliveries`` in one transaction; returns those it could not ack."""
        queue = self.queue

        def ack_each(db: sqlite3.Connection, after: _AfterCommit, group: list[SqliteDelivery]) -> list[bool]:
            return [queue._ack_now(db, after, delivery) for delivery in group]

        async def settle() -> list[bool]:
            held: list[bool] = await queue._run(f"{len(deliveries)} messages", ack_each, deliveries)
            for delivery, was_held in zip(deliveries, held, strict=True):
                if was_held:
                    self._forget(delivery)
                else:
                    self._lost(delivery, "acked")
            return held

        try:
            held = await to_completion(settle(), self._in_flight)
        except QueueError as error:  # nothing was committed
            for delivery in deliveries:
                delivery._release()
            return [(delivery, error) for delivery in deliveries]
        return [
            (delivery, QueueError(delivery._settled_because or "not acked"))
            for delivery, was_held in zip(deliveries, held, strict=True)
            if not was_held
        ]

    def _forget(self, delivery: SqliteDelivery) -> None:
        if self._held.pop(delivery.token, None) is not None:
            self._wakeup.set()

    def _lost(self, delivery: SqliteDelivery, done: str) -> None:
        self._forget(delivery)
        delivery._mark_gone(
            f"{self.queue.path}: message {delivery.message_id} of queue {self.queue.name!r} cannot be {done}: "
            f"its lease ran out and it may be with another consumer now (leases last {self.queue.lease:g} s "
            "and are renewed while the consumer's event loop runs)"
        )

    async def _renew_forever(self) -> None:
        """Renews the leases of what this consumer holds, every third of a lease."""
        while True:
            await asyncio.sleep(self.queue.lease / 3)
            held = list(self._held.values())
            if not held:
                continue
            try:
                kept = await self.queue._renew(held, self.queue.lease)
            except QueueError as error:
                # The next renewal tries again: a lease lasts three renewal periods.
                log.warning("%s: could not renew leases: %s", self.queue.url, error)
                continue
            for delivery, still_held in zip(held, kept, strict=True):
                # One being settled meanwhile is the settle's to account for.
                if not still_held and not delivery.settled:
                    self._lost(delivery, "settled")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        await to_completion(self._shut(), self._closing)

    async def _shut(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        # Takes and settles under way finish first, so what is held below is final.
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        held = [d for d in self._held.values() if not d.settled]
        never_handed_out = {d.token for d in self._taken}
        self._held.clear()
        self._taken.clear()
        self.queue._consumers.discard(self)
        for delivery in held:
            delivery._mark_gone(
                f"message {delivery.message_id} went back to queue {self.queue.name!r} when its consumer closed"
            )
        if held:
            await self.queue._release(held, never_handed_out)


class SqliteQueue(Queue):
    """A durable queue in a SQLite file, shared by every process that opens it.

    ``path`` is the file (created with its tables when missing); queues of different ``name``
    in one file are separate. ``lease``: seconds a delivery stays hidden from other consumers
    without renewal, so how long the messages of a killed consumer wait. Writers take turns:
    the queues of one process at a lock of the file's, processes at SQLite's lock (waiting up
    to ``BUSY_TIMEOUT``); a file still busy after that raises
    :class:`~dnsmill.QueueConnectionError`.
    """

    capabilities = frozenset({"depth", "extend", "dead_letters", "delay"})

    def __init__(
        self,
        path: str | Path,
        name: str = DEFAULT_QUEUE_NAME,
        *,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        lease: float = DEFAULT_LEASE,
        bus: events.EventBus | None = None,
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite://{self.path}"
        if not str(path):
            raise QueueError(
                "a SQLite queue needs a file path (sqlite:///abs/path.db or sqlite://relative.db)"
            )
        if isinstance(delivery_limit, bool) or not isinstance(delivery_limit, int) or delivery_limit < 1:
            raise QueueError(
                f"{self.url}: delivery_limit must be a whole number, at least 1, not {delivery_limit!r}"
            )
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 0 < lease < math.inf:
            raise QueueError(f"{self.url}: lease must be a number of seconds above 0, not {lease!r}")
        self.name = name
        self.delivery_limit = delivery_limit
        self.lease = float(lease)
        self.bus = bus or events.bus
        # The one connection, opened on first use, used only under the file's lock.
        with _gates_lock:
            self._lock = _gates.setdefault(os.path.realpath(self.path), threading.Lock())
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._consumers: set[SqliteConsumer] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        name: str = DEFAULT_QUEUE_NAME,
        *,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        lease: float = DEFAULT_LEASE,
        bus: events.EventBus | None = None,
    ) -> SqliteQueue:
        """The queue ``name`` at ``sqlite:///abs/path.db`` or ``sqlite://relative.db`` (a URL
        without its query: ``open_queue`` parses that), opened on first use."""
        scheme, _, location = url.partition(":")
        if scheme.lower() != "sqlite":
            raise QueueError(f"{url}: not a SQLite queue URL")
        path = location.removeprefix("//")
        if not path:
            raise QueueError(
                f"{url}: a SQLite queue URL needs a file path (sqlite:///abs/path.db or sqlite://relative.db)"
            )
        return cls(path, name, delivery_limit=delivery_limit, lease=lease, bus=bus)

    # The database side. Everything below `_run` runs in a worker thread, under `_lock`.

    def _error(self, error: sqlite3.Error, doing: str) -> QueueError:
        text = str(error)
        message = f"{self.path}: queue {self.name!r}: {doing}: {text}"
        if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return QueueConnectionError(message)
        return QueueError(message)

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise QueueError(f"{self.path}: queue {self.name!r} is closed")
        if self._db is not None:
            return self._db
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute("COMMIT")
        except sqlite3.Error as error:
            if db is not None:
                db.close()
            raise self._error(error, "cannot open the queue") from error
        self._db = db
        return db

    def _transact(
        self,
        doing: str,
        work: Callable[[sqlite3.Connection, _AfterCommit, Any], _T],
        argument: Any,
    ) -> _T:
        after: _AfterCommit = []
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(db, after, argument)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise self._error(error, doing) from error
        for announce in after:
            announce()
        return result

    async def _run(
        self,
        doing: str,
        work: Callable[[sqlite3.Connection, _AfterCommit, _T], Any],
        argument: _T,
    ) -> Any:
        """Runs ``work(db, after, argument)`` in one transaction, in a worker thread."""
        return await asyncio.to_thread(self._transact, doing, work, argument)

    def _take_now(
        self, db: sqlite3.Connection, after: _AfterCommit, consumer: SqliteConsumer
    ) -> SqliteDelivery | None:
        while True:
            now = time.time()
            row = db.execute(
                "SELECT id, body, attempts, enqueued_at FROM queue_messages "
                "WHERE queue = ? AND available_at <= ? ORDER BY available_at, id LIMIT 1",
                (self.name, now),
            ).fetchone()
            if row is None:
                return None
            row_id, body, attempts, enqueued_at = row
            if attempts >= self.delivery_limit:
                # Delivered that often and never acked: it fails whoever takes it.
                reason = f"delivered {attempts} times without an ack (delivery limit {self.delivery_limit})"
                self._bury(db, after, row_id, body, attempts, reason, enqueued_at)
                continue
            token = secrets.token_hex(12)
            db.execute(
                "UPDATE queue_messages SET attempts = attempts + 1, available_at = ?, lease_token = ? WHERE id = ?",
                (now + self.lease, token, row_id),
            )
            return SqliteDelivery(consumer, row_id, bytes(body), attempts, token)

    async def _take(self, consumer: SqliteConsumer) -> SqliteDelivery | None:
        delivery: SqliteDelivery | None = await self._run("take a message", self._take_now, consumer)
        return delivery

    def _bury(
        self,
        db: sqlite3.Connection,
        after: _AfterCommit,
        row_id: int,
        body: bytes,
        attempts: int,
        reason: str,
        enqueued_at: float,
    ) -> None:
        db.execute(
            "INSERT INTO queue_dead_letters (queue, message_id, body, attempts, reason, enqueued_at, failed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.name, row_id, body, attempts, reason, enqueued_at, time.time()),
        )
        db.execute("DELETE FROM queue_messages WHERE id = ?", (row_id,))

        def announce() -> None:
            metrics.QUEUE_DEAD.labels(queue=self.name).inc()
            self.bus.publish(
                "queue",
                "message_dead_lettered",
                {"queue": self.name, "message_id": str(row_id), "reason": reason},
            )

        after.append(announce)

    # Each settle matches the row on its lease token, which a later delivery of the message
    # replaces: a settle that comes too late finds no row and changes nothing. Its lease having
    # run out does not matter as long as no one else took the message since.

    def _ack_now(self, db: sqlite3.Connection, after: _AfterCommit, delivery: SqliteDelivery) -> bool:
        cursor = db.execute(
            "DELETE FROM queue_messages WHERE id = ? AND lease_token = ?", (delivery.row_id, delivery.token)
        )
        if cursor.rowcount != 1:
            return False
        after.append(metrics.QUEUE_ACKED.labels(queue=self.name).inc)
        return True

    def _nack_now(
        self,
        db: sqlite3.Connection,
        after: _AfterCommit,
        delivery: SqliteDelivery,
        delay: float,
        reason: str | None,
    ) -> bool:
        cursor = db.execute(
            "UPDATE queue_messages SET available_at = ?, lease_token = NULL, last_error = ? "
            "WHERE id = ? AND lease_token = ?",
            (time.time() + delay, reason, delivery.row_id, delivery.token),
        )
        if cursor.rowcount != 1:
            return False
        after.append(metrics.QUEUE_NACKED.labels(queue=self.name).inc)
        return True

    def _dead_letter_now(
        self, db: sqlite3.Connection, after: _AfterCommit, delivery: SqliteDelivery, reason: str
    ) -> bool:
        row = db.execute(
            "SELECT body, attempts, enqueued_at FROM queue_messages WHERE id = ? AND lease_token = ?",
            (delivery.row_id, delivery.token),
        ).fetchone()
        if row is None:
            return False
        self._bury(db, after, delivery.row_id, row[0], row[1], reason, row[2])
        return True

    async def _renew(self, deliveries: list[SqliteDelivery], seconds: float) -> list[bool]:
        """Keeps each delivery's message hidden for at least ``seconds`` more; whether each was
        still this delivery's to keep."""

        def renew(
            db: sqlite3.Connection, after: _AfterCommit, deliveries: list[SqliteDelivery]
        ) -> list[bool]:
            until = time.time() + seconds
            return [
                db.execute(
                    "UPDATE queue_messages SET available_at = MAX(available_at, ?) WHERE id = ? AND lease_token = ?",
                    (until, d.row_id, d.token),
                ).rowcount
                == 1
                for d in deliveries
            ]

        kept: list[bool] = await self._run("renew leases", renew, deliveries)
        return kept

    async def _release(self, deliveries: list[SqliteDelivery], never_handed_out: set[str]) -> None:
        """Returns deliveries to the queue now. One that was never handed out (its get was
        cancelled) does not count as a delivery."""

        def release(db: sqlite3.Connection, after: _AfterCommit, deliveries: list[SqliteDelivery]) -> None:
            now = time.time()
            returned = db.executemany(
                "UPDATE queue_messages SET available_at = ?, lease_token = NULL, attempts = attempts - ? "
                "WHERE id = ? AND lease_token = ?",
                [(now, int(d.token in never_handed_out), d.row_id, d.token) for d in deliveries],
            ).rowcount
            after.append(lambda: metrics.QUEUE_NACKED.labels(queue=self.name).inc(returned))

        await self._run("return held messages", release, deliveries)

    # The protocol.

    async def open(self) -> None:
        """Opens the file now (creating it and its tables when missing)."""
        await self._run("open", lambda db, after, argument: None, None)

    async def put_many(self, bodies: Iterable[bytes | str]) -> int:
        now = time.time()
        rows = [(self.name, b.encode() if isinstance(b, str) else bytes(b), now, now) for b in bodies]
        if not rows:
            return 0

        def put(
            db: sqlite3.Connection, after: _AfterCommit, rows: list[tuple[str, bytes, float, float]]
        ) -> None:
            db.executemany(
                "INSERT INTO queue_messages (queue, body, available_at, enqueued_at) VALUES (?, ?, ?, ?)",
                rows,
            )
            after.append(lambda: metrics.QUEUE_PUT.labels(queue=self.name).inc(len(rows)))

        await self._run(f"put {len(rows)} messages", put, rows)
        return len(rows)

    def consume(self, prefetch: int = 1) -> SqliteConsumer:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise QueueError(f"{self.url}: prefetch must be a whole number, at least 1, not {prefetch!r}")
        if self._closed:
            raise QueueError(f"{self.path}: queue {self.name!r} is closed")
        consumer = SqliteConsumer(self, prefetch)
        self._consumers.add(consumer)
        return consumer

    async def purge(self) -> int:
        def purge(db: sqlite3.Connection, after: _AfterCommit, argument: None) -> int:
            cursor = db.execute(
                "DELETE FROM queue_messages WHERE queue = ? AND (lease_token IS NULL OR available_at <= ?)",
                (self.name, time.time()),
            )
            purged = cursor.rowcount
            after.append(
                lambda: self.bus.publish("queue", "queue_purged", {"queue": self.name, "messages": purged})
            )
            return purged

        purged: int = await self._run("purge", purge, None)
        return purged

    async def depth(self) -> Depth:
        def count(db: sqlite3.Connection, after: _AfterCommit, argument: None) -> Depth:
            now = time.time()
            ready, held, delayed = db.execute(
                "SELECT "
                "  COALESCE(SUM(available_at <= ?), 0),"
                "  COALESCE(SUM(available_at > ? AND lease_token IS NOT NULL), 0),"
                "  COALESCE(SUM(available_at > ? AND lease_token IS NULL), 0) "
                "FROM queue_messages WHERE queue = ?",
                (now, now, now, self.name),
            ).fetchone()
            (dead,) = db.execute(
                "SELECT COUNT(*) FROM queue_dead_letters WHERE queue = ?", (self.name,)
            ).fetchone()
            return Depth(ready, held, delayed, dead)

        depth: Depth = await self._run("count messages", count, None)
        for state in ("ready", "held", "delayed", "dead"):
            metrics.QUEUE_DEPTH.labels(queue=self.name, state=state).set(getattr(depth, state))
        return depth

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        def read(db: sqlite3.Connection, after: _AfterCommit, limit: int) -> list[DeadLetter]:
            rows = db.execute(
                "SELECT message_id, body, attempts, reason, failed_at FROM queue_dead_letters "
                "WHERE queue = ? ORDER BY id LIMIT ?",
                (self.name, limit),
            ).fetchall()
            return [DeadLetter(str(r[0]), bytes(r[1]), r[2], r[3], r[4]) for r in rows]

        letters: list[DeadLetter] = await self._run("read dead letters", read, limit)
        return letters

    async def close(self) -> None:
        if self._closed:
            return
        try:
            for consumer in list(self._consumers):
                await consumer.close()
        finally:
            self._closed = True
            await asyncio.to_thread(self._disconnect)

    def _disconnect(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
