"""dnsmill: DNS data at scale.

Parse zone files, resolve millions of names, batch-write records into SQLite, PostgreSQL and
MySQL, and serve them. The heavy lifting is Rust (``dnsmill._core``); this package is the
Python face of it.
"""

from __future__ import annotations

import logging

from dnsmill._core import (
    Batch,
    BatchJob,
    ConfigError,
    DnsmillError,
    Domains,
    DuePage,
    Ingest,
    MessageError,
    QueueConnectionError,
    QueueError,
    QueueUnsupportedError,
    Record,
    ResolveError,
    Resolver,
    Result,
    ResultSet,
    ResultStream,
    ServeError,
    StoreConnectionError,
    StoreError,
    StoreRejectedError,
    StoreSchemaError,
    StoreUnavailableError,
    StreamStore,
    Writer,
    Zone,
    ZoneSyntaxError,
    __version__,
    db_stats,
    init_db,
    parse_zone,
    soa_serial,
    transfer_zone,
)
from dnsmill.server import serve

# A library attaches no handler of its own; applications decide where logs go.
logging.getLogger("dnsmill").addHandler(logging.NullHandler())

__all__ = [
    "Batch",
    "BatchJob",
    "ConfigError",
    "DnsmillError",
    "Domains",
    "DuePage",
    "Ingest",
    "MessageError",
    "QueueConnectionError",
    "QueueError",
    "QueueUnsupportedError",
    "Record",
    "ResolveError",
    "Resolver",
    "Result",
    "ResultSet",
    "ResultStream",
    "ServeError",
    "StoreConnectionError",
    "StoreError",
    "StoreRejectedError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "StreamStore",
    "Writer",
    "Zone",
    "ZoneSyntaxError",
    "__version__",
    "db_stats",
    "init_db",
    "parse_zone",
    "serve",
    "soa_serial",
    "transfer_zone",
]
