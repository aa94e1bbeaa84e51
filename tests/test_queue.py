"""The durable local queue: leases, acks, nacks, delivery limit, dead letters, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dnsmill import QueueError
from dnsmill.events import EventBus
from dnsmill.queue import SqliteQueue, open_queue


@pytest.fixture
def queue_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'queue.db'}"


def test_put_get_ack_in_order(queue_url: str) -> None:
    with open_queue(queue_url) as queue:
        assert queue.put_many([b"one", "two", b"three"]) == 3
        assert queue.depth().ready == 3
        taken = [queue.get(lease=30) for _ in range(3)]
        assert [m.body for m in taken if m] == [b"one", b"two", b"three"]
        assert queue.get() is None
        depth = queue.depth()
        assert (depth.ready, depth.leased, depth.pending) == (0, 3, 3)
        assert all(queue.ack(m) for m in taken if m)
        assert queue.depth().pending == 0


def test_an_expired_lease_is_offered_again_and_the_old_holder_cannot_settle(queue_url: str) -> None:
    with open_queue(queue_url) as queue:
        queue.put(b"job")
        first = queue.get(lease=0.2)
        assert first is not None and first.attempts == 1
        assert queue.get() is None  # leased: invisible
        time.sleep(0.3)
        second = queue.get(lease=30)
        assert second is not None and second.id == first.id and second.attempts == 2
        assert not queue.ack(first)  # the first lease is over
        assert not queue.nack(first) and not queue.extend(first, 10)
        assert queue.ack(second)
        assert queue.depth().pending == 0


def test_nack_with_delay_and_extend(queue_url: str) -> None:
    with open_queue(queue_url) as queue:
        queue.put(b"later")
        message = queue.get(lease=0.3)
        assert message is not None
        assert queue.extend(message, 30)
        time.sleep(0.4)
        assert queue.get() is None  # the extended lease still holds it
        assert queue.nack(message, delay=0.3, reason="server busy")
        assert queue.depth().delayed == 1
        assert queue.get() is None
        again = queue.get(wait=2)
        assert again is not None and again.body == b"later" and again.attempts == 2
        assert queue.ack(again)


def test_the_delivery_limit_moves_a_message_to_dead_letters(tmp_path: Path) -> None:
    with open_queue(f"sqlite://{tmp_path / 'q.db'}?delivery_limit=2") as queue:
        queue.put(b"poison")
        queue.put(b"fine")
        delivered = []
        while (message := queue.get()) is not None:
            delivered.append(message.body)
            if message.body == b"poison":
                queue.nack(message)  # it fails whoever takes it
            else:
                queue.ack(message)
        # A nacked message goes behind the ones already waiting.
        assert delivered == [b"poison", b"fine", b"poison"]
        dead = queue.dead_letters()
        assert [(d.body, d.attempts) for d in dead] == [(b"poison", 2)]
        assert "delivery limit 2" in dead[0].reason
        assert queue.depth().dead == 1


def test_a_malformed_message_is_dead_lettered_with_its_reason(queue_url: str) -> None:
    bus = EventBus()
    announced = bus.subscribe("queue")
    with open_queue(queue_url, bus=bus) as queue:
        queue.put(b"{not json")
        message = queue.get()
        assert message is not None
        with pytest.raises(ValueError):
            message.json()
        assert queue.dead_letter(message, "not JSON: line 1 column 2")
        assert queue.get() is None
        (dead,) = queue.dead_letters()
        assert dead.body == b"{not json" and dead.reason == "not JSON: line 1 column 2"
    event = announced.get(timeout=1)
    assert event is not None and event.name == "message_dead_lettered"
    assert event.data["reason"] == "not JSON: line 1 column 2"


def test_purge_keeps_leased_messages_and_queues_are_separate(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    domains, other = SqliteQueue(path, "domains"), SqliteQueue(path, "other")
    domains.put_many([b"a", b"b", b"c"])
    other.put(b"x")
    held = domains.get()
    assert held is not None
    assert domains.purge() == 2
    assert domains.depth().leased == 1
    assert other.depth().ready == 1
    assert domains.ack(held)
    domains.close()
    other.close()


def test_bad_urls() -> None:
    with pytest.raises(QueueError, match="unsupported queue URL scheme 'redis'"):
        open_queue("redis://127.0.0.1")
    with pytest.raises(QueueError, match="needs a file path"):
        open_queue("sqlite://")


HOLDER = textwrap.dedent(
    """
    import sys, time
    from dnsmill.queue import open_queue
    queue = open_queue(sys.argv[1])
    message = queue.get(lease=float(sys.argv[2]))
    print(message.body.decode(), flush=True)
    time.sleep(60)
    """
)


def test_a_process_killed_holding_a_lease_loses_nothing(queue_url: str) -> None:
    with open_queue(queue_url) as queue:
        queue.put_many([f"job-{n}".encode() for n in range(3)])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, queue_url, "1.0"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "job-0"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with open_queue(queue_url) as queue:
        bodies = []
        deadline = time.monotonic() + 10
        while len(bodies) < 3 and time.monotonic() < deadline:
            message = queue.get(wait=0.5)
            if message is not None:
                bodies.append(message.body)
                assert queue.ack(message)
        assert sorted(bodies) == [b"job-0", b"job-1", b"job-2"]
        assert queue.depth().pending == 0


KILLED_WHILE_WORKING = textwrap.dedent(
    """
    import sys
    from dnsmill.queue import open_queue
    queue = open_queue(sys.argv[1])
    n = 0
    while True:
        queue.put(str(n).encode())
        message = queue.get(lease=0.5)
        if message is not None:
            queue.ack(message)
            print(message.body.decode(), flush=True)
        n += 1
    """
)


def test_kill_9_in_the_middle_of_puts_and_acks_neither_loses_nor_duplicates(queue_url: str) -> None:
    """A process puts n, then gets and acks the oldest message, over and over, and is killed at
    a random point. Every acked message is gone; every other one is delivered once more."""
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_WORKING, queue_url], stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    acked_seen = [worker.stdout.readline().strip() for _ in range(200)]
    os.kill(worker.pid, signal.SIGKILL)
    rest = worker.stdout.read().split()
    worker.wait()
    acked = {int(n) for n in acked_seen + rest}
    with open_queue(queue_url) as queue:
        remaining = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = queue.get(wait=0.6 if queue.depth().pending else 0)
            if message is None:
                break
            remaining.append(int(message.body))
            assert queue.ack(message)
    # Nothing was acked twice, nothing acked came back, and no number is missing (the kill may
    # land between an ack's commit and its print: then the last number is in neither list).
    assert len(acked) == len(acked_seen + rest)
    assert len(remaining) == len(set(remaining))
    assert not acked & set(remaining)
    seen = sorted(acked | set(remaining))
    assert seen == list(range(len(seen)))
