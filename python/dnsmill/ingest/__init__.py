"""``dnsmill ingest``, the event writer: NATS JetStream streams drained into database tables in
batches, every message written once or set aside on a dead-letter subject with its reason.

The consume → batch → write loop is Rust (:class:`dnsmill._core.Ingest`); this package holds
what is Python's: the subjects routes are written in (``subjects``), processors of your own
(``processors``: :func:`processor`, :class:`Message`), and the service that runs the writer with
metrics and events (``service``: :func:`build_ingest`, :func:`serve_ingest`). Its settings are
:class:`dnsmill.config.IngestSettings`."""

from dnsmill._core import Ingest
from dnsmill.ingest.processors import Message, processor, registered, unregister
from dnsmill.ingest.service import build_ingest, serve_ingest

__all__ = ["Ingest", "Message", "build_ingest", "processor", "registered", "serve_ingest", "unregister"]
