"""Type stubs for the native module ``dnsmill._core``."""

import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, ClassVar, Literal, TypedDict, final, overload

__version__: str

_Kind = Literal["error", "transient", "rejected", "configuration", "unavailable", "unsupported"]

class DnsmillError(Exception):
    """Base class of every dnsmill error; ``kind`` says what a caller can do about it."""

    kind: ClassVar[_Kind]

class ZoneSyntaxError(DnsmillError):
    """A zone file is malformed; the attributes say where and why."""

    file: str
    line: int
    column: int
    message: str

class ResolveError(DnsmillError):
    """Resolution could not be carried out."""

class StoreError(DnsmillError):
    """A store operation failed; the subclass (and ``kind``) says what to do about it."""

class StoreConnectionError(StoreError):
    """The connection to the store was lost, or the store was busy: try again."""

class StoreRejectedError(StoreError):
    """The store rejected the data itself: the same data fails again."""

class StoreSchemaError(StoreError):
    """The store's schema or configuration is wrong: fix the setup."""

class StoreUnavailableError(StoreError):
    """The store stayed unreachable through every retry."""

class QueueError(DnsmillError):
    """A queue operation failed; the subclass (and ``kind``) says what to do about it."""

class QueueConnectionError(QueueError):
    """The queue could not be reached, or was busy: try again."""

class QueueUnsupportedError(QueueError):
    """The queue lacks an optional capability."""

class MessageError(QueueError):
    """A message can never be processed (it is not a batch): dead-letter it."""

class ServeError(DnsmillError):
    """The authoritative server could not start or load its records."""

class ConfigError(DnsmillError):
    """Configuration is invalid."""

_Format = Literal["zone", "jsonl", "csv"]

class _ZoneWarning(TypedDict):
    """Something the zone check warns about, where it is written."""

    file: str
    line: int
    column: int
    message: str

def parse_zone(
    source: str | bytes | bytearray | os.PathLike[str],
    origin: str | None = None,
    *,
    default_ttl: int | None = None,
    allow_include: bool = False,
    collect_errors: bool = False,
    check: bool = False,
    limits: dict[str, int] | None = None,
) -> Zone:
    """Parse a zone from a path, zone text or bytes; with ``check``, also check its content the
    way BIND and Knot do once the syntax is clean. ``limits`` changes the limits on hostile
    input by name: max_line_len, max_entry_len, max_generate, max_generate_total,
    max_include_depth, max_errors."""

@final
class Record:
    """One DNS record: frozen, hashable, its repr the zone line."""

    def __new__(cls, name: str, type: str, ttl: int, rdata: str, rclass: str = "IN") -> Record: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def rtype(self) -> int: ...
    @property
    def rclass(self) -> str: ...
    @property
    def ttl(self) -> int: ...
    @property
    def rdata(self) -> str: ...
    @property
    def preference(self) -> int | None: ...
    @property
    def exchange(self) -> str | None: ...
    @property
    def priority(self) -> int | None: ...
    @property
    def weight(self) -> int | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def target(self) -> str | None: ...
    @property
    def soa(self) -> dict[str, Any] | None: ...
    @property
    def serial(self) -> int | None: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[str, str, int, str, str]]: ...

@final
class ZoneIterator:
    def __iter__(self) -> ZoneIterator: ...
    def __next__(self) -> Record: ...
    def __length_hint__(self) -> int: ...

@final
class Zone:
    """The records of a zone, held in Rust."""

    @property
    def origin(self) -> str | None: ...
    @property
    def errors(self) -> list[ZoneSyntaxError]: ...
    @property
    def warnings(self) -> list[_ZoneWarning]: ...
    @property
    def soa(self) -> Record | None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> ZoneIterator: ...
    @overload
    def __getitem__(self, key: int, /) -> Record: ...
    @overload
    def __getitem__(self, key: slice, /) -> Zone: ...
    def records(self) -> list[Record]: ...
    def count_by_type(self) -> dict[str, int]: ...
    def names(self) -> list[str]: ...
    def filter(
        self,
        *,
        type: str | Sequence[str] | None = None,
        name: str | None = None,
        under: str | None = None,
    ) -> Zone: ...
    def diff(self, before: Zone) -> tuple[Zone, Zone]: ...
    def stats(self) -> dict[str, Any]: ...
    def to_text(self, format: _Format = "zone") -> str: ...
    def write(self, path: str | os.PathLike[str], format: _Format | None = None) -> None: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def to_arrow(self) -> Any: ...
    def to_pandas(self) -> Any: ...
    def to_polars(self) -> Any: ...

_Status = Literal["NOERROR", "NXDOMAIN", "NODATA", "SERVFAIL", "REFUSED", "TIMEOUT", "ERROR", "INVALID"]
_Names = str | os.PathLike[str] | Iterable[str]
_Types = str | Sequence[str]

