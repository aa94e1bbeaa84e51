"""The queue contract: what publishers and workers rely on, run against every implementation.

Each test opens ``open_queue(queue_url, name)``, a queue of its own. A test of an optional
capability checks the implementation's ``capabilities`` first; a test of leases (SQLite's way
of finding dead consumers) runs where the URL takes a ``lease``. RabbitMQ runs as two
implementations, quorum and classic queues (they count deliveries differently), in a virtual
host of the session's own; the tests after the contract are RabbitMQ's own.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import brokers
import dnsmill.queues.sqlite as sqlite_queue
import pytest
from dnsmill import QueueError
from dnsmill._core import QueueConnectionError, QueueUnsupportedError
from dnsmill.events import EventBus
from dnsmill.queues import Consumer, Delivery, ack_all, open_queue

T = TypeVar("T")

# A broker-backed implementation joins here, its fixture branch giving its URL (the test's
# unique name keeps its queues apart from other tests').
IMPLEMENTATIONS = ["sqlite", "amqp-quorum", "amqp-classic"]


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[str]:
    """The URL of a RabbitMQ virtual host for this session (made once: rabbitmqctl is slow)."""
    with brokers.rabbitmq_vhost() as url:
        yield url


@pytest.fixture(params=IMPLEMENTATIONS)
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'queue.db'}"
    if request.param == "amqp-quorum":
        return str(request.getfixturevalue("rabbitmq"))  # quorum is the default
    if request.param == "amqp-classic":
        return f"{request.getfixturevalue('rabbitmq')}?queue_type=classic"
    raise AssertionError(f"no URL for {request.param}")


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def has_leases(url: str) -> bool:
    return url.startswith("sqlite:")


def with_options(url: str, **options: object) -> str:
    return with_query(url, "&".join(f"{key}={value}" for key, value in options.items()))


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def short_lease(url: str, seconds: float = 1.0) -> str:
    """``url`` with leases of ``seconds`` where the queue has leases: how long the messages of
    a consumer that died wait before they are offered again."""
    return with_options(url, lease=seconds) if has_leases(url) else url


async def take(consumer: Consumer, timeout: float = 5.0) -> Delivery:
    delivery = await consumer.get(timeout=timeout)
    assert delivery is not None, f"nothing delivered within {timeout} s"
    return delivery


def run_elsewhere(work: Coroutine[Any, Any, T]) -> T:
    """Runs ``work`` on an event loop in another thread, blocking this thread's loop meanwhile:
    another consumer, as in another process, while this one is stalled."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result(timeout=30)


