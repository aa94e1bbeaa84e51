"""RabbitMQ queues over aio-pika: ``amqp://user:pass@host:port/vhost`` (``amqps://`` for TLS).

Options (in the URL's query or as keyword arguments): ``delivery_limit`` (5), ``queue_type``
(``quorum`` or ``classic``: the type of the queues dnsmill creates), ``reconnect_interval``
(seconds between reconnection attempts, 2), ``timeout`` (seconds to connect, and to wait for a
lost connection to come back before an operation fails, 30), ``heartbeat`` (seconds, 60), and
for ``amqps://`` ``cafile``, ``certfile``, ``keyfile``.

What is declared. The queue ``name`` is used as it is when it exists, whatever its type and
arguments (it is looked up with a passive declare, never declared again: RabbitMQ refuses a
declare whose arguments differ from the queue's); a missing one is created durable, of
``queue_type``. Beside it dnsmill keeps queues of its own, created on first use with
``queue_type``: ``<name>.dead`` (the dead letters, with the reason in their headers) and, from
the first delayed nack, ``<name>.delay.<N>s`` for N = 1, 2, 4, ... 32768: a delayed message
waits in the first of them whose N is at least its delay, with that delay as its expiration,
and the broker dead-letters it back onto ``name`` when it expires. A message expires only at
the head of its delay queue, so one waits at most twice its delay behind a longer one of the
same queue (delays above 32768 s share the last one). The user's queue needs no
``x-dead-letter-exchange`` argument for any of this.

Delivery semantics. Messages are persistent and published with confirms and ``mandatory``:
``put_many`` returns once the broker has every message (a returned, unroutable message is an
error). Consumers ack manually, with a prefetch (``basic.qos``) of the consumer's
``prefetch``. Each consumer's channel is transactional: an ack returns once the broker has
applied it, and a nack or a dead-letter publishes the message's new copy (with the same
message id) and acks the delivery in one transaction, so a lost connection leaves either the
delivery or its copy, never both and never neither. A nack without a delay puts the copy
behind the messages waiting.

Delivery limit. Quorum queues count deliveries (``x-delivery-count``); on a classic queue,
which only flags a redelivery, a redelivered message is published again with its count and
the redelivery acked, in one transaction, before it is handed out. dnsmill carries the count
of earlier copies in the ``x-dnsmill-deliveries`` header. A message the broker delivered
counts as delivered even if it sat in a consumer's prefetch buffer and was never handed out.

Connections. One robust connection per :class:`AmqpQueue` (aio-pika reconnects every
``reconnect_interval`` seconds); its channels are opened again after a reconnect, and
consumers take up consuming again. Deliveries held on a channel that closed cannot be
settled any more (their settle raises :class:`~dnsmill.QueueError`): the broker has returned
them to the queue, to be delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlencode, urlsplit

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractRobustConnection
from aiormq.exceptions import (
    AMQPConnectionError,
    ChannelAccessRefused,
    ChannelClosed,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)
from pamqp.commands import Basic

from dnsmill import events, metrics
from dnsmill._core import QueueConnectionError, QueueError
from dnsmill.queues.base import (
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_QUEUE_NAME,
    Consumer,
    DeadLetter,
    Delivery,
    Depth,
    Queue,
    redact_url,
    to_completion,
)

log = logging.getLogger("dnsmill.queues")

QUEUE_TYPES = ("quorum", "classic")
DEFAULT_QUEUE_TYPE = "quorum"
#: Seconds between attempts to reconnect after the connection was lost.
DEFAULT_RECONNECT_INTERVAL = 2.0
#: Seconds to connect, and to wait for a lost connection to come back before an operation fails.
DEFAULT_TIMEOUT = 30.0
DEFAULT_HEARTBEAT = 60
#: Seconds between looks at a lost connection that aio-pika calls ready when it is not.
RECHECK_SECONDS = 0.1
#: Seconds a closing consumer or queue waits for the broker (settles in flight, the channel's
#: and the connection's close). A broker that is gone never answers: the process then exits
#: anyway, and RabbitMQ returns whatever was unacked when it sees the connection drop.
CLOSE_SECONDS = 5.0
#: Publishes of one ``put_many`` awaiting their confirms at a time.
CONFIRM_WINDOW = 256
#: Rounds of publishing in a row that may lose their connection before any confirm arrives,
#: before ``put_many`` gives up (each first waits up to ``timeout`` for the connection).
PUBLISH_ROUNDS = 3
#: The delay queues' waits, in seconds: a delay goes to the first at least as long.
DELAY_LEVELS = tuple(2**power for power in range(16))

#: How many times the message was delivered before this copy of it was published.
DELIVERIES_HEADER = "x-dnsmill-deliveries"
#: Why it was nacked last, or why it was dead-lettered.
REASON_HEADER = "x-dnsmill-reason"
#: When it was dead-lettered, in milliseconds since the epoch (a whole number: pamqp sends a
#: float as a 32-bit one, too coarse for a time).
FAILED_AT_HEADER = "x-dnsmill-failed-at-ms"
# Headers the broker sets on a delivery, not carried over to a message's next copy.
_BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-delivery-count",
        "x-acquired-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
# A header must fit in one AMQP frame with the rest of the properties: long reasons are cut.
_MAX_REASON = 4096
# The longest suffix dnsmill appends to a queue's name, and RabbitMQ's limit on names (bytes).
_LONGEST_SUFFIX = len(f".delay.{DELAY_LEVELS[-1]}s")
_MAX_NAME = 255

# The errors by which aiormq reports a channel or a connection that closed under an operation.
_LOST = (AMQPConnectionError, ChannelClosed, ChannelInvalidStateError, ConnectionError, OSError)

_T = TypeVar("_T")


class _ChannelWork:
    """The operations under way on one channel, ended when it closes.

    aiormq 7 fails an operation on a channel that has closed. aiormq 6 (the last for CPython
    3.10) does not always: a ``basic_publish`` that was waiting for the channel's lock when the
    connection was lost goes on once it has the lock, and ``basic_ack`` does not look at the
    channel at all. Their frames go to the write queue of the connection that is gone, never to
    be sent, and they wait for the send forever (the publisher's confirm window with them, and
    every publish queued behind them on the lock). So every operation started here is cancelled
    when the channel closes, and reported as lost with the channel's close reason: one code path
    for both versions.
    """

    def __init__(self, channel: aiormq.abc.AbstractChannel) -> None:
        self.channel = channel
        #: Why the channel closed, once it has.
        self.lost: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        channel.closing.add_done_callback(self._closed)

    def _closed(self, closing: asyncio.Future[Any]) -> None:
        error = None if closing.cancelled() else closing.exception()
        why = "closed" if error is None else (str(error) or type(error).__name__)
        self.lost = f"the channel closed ({why})"
        for task in list(self._tasks):
            task.cancel()
        # aiormq 6 rejects the confirmations of publishes that failed first on the drain of their
        # frames, and no one reads them: read them here, or asyncio logs each one as never
        # retrieved. (aiormq 7 reads them itself.)
        for confirmation in list(getattr(self.channel, "confirmations", {}).values()):
            if confirmation.done() and not confirmation.cancelled():
                confirmation.exception()

    def start(self, work: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """``work`` as a task, cancelled when the channel closes (at once if it has)."""
        task = asyncio.ensure_future(work)
        if self.lost is not None:
            task.cancel()
        else:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    def error(self, error: BaseException) -> BaseException:
        """The error of a task from :meth:`start`, a cancellation by the close as the close."""
        if isinstance(error, asyncio.CancelledError) and self.lost is not None:
            return ChannelInvalidStateError(self.lost)
        return error

    async def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Awaits ``work``; raises :class:`ChannelInvalidStateError` if the channel closes first."""
        task = self.start(work)
        try:
            await asyncio.wait((task,))
        finally:
            task.cancel()  # when the caller is cancelled; nothing once it is done
        if task.cancelled() and self.lost is not None:
            raise ChannelInvalidStateError(self.lost)
        return task.result()