@final
class Resolver:
    def __new__(
        cls,
        nameservers: Sequence[str] | None = None,
        *,
        concurrency: int = 10000,
        timeout: float = 2.0,
        retries: int = 2,
        qps: float | None = None,
        per_server_qps: float | None = None,
        tcp_fallback: bool = True,
        retry_servfail: bool = True,
        sockets: int = 4,
    ) -> Resolver: ...
    @property
    def nameservers(self) -> list[str]: ...
    def resolve(
        self,
        names: _Names,
        types: _Types | None = None,
        *,
        progress: Callable[[dict[str, Any]], object] | None = None,
    ) -> ResultSet: ...
    def resolve_into(self, writer: Writer, names: _Names, types: _Types | None = None) -> dict[str, Any]: ...
    def resolve_async(self, names: _Names, types: _Types | None = None) -> Coroutine[Any, Any, ResultSet]: ...
    def stream(
        self,
        names: _Names,
        types: _Types | None = None,
        *,
        batch_size: int = 10000,
        order: Literal["input", "completion"] = "input",
    ) -> ResultStream: ...

@final
class ResultStream:
    def __iter__(self) -> ResultStream: ...
    def __next__(self) -> ResultSet: ...
    def __aiter__(self) -> ResultStream: ...
    def __anext__(self) -> Awaitable[ResultSet]: ...
    def close(self) -> None: ...

@final
class ResultIterator:
    def __iter__(self) -> ResultIterator: ...
    def __next__(self) -> Result: ...

