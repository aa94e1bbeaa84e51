"""Work queues between publishers and workers, asyncio first, with the semantics of RabbitMQ's.

``open_queue(url, name)`` picks the implementation by the URL's scheme. ``sqlite:///path.db``
is the embedded default, a durable queue in one SQLite file that the processes of a machine
share; ``amqp://user:pass@host:port/vhost`` (``amqps://`` for TLS) is a RabbitMQ queue (see
:mod:`dnsmill.queues.amqp`). Options go in the URL's query or as keyword arguments::

    queue = open_queue("sqlite:///var/lib/dnsmill/queue.db?delivery_limit=3", "dns_records")
    async with queue:
        await queue.put_many([b"one", b"two"])
        async with queue.consume(prefetch=2) as consumer:
            async for delivery in consumer:
                ...
                await delivery.ack()

Dead letters and purges are announced on the ``queue`` topic of the event bus
(``message_dead_lettered``, ``queue_purged``). Another implementation joins with
:func:`register`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from dnsmill._core import QueueError
from dnsmill.queues.amqp import AmqpQueue
from dnsmill.queues.base import (
    CAPABILITIES,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_QUEUE_NAME,
    Consumer,
    DeadLetter,
    Delivery,
    Depth,
    Queue,
    ack_all,
    redact_url,
)
from dnsmill.queues.sqlite import SqliteQueue

__all__ = [
    "CAPABILITIES",
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_QUEUE_NAME",
    "AmqpQueue",
    "Consumer",
    "DeadLetter",
    "Delivery",
    "Depth",
    "Opener",
    "Queue",
    "SqliteQueue",
    "ack_all",
    "open_queue",
    "register",
]

#: An opener: ``opener(url, name, **options) -> Queue``, ``url`` without its query.
Opener = Callable[..., Queue]

_openers: dict[str, Opener] = {}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def register(scheme: str, opener: Opener) -> None:
    """Makes :func:`open_queue` open ``scheme:`` URLs with ``opener(url, name, **options)``.

    ``url`` comes without its query; the query's options come as keyword arguments, converted
    to the type of the opener's default for them: an option the URL may carry is a
    keyword-only parameter whose default is a number, a string or a flag (an opener taking
    ``**options`` gets other ones as strings). Registering a scheme again replaces its
    opener. The opener must not do I/O: the queue connects on first use.
    """
    _openers[scheme.lower()] = opener


def open_queue(url: str, name: str = DEFAULT_QUEUE_NAME, **options: Any) -> Queue:
    """The queue ``name`` (``dns_records`` unless given) at ``url``, not connected yet (it connects on first use, or at
    ``await queue.open()``).

    ``sqlite:///abs/path.db`` or ``sqlite://relative.db``, ``amqp://user:pass@host:port/vhost``
    or ``amqps://...``; options in the query (``?delivery_limit=3&lease=10``) or as keyword
    arguments, which win. Raises
    :class:`~dnsmill.QueueError` for an unknown scheme, an unknown option or a bad value.
    """
    public = redact_url(url)
    scheme, colon, _ = url.partition(":")
    opener = _openers.get(scheme.lower()) if colon else None
    if opener is None:
        supported = ", ".join(sorted(_openers))
        raise QueueError(f"{public}: unsupported queue URL scheme {scheme!r} (supported: {supported})")
    location, _, query = url.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as error:
        raise QueueError(f"{public}: malformed query: {error}") from error
    parameters, open_ended = _options_of(opener)
    arguments: dict[str, Any] = {}
    for key, value in pairs:
        if key in parameters:
            arguments[key] = _convert(public, key, value, parameters[key].default)
        elif open_ended:
            arguments[key] = value  # the opener's to convert
        else:
            raise _unknown_option(public, scheme, key, parameters)
    for key in options:
        if key not in parameters and not open_ended:
            raise _unknown_option(public, scheme, key, parameters)
    arguments.update(options)
    return opener(location, name, **arguments)


def _options_of(opener: Opener) -> tuple[dict[str, inspect.Parameter], bool]:
    """The opener's options (its keyword-only parameters), and whether it takes any keyword."""
    try:
        signature = inspect.signature(opener)
    except (TypeError, ValueError):  # no readable signature: it gets what it is given
        return {}, True
    parameters = signature.parameters.values()
    options = {p.name: p for p in parameters if p.kind is p.KEYWORD_ONLY}
    return options, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _unknown_option(
    public: str, scheme: str, key: str, parameters: dict[str, inspect.Parameter]
) -> QueueError:
    known = ", ".join(sorted(k for k, p in parameters.items() if _url_option(p.default))) or "none"
    return QueueError(f"{public}: unknown option {key!r} for {scheme} queues (known: {known})")


def _url_option(default: object) -> bool:
    """Whether a parameter with this default can be given in a URL's query."""
    return isinstance(default, (bool, int, float, str))


def _convert(public: str, key: str, value: str, default: object) -> object:
    """A URL option's text as the type of the opener's default for it."""
    if not _url_option(default):
        raise QueueError(f"{public}: option {key!r} cannot be given in the URL")
    if isinstance(default, bool):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise QueueError(f"{public}: option {key}={value!r} is not a flag (true or false)")
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise QueueError(f"{public}: option {key}={value!r} is not {kind}") from None
    return value


register("sqlite", SqliteQueue.from_url)
register("amqp", AmqpQueue.from_url)
register("amqps", AmqpQueue.from_url)
