"""The in-process event bus: topics, sync and async subscribers, bounded queues that drop."""

from __future__ import annotations

import asyncio
import threading
import time

from dnsmill.events import Event, EventBus
from prometheus_client import REGISTRY


def test_subscribers_get_only_their_topics_in_order() -> None:
    bus = EventBus()
    seeder = bus.subscribe("seeder")
    everything = bus.subscribe()
    for n in range(3):
        bus.publish("seeder", "dns_records_seeded", {"count": n})
    bus.publish("worker", "batch_done", {"domains": 5})
    assert [seeder.get_nowait().data["count"] for _ in range(3)] == [0, 1, 2]  # type: ignore[union-attr]
    assert seeder.get_nowait() is None
    assert [
        e.topic for e in (everything.get(0), everything.get(0), everything.get(0), everything.get(0))
    ] == [  # type: ignore[union-attr]
        "seeder",
        "seeder",
        "seeder",
        "worker",
    ]


def test_a_slow_subscriber_drops_and_counts_instead_of_blocking_the_producer() -> None:
    bus = EventBus()
    before = REGISTRY.get_sample_value("dnsmill_events_dropped_total", {"topic": "queue"}) or 0.0
    slow = bus.subscribe("queue", maxsize=10)
    fast = bus.subscribe("queue", maxsize=1000)
    started = time.perf_counter()
    for n in range(500):
        bus.publish("queue", "put", {"n": n})
    assert time.perf_counter() - started < 1.0
    assert len(slow) == 10 and slow.dropped == 490
    assert len(fast) == 500 and fast.dropped == 0
    # The first ten were kept, in order.
    assert [slow.get(0).data["n"] for _ in range(10)] == list(range(10))  # type: ignore[union-attr]
    after = REGISTRY.get_sample_value("dnsmill_events_dropped_total", {"topic": "queue"})
    assert after == before + 490


def test_a_blocked_callback_never_blocks_publish() -> None:
    bus = EventBus()
    entered, release = threading.Event(), threading.Event()
    seen: list[Event] = []

    def stuck(event: Event) -> None:
        entered.set()
        release.wait(5)
        seen.append(event)

    subscription = bus.subscribe("worker", callback=stuck, maxsize=4)
    bus.publish("worker", "domain", {"n": 0})
    assert entered.wait(5)
    started = time.perf_counter()
    for n in range(1, 100):
        bus.publish("worker", "domain", {"n": n})
    assert time.perf_counter() - started < 1.0
    release.set()
    deadline = time.monotonic() + 5
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The first event was taken by the callback before it blocked; four more fit the queue.
    assert [e.data["n"] for e in seen] == [0, 1, 2, 3, 4]
    assert subscription.dropped == 95
    subscription.close()


def test_a_failing_callback_is_logged_and_the_next_event_still_arrives(caplog) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    seen: list[int] = []
    done = threading.Event()

    def picky(event: Event) -> None:
        if event.data["n"] == 0:
            raise RuntimeError("boom")
        seen.append(event.data["n"])
        done.set()

    bus.subscribe("seeder", callback=picky)
    bus.publish("seeder", "x", {"n": 0})
    bus.publish("seeder", "x", {"n": 1})
    assert done.wait(5)
    assert seen == [1]
    assert "boom" in caplog.text


def test_async_subscribers_iterate_and_callbacks_run_on_the_loop() -> None:
    async def scenario() -> tuple[list[int], list[str]]:
        bus = EventBus()
        subscription = bus.subscribe("seeder")
        called: list[str] = []

        async def handler(event: Event) -> None:
            await asyncio.sleep(0)
            called.append(event.name)

        bus.subscribe("seeder", callback=handler)

        def producer() -> None:  # events from another thread wake the loop
            for n in range(3):
                time.sleep(0.01)
                bus.publish("seeder", "dns_records_seeded", {"count": n})
            subscription.close()

        threading.Thread(target=producer).start()
        counts = [event.data["count"] async for event in subscription]
        for _ in range(100):
            if len(called) == 3:
                break
            await asyncio.sleep(0.01)
        return counts, called

    counts, called = asyncio.run(scenario())
    assert counts == [0, 1, 2]
    assert called == ["dns_records_seeded"] * 3


def test_get_times_out_and_a_closed_subscription_ends_iteration() -> None:
    bus = EventBus()
    subscription = bus.subscribe("queue")
    started = time.monotonic()
    assert subscription.get(timeout=0.1) is None
    assert 0.08 <= time.monotonic() - started < 1.0
    bus.publish("queue", "put")
    subscription.close()
    assert [e.name for e in subscription] == ["put"]  # what was queued, then the end
    bus.publish("queue", "put")
    assert bus.subscriptions == 0
    assert asyncio.run(subscription.get_async(timeout=0.1)) is None


def test_metrics_are_served_over_http(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    from dnsmill import metrics
    from dnsmill.config import SeedSettings
    from dnsmill.seeder import Seeder
    from dnsservers import free_port

    port = free_port()
    metrics.serve(port)
    Seeder(SeedSettings(count=3, seed=1), f"sqlite://{tmp_path / 'm.db'}", bus=EventBus()).run_once()
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'dnsmill_seeder_runs_total{outcome="ok"}' in text
    assert "dnsmill_seeder_run_seconds_bucket" in text
    assert "dnsmill_seeder_records_total" in text