@final
class Result:
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> _Status: ...
    @property
    def rcode(self) -> int | None: ...
    @property
    def answers(self) -> list[Record]: ...
    @property
    def values(self) -> list[str]: ...
    @property
    def cname_chain(self) -> list[str]: ...
    @property
    def nameserver(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def error(self) -> str | None: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class ResultSet:
    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Result: ...
    def __iter__(self) -> ResultIterator: ...
    def records(self) -> Zone: ...
    def by_status(self) -> dict[_Status, ResultSet]: ...
    def with_status(self, status: _Status) -> ResultSet: ...
    @property
    def stats(self) -> dict[str, Any]: ...
    def to_text(self, format: Literal["jsonl", "csv", "text"] = "jsonl", *, header: bool = True) -> str: ...
    def write(
        self, path: str | os.PathLike[str], format: Literal["jsonl", "csv", "text"] | None = None
    ) -> None: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def to_arrow(self) -> Any: ...
    def to_pandas(self) -> Any: ...
    def to_polars(self) -> Any: ...

def init_db(url: str) -> list[int]: ...
def db_stats(url: str, table: str = "dns_records") -> dict[str, dict[str, int]]: ...

@final
class Writer:
    def __new__(
        cls,
        url: str = "sqlite://dnsmill.db",
        *,
        table: str = "dns_records",
        batch_size: int = 10000,
        flush_interval: float = 1.0,
        source: str | None = None,
    ) -> Writer: ...
    def write(self, records: Zone | ResultSet | Record | Iterable[Record]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> dict[str, int]: ...
    def write_async(
        self, records: Zone | ResultSet | Record | Iterable[Record]
    ) -> Coroutine[Any, Any, None]: ...
    def flush_async(self) -> Coroutine[Any, Any, None]: ...
    def close_async(self) -> Coroutine[Any, Any, None]: ...
    @property
    def stats(self) -> dict[str, int]: ...
    def __enter__(self) -> Writer: ...
    def __exit__(self, *_exc: object) -> bool: ...

class _SourceRow(TypedDict):
    name: str
    kind: str
    config: str
    poll_interval: float
    restart: str

class _StreamRow(TypedDict):
    name: str
    status: str
    reason: str | None
    created_at: str
    updated_at: str
    epoch: int
    sources: list[_SourceRow]

class _Written(TypedDict):
    records: int
    events: int

@final
class StreamStore:
    def __new__(
        cls,
        url: str = "sqlite://dnsmill.db",
        *,
        events_table: str = "dns_events",
        records_table: str = "dns_records",
    ) -> StreamStore: ...
    def create_stream(self, name: str) -> bool: ...
    def delete_stream(self, name: str) -> bool: ...
    def add_source(
        self, stream: str, name: str, kind: str, config: str, poll_interval: float, restart: str
    ) -> None: ...
    def remove_source(self, stream: str, source: str) -> bool: ...
    def set_status(
        self, stream: str, status: str, reason: str | None = None, *, expected: str | None = None
    ) -> bool: ...
    def streams(self) -> list[_StreamRow]: ...
    def revision(self) -> tuple[int, int, int]: ...
    def checkpoints(self, stream: str, source: str) -> list[tuple[str, str, str | None]]: ...
    def save_checkpoints(
        self,
        stream: str,
        source: str,
        checkpoints: Sequence[tuple[str, str, str | None]],
        forgotten: Sequence[str] = ...,
    ) -> None: ...
    def clear_checkpoints(self, stream: str, source: str | None = None) -> int: ...
    def write_changes(
        self,
        stream: str,
        source: str,
        changes: Sequence[tuple[str, str, Zone, Zone]],
        checkpoints: Sequence[tuple[str, str, str | None]] = ...,
        forgotten: Sequence[str] = ...,
        *,
        records: bool = True,
        events: Sequence[tuple[str, str, str, str, str]] = ...,
    ) -> _Written: ...
    def write_events(
        self,
        stream: str,
        source: str,
        events: Sequence[tuple[str, str, str, str, str]],
        checkpoints: Sequence[tuple[str, str, str | None]] = ...,
        forgotten: Sequence[str] = ...,
    ) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> StreamStore: ...
    def __exit__(self, *_exc: object) -> bool: ...

class _Transferred(TypedDict):
    kind: Literal["axfr", "ixfr", "current"]
    serial: int
    zone: Zone
    added: Zone
    removed: Zone

def soa_serial(primary: str, zone: str, *, timeout: float = 5.0) -> int: ...
def transfer_zone(
    primary: str, zone: str, *, known: Zone | None = None, timeout: float = 30.0
) -> _Transferred: ...

@final
class Domains:
    """The ``domains`` job table of a store: what to resolve, and how each resolution went."""

    def __new__(cls, url: str = "sqlite://dnsmill.db") -> Domains: ...
    def add(self, names: os.PathLike[str] | Iterable[str]) -> dict[str, Any]: ...
    def due(
        self,
        after: int = 0,
        limit: int = 1000,
        *,
        max_age: float = 86400.0,
        max_attempts: int = 3,
        requeue_after: float | None = None,
    ) -> list[tuple[int, str]]: ...
    def count_due(
        self, *, max_age: float = 86400.0, max_attempts: int = 3, requeue_after: float | None = None
    ) -> int: ...
    def due_page(
        self,
        after: int = 0,
        limit: int = 20000,
        *,
        batch_size: int = 2000,
        bare: bool = False,
        max_age: float = 86400.0,
        max_attempts: int = 3,
        requeue_after: float | None = None,
    ) -> DuePage: ...
    def mark_queued(
        self,
        domains: DuePage | Sequence[int],
        *,
        max_age: float = 86400.0,
        max_attempts: int = 3,
        requeue_after: float | None = None,
    ) -> int: ...
    def reset_queued(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Domains: ...
    def __exit__(self, *_exc: object) -> bool: ...

@final
class DuePage:
    """A page of due domains as queue message bodies."""

    @property
    def bodies(self) -> list[bytes]: ...
    @property
    def domains(self) -> int: ...
    @property
    def last_id(self) -> int: ...
    def __len__(self) -> int: ...

@final
class Batch:
    """A work-queue message, read in Rust: a batch of domains, one bare domain, or a stop
    request."""

    @staticmethod
    def decode(body: bytes) -> Batch: ...
    @staticmethod
    def encode(names: Sequence[str]) -> bytes: ...
    @staticmethod
    def encode_stop() -> bytes: ...
    @staticmethod
    def join(batches: Sequence[Batch]) -> Batch: ...
    @property
    def bare(self) -> bool: ...
    @property
    def stop(self) -> bool: ...
    @property
    def names(self) -> list[str]: ...
    def __len__(self) -> int: ...

class _BatchReport(TypedDict):
    """What ``BatchJob.process`` did with one batch."""

    domains: int
    invalid: list[tuple[str, str]]
    records: int
    dead_lettered: int
    outcomes: dict[str, int]
    resolve_seconds: float
    store_seconds: float
    retried: int

@final
class BatchJob:
    """Resolves batches and stores each (answers and domain outcomes) in one transaction."""

    def __new__(
        cls,
        resolver: Resolver,
        db: str = "sqlite://dnsmill.db",
        *,
        types: _Types | None = None,
        table: str = "dns_records",
        source: str = "worker",
    ) -> BatchJob: ...
    def process(self, batch: Batch) -> _BatchReport: ...
    def process_async(self, batch: Batch) -> Coroutine[Any, Any, _BatchReport]: ...
    def close(self) -> None: ...
    def __enter__(self) -> BatchJob: ...
    def __exit__(self, *_exc: object) -> bool: ...

@final
class Server:
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def running(self) -> bool: ...
    @property
    def stats(self) -> dict[str, Any]: ...
    def reload(self) -> dict[str, Any]: ...
    def reload_if_changed(self) -> bool: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Server: ...
    def __exit__(self, *_exc: object) -> bool: ...

def serve(
    db: str | None = None,
    *,
    zones: str | os.PathLike[str] | None = None,
    listen: str = "127.0.0.1:5353",
    table: str = "dns_records",
    poll: float | None = 10.0,
) -> Server: ...

@final
class Ingest:
    """The event writer: JetStream streams drained into tables."""

    def __new__(
        cls,
        nats: str,
        db: str,
        streams: Sequence[dict[str, Any]],
        routes: Sequence[dict[str, Any]],
        processors: dict[
            str, tuple[Callable[[list[tuple[str, bytes, str | None, str, int]]], list[Any]], str]
        ]
        | None = None,
        connections_per_route: int = 2,
    ) -> Ingest: ...
    def run(self) -> None: ...
    def run_async(self) -> Coroutine[Any, Any, None]: ...
    def stop(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
