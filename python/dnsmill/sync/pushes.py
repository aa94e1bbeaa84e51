"""The sync service's durable queue of zone pushes, one SQLite file.

One row per zone: a push for a zone that already waits replaces it (the newest push wins), so
a burst of pushes of one zone is applied once. A push whose SOA serial is older than the one
waiting or the one applied (by RFC 1982 serial arithmetic) changes nothing: pushes that
arrive out of order never regress a zone. A delete always wins over a save waiting before it.

Every put commits with ``synchronous=FULL`` before it returns, so a push answered ``error=0``
survives ``kill -9`` and a power cut. Taking a push leases it (``lease`` seconds): a process
killed while applying it loses it to the next taker when the lease runs out, and the push's
``version`` makes a late :meth:`PushQueue.done` of a replaced push a no-op, so a newer push
that came in meanwhile is never lost. A push that keeps failing is retried with backoff and
after ``max_attempts`` (about a day of retries by default: a backend down for hours gets its
pushes when it returns) moved to the dead pushes with its last error.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Action = Literal["save", "delete"]
SAVE: Action = "save"
DELETE: Action = "delete"

#: Seconds a taken push stays hidden from other takers.
DEFAULT_LEASE = 60.0
#: Applying a push fails this many times before it is moved to the dead pushes: with the
#: backoff below, about 24 hours of retries.
DEFAULT_MAX_ATTEMPTS = 300
#: Seconds before the first retry, doubling up to MAX_BACKOFF.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_pushes (
    zone TEXT PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('save', 'delete')),
    text TEXT,
    serial INTEGER,
    hostname TEXT NOT NULL,
    username TEXT NOT NULL,
    version INTEGER NOT NULL,
    received_at REAL NOT NULL,
    available_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    backends_done TEXT NOT NULL DEFAULT '',
    leased INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sync_applied (
    zone TEXT PRIMARY KEY,
    serial INTEGER,
    hostname TEXT NOT NULL,
    username TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    text TEXT
);
CREATE TABLE IF NOT EXISTS sync_dead (
    id INTEGER PRIMARY KEY,
    zone TEXT NOT NULL,
    action TEXT NOT NULL,
    text TEXT,
    serial INTEGER,
    hostname TEXT NOT NULL,
    username TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_version (next INTEGER NOT NULL);
"""

#: Columns added since the first version of the queue file, added to older files on open.
_ADDED_COLUMNS = (
    ("sync_pushes", "backends_done", "TEXT NOT NULL DEFAULT ''"),
    ("sync_pushes", "leased", "INTEGER NOT NULL DEFAULT 0"),
    ("sync_applied", "text", "TEXT"),
)


def serial_older(serial: int, than: int) -> bool:
    """True when SOA serial ``serial`` comes before ``than`` (RFC 1982: 32-bit, wrapping)."""
    difference = (than - serial) % 2**32
    return 0 < difference < 2**31


@dataclass(frozen=True)
class Push:
    """A zone change waiting to be applied to the backends."""

    zone: str
    action: Action
    #: The zone's text (for a save).
    text: str | None
    serial: int | None
    #: The DirectAdmin server and user that sent it.
    hostname: str
    username: str
    #: Identifies this push of the zone: a newer push of it has another.
    version: int
    attempts: int
    #: The backends that have this push already (it is not applied to them again).
    backends_done: frozenset[str] = frozenset()
    #: When it was received (time.time()).
    received_at: float = 0.0


@dataclass
class _Put:
    """A put waiting for the group commit that takes it."""

    zone: str
    action: Action
    hostname: str
    username: str
    text: str | None
    serial: int | None
    done: bool = False
    queued: bool = False
    error: BaseException | None = None


@dataclass(frozen=True)
class Owner:
    """The DirectAdmin server and user a zone belongs to (the last applied push's)."""

    hostname: str
    username: str