def test_put_get_ack_in_order(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue:
            assert await queue.put_many([b"one", "two", b"three"]) == 3
            async with queue.consume(prefetch=3) as consumer:
                taken = [await take(consumer) for _ in range(3)]
                assert [d.body for d in taken] == [b"one", b"two", b"three"]
                assert [d.redeliveries for d in taken] == [0, 0, 0]
                assert len({d.message_id for d in taken}) == 3
                assert not any(d.settled for d in taken)
                for delivery in taken:
                    await delivery.ack()
                assert all(d.settled for d in taken)
                assert await consumer.get(timeout=0.2) is None
        # Acked is gone for good, for every process.
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            assert await consumer.get(timeout=0.3) is None

    asyncio.run(main())


def test_a_message_put_outlives_the_queue_object(queue_url: str, name: str) -> None:
    async def main() -> None:
        queue = open_queue(queue_url, name)
        await queue.put(b"kept")
        await queue.put_json({"domains": ["example.com"]})
        await queue.close()
        async with open_queue(queue_url, name) as queue, queue.consume(prefetch=2) as consumer:
            assert (await take(consumer)).body == b"kept"
            assert (await take(consumer)).json() == {"domains": ["example.com"]}

    asyncio.run(main())


def test_async_for_yields_deliveries_until_the_consumer_is_closed(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue:
            await queue.put_many([b"a", b"b", b"c"])
            consumer = queue.consume()
            bodies = []
            async for delivery in consumer:
                bodies.append(delivery.body)
                await delivery.ack()
                if len(bodies) == 2:
                    await consumer.close()
            assert bodies == [b"a", b"b"]
            # A get waiting on an empty queue ends when the consumer closes.
            async with queue.consume() as other:
                await take(other)
                waiting = asyncio.create_task(other.get())
                await asyncio.sleep(0.1)
                assert not waiting.done()
                await other.close()
                assert await asyncio.wait_for(waiting, 1) is None

    asyncio.run(main())


def test_nack_with_a_delay_offers_the_message_again_after_it(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            if "delay" not in queue.capabilities:
                pytest.skip("this queue cannot delay a message")
            await queue.put(b"later")
            first = await take(consumer)
            await first.nack(delay=0.6, reason="server busy")
            returned_at = time.monotonic()
            if "depth" in queue.capabilities:
                assert (await queue.depth()).delayed == 1
            assert await consumer.get(timeout=0.3) is None
            again = await take(consumer, timeout=3)
            assert time.monotonic() - returned_at >= 0.55
            assert (again.body, again.message_id) == (b"later", first.message_id)
            assert again.redeliveries == 1
            await again.ack()

    asyncio.run(main())


def test_nack_without_delay_puts_the_message_behind_those_waiting(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            await queue.put_many([b"first", b"second"])
            nacked = await take(consumer)
            await nacked.nack()
            second = await take(consumer)
            await second.ack()
            again = await take(consumer)
            await again.ack()
            assert [nacked.body, second.body, again.body] == [b"first", b"second", b"first"]
            assert again.redeliveries == 1

    asyncio.run(main())


def test_a_dead_lettered_message_keeps_its_body_and_reason_and_never_comes_back(
    queue_url: str, name: str
) -> None:
    bus = EventBus()
    announced = bus.subscribe("queue")

    async def main() -> None:
        async with open_queue(queue_url, name, bus=bus) as queue, queue.consume() as consumer:
            await queue.put(b"{not json")
            delivery = await take(consumer)
            with pytest.raises(ValueError):
                delivery.json()
            await delivery.dead_letter("not JSON: line 1 column 2")
            assert await consumer.get(timeout=0.5) is None
            if "dead_letters" in queue.capabilities:
                (dead,) = await queue.dead_letters()
                assert (dead.body, dead.reason) == (b"{not json", "not JSON: line 1 column 2")
                assert (dead.message_id, dead.deliveries) == (delivery.message_id, 1)
                assert abs(dead.failed_at - time.time()) < 60
                # Reading them leaves them there.
                assert await queue.dead_letters() == [dead]
                if "depth" in queue.capabilities:
                    assert (await queue.depth()).dead == 1
            else:
                with pytest.raises(QueueUnsupportedError):
                    await queue.dead_letters()

    asyncio.run(main())
    event = announced.get(timeout=1)
    assert event is not None and event.name == "message_dead_lettered"
    assert event.data["reason"] == "not JSON: line 1 column 2"


def test_the_delivery_limit_moves_a_message_to_dead_letters(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(with_options(queue_url, delivery_limit=2), name) as queue:
            assert queue.delivery_limit == 2
            await queue.put_many([b"poison", b"fine"])
            delivered = []
            async with queue.consume() as consumer:
                for _ in range(5):  # bounded: a queue without the limit would go on forever
                    delivery = await consumer.get(timeout=0.5)
                    if delivery is None:
                        break
                    delivered.append((delivery.body, delivery.redeliveries))
                    if delivery.body == b"poison":
                        await delivery.nack()  # it fails whoever takes it
                    else:
                        await delivery.ack()
            assert delivered == [(b"poison", 0), (b"fine", 0), (b"poison", 1)]
            if "dead_letters" in queue.capabilities:
                (dead,) = await queue.dead_letters()
                assert (dead.body, dead.deliveries) == (b"poison", 2)
                assert "delivery limit 2" in dead.reason
            if "depth" in queue.capabilities:
                depth = await queue.depth()
                assert (depth.dead, depth.pending) == (1, 0)

    asyncio.run(main())


def test_deliveries_that_end_without_a_settle_count_toward_the_delivery_limit(
    queue_url: str, name: str
) -> None:
    """A message whose every consumer dies before settling it (it crashes them, say) ends in
    the dead letters too."""

    async def main() -> None:
        async with open_queue(with_options(queue_url, delivery_limit=2), name) as queue:
            await queue.put(b"crashes its consumer")
            for redeliveries in (0, 1):
                async with queue.consume() as consumer:  # closed holding it, as by a crash
                    assert (await take(consumer)).redeliveries == redeliveries
            async with queue.consume() as consumer:
                assert await consumer.get(timeout=0.5) is None
            if "dead_letters" in queue.capabilities:
                (dead,) = await queue.dead_letters()
                assert (dead.body, dead.deliveries) == (b"crashes its consumer", 2)
                assert "delivery limit 2" in dead.reason

    asyncio.run(main())


def test_two_consumers_never_hold_the_same_message(queue_url: str, name: str) -> None:
    async def main() -> None:
        # Two queue objects, as two processes would have.
        async with open_queue(queue_url, name) as one, open_queue(queue_url, name) as two:

            async def hold_all(consumer: Consumer) -> list[Delivery]:
                held = []
                while (delivery := await consumer.get(timeout=0.3)) is not None:
                    held.append(delivery)
                    await asyncio.sleep(0)
                return held

            async with one.consume(prefetch=30) as first, two.consume(prefetch=30) as second:
                # Both consuming before the messages come: a broker pushes what is waiting to
                # the first consumer up to its prefetch.
                assert await asyncio.gather(first.get(timeout=0.3), second.get(timeout=0.3)) == [None, None]
                await one.put_many([str(n) for n in range(30)])
                by_first, by_second = await asyncio.gather(hold_all(first), hold_all(second))
                assert by_first and by_second
                ids_first = {d.message_id for d in by_first}
                ids_second = {d.message_id for d in by_second}
                assert not ids_first & ids_second
                assert len(ids_first | ids_second) == len(by_first) + len(by_second) == 30
                for delivery in by_first + by_second:
                    await delivery.ack()

    asyncio.run(main())


def test_a_consumer_holds_at_most_prefetch_deliveries(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume(prefetch=2) as consumer:
            await queue.put_many([b"1", b"2", b"3"])
            first, second = await take(consumer), await take(consumer)
            assert await consumer.get(timeout=0.3) is None
            if "depth" in queue.capabilities:
                depth = await queue.depth()
                assert (depth.ready, depth.held) == (1, 2)
            waiting = asyncio.create_task(consumer.get(timeout=5))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await first.ack()
            third = await asyncio.wait_for(waiting, 2)
            assert third is not None and third.body == b"3"
            await second.ack()
            await third.ack()

    asyncio.run(main())


def test_raising_the_prefetch_lets_a_consumer_hold_more_at_once(queue_url: str, name: str) -> None:
    """A worker gathering one-domain messages raises its prefetch while it holds deliveries."""

    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume(prefetch=2) as consumer:
            await queue.put_many([str(n).encode() for n in range(6)])
            held = [await take(consumer), await take(consumer)]
            assert await consumer.get(timeout=0.3) is None
            await consumer.set_prefetch(5)
            held += [await take(consumer) for _ in range(3)]
            assert await consumer.get(timeout=0.3) is None
            assert sorted(delivery.body for delivery in held) == [b"0", b"1", b"2", b"3", b"4"]
            for delivery in held:
                await delivery.ack()
            last = await take(consumer)
            assert last.body == b"5"
            await last.ack()

    asyncio.run(main())


def test_closing_a_consumer_returns_what_it_holds_at_once(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue:
            await queue.put_many([b"done", b"unfinished"])
            consumer = queue.consume(prefetch=2)
            done, unfinished = await take(consumer), await take(consumer)
            await done.ack()
            await consumer.close()
            await consumer.close()  # twice is harmless
            assert unfinished.settled
            with pytest.raises(QueueError):
                await unfinished.ack()
            async with queue.consume() as other:
                # Well before any lease could run out.
                again = await take(other, timeout=1)
                assert (again.body, again.redeliveries) == (b"unfinished", 1)
                await again.ack()
                assert await other.get(timeout=0.2) is None

    asyncio.run(main())


def test_closing_the_queue_returns_what_its_consumers_hold(queue_url: str, name: str) -> None:
    async def main() -> None:
        queue = open_queue(queue_url, name)
        await queue.put(b"unfinished")
        await take(queue.consume())
        await queue.close()
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            assert (await take(consumer, timeout=1)).redeliveries == 1

    asyncio.run(main())


def test_a_cancelled_get_loses_no_message(queue_url: str, name: str) -> None:
    """A get cancelled at any point (as by a timeout around it): every message is either
    handed out or still on the queue, and one never handed out was not delivered."""

    async def main() -> None:
        async with open_queue(queue_url, name) as queue:
            await queue.put_many([str(n) for n in range(20)])
            handed_out: list[str] = []
            consumer = queue.consume(prefetch=3)
            rng = random.Random(7)
            for _ in range(100):
                try:
                    delivery = await asyncio.wait_for(consumer.get(), rng.uniform(0, 0.02))
                except asyncio.TimeoutError:
                    continue
                assert delivery is not None
                handed_out.append(delivery.body.decode())
                await delivery.ack()
            # And one cancelled while it takes a message, just before the consumer closes.
            await queue.put(b"20")
            cancelled = asyncio.create_task(consumer.get())
            await asyncio.sleep(0)
            cancelled.cancel()
            await consumer.close()
            rest = []
            async with queue.consume(prefetch=20) as drain:
                while (delivery := await drain.get(timeout=0.3)) is not None:
                    rest.append(delivery)
            assert handed_out, "no get finished in time: the test proves nothing"
            assert sorted(handed_out + [d.body.decode() for d in rest], key=int) == [
                str(n) for n in range(21)
            ]
            if has_leases(queue_url):
                assert all(d.redeliveries == 0 for d in rest)

    asyncio.run(main())


def test_purge_keeps_held_messages_and_queues_are_separate(queue_url: str, name: str) -> None:
    bus = EventBus()
    announced = bus.subscribe("queue")

    async def main() -> None:
        async with (
            open_queue(queue_url, name, bus=bus) as queue,
            open_queue(queue_url, f"{name}-other") as other,
        ):
            await queue.put_many([b"a", b"b", b"c"])
            await other.put(b"x")
            async with queue.consume() as consumer:
                held = await take(consumer)
                assert await queue.purge() == 2
                if "depth" in queue.capabilities:
                    assert (await queue.depth()).held == 1
                    assert (await other.depth()).ready == 1
                await held.ack()
                assert await consumer.get(timeout=0.2) is None
            async with other.consume() as consumer:
                assert (await take(consumer)).body == b"x"

    asyncio.run(main())
    event = announced.get(timeout=1)
    assert event is not None and event.name == "queue_purged" and event.data["messages"] == 2


def test_settling_twice_raises(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume(prefetch=3) as consumer:
            await queue.put_many([b"a", b"b", b"c"])
            acked, nacked, dead = await take(consumer), await take(consumer), await take(consumer)
            await acked.ack()
            await nacked.nack()
            await dead.dead_letter("broken")
            with pytest.raises(QueueError, match="already acked"):
                await acked.ack()
            with pytest.raises(QueueError, match="already acked"):
                await acked.nack()
            with pytest.raises(QueueError, match="already nacked"):
                await nacked.dead_letter("too late")
            with pytest.raises(QueueError, match="already dead-lettered"):
                await dead.ack()
            # The nacked one is back once, and nothing else is.
            again = await take(consumer)
            assert again.body == b"b"
            await again.ack()
            assert await consumer.get(timeout=0.2) is None

    asyncio.run(main())


def test_ack_all_acks_many_at_once_and_returns_those_it_could_not(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue:
            await queue.put_many([f"m{n}".encode() for n in range(300)])
            async with queue.consume(prefetch=300) as consumer:
                held = [await take(consumer) for _ in range(300)]
                await held[7].nack()
                failed = await ack_all(held)
                assert [(delivery.body, "already nacked" in str(error)) for delivery, error in failed] == [
                    (b"m7", True)
                ]
                assert all(delivery.settled for delivery in held)
                with pytest.raises(QueueError, match="already acked"):
                    await held[0].ack()
                again = await take(consumer)
                assert again.body == b"m7"
                assert await ack_all([again, again]) and again.settled  # the second is already acked
                assert await consumer.get(timeout=0.2) is None
            # Acked together while one between them is still held: that one stays held.
            await queue.put_many([f"g{n}".encode() for n in range(6)])
            async with queue.consume(prefetch=10) as consumer:
                held = [await take(consumer) for _ in range(6)]
                assert await ack_all(held[:2] + held[3:5]) == []
                assert not held[2].settled and not held[5].settled
                await held[5].ack()
                await held[2].ack()
                assert await consumer.get(timeout=0.2) is None
            async with queue.consume(prefetch=10) as consumer:
                assert await consumer.get(timeout=0.5) is None  # nothing came back
            # Held by a consumer that closed: none can be acked, and all come back.
            consumer = queue.consume(prefetch=10)
            await queue.put_many([b"x", b"y"])
            held = [await take(consumer), await take(consumer)]
            await consumer.close()
            assert [delivery.body for delivery, _ in await ack_all(held)] == [b"x", b"y"]
            async with queue.consume(prefetch=10) as consumer:
                back = [await take(consumer), await take(consumer)]
                assert sorted(delivery.body for delivery in back) == [b"x", b"y"]
                assert await ack_all(back) == []
            assert (await queue.depth()).pending == 0

    asyncio.run(main())


def test_depth_counts_messages_by_state(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume(prefetch=3) as consumer:
            if "depth" not in queue.capabilities:
                with pytest.raises(QueueUnsupportedError):
                    await queue.depth()
                return
            await queue.put_many([b"held", b"delayed", b"dead", b"ready"])
            held, delayed, dead = await take(consumer), await take(consumer), await take(consumer)
            await delayed.nack(delay=60)
            await dead.dead_letter("broken")
            depth = await queue.depth()
            assert (depth.ready, depth.held, depth.delayed, depth.dead) == (1, 1, 1, 1)
            assert depth.pending == 3
            # RabbitMQ counts the consumers of every process; a SQLite queue cannot tell.
            assert depth.consumers == (None if queue_url.startswith("sqlite") else 1)
            async with queue.consume(prefetch=1) as second:
                await second.get(timeout=0.3)  # consuming from now on
                if not queue_url.startswith("sqlite"):
                    assert (await queue.depth()).consumers == 2
            await held.ack()

    asyncio.run(main())


def test_unknown_schemes_are_refused_naming_those_supported() -> None:
    with pytest.raises(QueueError, match=r"unsupported queue URL scheme 'redis' \(supported: .*sqlite"):
        open_queue("redis://127.0.0.1")
    with pytest.raises(QueueError, match="unsupported queue URL scheme"):
        open_queue("queue.db")
    with pytest.raises(QueueError) as raised:
        open_queue("redis://worker:hunter2@127.0.0.1/")
    assert "hunter2" not in str(raised.value)


def test_bad_options_are_refused_naming_the_option(queue_url: str, name: str) -> None:
    with pytest.raises(QueueError, match="delivery_limit='many' is not a whole number"):
        open_queue(with_options(queue_url, delivery_limit="many"), name)
    with pytest.raises(QueueError, match="delivery_limit"):
        open_queue(with_options(queue_url, delivery_limit=0), name)
    with pytest.raises(QueueError, match="delivery_limit"):
        open_queue(queue_url, name, delivery_limit=0)
    with pytest.raises(QueueError, match=r"unknown option 'colour'.*delivery_limit"):
        open_queue(with_options(queue_url, colour="blue"), name)
    with pytest.raises(QueueError, match="unknown option 'colour'"):
        open_queue(queue_url, name, colour="blue")
    with pytest.raises(QueueError, match="malformed query"):
        open_queue(with_query(queue_url, "delivery_limit"), name)
    queue = open_queue(queue_url, name)
    with pytest.raises(QueueError, match="prefetch"):
        queue.consume(prefetch=0)


def test_sqlite_urls(tmp_path: Path) -> None:
    for empty in ("sqlite://", "sqlite:", "sqlite://?lease=5"):
        with pytest.raises(QueueError, match="needs a file path"):
            open_queue(empty)
    for bad in ("lease=0", "lease=-1", "lease=soon", "lease=inf"):
        with pytest.raises(QueueError, match="lease"):
            open_queue(f"sqlite://{tmp_path / 'q.db'}?{bad}")
    with pytest.raises(QueueError, match="'bus' cannot be given in the URL"):
        open_queue(f"sqlite://{tmp_path / 'q.db'}?bus=x")

    async def unreachable() -> None:
        queue = open_queue(f"sqlite://{tmp_path / 'missing' / 'q.db'}")
        assert queue.url == f"sqlite://{tmp_path / 'missing' / 'q.db'}"
        with pytest.raises(QueueError, match=r"missing/q\.db.*cannot open the queue"):
            await queue.open()

    asyncio.run(unreachable())


def test_a_busy_sqlite_file_is_a_transient_error_and_a_failed_ack_can_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_queue, "BUSY_TIMEOUT", 0.1)
    path = tmp_path / "busy.db"

    async def main() -> None:
        async with open_queue(f"sqlite://{path}") as queue, queue.consume() as consumer:
            await queue.put(b"job")
            delivery = await take(consumer)
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
            with pytest.raises(QueueConnectionError, match=r"busy\.db") as raised:
                await delivery.ack()
            assert raised.value.kind == "transient"
            assert not delivery.settled
            other.execute("ROLLBACK")
            other.close()
            await delivery.ack()
            assert await consumer.get(timeout=0.2) is None

    asyncio.run(main())


def test_a_live_consumer_keeps_a_delivery_however_long_it_works(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with (
            open_queue(short_lease(queue_url, 0.3), name) as queue,
            open_queue(queue_url, name) as elsewhere,
            queue.consume() as consumer,
            elsewhere.consume() as other,
        ):
            await queue.put(b"slow")
            delivery = await take(consumer)
            assert await other.get(timeout=1.5) is None  # five leases
            await delivery.ack()
            assert await other.get(timeout=0.2) is None

    asyncio.run(main())


def test_extend_keeps_a_delivery_while_the_consumer_is_stalled(queue_url: str, name: str) -> None:
    async def steal() -> bytes | None:
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            delivery = await consumer.get(timeout=1.0)
            return None if delivery is None else delivery.body

    async def main() -> None:
        async with open_queue(short_lease(queue_url, 0.3), name) as queue, queue.consume() as consumer:
            await queue.put(b"slow")
            delivery = await take(consumer)
            if "extend" not in queue.capabilities:
                with pytest.raises(QueueUnsupportedError):
                    await delivery.extend(5)
                return
            await delivery.extend(5)
            # This loop stalls (as under CPU-bound work), so nothing renews the lease meanwhile.
            assert run_elsewhere(steal()) is None
            await delivery.ack()

    asyncio.run(main())


def test_a_settle_after_the_message_went_to_another_consumer_raises_and_changes_nothing(
    queue_url: str, name: str
) -> None:
    if not has_leases(queue_url):
        # RabbitMQ gives a held message to another consumer only once its consumer's channel
        # closed: test_the_broker_closing_connections_loses_nothing_and_doubles_nothing.
        pytest.skip("only a queue with leases gives a live consumer's message to another consumer")
    taken, acked_late = threading.Event(), threading.Event()

    async def other_consumer() -> int:
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            delivery = await take(consumer)
            taken.set()
            await asyncio.to_thread(acked_late.wait, 10)
            await delivery.ack()  # untouched by the late settle
            return delivery.redeliveries

    async def main() -> None:
        async with open_queue(short_lease(queue_url, 0.3), name) as queue, queue.consume() as consumer:
            await queue.put(b"job")
            delivery = await take(consumer)
            with ThreadPoolExecutor(1) as pool:
                other = pool.submit(asyncio.run, other_consumer())
                # Stalls this loop, renewals included, until the lease ran out and the other took it.
                assert taken.wait(10)
                with pytest.raises(QueueError, match="lease ran out"):
                    await delivery.ack()
                assert delivery.settled
                with pytest.raises(QueueError, match="lease ran out"):
                    await delivery.nack()
                if "depth" in queue.capabilities:
                    assert (await queue.depth()).held == 1
                acked_late.set()
                assert other.result(10) == 1
            assert await consumer.get(timeout=0.2) is None
            if "depth" in queue.capabilities:
                assert (await queue.depth()).pending == 0

    asyncio.run(main())


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from dnsmill.queues import open_queue

    async def main():
        consumer = open_queue(sys.argv[1], sys.argv[2]).consume(prefetch=2)
        held = [await consumer.get(), await consumer.get()]
        print(" ".join(d.body.decode() for d in held), flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


def test_a_consumer_killed_holding_deliveries_loses_nothing(queue_url: str, name: str) -> None:
    async def main() -> None:
        async with open_queue(queue_url, name) as queue, queue.consume(prefetch=3) as consumer:
            await queue.put_many([b"job-0", b"job-1", b"job-2"])
            with subprocess.Popen(
                [sys.executable, "-c", HOLDER, short_lease(queue_url), name],
                stdout=subprocess.PIPE,
                text=True,
            ) as holder:
                try:
                    assert holder.stdout is not None
                    assert holder.stdout.readline().split() == ["job-0", "job-1"]
                    # Alive, the holder keeps both past its lease.
                    rest = await take(consumer)
                    assert rest.body == b"job-2"
                    assert await consumer.get(timeout=1.5) is None
                finally:
                    os.kill(holder.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            returned = [await take(consumer, timeout=5), await take(consumer, timeout=5)]
            assert time.monotonic() - killed_at < 3
            assert sorted((d.body, d.redeliveries) for d in returned) == [(b"job-0", 1), (b"job-1", 1)]
            for delivery in [rest, *returned]:
                await delivery.ack()
            assert await consumer.get(timeout=0.2) is None

    asyncio.run(main())


KILLED_WHILE_WORKING = textwrap.dedent(
    """
    import asyncio, sys
    from dnsmill.queues import open_queue

    async def main():
        async with open_queue(sys.argv[1], sys.argv[2]) as queue, queue.consume() as consumer:
            n = 0
            while True:
                await queue.put(str(n))
                delivery = await consumer.get(timeout=5)
                if delivery is not None:
                    await delivery.ack()
                    print(delivery.body.decode(), flush=True)
                n += 1

    asyncio.run(main())
    """
)


def test_kill_9_in_the_middle_of_puts_and_acks_neither_loses_nor_duplicates(
    queue_url: str, name: str
) -> None:
    """A process puts n, then takes and acks the oldest message, over and over, and is killed at
    some point. Every acked message is gone; every other one is delivered once more."""
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_WORKING, short_lease(queue_url), name],
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        assert worker.stdout is not None
        acked_seen = [worker.stdout.readline().strip() for _ in range(100)]
        os.kill(worker.pid, signal.SIGKILL)
        rest = worker.stdout.read().split()
    acked = {int(n) for n in acked_seen + rest}

    async def drain() -> list[int]:
        remaining = []
        async with open_queue(queue_url, name) as queue, queue.consume() as consumer:
            # Long enough for a message the killed process held to come back.
            while (delivery := await consumer.get(timeout=2.5)) is not None:
                remaining.append(int(delivery.body))
                await delivery.ack()
                if "depth" in queue.capabilities and (await queue.depth()).pending == 0:
                    break
        return remaining

    remaining = asyncio.run(drain())
    # Nothing was acked twice, nothing acked came back, and no number is missing (the kill may
    # land between an ack's commit and its print: then the last number is in neither list).
    assert len(acked) == len(acked_seen + rest)
    assert len(remaining) == len(set(remaining))
    assert not acked & set(remaining)
    seen = sorted(acked | set(remaining))
    assert seen == list(range(len(seen)))


# RabbitMQ's own tests.


def test_amqp_urls_and_options_are_checked_before_connecting() -> None:
    for bad, match in (
        ("amqp://", "needs a host"),
        ("amqp:///vhost", "needs a host"),
        ("amqp://127.0.0.1:port/v", "malformed"),
        ("amqp://127.0.0.1/v?queue_type=stream", "queue_type must be quorum or classic"),
        ("amqp://127.0.0.1/v?cafile=/etc/ca.pem", "need an amqps:// URL"),
        ("amqp://127.0.0.1/v?reconnect_interval=0", "reconnect_interval"),
        ("amqp://127.0.0.1/v?timeout=inf", "timeout"),
        ("amqp://127.0.0.1/v?lease=5", r"unknown option 'lease' for amqp queues \(known: .*queue_type"),
    ):
        with pytest.raises(QueueError, match=match):
            open_queue(bad)
    with pytest.raises(QueueError, match="queue name"):
        open_queue("amqp://127.0.0.1/v", "amq.reserved")
    with pytest.raises(QueueError, match="queue name"):
        open_queue("amqp://127.0.0.1/v", "x" * 250)
    queue = open_queue("amqps://worker:hunter2@rabbit.example:5671/dns?cafile=/etc/ca.pem&delivery_limit=3")
    assert (queue.url, queue.delivery_limit) == ("amqps://worker:***@rabbit.example:5671/dns", 3)
    assert queue.capabilities == {"depth", "dead_letters", "delay"}


def test_an_unreachable_broker_is_a_connection_error_naming_the_url_without_password() -> None:
    async def main() -> None:
        queue = open_queue("amqp://worker:hunter2@127.0.0.1:1/dns", "domains")
        with pytest.raises(
            QueueConnectionError, match=r"amqp://worker:\*\*\*@127\.0\.0\.1:1/dns: cannot connect"
        ) as raised:
            await queue.open()
        assert raised.value.kind == "transient"
        assert "hunter2" not in str(raised.value)
        with pytest.raises(QueueConnectionError):
            await queue.put(b"job")

    asyncio.run(main())


def test_a_vhost_the_user_may_not_use_is_a_connection_error(rabbitmq: str) -> None:
    async def main() -> None:
        queue = open_queue(f"{rabbitmq.rsplit('/', 1)[0]}/no-such-vhost-{uuid.uuid4().hex[:8]}")
        with pytest.raises(
            QueueConnectionError, match=r"no-such-vhost.*cannot connect.*refused to open virtual host"
        ):
            await queue.open()

    asyncio.run(main())


def test_the_queues_dnsmill_creates_are_durable_and_quorum_unless_classic_is_asked(
    rabbitmq: str, name: str
) -> None:
    async def redeclare(queue: str, queue_type: str, **arguments: str) -> None:
        # Succeeds only if the queue is durable, of that type and has those arguments.
        connection = await aio_pika.connect(rabbitmq)
        async with connection:
            channel = await connection.channel()
            arguments = {"x-queue-type": queue_type, **arguments}
            await channel.declare_queue(queue, durable=True, arguments=arguments)

    async def main() -> None:
        for url, queue_type in (
            (rabbitmq, "quorum"),
            (with_options(rabbitmq, queue_type="classic"), "classic"),
        ):
            queue_name = f"{name}-{queue_type}"
            async with open_queue(url, queue_name) as queue, queue.consume() as consumer:
                await redeclare(queue_name, queue_type)
                other = "classic" if queue_type == "quorum" else "quorum"
                with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
                    await redeclare(queue_name, other)
                await queue.put(b"job")
                await (await take(consumer)).nack(delay=30)
                # The delay queues, each sending what expires back to the queue.
                assert (await queue.depth()).delayed == 1
                back = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue_name}
                if queue_type == "quorum":
                    back |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
                for level in (1, 32, 32768):
                    await redeclare(f"{queue_name}.delay.{level}s", queue_type, **back)
                # A queue deleted under dnsmill: what is put is returned as unroutable, not lost.
                connection = await aio_pika.connect(rabbitmq)
                async with connection:
                    await (await connection.channel()).queue_delete(queue_name)
                with pytest.raises(QueueError, match=r"0 of 1 messages put.*unroutable"):
                    await queue.put(b"lost?")

    asyncio.run(main())


def test_an_existing_classic_queue_is_used_as_it_is(rabbitmq: str, name: str) -> None:
    """The way existing tools make ``dns_records``: a durable classic queue without arguments,
    with messages put without ids. dnsmill (quorum by default) neither declares it again nor
    needs arguments on it, and dead-lettering, delays and the delivery limit work."""

    async def declare_and_put_as_another_tool(bodies: list[bytes]) -> None:
        connection = await aio_pika.connect(rabbitmq)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True)
            for body in bodies:
                await channel.default_exchange.publish(aio_pika.Message(body), routing_key=name)

    async def still_a_plain_classic_queue() -> None:
        # A declare with other arguments than the queue's fails with PRECONDITION_FAILED; with
        # the same ones it changes nothing.
        connection = await aio_pika.connect(rabbitmq)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True)
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
                await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})

    async def main() -> None:
        await declare_and_put_as_another_tool([b"broken", b"later", b"crashes", b"fine"])
        async with open_queue(with_options(rabbitmq, delivery_limit=2), name) as queue:
            async with queue.consume(prefetch=4) as consumer:
                broken, later, crashes, fine = [await take(consumer) for _ in range(4)]
                assert [d.redeliveries for d in (broken, later, crashes, fine)] == [0, 0, 0, 0]
                await broken.dead_letter("not a batch")
                await later.nack(delay=0.3, reason="server busy")
                await fine.ack()
            # Closed holding `crashes`: returned, then counted on the classic queue.
            async with queue.consume(prefetch=2) as consumer:
                returned = [await take(consumer, timeout=3) for _ in range(2)]
                by_body = {d.body: d for d in returned}
                assert by_body[b"later"].message_id == later.message_id
                assert by_body[b"crashes"].message_id == crashes.message_id
                assert (by_body[b"later"].redeliveries, by_body[b"crashes"].redeliveries) == (1, 1)
                await by_body[b"later"].ack()
            # `crashes` is back a third time: over the limit of 2, it goes to the dead letters.
            async with queue.consume() as consumer:
                assert await consumer.get(timeout=0.5) is None
            dead = {letter.body: letter for letter in await queue.dead_letters()}
            assert dead[b"broken"].reason == "not a batch"
            assert dead[b"broken"].message_id == broken.message_id
            assert (dead[b"crashes"].deliveries, "delivery limit 2" in dead[b"crashes"].reason) == (2, True)
            depth = await queue.depth()
            assert (depth.pending, depth.dead) == (0, 2)
        await still_a_plain_classic_queue()

    asyncio.run(main())


def test_the_broker_closing_connections_loses_nothing_and_doubles_nothing(rabbitmq: str, name: str) -> None:
    """The broker closes every connection while a consumer holds deliveries and a publisher is
    in the middle of a put_many: the consumer reconnects and carries on, what it held comes
    back redelivered, and every put_many completes (publishing again what was not confirmed
    once the connection is back) or raises. Counted end to end: a message is delivered twice
    only when it was in doubt (published, its confirm lost with the connection), and then
    both copies carry its message id."""
    url = with_options(rabbitmq, reconnect_interval=0.2)

    async def main() -> None:
        async with open_queue(url, name) as publishing, open_queue(url, name) as consuming:
            await publishing.put_many([f"held-{n}" for n in range(5)])
            consumer = consuming.consume(prefetch=100)
            held = [await take(consumer) for _ in range(5)]
            pages: dict[int, str] = {}
            stop = asyncio.Event()

            async def publish() -> None:
                page = 0
                while not stop.is_set():
                    pages[page] = "putting"
                    try:
                        await publishing.put_many([f"page-{page}-{n}" for n in range(100)])
                        pages[page] = "put"
                    except QueueConnectionError:
                        pages[page] = "raised"
                    page += 1

            publisher = asyncio.create_task(publish())
            await asyncio.sleep(0.1)
            closed = await asyncio.to_thread(
                brokers.rabbitmqctl, "close_all_connections", "-p", brokers.vhost_of(rabbitmq), "test"
            )
            assert closed.returncode == 0, closed.stderr
            # The publisher carries on once it has reconnected.
            closed_at = len(pages)
            deadline = time.monotonic() + 15
            while sum(1 for page in range(closed_at, len(pages)) if pages[page] == "put") < 3:
                assert time.monotonic() < deadline, f"the publisher did not recover: {pages}"
                await asyncio.sleep(0.05)
            stop.set()
            await publisher
            assert set(pages.values()) <= {"put", "raised"}
            for delivery in held:
                with pytest.raises(QueueError, match="channel it came on"):
                    await delivery.ack()
                assert delivery.settled

            seen: Counter[str] = Counter()
            ids: dict[str, set[str]] = {}
            redelivered = {}
            while (delivery := await consumer.get(timeout=2)) is not None:
                body = delivery.body.decode()
                seen[body] += 1
                ids.setdefault(body, set()).add(delivery.message_id)
                if body.startswith("held-"):
                    redelivered[body] = delivery.redeliveries
                await delivery.ack()
            await consumer.close()

            doubled = {body for body, count in seen.items() if count > 1}
            # In doubt: the pages being put when the connections closed (one or two, if a
            # put_many had begun its next round).
            in_doubt = {body.rsplit("-", 1)[0] for body in doubled}
            assert len(in_doubt) <= 2 and all(page.startswith("page-") for page in in_doubt), doubled
            assert max(seen.values()) <= 2, "a message was delivered three times"
            assert all(len(ids[body]) == 1 for body in doubled), "copies of one message, one id"
            assert redelivered.keys() == {f"held-{n}" for n in range(5)}
            assert all(redeliveries >= 1 for redeliveries in redelivered.values())
            for page, outcome in pages.items():
                arrived = sum(seen[f"page-{page}-{n}"] for n in range(100))
                if outcome == "put":
                    wanted = range(100, 201) if f"page-{page}" in in_doubt else range(100, 101)
                    assert arrived in wanted, f"page {page} was put, but {arrived} of its messages arrived"
            assert set(seen) <= {f"held-{n}" for n in range(5)} | {
                f"page-{page}-{n}" for page in pages for n in range(100)
            }
            assert (await consuming.depth()).pending == 0

    asyncio.run(main())
