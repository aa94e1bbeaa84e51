"""The source kinds the coordinator runs, registered by name.

    zone_directory   *.zone files in a directory: each change as the records it added and removed
    zone_transfer    zones from a primary: AXFR, then IXFR from the serial held, on an SOA poll
    domain_list      a file of names that grows: new names into the domains table
    seeder           the record seeder, on the source's interval
    jetstream        a JetStream stream's subjects, through the event writer's processors

A kind of your own is a class implementing :class:`~dnsmill.coordinator.sources.base.Source`,
registered with :func:`register`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from dnsmill._core import ConfigError
from dnsmill.coordinator.sources.base import Checkpoint, Source, SourceConfig, SourceContext, WorkerHealth

_KINDS: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    """Registers a source class under its ``kind`` (usable as a decorator)."""
    _KINDS[cls.kind] = cls
    return cls


def kinds() -> list[str]:
    """The registered kinds, sorted."""
    return sorted(_KINDS)


def source_class(kind: str) -> type[Source]:
    """The class of ``kind``; :class:`~dnsmill.ConfigError` naming the known kinds otherwise."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown source kind {kind!r} (known: {', '.join(kinds())})") from None


def check_config(kind: str, config: str | dict[str, Any] | None) -> Any:
    """``config`` (a dict or JSON text) checked against ``kind``'s settings; a
    :class:`~dnsmill.ConfigError` names the field that is wrong."""
    cls = source_class(kind)
    if isinstance(config, str):
        try:
            config = json.loads(config) if config.strip() else {}
        except json.JSONDecodeError as error:
            raise ConfigError(f"{kind} settings are not JSON: {error}") from None
    try:
        return cls.Config.model_validate(config or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'settings'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise ConfigError(f"{kind} source settings: {problems}") from None


def _register_built_ins() -> None:
    from dnsmill.coordinator.sources import domains, jetstream, seeder, transfer, zones

    for module in (zones, transfer, domains, seeder, jetstream):
        register(module.SOURCE)


_register_built_ins()

__all__ = [
    "Checkpoint",
    "Source",
    "SourceConfig",
    "SourceContext",
    "WorkerHealth",
    "check_config",
    "kinds",
    "register",
    "source_class",
]
