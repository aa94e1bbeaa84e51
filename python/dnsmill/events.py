"""An in-process event bus: topics, sync and async subscribers, bounded per-subscriber queues.

Every service publishes what it did (``seeder``: ``dns_records_seeded``; ``queue``, ``worker``,
``publisher``: their own events). Publishing never waits for a subscriber: each subscription
has its own bounded queue, and an event that finds it full is dropped for that subscriber and
counted in :attr:`Subscription.dropped` (and in ``dnsmill_events_dropped_total``).

    bus = dnsmill.events.bus            # the process's bus; EventBus() makes a private one
    with bus.subscribe("seeder") as events:
        ...
        event = events.get(timeout=5)   # or: for event in events / async for event in events

    bus.subscribe("worker", callback=print)        # called on the subscription's own thread
    bus.subscribe("worker", callback=async_handler) # awaited on the running event loop
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

from dnsmill import metrics

log = logging.getLogger("dnsmill.events")

DEFAULT_QUEUE_SIZE = 1024


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``name`` on ``topic``, with its ``data``."""

    topic: str
    name: str
    data: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds since the epoch, when it was published.
    timestamp: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "name": self.name, "timestamp": self.timestamp, **self.data}


Callback = Callable[[Event], object]


class Subscription:
    """What one subscriber receives: events on its topics, in publishing order, from a queue of
    at most ``maxsize`` that drops (and counts) what a slow subscriber has no room for."""

    def __init__(self, bus: EventBus, topics: frozenset[str], maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.topics = topics
        self.maxsize = maxsize
        #: Events dropped because this subscriber's queue was full.
        self.dropped = 0
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._ready = threading.Condition()
        self._closed = False
        # Async readers wait on an asyncio.Event of their own loop, set from any thread.
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def wants(self, topic: str) -> bool:
        return not self.topics or topic in self.topics

    def offer(self, event: Event) -> bool:
        """Queues ``event`` unless the queue is full (then counts a drop); never blocks."""
        with self._ready:
            if self._closed:
                return False
            if len(self._queue) >= self.maxsize:
                self.dropped += 1
                metrics.EVENTS_DROPPED.labels(topic=event.topic).inc()
                return False
            self._queue.append(event)
            self._ready.notify()
            waiters = list(self._waiters)
        for loop, ready in waiters:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # that loop has closed
                pass
        return True

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None when ``timeout`` passes first or the subscription is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._queue:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining)
            return self._queue.popleft()

    def get_nowait(self) -> Event | None:
        with self._ready:
            return self._queue.popleft() if self._queue else None

    async def get_async(self, timeout: float | None = None) -> Event | None:
        """:meth:`get` for a coroutine: waits without blocking the event loop."""
        ready = asyncio.Event()
        entry = (asyncio.get_running_loop(), ready)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            self._waiters.append(entry)
        try:
            while True:
                ready.clear()
                with self._ready:
                    if self._queue:
                        return self._queue.popleft()
                    if self._closed:
                        return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(ready.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
        finally:
            with self._ready:
                self._waiters.remove(entry)

    def __len__(self) -> int:
        return len(self._queue)

    def __iter__(self) -> Iterator[Event]:
        """Events until the subscription is closed."""
        while (event := self.get()) is not None:
            yield event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events_async()

    async def _events_async(self) -> AsyncIterator[Event]:
        while (event := await self.get_async()) is not None:
            yield event

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stops receiving; readers get what is queued, then the end."""
        self._bus._remove(self)
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            waiters = list(self._waiters)
        for loop, ready in waiters:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:
                pass

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventBus:
    """Publish/subscribe by topic within one process. Thread-safe; usable from asyncio."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._consumers = itertools.count(1)

    def subscribe(
        self,
        topics: str | Iterable[str] = (),
        callback: Callback | Callable[[Event], Awaitable[object]] | None = None,
        *,
        maxsize: int = DEFAULT_QUEUE_SIZE,
    ) -> Subscription:
        """Subscribes to ``topics`` (one name, several, or all when empty).

        Without a callback, read the returned subscription (``get``, ``for``, ``async for``).
        A plain callback runs on a thread of the subscription's own; a coroutine function runs
        as a task on the event loop running now. Either way a slow callback only fills its own
        queue. An exception from a callback is logged and the next event still comes.
        """
        names = frozenset([topics] if isinstance(topics, str) else topics)
        subscription = Subscription(self, names, maxsize)
        with self._lock:
            self._subscriptions.append(subscription)
        if callback is not None:
            self._consume(subscription, callback)
        return subscription

    def _consume(self, subscription: Subscription, callback: Callable[[Event], Any]) -> None:
        label = getattr(callback, "__qualname__", repr(callback))
        if inspect.iscoroutinefunction(callback):
            loop = asyncio.get_running_loop()  # a coroutine callback needs a running loop

            async def deliver_async() -> None:
                async for event in subscription:
                    try:
                        await callback(event)
                    except Exception:
                        log.exception("event subscriber %s failed on %s", label, event.name)

            task = loop.create_task(deliver_async(), name=f"dnsmill-events-{label}")
            subscription._task = task  # type: ignore[attr-defined]  # keeps the task alive
            return

        def deliver() -> None:
            for event in subscription:
                try:
                    callback(event)
                except Exception:
                    log.exception("event subscriber %s failed on %s", label, event.name)

        thread = threading.Thread(target=deliver, name=f"dnsmill-events-{next(self._consumers)}", daemon=True)
        thread.start()

    def publish(self, topic: str, name: str, data: Mapping[str, Any] | None = None) -> Event:
        """Publishes ``name`` on ``topic`` to every subscriber of it; never blocks."""
        event = Event(topic, name, MappingProxyType(dict(data or {})))
        with self._lock:
            subscribers = [s for s in self._subscriptions if s.wants(topic)]
        for subscription in subscribers:
            subscription.offer(event)
        metrics.EVENTS_PUBLISHED.labels(topic=topic).inc()
        return event

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    @property
    def subscriptions(self) -> int:
        with self._lock:
            return len(self._subscriptions)


#: The process's bus, which dnsmill's services publish on.
bus = EventBus()


def publish(topic: str, name: str, data: Mapping[str, Any] | None = None) -> Event:
    """Publishes on the process's bus."""
    return bus.publish(topic, name, data)