class PushQueue:
    """The pushes at ``path``; safe to share between threads, and between processes."""

    def __init__(
        self, path: str | Path, *, lease: float = DEFAULT_LEASE, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> None:
        self.path = Path(path)
        self.lease = lease
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        # Puts waiting to be committed (see put).
        self._pending_lock = threading.Lock()
        self._pending: list[_Put] = []
        #: Transactions that committed puts (fewer than the puts when they came side by side).
        self.put_commits = 0
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        with self._lock:
            self._db.executescript(_SCHEMA)
            for table, column, declaration in _ADDED_COLUMNS:
                present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if self._db.execute("SELECT COUNT(*) FROM sync_version").fetchone()[0] == 0:
                self._db.execute("INSERT INTO sync_version VALUES (1)")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._read_lock:
            self._reader.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read on a connection of its own: in WAL mode it sees the last commit and never
        waits for a writer, so ``exists`` and ownership checks do not queue behind commits."""
        with self._read_lock:
            self._reader.execute("BEGIN")
            try:
                yield self._reader
            finally:
                self._reader.execute("COMMIT")

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def put(
        self,
        zone: str,
        action: Action,
        *,
        hostname: str,
        username: str,
        text: str | None = None,
        serial: int | None = None,
    ) -> bool:
        """Queues a push of ``zone`` (a name checked by ``zone_name``), replacing the one
        waiting for it. Returns False, changing nothing, for a save whose serial is older than
        the one waiting or the one applied. Durable when it returns."""
        if action not in (SAVE, DELETE):
            raise ValueError(f"action must be save or delete, not {action!r}")
        if action == SAVE and text is None:
            raise ValueError("a save needs the zone's text")
        request = _Put(zone, action, hostname, username, text if action == SAVE else None, serial)
        with self._pending_lock:
            self._pending.append(request)
        # Group commit: whoever holds the lock next commits every put waiting by then, in one
        # transaction and one fsync; a put committed by another thread finds itself done.
        with self._lock:
            if not request.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._commit_puts(batch)
        if request.error is not None:
            raise request.error
        return request.queued

    def _commit_puts(self, batch: list[_Put]) -> None:
        """Commits ``batch`` in one transaction; every put in it is done afterwards, with its
        outcome or the error. Called holding the lock."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                outcomes = [self._put_in(db, put, now) for put in batch]
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except BaseException as error:
            for put in batch:
                put.error, put.done = error, True
            return
        self.put_commits += 1
        for put, queued in zip(batch, outcomes, strict=True):
            put.queued, put.done = queued, True

    @staticmethod
    def _put_in(db: sqlite3.Connection, put: _Put, now: float) -> bool:
        zone, action, serial = put.zone, put.action, put.serial
        if action == SAVE and serial is not None:
            for (known,) in db.execute(
                "SELECT serial FROM sync_pushes WHERE zone = ? AND action = 'save' AND serial IS NOT NULL "
                "UNION ALL SELECT serial FROM sync_applied WHERE zone = ? AND deleted = 0 AND serial IS NOT NULL",
                (zone, zone),
            ):
                if serial_older(serial, known):
                    return False
        (version,) = db.execute("UPDATE sync_version SET next = next + 1 RETURNING next - 1").fetchone()
        db.execute(
            "INSERT INTO sync_pushes (zone, action, text, serial, hostname, username, version, "
            "received_at, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (zone) DO UPDATE SET action = excluded.action, text = excluded.text, "
            "serial = excluded.serial, hostname = excluded.hostname, username = excluded.username, "
            "version = excluded.version, received_at = excluded.received_at, "
            # A push being applied keeps its lease: the newer one waits for it to end. One
            # backing off does not hand its backoff on: the newer push is due now.
            "available_at = CASE WHEN sync_pushes.leased THEN MAX(sync_pushes.available_at, "
            "excluded.available_at) ELSE excluded.available_at END, "
            "attempts = 0, last_error = NULL, backends_done = ''",
            (zone, action, put.text, serial, put.hostname, put.username, version, now, now),
        )
        return True

    def take(self, limit: int = 1) -> list[Push]:
        """Up to ``limit`` pushes due now, oldest first, each leased for ``lease`` seconds."""
        now = time.time()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT zone, action, text, serial, hostname, username, version, attempts, backends_done, "
                "received_at FROM sync_pushes WHERE available_at <= ? ORDER BY received_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE sync_pushes SET available_at = ?, attempts = attempts + 1, leased = 1 WHERE zone = ?",
                [(now + self.lease, row[0]) for row in rows],
            )
        return [
            Push(
                zone=zone,
                action=action,
                text=text,
                serial=serial,
                hostname=hostname,
                username=username,
                version=version,
                attempts=attempts + 1,
                backends_done=frozenset(filter(None, backends_done.split(","))),
                received_at=received_at,
            )
            for zone, action, text, serial, hostname, username, version, attempts, backends_done, received_at in rows
        ]

    def release_leases(self) -> int:
        """Makes every leased push due now; returns how many. For the one process that applies
        this queue's pushes, when it starts: a lease it finds was held by a process that is
        gone (killed while applying), and need not run out."""
        with self._transaction() as db:
            released = db.execute(
                "UPDATE sync_pushes SET available_at = ?, leased = 0 WHERE leased = 1", (time.time(),)
            ).rowcount
        return int(released)

    def progress(self, push: Push, backends: frozenset[str]) -> None:
        """``backends`` have ``push`` now (with those it had): a retry skips them."""
        with self._transaction() as db:
            db.execute(
                "UPDATE sync_pushes SET backends_done = ? WHERE zone = ? AND version = ?",
                (",".join(sorted(push.backends_done | backends)), push.zone, push.version),
            )

    def done(self, push: Push) -> bool:
        """``push`` is applied everywhere: it leaves the queue and its zone's serial and owner
        are remembered. Returns False, changing nothing, when a newer push of the zone came in
        since it was taken (that one is applied next)."""
        return self.done_many([push])[0]

    def done_many(self, pushes: Sequence[Push]) -> list[bool]:
        """:meth:`done` for each of ``pushes``, in one transaction."""
        outcomes = []
        now = time.time()
        with self._transaction() as db:
            for push in pushes:
                deleted = db.execute(
                    "DELETE FROM sync_pushes WHERE zone = ? AND version = ?", (push.zone, push.version)
                ).rowcount
                if not deleted:
                    _release_newer(db, push)
                    outcomes.append(False)
                    continue
                db.execute(
                    "INSERT INTO sync_applied (zone, serial, hostname, username, deleted, applied_at, text) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (zone) DO UPDATE SET serial = excluded.serial, "
                    "hostname = excluded.hostname, username = excluded.username, deleted = excluded.deleted, "
                    "applied_at = excluded.applied_at, text = excluded.text",
                    (
                        push.zone,
                        push.serial,
                        push.hostname,
                        push.username,
                        int(push.action == DELETE),
                        now,
                        push.text if push.action == SAVE else None,
                    ),
                )
                outcomes.append(True)
        return outcomes

    def failed(self, push: Push, error: str) -> bool:
        """Applying ``push`` failed: it is tried again after a backoff, or moved to the dead
        pushes once it has failed ``max_attempts`` times (returns True then). A push replaced
        meanwhile is left alone."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT attempts FROM sync_pushes WHERE zone = ? AND version = ?", (push.zone, push.version)
            ).fetchone()
            if row is None:
                _release_newer(db, push)
                return False
            (attempts,) = row
            if attempts >= self.max_attempts:
                db.execute(
                    "INSERT INTO sync_dead (zone, action, text, serial, hostname, username, attempts, error, "
                    "failed_at) SELECT zone, action, text, serial, hostname, username, attempts, ?, ? "
                    "FROM sync_pushes WHERE zone = ?",
                    (error, now, push.zone),
                )
                db.execute("DELETE FROM sync_pushes WHERE zone = ?", (push.zone,))
                return True
            backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempts - 1))
            db.execute(
                "UPDATE sync_pushes SET available_at = ?, last_error = ?, leased = 0 WHERE zone = ?",
                (now + backoff, error, push.zone),
            )
        return False

    def owner(self, zone: str) -> Owner | None:
        """Who the zone belongs to: the sender of the push waiting for it, else of the last
        one applied (None for a zone never pushed, or deleted)."""
        with self._reading() as db:
            row = db.execute(
                "SELECT hostname, username FROM sync_pushes WHERE zone = ? AND action = 'save' UNION ALL "
                "SELECT hostname, username FROM sync_applied WHERE zone = ? AND deleted = 0",
                (zone, zone),
            ).fetchone()
        return None if row is None else Owner(*row)

    def applied(self, zone: str | None = None) -> list[tuple[str, str | None]]:
        """The zones (or ``zone``) as last applied: (zone, text), the text None for a zone
        deleted. What the reconciler holds the backends to, so it leaves out a zone with a
        push waiting (the applier has it) and one whose last push died (the backends that
        took it hold newer data than this)."""
        settled = (
            "(deleted OR text IS NOT NULL) AND zone NOT IN (SELECT zone FROM sync_pushes) "
            "AND NOT EXISTS (SELECT 1 FROM sync_dead WHERE sync_dead.zone = sync_applied.zone "
            "AND sync_dead.failed_at > sync_applied.applied_at)"
        )
        select = f"SELECT zone, CASE WHEN deleted THEN NULL ELSE text END FROM sync_applied WHERE {settled}"
        with self._reading() as db:
            if zone is not None:
                return [tuple(row) for row in db.execute(select + " AND zone = ?", (zone,))]
            return [tuple(row) for row in db.execute(select + " ORDER BY zone")]

    def known(self) -> set[str]:
        """Every zone pushed here: applied, deleted, waiting or dead."""
        with self._reading() as db:
            return {
                zone
                for (zone,) in db.execute(
                    "SELECT zone FROM sync_applied UNION SELECT zone FROM sync_pushes UNION SELECT zone FROM sync_dead"
                )
            }

    def waiting(self) -> int:
        """Pushes not applied yet (due or leased)."""
        with self._reading() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM sync_pushes").fetchone()
        return int(count)

    def dead(self) -> list[tuple[str, str, str]]:
        """The dead pushes: (zone, action, last error), oldest first."""
        with self._reading() as db:
            return [tuple(row) for row in db.execute("SELECT zone, action, error FROM sync_dead ORDER BY id")]

    def retry_dead(self) -> tuple[int, int]:
        """Queues the dead pushes again, each as the push it was (a zone's newest only, and
        not over a newer one applied or waiting since); returns (queued, superseded). The dead
        pushes are gone afterwards either way."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT zone, action, text, serial, hostname, username FROM sync_dead "
                "WHERE id IN (SELECT MAX(id) FROM sync_dead GROUP BY zone) ORDER BY id"
            ).fetchall()
            total = db.execute("SELECT COUNT(*) FROM sync_dead").fetchone()[0]
            db.execute("DELETE FROM sync_dead")
            now = time.time()
            queued = sum(
                self._put_in(db, _Put(zone, action, hostname, username, text, serial), now)
                for zone, action, text, serial, hostname, username in rows
            )
        return queued, total - queued


def _release_newer(db: sqlite3.Connection, push: Push) -> None:
    """The push that replaced ``push`` while it was being applied waited for that to end (it
    kept the lease): it is due now."""
    db.execute(
        "UPDATE sync_pushes SET available_at = MIN(available_at, ?), leased = 0 WHERE zone = ? AND version != ?",
        (time.time(), push.zone, push.version),
    )


class _Transaction:
    """One ``BEGIN IMMEDIATE`` transaction on the queue's connection, committed on success."""

    def __init__(self, queue: PushQueue) -> None:
        self.queue = queue

    def __enter__(self) -> sqlite3.Connection:
        self.queue._lock.acquire()
        try:
            self.queue._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.queue._lock.release()
            raise
        return self.queue._db

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        try:
            self.queue._db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.queue._lock.release()
