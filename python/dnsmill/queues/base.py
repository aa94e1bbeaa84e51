"""The queue protocol: what publishers and workers rely on, whatever carries the messages.

The semantics are RabbitMQ's, so that a broker (RabbitMQ through aio-pika, NATS JetStream) and
the embedded SQLite queue fit the same classes:

- :class:`Queue`: ``put_many`` is durable once it returns; ``consume(prefetch)`` opens a
  :class:`Consumer`; ``purge`` deletes what nobody holds.
- :class:`Consumer`: hands out :class:`Delivery` objects, at most ``prefetch`` unsettled at a
  time. Closing it returns what it still holds to the queue at once.
- :class:`Delivery`: settled exactly once, by ``ack`` (done), ``nack`` (offer it again, maybe
  after a delay) or ``dead_letter`` (it can never succeed: keep it aside with the reason). A
  message delivered ``delivery_limit`` times without an ack is dead-lettered instead of
  delivered again (RabbitMQ quorum queues' ``x-delivery-limit``).

Some features are optional; :attr:`Queue.capabilities` names those an implementation has, and
the methods of the others raise :class:`~dnsmill.QueueUnsupportedError`.
"""

from __future__ import annotations

import asyncio
import json
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from dnsmill._core import QueueError, QueueUnsupportedError

DEFAULT_DELIVERY_LIMIT = 5
#: The queue's name unless one is given: the name the publishers and workers users run today use.
DEFAULT_QUEUE_NAME = "dns_records"

#: The optional capabilities an implementation may list in :attr:`Queue.capabilities`.
CAPABILITIES = frozenset({"depth", "extend", "dead_letters", "delay"})

_T = TypeVar("_T")
_Queue = TypeVar("_Queue", bound="Queue")
_Consumer = TypeVar("_Consumer", bound="Consumer")


