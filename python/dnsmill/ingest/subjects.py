"""NATS subjects and subject patterns, as the event writer's settings name them.

A subject is dot-separated tokens (``dns.records.example``); a pattern may use ``*`` for one
token and ``>`` as its last token for one or more (``dns.records.>``). Checked strictly here,
so a typo in a route is an error when the settings are read, not a route that never matches.
"""

from __future__ import annotations

import re

#: Characters a token may not hold (NATS splits on them, or they are wildcards).
_FORBIDDEN = re.compile(r"[\s.*>\x00-\x1f\x7f]")
#: Stream and consumer names: NATS refuses dots, wildcards, whitespace and path separators.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def check_pattern(pattern: str, *, wildcards: bool = True) -> str:
    """``pattern`` if it is a valid subject (or, with ``wildcards``, subject pattern); raises
    ValueError saying what is wrong with it."""
    if not pattern:
        raise ValueError("a subject may not be empty")
    tokens = pattern.split(".")
    for position, token in enumerate(tokens):
        if token in ("*", ">"):
            if not wildcards:
                raise ValueError(f"subject {pattern!r}: wildcards are not allowed here")
            if token == ">" and position != len(tokens) - 1:
                raise ValueError(f"subject {pattern!r}: '>' may only be the last token")
            continue
        if not token:
            raise ValueError(f"subject {pattern!r}: has an empty token")
        if _FORBIDDEN.search(token):
            raise ValueError(
                f"subject {pattern!r}: token {token!r} holds whitespace, a control character or a wildcard"
            )
    return pattern


def check_name(name: str, what: str) -> str:
    """A stream or consumer name NATS accepts."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} {name!r}: use letters, digits, '-' and '_' only (no dots, wildcards or spaces)"
        )
    return name


def matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` (no wildcards) is one ``pattern`` stands for."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for position, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > position
        if position >= len(tokens) or (token != "*" and token != tokens[position]):
            return False
    return len(tokens) == len(wanted)


def overlap(first: str, second: str) -> bool:
    """Whether some subject matches both patterns."""
    a, b = first.split("."), second.split(".")
    for position in range(max(len(a), len(b))):
        x = a[position] if position < len(a) else None
        y = b[position] if position < len(b) else None
        if x == ">" or y == ">":
            # The other one needs a token here (or a '>' of its own) for both to match.
            return x is not None and y is not None
        if x is None or y is None:
            return False
        if x != y and "*" not in (x, y):
            return False
    return True
