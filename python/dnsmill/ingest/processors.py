"""Processors written in Python, for message formats dnsmill does not read itself.

A processor is a function of one :class:`Message` that returns what the message means, in a
form a built-in processor takes, and raises when it means nothing (the message is then
dead-lettered with the exception's text)::

    from dnsmill.ingest import Message, processor

    @processor("sensor", writes="records")
    def sensor(message: Message):
        seen = message.json()
        return {"name": seen["qname"], "type": seen["qtype"], "ttl": seen["ttl"], "rdata": seen["answer"]}

``writes="records"``: a record dict (``name``, ``type``, ``ttl``, ``rdata``), a list of them, or
zone text, into the records table. ``writes="events"``: a CloudEvent dict (``specversion``,
``id``, ``source``, ``type``, ...) into the events table. The engine calls the processor from
its own thread once per batch (the function once per message), checks what it returns as the
built-in processors check their input, and writes, acks and dead-letters as for any route.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

BUILT_IN = ("records", "results", "events")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Writes = Literal["records", "events"]
F = TypeVar("F", bound=Callable[["Message"], Any])


@dataclass(frozen=True)
class Message:
    """A message as a processor sees it."""

    subject: str
    data: bytes
    #: Its ``Nats-Msg-Id`` header, when it has one.
    msg_id: str | None
    stream: str
    sequence: int

    def json(self) -> Any:
        """The body read as JSON (raises ``ValueError`` when it is not)."""
        return json.loads(self.data)

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.data.decode()


_registered: dict[str, tuple[Callable[[Message], Any], Writes]] = {}


def processor(name: str, *, writes: Writes) -> Callable[[F], F]:
    """Registers the decorated function as the processor ``name`` for routes to name."""
    if not NAME.match(name):
        raise ValueError(f"processor name {name!r}: lowercase letters, digits and _, starting with a letter")
    if name in BUILT_IN:
        raise ValueError(f"processor name {name!r} is taken by a built-in processor")
    if writes not in ("records", "events"):
        raise ValueError(f"processor {name}: writes must be 'records' or 'events', not {writes!r}")

    def register(function: F) -> F:
        _registered[name] = (function, writes)
        return function

    return register


def unregister(name: str) -> None:
    """Forgets the processor ``name`` (tests, notebooks)."""
    _registered.pop(name, None)


def registered() -> dict[str, tuple[Callable[[Message], Any], Writes]]:
    """The registered processors by name: (function, what it writes)."""
    return dict(_registered)


Batch = list[tuple[str, bytes, "str | None", str, int]]


def batch_caller(function: Callable[[Message], Any], writes: Writes) -> Callable[[Batch], list[Any]]:
    """``function`` as the engine calls it: a batch of message tuples in, one payload (bytes a
    built-in processor reads) or exception per message out."""

    def call(batch: Batch) -> list[Any]:
        out: list[Any] = []
        for subject, data, msg_id, stream, sequence in batch:
            try:
                result = function(Message(subject, data, msg_id, stream, sequence))
                out.append(encode(result, writes))
            except Exception as error:  # the message's fault: it is dead-lettered with this
                out.append(error if str(error) else ValueError(type(error).__name__))
        return out

    return call


def encode(result: Any, writes: Writes) -> bytes:
    """A processor's result as the payload the built-in processor of ``writes`` reads."""
    if isinstance(result, bytes):
        return result
    if writes == "records" and isinstance(result, str):
        return result.encode()
    if writes == "records" and isinstance(result, (dict, list, tuple)):
        return json.dumps(list(result) if isinstance(result, tuple) else result).encode()
    if writes == "events" and isinstance(result, dict):
        return json.dumps(result).encode()
    wanted = "a record dict, a list of them or zone text" if writes == "records" else "a CloudEvent dict"
    raise TypeError(f"the processor returned {type(result).__name__}, not {wanted}")
