"""JetStream for tests: streams of the test's own on the real NATS at 127.0.0.1:4222 (deleted
afterwards, dead-letter stream included), a NATS server of the test's own on a free port (to
stop and restart), and helpers to publish and to read what a stream holds, over nats-py."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.errors import NotFoundError
from stores import unreachable

NATS = "nats://127.0.0.1:4222"


def reachable(url: str = NATS) -> None:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as error:
        unreachable(f"NATS is not reachable at {url} ({error})")


def stream_name() -> str:
    return f"DNSMILL_TEST_{uuid.uuid4().hex[:10].upper()}"


async def _delete_streams(url: str, names: Sequence[str]) -> None:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        for name in names:
            try:
                await js.delete_stream(name)
            except NotFoundError:
                pass
    finally:
        await connection.close()


@contextmanager
def own_stream(url: str = NATS) -> Iterator[str]:
    """A unique stream name (subjects ``<name lowercased>.>``); the stream and its dead-letter
    stream are deleted afterwards."""
    reachable(url)
    name = stream_name()
    try:
        yield name
    finally:
        asyncio.run(_delete_streams(url, [name, f"{name}-DLQ"]))


async def create_stream(url: str, name: str, subjects: list[str]) -> None:
    connection = await nats.connect(url)
    try:
        await connection.jetstream().add_stream(name=name, subjects=subjects)
    finally:
        await connection.close()


async def publish(
    url: str, messages: Sequence[tuple[str, bytes, str | None]], *, stream: str | None = None
) -> int:
    """Publishes (subject, payload, msg id) to JetStream, waiting for every ack (bounded in flight);
    returns how many the stream took as new (duplicate msg ids are not)."""
    connection = await nats.connect(url)
    js = connection.jetstream(publish_async_max_pending=4000)
    stored = 0
    try:
        futures = []
        for subject, payload, msg_id in messages:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            futures.append(await js.publish_async(subject, payload, headers=headers))
        for future in futures:
            ack = await future
            stored += 0 if ack.duplicate else 1
    finally:
        await connection.close()
    return stored


@dataclass
class Stored:
    subject: str
    data: bytes
    headers: dict[str, str]


async def read_stream(url: str, name: str) -> list[Stored]:
    """Every message the stream holds, in order."""
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            return []
        out = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            try:
                message = await js.get_msg(name, sequence)
            except NotFoundError:
                continue
            out.append(Stored(message.subject, message.data or b"", dict(message.headers or {})))
        return out
    finally:
        await connection.close()


async def consumer_info(url: str, stream: str, durable: str) -> object:
    connection = await nats.connect(url)
    try:
        return await connection.jetstream().consumer_info(stream, durable)
    finally:
        await connection.close()


class NatsServer:
    """A ``nats-server`` with JetStream of the test's own, on a free loopback port, that can be
    stopped and started again on the same port with its store kept."""

    def __init__(self) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            unreachable("nats-server is not installed")
        self.binary = binary
        self.store = tempfile.mkdtemp(prefix="dnsmill-nats-")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, (
                    "nats-server did not start"
                )
                time.sleep(0.05)
        # JetStream answers a moment after the port opens.
        asyncio.run(self._wait_for_jetstream(deadline))

    async def _wait_for_jetstream(self, deadline: float) -> None:
        while True:
            try:
                connection = await nats.connect(self.url)
                try:
                    await connection.jetstream().account_info()
                    return
                finally:
                    await connection.close()
            except Exception:
                assert time.monotonic() < deadline, "JetStream did not come up"
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)
