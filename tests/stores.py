"""Stores for tests: an empty database of each kind on the real servers (SQLite, PostgreSQL
127.0.0.1:5432, MariaDB 127.0.0.1:3306), dropped afterwards, and their own clients to look in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRE = os.environ.get("CI") == "true" or os.environ.get("DNSMILL_REQUIRE_SERVICES") == "1"


def unreachable(message: str) -> None:
    if REQUIRE:
        pytest.fail(message)
    pytest.skip(message)


def run_client(argv: list[str], sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*argv, sql], capture_output=True, text=True, timeout=30)


def admin(url: str, sql: str) -> str:
    """Runs `sql` on the store at `url` through its own client (sqlite3, psql, mariadb)."""
    if url.startswith("sqlite://"):
        # In another process: two copies of SQLite in one process (Python's and dnsmill's)
        # do not see each other's locks.
        script = (
            "import sqlite3, sys\n"
            "connection = sqlite3.connect(sys.argv[1])\n"
            "rows = connection.execute(sys.argv[2]).fetchall()\n"
            "connection.commit()\n"
            "print('\\n'.join(' '.join(map(str, row)) for row in rows))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, url.removeprefix("sqlite://"), sql], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()
    if url.startswith("postgresql://"):
        database = url.rsplit("/", 1)[1]
        argv = [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
        ]
    else:
        database = url.rsplit("/", 1)[1]
        argv = ["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-D", database, "-e"]
    result = run_client(argv, sql)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@contextmanager
def postgresql_database() -> Iterator[str]:
    """The URL of a new, empty database on the PostgreSQL at 127.0.0.1:5432, dropped afterwards
    (with any connections still open to it)."""
    name = f"dnsmill_test_{uuid.uuid4().hex[:12]}"
    psql = shutil.which("psql")
    argv = [
        psql or "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
    ]
    if psql is None or run_client(argv, "SELECT 1").returncode != 0:
        unreachable("PostgreSQL is not reachable at 127.0.0.1:5432")
    assert run_client(argv, f"CREATE DATABASE {name}").returncode == 0
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        run_client(argv, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def mysql_database() -> Iterator[str]:
    """The URL of a new, empty database on the MariaDB at 127.0.0.1:3306, dropped afterwards."""
    name = f"dnsmill_test_{uuid.uuid4().hex[:12]}"
    mariadb = shutil.which("mariadb") or shutil.which("mysql")
    argv = [mariadb or "mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e"]
    if mariadb is None or run_client(argv, "SELECT 1").returncode != 0:
        unreachable("MariaDB is not reachable at 127.0.0.1:3306")
    assert run_client(argv, f"CREATE DATABASE {name}").returncode == 0
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        run_client(argv, f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'test.db'}"
        return
    if request.param == "postgresql":
        with postgresql_database() as url:
            yield url
        return
    with mysql_database() as url:
        yield url