def redact_url(url: str) -> str:
    """``url`` without its password, fit for logs and error messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed port, say: show the scheme and nothing that could be secret
        return url.partition(":")[0] + ":..."
    if password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


async def to_completion(work: Coroutine[Any, Any, _T], tasks: set[asyncio.Task[Any]]) -> _T:
    """Awaits ``work`` as a task that finishes even if the caller is cancelled, kept in
    ``tasks`` meanwhile (so closing can wait for it).

    A settle cut off half-way would leave a consumer's record of what it holds out of step
    with what the queue did (a SQLite transaction that goes on in its thread, an AMQP
    transaction with half its frames sent): running it to the end keeps the two together.
    """
    task = asyncio.ensure_future(work)
    tasks.add(task)

    def finished(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a caller cancelled meanwhile has no use for it

    task.add_done_callback(finished)
    return await asyncio.shield(task)


async def ack_all(deliveries: Sequence[Delivery]) -> list[tuple[Delivery, QueueError]]:
    """Acks ``deliveries`` together: in one step where the queue can (on RabbitMQ, one
    transaction per consumer instead of one per message), else one by one. Returns the ones
    that could not be acked, each with its error (settled already, or gone back to the queue
    with its channel); the others are acked."""
    failed: list[tuple[Delivery, QueueError]] = []
    by_kind: dict[type[Delivery], list[Delivery]] = {}
    for delivery in deliveries:
        if delivery._settled_because is not None:
            failed.append((delivery, QueueError(delivery._settled_because)))
            continue
        kind = type(delivery)
        if getattr(kind._ack_together, "__func__", None) is Delivery._ack_together.__func__:  # type: ignore[attr-defined]
            try:
                await delivery.ack()
            except QueueError as error:
                failed.append((delivery, error))
            continue
        # Claimed before the first await, as a single settle claims its delivery.
        delivery._settled_because = f"message {delivery.message_id} was already acked"
        by_kind.setdefault(kind, []).append(delivery)
    groups = list(by_kind.items())
    for done, (kind, group) in enumerate(groups):
        try:
            failed += await kind._ack_together(group)
        except BaseException:
            # Cancelled (or worse): the groups not started were claimed and never settled.
            for _, untouched in groups[done + 1 :]:
                for delivery in untouched:
                    delivery._release()
            raise
    return failed


@dataclass(frozen=True)
class Depth:
    """Messages on a queue by state."""

    #: Waiting to be delivered now.
    ready: int
    #: Delivered to a consumer and not settled yet.
    held: int
    #: Returned with a delay that has not passed yet.
    delayed: int
    #: Moved to the dead letters.
    dead: int
    #: Consumers attached to the queue, in every process, where the queue can tell (RabbitMQ
    #: can; a SQLite queue file cannot, and says None).
    consumers: int | None = None

    @property
    def pending(self) -> int:
        """Everything still to be acked: ready, held and delayed."""
        return self.ready + self.held + self.delayed


@dataclass(frozen=True)
class DeadLetter:
    """A message kept aside because it can never be processed, and why."""

    #: The message's id, as its deliveries carried it.
    message_id: str
    body: bytes
    #: How many times it was delivered.
    deliveries: int
    reason: str
    #: Seconds since the epoch, when it was dead-lettered.
    failed_at: float


class Delivery(ABC):
    """One delivery of a message to a consumer.

    Settle it exactly once: :meth:`ack`, :meth:`nack` or :meth:`dead_letter`. A second settle
    raises :class:`~dnsmill.QueueError`, and so does a settle that comes after the queue gave
    the message to someone else (it then changes nothing). A settle that fails because the
    queue could not be reached leaves the delivery unsettled, to be tried again.
    """

    #: The message as it was put.
    body: bytes
    #: Identifies the message, the same in every delivery of it.
    message_id: str
    #: How many times the message was delivered before this delivery (0 the first time).
    redeliveries: int

    def __init__(self, body: bytes, message_id: str, redeliveries: int) -> None:
        self.body = body
        self.message_id = message_id
        self.redeliveries = redeliveries
        # None while the delivery can be settled; otherwise the error a settle raises.
        self._settled_because: str | None = None

    @property
    def settled(self) -> bool:
        """True once acked, nacked or dead-lettered, or once it can no longer be settled."""
        return self._settled_because is not None

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    async def ack(self) -> None:
        """Done with it: the message is gone for good."""
        await self._settle("acked", self._ack)

    async def nack(self, delay: float = 0.0, reason: str | None = None) -> None:
        """Offer the message again, after ``delay`` seconds; ``reason`` is kept for inspection
        where the implementation can. A delay needs the ``delay`` capability."""
        if not 0 <= delay < math.inf:
            raise QueueError(f"nack: delay must be a number of seconds, at least 0, not {delay}")
        await self._settle("nacked", lambda: self._nack(delay, reason))

    async def dead_letter(self, reason: str) -> None:
        """The message can never succeed: keep it aside with ``reason``; it is not delivered again."""
        await self._settle("dead-lettered", lambda: self._dead_letter(reason))

    async def extend(self, seconds: float) -> None:
        """Still working on it: keep it from other consumers for at least ``seconds`` more.

        Only needed by a consumer that stops its event loop for long (a live consumer keeps
        what it holds anyway). Needs the ``extend`` capability; otherwise raises
        :class:`~dnsmill.QueueUnsupportedError`.
        """
        raise QueueUnsupportedError(f"{type(self).__name__}: this queue cannot extend a delivery")

    @abstractmethod
    async def _ack(self) -> None: ...

    @abstractmethod
    async def _nack(self, delay: float, reason: str | None) -> None: ...

    @abstractmethod
    async def _dead_letter(self, reason: str) -> None: ...

    @classmethod
    async def _ack_together(cls, deliveries: Sequence[Delivery]) -> list[tuple[Delivery, QueueError]]:
        """For implementations that can: acks ``deliveries`` (all of this class, claimed by
        :func:`ack_all`) in as few steps as it can, and returns the ones it could not ack with
        their errors, each marked gone (:meth:`_mark_gone`) or released for another try
        (:meth:`_release`). Without it, :func:`ack_all` acks them one by one."""
        raise NotImplementedError

    def _release(self) -> None:
        """For implementations: a claimed settle did nothing, and may be tried again."""
        self._settled_because = None

    def _check_unsettled(self) -> None:
        """Raises QueueError when the delivery is settled, or can no longer be."""
        if self._settled_because is not None:
            raise QueueError(self._settled_because)

    def _mark_gone(self, why: str) -> None:
        """For implementations: the delivery can no longer be settled, and ``why``."""
        self._settled_because = why

    async def _settle(self, verb: str, operation: Callable[[], Awaitable[None]]) -> None:
        self._check_unsettled()
        # Claimed before the first await, so that two tasks settling at once cannot both go ahead.
        claim = f"message {self.message_id} was already {verb}"
        self._settled_because = claim
        try:
            await operation()
        except Exception:
            # Nothing was settled (the queue was busy, say): the caller may try again, unless the
            # operation found the delivery gone. A cancelled settle stays claimed: it may have
            # gone through.
            if self._settled_because is claim:
                self._settled_because = None
            raise

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} message_id={self.message_id!r} redeliveries={self.redeliveries}"
            f"{' settled' if self.settled else ''}>"
        )


class Consumer(ABC):
    """Takes deliveries from one queue, holding at most ``prefetch`` unsettled ones.

    ``async for delivery in consumer`` yields deliveries until the consumer is closed. Use it
    as an async context manager, or call :meth:`close`: what it still holds then goes back to
    the queue at once.
    """

    #: The most unsettled deliveries this consumer holds at a time.
    prefetch: int

    async def set_prefetch(self, prefetch: int) -> None:
        """Holds at most ``prefetch`` unsettled deliveries from now on (a worker gathering
        one-domain messages into batches needs many more than it needs batches)."""
        self.prefetch = prefetch

    @abstractmethod
    async def get(self, timeout: float | None = None) -> Delivery | None:
        """The next delivery, waiting up to ``timeout`` seconds for one (None: as long as it takes).

        While the consumer holds ``prefetch`` unsettled deliveries it takes no more, and waits
        for one to be settled. Returns None when the timeout passes first, or when the consumer
        is (or gets) closed.
        """

    @abstractmethod
    async def close(self) -> None:
        """Stops consuming; the deliveries still unsettled go back to the queue now, to be
        delivered again (with one more redelivery). Closing twice does nothing."""

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self._deliveries()

    async def _deliveries(self) -> AsyncIterator[Delivery]:
        while (delivery := await self.get()) is not None:
            yield delivery

    async def __aenter__(self: _Consumer) -> _Consumer:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class Queue(ABC):
    """A named, durable work queue. ``dnsmill.queues.open_queue(url, name)`` opens one.

    Operations connect on first use; ``await queue.open()`` (or ``async with queue``) connects
    at once, to find a bad location or an unreachable server early.
    """

    #: The queue's name; queues of different names at one URL are separate.
    name: str
    #: Where it is, without any password (fit for logs).
    url: str
    #: Deliveries a message gets at most: one more and it goes to the dead letters instead.
    delivery_limit: int
    #: The optional features this implementation has, out of :data:`CAPABILITIES`.
    capabilities: frozenset[str] = frozenset()

    async def open(self) -> None:  # noqa: B027  # connecting ahead is optional
        """Connects now rather than on first use."""

    @abstractmethod
    async def put_many(self, bodies: Iterable[bytes | str]) -> int:
        """Enqueues every body (``str`` as UTF-8) in one durable step; returns how many."""

    async def put(self, body: bytes | str) -> None:
        """Enqueues one body, durably."""
        await self.put_many([body])

    async def put_json(self, value: Any) -> None:
        """Enqueues ``value`` as compact JSON."""
        await self.put(json.dumps(value, separators=(",", ":")))

    @abstractmethod
    def consume(self, prefetch: int = 1) -> Consumer:
        """A consumer of this queue holding at most ``prefetch`` unsettled deliveries."""

    @abstractmethod
    async def purge(self) -> int:
        """Deletes the messages nobody holds (as RabbitMQ's purge: held ones stay); returns how many."""

    async def depth(self) -> Depth:
        """Messages by state. Needs the ``depth`` capability."""
        raise QueueUnsupportedError(f"{self.url}: this queue cannot count its messages by state")

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters. Needs the ``dead_letters`` capability."""
        raise QueueUnsupportedError(f"{self.url}: this queue cannot list its dead letters")

    @abstractmethod
    async def close(self) -> None:
        """Closes the consumers still open (returning what they hold), then the connection."""

    async def __aenter__(self: _Queue) -> _Queue:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.url}>"
