"""The DNS backends the sync service writes zones to, one module each: ``bind`` (zone files and
an include file) and ``sql`` (CoreDNS-MySQL in both layouts, PowerDNS on MySQL or PostgreSQL).

Every backend takes a zone as a :class:`ZoneContent`, writes it, reads back what it holds and
compares: what it holds must be exactly the zone, record for record. This module is what they
share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import dnsmill


class BackendError(RuntimeError):
    """A backend could not apply a zone, and why (its tool's or database's own words)."""


#: A record as the sync service compares it: (owner, type, ttl, rdata), owner absolute and
#: lowercase, rdata canonical.
ZoneRecord = tuple[str, str, int, str]


@dataclass(frozen=True)
class ZoneContent:
    """A zone to write: its name (checked, without the trailing dot) and its canonical text."""

    name: str
    text: str

    @property
    def origin(self) -> str:
        return f"{self.name}."

    @cached_property
    def records(self) -> tuple[ZoneRecord, ...]:
        return records_of(dnsmill.parse_zone(self.text, self.origin))


@dataclass(frozen=True)
class ZoneDeletion:
    """A zone to remove (its checked name, without the trailing dot)."""

    name: str


#: What the applier hands a backend: a zone to write, or one to remove.
ZoneChange = ZoneContent | ZoneDeletion


def records_of(zone: dnsmill.Zone) -> tuple[ZoneRecord, ...]:
    return tuple((record.name, record.type, record.ttl, record.rdata) for record in zone)


@dataclass
class Drift:
    """How a backend's copy of a zone differs from the zone: rows it lacks and rows it has
    that the zone does not (counted with repeats: a row held twice is one extra)."""

    missing: int = 0
    extra: int = 0
    #: A few of the differing rows, for the log.
    examples: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra)

    def __str__(self) -> str:
        said = f"{self.missing} missing, {self.extra} extra"
        return f"{said} ({'; '.join(self.examples)})" if self.examples else said


def drift_between(expected: Iterable[Hashable], held: Iterable[Hashable], examples: int = 3) -> Drift:
    """The drift of ``held`` from ``expected``, both as rows of one backend's own form."""
    want, have = Counter(expected), Counter(held)
    missing, extra = want - have, have - want
    shown = [f"missing {row}" for row in list(missing)[:examples]]
    shown += [f"extra {row}" for row in list(extra)[: max(0, examples - len(shown))]]
    return Drift(missing=sum(missing.values()), extra=sum(extra.values()), examples=shown)