def _count(value: object) -> int:
    """A count from a header (0 when absent or not a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _broker_count(headers: dict[str, Any]) -> int | None:
    """How many times the broker delivered this copy before, where it counts (quorum queues:
    ``x-delivery-count``, and ``x-acquired-count`` from RabbitMQ 4); None where it does not."""
    counted = [_count(headers[key]) for key in ("x-delivery-count", "x-acquired-count") if key in headers]
    return max(counted) if counted else None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _content_id(body: bytes) -> str:
    """An id for a message put without one (by another tool): the same in every delivery."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]


@dataclass(frozen=True)
class _Copy:
    """A message to publish in a settle's transaction: where, and with what properties."""

    queue: str
    properties: Basic.Properties


class AmqpDelivery(Delivery):
    """A delivery from an :class:`AmqpQueue`: a delivery tag on its consumer's channel."""

    def __init__(
        self,
        consumer: AmqpConsumer,
        channel: aiormq.abc.AbstractChannel,
        tag: int,
        body: bytes,
        message_id: str,
        redeliveries: int,
        properties: Basic.Properties,
    ) -> None:
        super().__init__(body, message_id, redeliveries)
        self.channel = channel
        self.tag = tag
        self.properties = properties
        self._consumer = consumer

    async def _ack(self) -> None:
        await self._consumer._commit(self, None)
        metrics.QUEUE_ACKED.labels(queue=self._consumer.queue.name).inc()

    async def _nack(self, delay: float, reason: str | None) -> None:
        await self._consumer._return(self, delay, reason, self.redeliveries + 1)

    async def _dead_letter(self, reason: str) -> None:
        await self._consumer._bury(self, reason, self.redeliveries + 1)

    @classmethod
    async def _ack_together(cls, deliveries: Sequence[Delivery]) -> list[tuple[Delivery, QueueError]]:
        # One transaction per consumer channel, instead of one per delivery.
        by_channel: dict[int, list[AmqpDelivery]] = {}
        for delivery in deliveries:
            assert isinstance(delivery, AmqpDelivery)
            by_channel.setdefault(id(delivery.channel), []).append(delivery)
        failed: list[tuple[Delivery, QueueError]] = []
        for group in by_channel.values():
            consumer = group[0]._consumer
            try:
                await consumer._commit_all(group)
            except QueueError as error:  # every one of them marked gone
                failed += [(delivery, error) for delivery in group]
            else:
                metrics.QUEUE_ACKED.labels(queue=consumer.queue.name).inc(len(group))
        return failed


