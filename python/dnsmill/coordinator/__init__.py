"""The ingestion coordinator: streams of supervised DNS sources.

    from dnsmill.coordinator import Coordinator

    coordinator = Coordinator("sqlite://dnsmill.db")
    coordinator.create_stream("zones")
    coordinator.add_source("zones", "lab", "zone_directory", {"path": "/srv/zones"}, poll_interval=30)
    coordinator.start_stream("zones")          # or: dnsmill streams start zones
    await coordinator.run(stop_event)          # or: dnsmill coordinate

Streams and sources live in the store; :class:`Coordinator`'s calls change them there (each
with an ``_async`` twin), and :meth:`Coordinator.run` supervises what they describe. See
:mod:`dnsmill.coordinator.sources` for the source kinds and :mod:`.supervisor` for restarts.
"""

from dnsmill.coordinator.core import STATUSES, Coordinator
from dnsmill.coordinator.sources import Checkpoint, Source, SourceConfig, SourceContext, kinds, register
from dnsmill.coordinator.supervisor import RESTART_TYPES, Intensity

__all__ = [
    "RESTART_TYPES",
    "STATUSES",
    "Checkpoint",
    "Coordinator",
    "Intensity",
    "Source",
    "SourceConfig",
    "SourceContext",
    "kinds",
    "register",
]
