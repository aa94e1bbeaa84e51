"""Checks on the store and queue URLs a pipeline is given."""

from __future__ import annotations

import os

from dnsmill._core import ConfigError


def _sqlite_file(url: str) -> str | None:
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() != "sqlite":
        return None
    path = rest.removeprefix("//").split("?", 1)[0]
    return os.path.realpath(path) if path else None


def ensure_apart(queue_url: str, store_url: str) -> None:
    """Raises :class:`~dnsmill.ConfigError` when the queue and the store are one SQLite file.

    The queue is written by Python's ``sqlite3`` and the store by dnsmill's own SQLite: two
    libraries whose locks on one file in one process do not see each other (closing either's
    connection drops the other's POSIX locks), which can corrupt the file.
    """
    queue_file, store_file = _sqlite_file(queue_url), _sqlite_file(store_url)
    if queue_file is not None and queue_file == store_file:
        raise ConfigError(
            f"the queue and the store are the same SQLite file ({queue_file}): give the queue a file "
            "of its own (e.g. --queue sqlite://dnsmill-queue.db)"
        )