class AmqpConsumer(Consumer):
    """A consumer of an :class:`AmqpQueue`, on a transactional channel of its own.

    It starts consuming on the first :meth:`get`, and again on the next one after its channel
    closed (a lost connection, say). The broker pushes up to ``prefetch`` messages ahead;
    ``get`` hands them out in order.
    """

    def __init__(self, queue: AmqpQueue, prefetch: int) -> None:
        self.queue = queue
        self.prefetch = prefetch
        self._channel: aiormq.abc.AbstractChannel | None = None
        # The tag the broker gave this consumer on the channel.
        self._consumer_tag: str | None = None
        # The settles under way on the channel.
        self._work: _ChannelWork | None = None
        self._starting: asyncio.Task[None] | None = None
        # Every unsettled delivery on the current channel, by delivery tag.
        self._held: dict[int, AmqpDelivery] = {}
        # Of those, the ones received and not handed out yet, in order.
        self._ready: deque[AmqpDelivery] = deque()
        # Set on a delivery's arrival, when the channel closes or starts, and on close.
        self._wakeup = asyncio.Event()
        # One transaction at a time on the channel: a commit between another settle's copy
        # and its ack would split the two.
        self._transaction = asyncio.Lock()
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        self._closed = False

    def _handed_out(self) -> int:
        """Unsettled deliveries handed out by :meth:`get`, or being settled by dnsmill itself."""
        return len(self._held) - len(self._ready)

    async def set_prefetch(self, prefetch: int) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or not 1 <= prefetch <= 65535:
            raise QueueError(
                f"{self.queue.url}: prefetch must be a whole number from 1 to 65535, not {prefetch!r}"
            )
        self.prefetch = prefetch
        channel, tag = self._channel, self._consumer_tag
        if channel is None or channel.is_closed or tag is None:
            return  # the next channel starts with it
        # RabbitMQ applies a consumer's prefetch when it starts consuming (quorum queues have
        # no channel-wide one): consume again under the new limit, less what this consumer
        # holds already, so it never holds more than `prefetch`. The deliveries it holds stay
        # valid on the channel.
        try:
            await channel.basic_cancel(tag)
            await channel.basic_qos(prefetch_count=max(1, prefetch - len(self._held)))
            consuming = await channel.basic_consume(
                self.queue.name, functools.partial(self._on_message, channel), no_ack=False
            )
            self._consumer_tag = consuming.consumer_tag
        except _LOST as error:
            raise self.queue._failure(error, "change the prefetch") from error

    async def get(self, timeout: float | None = None) -> AmqpDelivery | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._closed:
            self._wakeup.clear()
            while self._ready:
                delivery = self._ready.popleft()
                if not delivery.settled:  # its channel may have closed meanwhile
                    return delivery
            if self._channel is None:
                if self._starting is None:
                    # A task of its own: a get that times out or is cancelled leaves it going.
                    self._starting = asyncio.ensure_future(self._start())
                    self._starting.add_done_callback(lambda task: self._wakeup.set())
                elif self._starting.done():
                    starting, self._starting = self._starting, None
                    error = None if starting.cancelled() else starting.exception()
                    if error is not None:
                        raise error
                    continue  # started, or its channel closed already: look again
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
        return None

    async def _start(self) -> None:
        """Opens a transactional channel and starts consuming on it; waits for the connection
        to come back if it is lost."""
        queue = self.queue
        while True:
            connection = await queue._connection(patience=None)
            try:
                await queue._ensure_declared()
                channel = await connection.channel(publisher_confirms=False)
                break
            except (*_LOST, QueueConnectionError) as error:
                # The connection aio-pika handed over was lost meanwhile: wait for the next
                # one, as for any lost connection (a first connection that fails has raised
                # already, in _connection: a wrong URL is not waited for).
                if self._closed:
                    raise queue._failure(error, "open a channel") from error
                log.debug("%s: could not open a consumer's channel (%s); waiting", queue.url, error)
                await asyncio.sleep(queue.reconnect_interval)
        try:
            await channel.tx_select()
            await channel.basic_qos(prefetch_count=self.prefetch)
            if self._closed:
                await channel.close()
                return
            self._channel = channel
            self._work = _ChannelWork(channel)
            channel.closing.add_done_callback(functools.partial(self._channel_closed, channel))
            # aiormq 7 reports the broker cancelling a consumer (its queue deleted); aiormq 6,
            # the last for CPython 3.10, does not, and the channel's closing is then the sign.
            cancel_callbacks = getattr(channel, "on_consumer_cancel_callbacks", None)
            if cancel_callbacks is not None:
                cancel_callbacks.add(functools.partial(self._cancelled, channel))
            consuming = await channel.basic_consume(
                queue.name, functools.partial(self._on_message, channel), no_ack=False
            )
            self._consumer_tag = consuming.consumer_tag
        except BaseException as error:
            await self._abandon(channel, f"could not start consuming: {error!r}")
            if isinstance(error, _LOST):
                raise queue._failure(error, "start consuming") from error
            raise

    def _channel_closed(self, channel: aiormq.abc.AbstractChannel, closing: asyncio.Future[Any]) -> None:
        error = None if closing.cancelled() else closing.exception()
        self._detach(channel, "closed" if error is None else (str(error) or type(error).__name__))

    def _detach(self, channel: aiormq.abc.AbstractChannel, why: str) -> None:
        """Stops using ``channel``: what it held can no longer be settled, and the next
        :meth:`get` starts consuming on a new one."""
        if channel is not self._channel:
            return
        self._channel = None
        held = list(self._held.values())
        self._held.clear()
        self._ready.clear()
        for delivery in held:
            delivery._mark_gone(self._gone(delivery, f"the channel it came on closed ({why})"))
        self._wakeup.set()

    def _cancelled(self, channel: aiormq.abc.AbstractChannel, frame: object) -> None:
        # Runs in the channel's reader, which closing the channel waits for: close it apart.
        task = asyncio.ensure_future(self._abandon(channel, "the broker cancelled the consumer"))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _gone(self, delivery: AmqpDelivery, why: str) -> str:
        """Why ``delivery`` can no longer be settled."""
        return (
            f"{self.queue.url}: message {delivery.message_id} of queue {self.queue.name!r} cannot be "
            f"settled: {why}; RabbitMQ returns it to the queue to be delivered again"
        )

    async def _abandon(
        self, channel: aiormq.abc.AbstractChannel, why: str, *, in_transaction: bool = False
    ) -> None:
        """Closes ``channel`` after a failure: whatever it held goes back to the queue, and
        nothing left half done on it can be committed later.

        Detached first, and closed between transactions: a frame sent on a channel that the
        broker has closed is an error that closes the whole connection."""
        self._detach(channel, why)
        if channel.is_closed:
            return
        log.warning("%s: closing a consumer's channel: %s", self.queue.url, why)
        async with contextlib.AsyncExitStack() as stack:
            if not in_transaction:
                await stack.enter_async_context(self._transaction)
            with contextlib.suppress(Exception):
                await channel.close()

    async def _on_message(
        self, channel: aiormq.abc.AbstractChannel, message: aiormq.abc.DeliveredMessage
    ) -> None:
        if channel is not self._channel or self._closed:
            return  # it goes back to the queue with its channel
        queue = self.queue
        delivery_frame = message.delivery
        assert isinstance(delivery_frame, Basic.Deliver)
        tag = delivery_frame.delivery_tag or 0
        properties = message.header.properties
        headers = dict(properties.headers or {})
        message_id = _text(properties.message_id) or _content_id(message.body)
        earlier = _count(headers.get(DELIVERIES_HEADER))
        counted = _broker_count(headers)
        if counted is None and delivery_frame.redelivered:
            # A classic queue flags a redelivery without counting: count this one now, in a
            # copy of the message that carries the count.
            redeliveries, republish = earlier + 1, True
        else:
            redeliveries, republish = earlier + (counted or 0), False
        delivery = AmqpDelivery(self, channel, tag, message.body, message_id, redeliveries, properties)
        self._held[tag] = delivery
        if redeliveries < queue.delivery_limit and not republish:
            self._ready.append(delivery)
            self._wakeup.set()
            return
        try:
            if redeliveries >= queue.delivery_limit:
                reason = (
                    f"delivered {redeliveries} times without an ack (delivery limit {queue.delivery_limit})"
                )
                if last := _text(headers.get(REASON_HEADER)):
                    reason += f"; last reason: {last}"
                await self._bury(delivery, reason, redeliveries)
            else:
                await self._return(delivery, 0.0, _text(headers.get(REASON_HEADER)) or None, redeliveries)
            delivery._mark_gone(f"message {message_id} was settled by dnsmill before it was handed out")
        except QueueError as error:  # its channel closed: the broker delivers it again
            log.warning("%s: message %s of queue %r: %s", queue.url, message_id, queue.name, error)
        except Exception:
            # Held by no one and settled by nothing: give it back with everything else.
            log.exception(
                "%s: message %s of queue %r could not be settled", queue.url, message_id, queue.name
            )
            await self._abandon(channel, "a message could not be settled")

    def _copy(
        self, delivery: AmqpDelivery, deliveries: int, reason: str | None, failed_at_ms: int | None = None
    ) -> Basic.Properties:
        """The properties of a new copy of ``delivery``'s message."""
        original = delivery.properties
        carried = {k: v for k, v in (original.headers or {}).items() if k not in _BROKER_HEADERS}
        carried[DELIVERIES_HEADER] = deliveries
        if reason is not None:
            carried[REASON_HEADER] = reason[:_MAX_REASON]
        if failed_at_ms is not None:
            carried[FAILED_AT_HEADER] = failed_at_ms
        # The user id is checked against the connection's user, and an expiration would start
        # again: neither is carried over.
        return Basic.Properties(
            content_type=original.content_type,
            content_encoding=original.content_encoding,
            headers=carried,
            delivery_mode=2,
            priority=original.priority,
            correlation_id=original.correlation_id,
            reply_to=original.reply_to,
            message_id=delivery.message_id,
            timestamp=original.timestamp,
            message_type=original.message_type,
            app_id=original.app_id,
        )

    async def _return(
        self, delivery: AmqpDelivery, delay: float, reason: str | None, deliveries: int
    ) -> None:
        """Puts a copy of the message back, behind those waiting or into a delay queue, and
        acks the delivery, in one transaction."""
        properties = self._copy(delivery, deliveries, reason)
        target = self.queue.name
        if delay > 0:
            target = await self.queue._delay_queue(delay)
            properties.expiration = str(max(1, math.ceil(delay * 1000)))
        await self._commit(delivery, _Copy(target, properties))
        metrics.QUEUE_NACKED.labels(queue=self.queue.name).inc()

    async def _bury(self, delivery: AmqpDelivery, reason: str, deliveries: int) -> None:
        """Moves the message to the dead-letter queue with ``reason``, in one transaction."""
        queue = self.queue
        properties = self._copy(delivery, deliveries, reason, failed_at_ms=round(time.time() * 1000))
        await self._commit(delivery, _Copy(queue.dead_queue, properties))
        metrics.QUEUE_DEAD.labels(queue=queue.name).inc()
        queue.bus.publish(
            "queue",
            "message_dead_lettered",
            {"queue": queue.name, "message_id": delivery.message_id, "reason": reason},
        )

    async def _commit(self, delivery: AmqpDelivery, copy: _Copy | None) -> None:
        """Publishes ``copy`` (if any) and acks ``delivery`` in one transaction.

        A copy published in a transaction cannot be checked for being routed (aiormq reports
        returns only with confirms): it goes to a queue that dnsmill declared before, or the
        one being consumed.
        """
        await self._commit_all([delivery], copy)

    async def _commit_all(self, deliveries: list[AmqpDelivery], copy: _Copy | None = None) -> None:
        """Acks ``deliveries`` (all from one channel), after publishing ``copy`` of the first
        if given, in one transaction: all of it happens, or none."""
        channel = deliveries[0].channel

        async def settle() -> None:
            if copy is not None:
                await channel.basic_publish(
                    deliveries[0].body, routing_key=copy.queue, properties=copy.properties
                )
            for delivery in deliveries:
                await channel.basic_ack(delivery.tag)
            await channel.tx_commit()

        def gone(why: str) -> str:
            for delivery in deliveries:
                delivery._mark_gone(self._gone(delivery, why))
            return (
                self._gone(deliveries[0], why)
                if len(deliveries) == 1
                else (
                    f"{self.queue.url}: {len(deliveries)} messages of queue {self.queue.name!r} cannot be "
                    f"settled: {why}; RabbitMQ returns them to the queue to be delivered again"
                )
            )

        async def commit() -> None:
            async with self._transaction:
                work = self._work
                if channel is not self._channel or channel.is_closed or work is None:
                    raise QueueError(gone("the channel it came on has closed"))
                try:
                    # Ended if the channel closes: it could otherwise wait for it forever.
                    await work.run(settle())
                except BaseException as error:
                    # A lost channel (aiormq cancels what waits on one that closes), or anything
                    # else: whether the commit went through or not, the channel is done with.
                    # Closing it keeps anything half done from being committed by the next
                    # settle, and returns what it holds to the queue.
                    await self._abandon(channel, f"a transaction failed: {error!r}", in_transaction=True)
                    why = f"the channel closed during the settle ({error!r}), which may not have gone through"
                    raise QueueError(gone(why)) from error
            for delivery in deliveries:
                self._held.pop(delivery.tag, None)
            self._wakeup.set()

        await to_completion(commit(), self._in_flight)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        await to_completion(self._shut(), self._closing)

    async def _shut(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._starting
        # Settles under way finish first, so that what is held below is final.
        deadline = asyncio.get_running_loop().time() + CLOSE_SECONDS
        while self._in_flight:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(list(self._in_flight), timeout=remaining)
        channel, self._channel = self._channel, None
        held = list(self._held.values())
        self._held.clear()
        self._ready.clear()
        self.queue._consumers.discard(self)
        for delivery in held:
            delivery._mark_gone(
                f"message {delivery.message_id} went back to queue {self.queue.name!r} when its consumer closed"
            )
        if channel is not None and not channel.is_closed:
            # Closing the channel returns everything unacked on it to the queue; between
            # transactions, as in _abandon.
            async def close_channel() -> None:
                async with self._transaction:
                    with contextlib.suppress(Exception):
                        await channel.close()

            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(close_channel(), CLOSE_SECONDS)


class AmqpQueue(Queue):
    """The queue ``name`` on a RabbitMQ broker, over one robust connection.

    ``depth`` tells what the broker can: ``ready`` is the queue's message count (plus what
    this object's consumers received and did not hand out yet), ``delayed`` the count of its
    delay queues, ``dead`` that of its dead-letter queue. ``held`` counts what this object's
    consumers hold: RabbitMQ does not report unacked messages over AMQP, so those held by
    other processes' consumers are in no count. There are no leases: an unacked message
    stays with its consumer until its channel closes, so ``extend`` is not needed.
    """

    capabilities = frozenset({"depth", "dead_letters", "delay"})

    def __init__(
        self,
        url: str,
        name: str = DEFAULT_QUEUE_NAME,
        *,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        queue_type: str = DEFAULT_QUEUE_TYPE,
        reconnect_interval: float = DEFAULT_RECONNECT_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        heartbeat: int = DEFAULT_HEARTBEAT,
        cafile: str = "",
        certfile: str = "",
        keyfile: str = "",
        bus: events.EventBus | None = None,
    ) -> None:
        self.url = redact_url(url)
        scheme, _, rest = url.partition(":")
        scheme = scheme.lower()
        if scheme not in ("amqp", "amqps") or not rest.startswith("//"):
            raise QueueError(f"{self.url}: not a RabbitMQ queue URL (amqp://user:pass@host:port/vhost)")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  # raises for a port that is not a number
        except ValueError as error:
            raise QueueError(f"{self.url}: malformed RabbitMQ URL: {error}") from None
        if not parts.hostname:
            raise QueueError(f"{self.url}: a RabbitMQ URL needs a host (amqp://user:pass@host:port/vhost)")
        if parts.query or parts.fragment:
            raise QueueError(f"{self.url}: give the options as keyword arguments or through open_queue")
        if isinstance(delivery_limit, bool) or not isinstance(delivery_limit, int) or delivery_limit < 1:
            raise QueueError(
                f"{self.url}: delivery_limit must be a whole number, at least 1, not {delivery_limit!r}"
            )
        if queue_type not in QUEUE_TYPES:
            raise QueueError(f"{self.url}: queue_type must be quorum or classic, not {queue_type!r}")
        for option, seconds in (("reconnect_interval", reconnect_interval), ("timeout", timeout)):
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not 0 < seconds < math.inf
            ):
                raise QueueError(f"{self.url}: {option} must be a number of seconds above 0, not {seconds!r}")
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 0:
            raise QueueError(f"{self.url}: heartbeat must be a whole number of seconds, not {heartbeat!r}")
        tls = {"cafile": cafile, "certfile": certfile, "keyfile": keyfile}
        if scheme == "amqp" and any(tls.values()):
            raise QueueError(f"{self.url}: cafile, certfile and keyfile need an amqps:// URL")
        if not name or len(name.encode()) + _LONGEST_SUFFIX > _MAX_NAME or name.startswith("amq."):
            raise QueueError(
                f"{self.url}: queue name {name!r} must be 1 to {_MAX_NAME - _LONGEST_SUFFIX} bytes "
                "and not start with 'amq.'"
            )
        self.name = name
        self.dead_queue = f"{name}.dead"
        self.delivery_limit = delivery_limit
        self.queue_type = queue_type
        self.reconnect_interval = float(reconnect_interval)
        self.timeout = float(timeout)
        self.bus = bus or events.bus
        query = {"heartbeat": str(heartbeat), **{k: v for k, v in tls.items() if v}}
        self._broker_url = f"{url}?{urlencode(query)}"
        self._password = parts.password
        self._vhost = unquote(parts.path[1:]) or "/"
        self._robust: AbstractRobustConnection | None = None
        self._connecting = asyncio.Lock()
        self._declaring = asyncio.Lock()
        self._declared = False
        self._delay_queues_declared = False
        # Long-lived channels, opened again when closed: one with publisher confirms for
        # put_many, one for declares and counts.
        self._publisher: aiormq.abc.AbstractChannel | None = None
        self._control: aiormq.abc.AbstractChannel | None = None
        # The publishes under way on the publisher channel.
        self._publishing: _ChannelWork | None = None
        self._consumers: set[AmqpConsumer] = set()
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        name: str = DEFAULT_QUEUE_NAME,
        *,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        queue_type: str = DEFAULT_QUEUE_TYPE,
        reconnect_interval: float = DEFAULT_RECONNECT_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        heartbeat: int = DEFAULT_HEARTBEAT,
        cafile: str = "",
        certfile: str = "",
        keyfile: str = "",
        bus: events.EventBus | None = None,
    ) -> AmqpQueue:
        """The queue ``name`` at ``amqp://user:pass@host:port/vhost`` or ``amqps://...`` (a URL
        without its query: ``open_queue`` parses that), connected on first use."""
        return cls(
            url,
            name,
            delivery_limit=delivery_limit,
            queue_type=queue_type,
            reconnect_interval=reconnect_interval,
            timeout=timeout,
            heartbeat=heartbeat,
            cafile=cafile,
            certfile=certfile,
            keyfile=keyfile,
            bus=bus,
        )

    # The connection and its channels.

    def _failure(self, error: BaseException, doing: str) -> QueueError:
        text = str(error) or type(error).__name__
        if self._password:
            text = text.replace(self._password, "***")
        message = f"{self.url}: queue {self.name!r}: cannot {doing}: {text}"
        if isinstance(error, (ChannelNotFoundEntity, ChannelPreconditionFailed, ChannelAccessRefused)):
            return QueueError(message)
        if isinstance(error, (*_LOST, asyncio.CancelledError, asyncio.TimeoutError)):
            return QueueConnectionError(message)
        return QueueError(message)

    async def _connection(self, patience: float | None = DEFAULT_TIMEOUT) -> aiormq.abc.AbstractConnection:
        """The connection now, connecting first on first use. While aio-pika reconnects, waits
        up to ``patience`` seconds (None: as long as it takes) for it."""
        if self._closed:
            raise QueueError(f"{self.url}: queue {self.name!r} is closed")
        if self._robust is None:
            async with self._connecting:
                if self._robust is None:
                    try:
                        self._robust = await aio_pika.connect_robust(
                            self._broker_url,
                            timeout=self.timeout,
                            reconnect_interval=self.reconnect_interval,
                            client_properties={"connection_name": f"dnsmill queue {self.name}"},
                        )
                    except asyncio.CancelledError:
                        raise
                    except Exception as error:
                        text = str(error) or type(error).__name__
                        if self._password:
                            text = text.replace(self._password, "***")
                        if "Connection.Close" in text:
                            # aiormq reports a refused connection.open without the broker's reason.
                            text = (
                                f"the broker refused to open virtual host {self._vhost!r} (does it exist, "
                                "and may this user use it?)"
                            )
                        raise QueueConnectionError(
                            f"{self.url}: cannot connect to RabbitMQ: {text}"
                        ) from None
        robust = self._robust
        loop = asyncio.get_running_loop()
        deadline = None if patience is None else loop.time() + patience
        while True:
            transport = robust.transport
            if robust.connected.is_set() and transport is not None and not transport.connection.is_closed:
                return transport.connection
            if self._closed:
                raise QueueError(f"{self.url}: queue {self.name!r} is closed")
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise QueueConnectionError(
                    f"{self.url}: queue {self.name!r}: the connection to RabbitMQ was lost and did not come "
                    f"back within {patience:g} s (reconnecting every {self.reconnect_interval:g} s)"
                )
            waited_from = loop.time()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(robust.ready(), None if remaining is None else min(remaining, 1.0))
            # aio-pika reports itself ready while its last connection is closed and the broker
            # refuses new ones (a virtual host deleted, say): look again after a pause, not in
            # a loop that takes a core.
            pause = RECHECK_SECONDS - (loop.time() - waited_from)
            if pause > 0:
                await asyncio.sleep(pause if remaining is None else min(pause, max(0.0, remaining)))

    async def _channel(self, role: str) -> aiormq.abc.AbstractChannel:
        """The long-lived channel for ``role`` (``publisher`` or ``control``), opened again
        when it closed."""
        channel = self._publisher if role == "publisher" else self._control
        if channel is not None and not channel.is_closed:
            return channel
        connection = await self._connection(self.timeout)
        try:
            channel = await connection.channel(publisher_confirms=role == "publisher", on_return_raises=True)
        except _LOST as error:
            raise self._failure(error, "open a channel") from error
        if role == "publisher":
            self._publisher = channel
            self._publishing = _ChannelWork(channel)
        else:
            self._control = channel
        return channel

    @contextlib.asynccontextmanager
    async def _throwaway(self) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A channel for one step that may fail in a way that closes it (a passive declare of
        a queue that does not exist, a declare with other arguments)."""
        connection = await self._connection(self.timeout)
        channel = await connection.channel(publisher_confirms=False)
        try:
            yield channel
        finally:
            if not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()

    # Declarations.

    async def _ensure_declared(self) -> None:
        if self._declared:
            return
        async with self._declaring:
            if self._declared:
                return
            # The user's queue: used as it is when it exists.
            try:
                async with self._throwaway() as channel:
                    await channel.queue_declare(self.name, passive=True)
            except ChannelNotFoundEntity:
                await self._declare_own(self.name, {})
            except _LOST as error:
                raise self._failure(error, "look the queue up") from error
            # Reading the dead letters returns them to their queue each time; RabbitMQ 4 gives a
            # quorum queue a delivery limit of 20 unless it sets one, past which it drops them.
            unlimited = {"x-delivery-limit": 2**31 - 1} if self.queue_type == "quorum" else {}
            await self._declare_own(self.dead_queue, unlimited)
            self._declared = True

    async def _declare_own(self, queue: str, arguments: dict[str, Any]) -> None:
        """Declares a queue dnsmill creates; one that exists with other arguments (made by
        another version, or another ``queue_type``) is used as it is."""
        arguments = {"x-queue-type": self.queue_type, **arguments}
        try:
            async with self._throwaway() as channel:
                await channel.queue_declare(queue, durable=True, arguments=arguments)
                return
        except ChannelPreconditionFailed:
            pass
        except _LOST as error:
            raise self._failure(error, f"declare queue {queue!r}") from error
        try:
            async with self._throwaway() as channel:
                await channel.queue_declare(queue, passive=True)
        except _LOST as error:
            raise self._failure(error, f"declare queue {queue!r}") from error

    def _delay_queue_name(self, level: int) -> str:
        return f"{self.name}.delay.{level}s"

    async def _delay_queue(self, delay: float) -> str:
        """The delay queue for ``delay`` seconds, the delay queues declared first."""
        if not self._delay_queues_declared:
            async with self._declaring:
                if not self._delay_queues_declared and not await self._delay_queues_exist():
                    arguments: dict[str, Any] = {
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": self.name,
                    }
                    if self.queue_type == "quorum":
                        # The broker moves an expired message with confirms, so that it is not
                        # lost if the queue is briefly unavailable; this needs reject-publish.
                        arguments["x-dead-letter-strategy"] = "at-least-once"
                        arguments["x-overflow"] = "reject-publish"
                    # The last one declared last: its existence says they all exist.
                    for level in DELAY_LEVELS:
                        await self._declare_own(self._delay_queue_name(level), arguments)
                self._delay_queues_declared = True
        level = next((level for level in DELAY_LEVELS if level >= delay), DELAY_LEVELS[-1])
        return self._delay_queue_name(level)

    async def _delay_queues_exist(self) -> bool:
        if self._delay_queues_declared:
            return True
        try:
            async with self._throwaway() as channel:
                await channel.queue_declare(self._delay_queue_name(DELAY_LEVELS[-1]), passive=True)
        except ChannelNotFoundEntity:
            return False
        except _LOST as error:
            raise self._failure(error, "look the delay queues up") from error
        self._delay_queues_declared = True
        return True

    async def _message_counts(self, queues: list[str]) -> list[tuple[int, int]]:
        """The ready messages and the consumers of each queue (they exist)."""
        channel = await self._channel("control")
        try:
            declared = [await channel.queue_declare(queue, passive=True) for queue in queues]
        except (*_LOST, ChannelNotFoundEntity) as error:
            raise self._failure(error, "count messages") from error
        return [(ok.message_count or 0, ok.consumer_count or 0) for ok in declared]

    # The protocol.

    async def open(self) -> None:
        """Connects now, and looks the queue up (creating it, and the dead-letter queue, when
        missing)."""
        await self._connection(self.timeout)
        await self._ensure_declared()

    async def put_many(self, bodies: Iterable[bytes | str]) -> int:
        """Publishes ``bodies`` and returns once the broker confirmed every one. Messages whose
        confirm a lost connection took with it are published again (with the same message id)
        once aio-pika has reconnected: the broker may then hold two copies of one, never none.
        Gives up when a reconnection takes longer than ``timeout``, or after
        ``PUBLISH_ROUNDS`` rounds in a row that lost their connection before any confirm."""
        messages = [b.encode() if isinstance(b, str) else bytes(b) for b in bodies]
        pending = [(uuid.uuid4().hex, body) for body in messages]
        confirmed, fruitless = 0, 0
        while pending:
            await self._ensure_declared()
            put, unconfirmed, lost = await self._publish_round(pending, confirmed, len(messages))
            confirmed += put
            metrics.QUEUE_PUT.labels(queue=self.name).inc(put)
            if lost is None:
                break
            fruitless = 0 if put else fruitless + 1
            if fruitless >= PUBLISH_ROUNDS:
                failure = self._failure(lost, f"put {len(messages)} messages ({confirmed} were put)")
                raise failure from lost
            log.warning(
                "%s: queue %r: the connection was lost with %d messages unconfirmed; publishing them "
                "again once it is back",
                self.url,
                self.name,
                len(unconfirmed),
            )
            pending = unconfirmed
        return confirmed

    async def _publish_round(
        self, pending: list[tuple[str, bytes]], confirmed: int, total: int
    ) -> tuple[int, list[tuple[str, bytes]], BaseException | None]:
        """Publishes ``pending`` on the publisher channel, up to ``CONFIRM_WINDOW`` awaiting
        their confirms at a time. Returns how many were confirmed, the ones that were not, and
        the error that lost the channel (None when every one was confirmed). An unroutable or
        refused message raises :class:`~dnsmill.QueueError`."""
        channel = await self._channel("publisher")
        publishing_on = self._publishing
        assert publishing_on is not None and publishing_on.channel is channel
        window = asyncio.Semaphore(CONFIRM_WINDOW)
        failed = False

        async def publish(message_id: str, body: bytes) -> None:
            await channel.basic_publish(
                body,
                routing_key=self.name,
                properties=Basic.Properties(delivery_mode=2, message_id=message_id),
                mandatory=True,
            )

        def published(task: asyncio.Task[None]) -> None:
            # A callback, not a finally: a task cancelled before it started runs no finally.
            nonlocal failed
            window.release()
            if task.cancelled() or task.exception() is not None:
                failed = True

        publishing: list[asyncio.Task[None]] = []
        try:
            for message_id, body in pending:
                await window.acquire()
                if failed:
                    window.release()
                    break
                # Cancelled if the channel closes: a publish could otherwise wait for it forever.
                task = publishing_on.start(publish(message_id, body))
                task.add_done_callback(published)
                publishing.append(task)
            results = await asyncio.gather(*publishing, return_exceptions=True)
        except BaseException:
            for task in publishing:
                task.cancel()
            raise
        errors = [publishing_on.error(r) for r in results if isinstance(r, BaseException)]
        put = len(results) - len(errors)
        for error in errors:
            done = confirmed + put
            if isinstance(error, PublishError):
                reason = f"a message was returned as unroutable ({error}): does the queue still exist?"
                raise QueueError(
                    f"{self.url}: queue {self.name!r}: {done} of {total} messages put, then {reason}"
                )
            if isinstance(error, DeliveryError):
                raise QueueError(
                    f"{self.url}: queue {self.name!r}: {done} of {total} messages put, then the "
                    f"broker refused one ({error})"
                )
            if not isinstance(error, _LOST):
                raise self._failure(error, f"put {total} messages ({done} were put)") from error
        # Fewer results than messages when a failure stopped the round: the rest never started.
        started = zip(pending, results, strict=False)
        unconfirmed = [message for message, result in started if isinstance(result, BaseException)]
        unconfirmed += pending[len(results) :]
        return put, unconfirmed, (errors[0] if errors else None)

    def consume(self, prefetch: int = 1) -> AmqpConsumer:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or not 1 <= prefetch <= 65535:
            raise QueueError(f"{self.url}: prefetch must be a whole number from 1 to 65535, not {prefetch!r}")
        if self._closed:
            raise QueueError(f"{self.url}: queue {self.name!r} is closed")
        consumer = AmqpConsumer(self, prefetch)
        self._consumers.add(consumer)
        return consumer

    async def purge(self) -> int:
        """Deletes the messages waiting on the queue and in its delay queues (what consumers
        hold stays); returns how many."""
        await self._ensure_declared()
        queues = [self.name]
        if await self._delay_queues_exist():
            queues += [self._delay_queue_name(level) for level in DELAY_LEVELS]
        channel = await self._channel("control")
        try:
            purged = sum([(await channel.queue_purge(queue)).message_count or 0 for queue in queues])
        except (*_LOST, ChannelNotFoundEntity) as error:
            raise self._failure(error, "purge") from error
        self.bus.publish("queue", "queue_purged", {"queue": self.name, "messages": purged})
        return purged

    async def depth(self) -> Depth:
        await self._ensure_declared()
        queues = [self.name, self.dead_queue]
        if await self._delay_queues_exist():
            queues += [self._delay_queue_name(level) for level in DELAY_LEVELS]
        (waiting, attached), (dead, _), *delayed = await self._message_counts(queues)
        consumers = list(self._consumers)
        depth = Depth(
            ready=waiting + sum(len(c._ready) for c in consumers),
            held=sum(c._handed_out() for c in consumers),
            delayed=sum(count for count, _ in delayed),
            dead=dead,
            consumers=attached,
        )
        for state in ("ready", "held", "delayed", "dead"):
            metrics.QUEUE_DEPTH.labels(queue=self.name, state=state).set(getattr(depth, state))
        metrics.QUEUE_CONSUMERS.labels(queue=self.name).set(attached)
        return depth

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, read from ``<name>.dead`` and left there."""
        await self._ensure_declared()
        letters: list[DeadLetter] = []
        held_before = 0
        try:
            # Read without acks; closing the channel returns every one to the queue.
            async with self._throwaway() as channel:
                while len(letters) < limit:
                    message = await channel.basic_get(self.dead_queue, no_ack=False)
                    if not isinstance(message.delivery, Basic.GetOk):
                        break
                    if not letters:
                        held_before = (message.delivery.message_count or 0) + 1
                    properties = message.header.properties
                    headers = properties.headers or {}
                    failed_at_ms = _count(headers.get(FAILED_AT_HEADER))
                    letters.append(
                        DeadLetter(
                            message_id=_text(properties.message_id) or _content_id(message.body),
                            body=message.body,
                            deliveries=_count(headers.get(DELIVERIES_HEADER)),
                            reason=_text(headers.get(REASON_HEADER)),
                            failed_at=failed_at_ms / 1000,
                        )
                    )
            # The broker confirms the channel's close before a quorum queue has taken the
            # letters back: until it has, they are missing from its count. Wait for them (a
            # second at most), so that what comes next (a depth, another read) sees them.
            deadline = time.monotonic() + 1.0
            while letters and time.monotonic() < deadline:
                async with self._throwaway() as channel:
                    counted = (await channel.queue_declare(self.dead_queue, passive=True)).message_count or 0
                if counted >= held_before:
                    break
                await asyncio.sleep(0.02)
        except (*_LOST, ChannelNotFoundEntity) as error:
            raise self._failure(error, "read the dead letters") from error
        return letters

    async def close(self) -> None:
        if self._closed:
            return
        try:
            for consumer in list(self._consumers):
                await consumer.close()
        finally:
            self._closed = True
            robust, self._robust = self._robust, None
            if robust is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(robust.close(), CLOSE_SECONDS)
