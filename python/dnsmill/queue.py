"""Work queues between publishers and workers, with the semantics of RabbitMQ's.

``open_queue(url, name)`` picks the implementation from the URL; ``sqlite:///path`` is the
embedded default, a durable queue in one SQLite file (WAL, ``synchronous=FULL``) that any number
of processes on the machine share. Every implementation offers the same :class:`Queue`:

- ``put(body)`` / ``put_many(bodies)``: durable once they return.
- ``get(lease=..., wait=...)``: the next message, leased to the caller for ``lease`` seconds
  (the visibility timeout). A message whose lease runs out is offered again: a worker that
  dies holding one loses nothing. Each delivery counts an attempt; a message delivered
  ``delivery_limit`` times without an ack goes to the dead letters instead.
- ``ack(message)``: done, gone for good. ``nack(message, delay=...)``: offer it again later.
  ``dead_letter(message, reason)``: it can never succeed; keep it aside with the reason.
  ``extend(message, lease)``: still working on it.
- ``purge()``, ``depth()``, ``dead_letters()``.

Dead letters and purges are announced on the ``queue`` topic of the event bus
(``message_dead_lettered``, ``queue_purged``). An ack, nack or extend that comes after the lease
ran out (the message may be with another worker by then) changes nothing and returns False.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from dnsmill import events, metrics
from dnsmill._core import QueueError

DEFAULT_LEASE = 300.0
DEFAULT_DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class Message:
    """A delivered message; hand it back to ack, nack, extend or dead_letter."""

    id: int
    body: bytes
    #: Deliveries so far, this one included.
    attempts: int
    #: Identifies this delivery: only its holder can settle it.
    token: str

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    message_id: int
    body: bytes
    attempts: int
    reason: str
    failed_at: float


@dataclass(frozen=True)
class Depth:
    """Messages on a queue by state."""

    #: Waiting to be delivered now.
    ready: int
    #: Delivered and not settled, lease still running.
    leased: int
    #: Returned with a delay that has not passed yet.
    delayed: int
    #: Moved to the dead letters.
    dead: int

    @property
    def pending(self) -> int:
        """Everything still to be acked: ready, leased and delayed."""
        return self.ready + self.leased + self.delayed


class Queue(ABC):
    """A named work queue. Implementations: :class:`SqliteQueue` (``sqlite:///path``)."""

    name: str
    delivery_limit: int

    @abstractmethod
    def put_many(self, bodies: Iterable[bytes | str]) -> int:
        """Enqueues every body in one durable step; returns how many."""

    def put(self, body: bytes | str) -> None:
        self.put_many([body])

    def put_json(self, value: Any) -> None:
        self.put(json.dumps(value, separators=(",", ":")))

    @abstractmethod
    def get(self, lease: float = DEFAULT_LEASE, wait: float = 0.0) -> Message | None:
        """The next message, leased for ``lease`` seconds; waits up to ``wait`` seconds for one."""

    @abstractmethod
    def ack(self, message: Message) -> bool: ...

    @abstractmethod
    def nack(self, message: Message, delay: float = 0.0, reason: str | None = None) -> bool: ...

    @abstractmethod
    def extend(self, message: Message, lease: float) -> bool: ...

    @abstractmethod
    def dead_letter(self, message: Message, reason: str) -> bool: ...

    @abstractmethod
    def purge(self) -> int:
        """Deletes the messages not leased to anyone (as RabbitMQ's purge); returns how many."""

    @abstractmethod
    def depth(self) -> Depth: ...

    @abstractmethod
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_queue(
    url: str, name: str = "domains", *, delivery_limit: int | None = None, bus: events.EventBus | None = None
) -> Queue:
    """Opens the queue ``name`` at ``url``: ``sqlite:///abs/path.db``, ``sqlite://relative.db``
    (as store URLs); ``?delivery_limit=N`` sets the delivery limit."""
    scheme, _, rest = url.partition(":")
    location, _, query = rest.partition("?")
    options = {key: values[-1] for key, values in parse_qs(query).items()}
    try:
        limit = delivery_limit or int(options.get("delivery_limit", DEFAULT_DELIVERY_LIMIT))
    except ValueError as error:
        raise QueueError(f"{url}: delivery_limit must be a number") from error
    if scheme == "sqlite":
        path = location.removeprefix("//")
        if not path:
            raise QueueError(f"{url}: a SQLite queue URL needs a file path (sqlite:///path/queue.db)")
        return SqliteQueue(path, name, delivery_limit=limit, bus=bus)
    raise QueueError(f"{url}: unsupported queue URL scheme {scheme!r} (supported: sqlite)")


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


class SqliteQueue(Queue):
    """A durable queue in a SQLite file, shared by every process that opens it.

    Each operation is one ``BEGIN IMMEDIATE`` transaction, committed with ``synchronous=FULL``
    before it returns: a message put or acked stays so through ``kill -9`` or a power cut.
    Writers take turns on the file's lock (``busy_timeout`` 30 s).
    """

    def __init__(
        self,
        path: str | Path,
        name: str = "domains",
        *,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        bus: events.EventBus | None = None,
    ):
        if delivery_limit < 1:
            raise QueueError("delivery_limit must be at least 1")
        self.path = Path(path)
        self.name = name
        self.delivery_limit = delivery_limit
        self.bus = bus or events.bus
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
        except sqlite3.Error as error:
            raise QueueError(f"{self.path}: cannot open the queue: {error}") from error

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise QueueError(f"{self.path}: {error}") from error
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    self._db.execute("ROLLBACK")
                    raise QueueError(f"{self.path}: {error}") from error

    def put_many(self, bodies: Iterable[bytes | str]) -> int:
        now = time.time()
        rows = [(self.name, b.encode() if isinstance(b, str) else bytes(b), now, now) for b in bodies]
        if not rows:
            return 0
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO queue_messages (queue, body, available_at, enqueued_at) VALUES (?, ?, ?, ?)",
                rows,
            )
        metrics.QUEUE_PUT.labels(queue=self.name).inc(len(rows))
        return len(rows)

    def get(self, lease: float = DEFAULT_LEASE, wait: float = 0.0) -> Message | None:
        deadline = time.monotonic() + wait
        pause = 0.01
        while True:
            message = self._take(lease)
            if message is not None or time.monotonic() >= deadline:
                return message
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.25)

    def _take(self, lease: float) -> Message | None:
        with self._transaction() as db:
            while True:
                now = time.time()
                row = db.execute(
                    "SELECT id, body, attempts, enqueued_at FROM queue_messages "
                    "WHERE queue = ? AND available_at <= ? ORDER BY available_at, id LIMIT 1",
                    (self.name, now),
                ).fetchone()
                if row is None:
                    return None
                message_id, body, attempts, enqueued_at = row
                if attempts >= self.delivery_limit:
                    # Delivered that often and never acked: it keeps failing whoever takes it.
                    reason = (
                        f"delivered {attempts} times without an ack (delivery limit {self.delivery_limit})"
                    )
                    self._bury(db, message_id, body, attempts, reason, enqueued_at)
                    continue
                token = secrets.token_hex(12)
                db.execute(
                    "UPDATE queue_messages SET attempts = attempts + 1, available_at = ?, lease_token = ? "
                    "WHERE id = ?",
                    (now + lease, token, message_id),
                )
                return Message(message_id, bytes(body), attempts + 1, token)

    def _bury(
        self,
        db: sqlite3.Connection,
        message_id: int,
        body: bytes,
        attempts: int,
        reason: str,
        enqueued_at: float,
    ) -> None:
        db.execute(
            "INSERT INTO queue_dead_letters (queue, message_id, body, attempts, reason, enqueued_at, failed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.name, message_id, body, attempts, reason, enqueued_at, time.time()),
        )
        db.execute("DELETE FROM queue_messages WHERE id = ?", (message_id,))
        metrics.QUEUE_DEAD.labels(queue=self.name).inc()
        self.bus.publish(
            "queue", "message_dead_lettered", {"queue": self.name, "message_id": message_id, "reason": reason}
        )

    def _held(self, db: sqlite3.Connection, message: Message) -> tuple[Any, ...] | None:
        """The message's row if ``message`` still holds its lease."""
        row: tuple[Any, ...] | None = db.execute(
            "SELECT id, body, attempts, enqueued_at FROM queue_messages "
            "WHERE id = ? AND lease_token = ? AND available_at > ?",
            (message.id, message.token, time.time()),
        ).fetchone()
        return row

    def ack(self, message: Message) -> bool:
        with self._transaction() as db:
            if self._held(db, message) is None:
                return False
            db.execute("DELETE FROM queue_messages WHERE id = ?", (message.id,))
        metrics.QUEUE_ACKED.labels(queue=self.name).inc()
        return True

    def nack(self, message: Message, delay: float = 0.0, reason: str | None = None) -> bool:
        with self._transaction() as db:
            if self._held(db, message) is None:
                return False
            db.execute(
                "UPDATE queue_messages SET available_at = ?, lease_token = NULL, last_error = ? WHERE id = ?",
                (time.time() + delay, reason, message.id),
            )
        metrics.QUEUE_NACKED.labels(queue=self.name).inc()
        return True

    def extend(self, message: Message, lease: float) -> bool:
        with self._transaction() as db:
            if self._held(db, message) is None:
                return False
            db.execute(
                "UPDATE queue_messages SET available_at = ? WHERE id = ?", (time.time() + lease, message.id)
            )
        return True

    def dead_letter(self, message: Message, reason: str) -> bool:
        with self._transaction() as db:
            row = self._held(db, message)
            if row is None:
                return False
            self._bury(db, row[0], row[1], row[2], reason, row[3])
        return True

    def purge(self) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM queue_messages WHERE queue = ? AND (lease_token IS NULL OR available_at <= ?)",
                (self.name, time.time()),
            )
        self.bus.publish("queue", "queue_purged", {"queue": self.name, "messages": cursor.rowcount})
        return cursor.rowcount

    def depth(self) -> Depth:
        now = time.time()
        with self._lock:
            ready, leased, delayed = self._db.execute(
                "SELECT "
                "  COALESCE(SUM(available_at <= ?), 0),"
                "  COALESCE(SUM(available_at > ? AND lease_token IS NOT NULL), 0),"
                "  COALESCE(SUM(available_at > ? AND lease_token IS NULL), 0) "
                "FROM queue_messages WHERE queue = ?",
                (now, now, now, self.name),
            ).fetchone()
            (dead,) = self._db.execute(
                "SELECT COUNT(*) FROM queue_dead_letters WHERE queue = ?", (self.name,)
            ).fetchone()
        depth = Depth(ready, leased, delayed, dead)
        for state in ("ready", "leased", "delayed", "dead"):
            metrics.QUEUE_DEPTH.labels(queue=self.name, state=state).set(getattr(depth, state))
        return depth

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, message_id, body, attempts, reason, failed_at FROM queue_dead_letters "
                "WHERE queue = ? ORDER BY id LIMIT ?",
                (self.name, limit),
            ).fetchall()
        return [DeadLetter(r[0], r[1], bytes(r[2]), r[3], r[4], r[5]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
