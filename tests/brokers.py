"""Brokers for tests: a virtual host of the test session's own on the real RabbitMQ at
127.0.0.1:5672 (guest/guest), made and deleted with ``rabbitmqctl``, and helpers to act on it
as an operator would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from stores import unreachable

RABBITMQ = ("127.0.0.1", 5672)


def rabbitmqctl(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs ``rabbitmqctl`` (a second or two per call: the CLI starts a node of its own)."""
    return subprocess.run(["rabbitmqctl", *arguments], capture_output=True, text=True, timeout=60)


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """The URL of a new, empty virtual host, deleted with everything in it afterwards."""
    if shutil.which("rabbitmqctl") is None:
        unreachable("rabbitmqctl is not installed (the RabbitMQ tests make a virtual host with it)")
    try:
        socket.create_connection(RABBITMQ, timeout=2).close()
    except OSError as error:
        unreachable(f"RabbitMQ is not reachable at 127.0.0.1:5672 ({error})")
    vhost = f"dnsmill-test-{uuid.uuid4().hex[:12]}"
    made = rabbitmqctl("add_vhost", vhost)
    if made.returncode != 0:
        unreachable(f"rabbitmqctl add_vhost {vhost} failed: {made.stderr.strip()}")
    try:
        allowed = rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        assert allowed.returncode == 0, allowed.stderr
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def vhost_of(url: str) -> str:
    return url.split("?", 1)[0].rsplit("/", 1)[1]
