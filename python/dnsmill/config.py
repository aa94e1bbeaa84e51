"""Settings of dnsmill's services: defaults, a YAML file, ``DNSMILL_`` environment variables and
command-line flags, each overriding the one before.

    db: postgresql://dnsmill@db/dnsmill      # dnsmill.yaml (--config FILE or DNSMILL_CONFIG)
    seed:
      count: 5000
      every: 30m
      types: [A, AAAA, MX, TXT]

    DNSMILL_DB=sqlite://dnsmill.db  DNSMILL_SEED__COUNT=100  dnsmill seed

Sections hold the settings of one service (``seed``, ``publish``, ``work``, ``serve``);
nested environment variables use ``__`` (``DNSMILL_WORK__CONCURRENCY``). Durations take a
number of seconds or units: ``90s``, ``30m``, ``1h30m``, ``1d``. :func:`redacted` hides the
password in a URL; ``dnsmill config show`` prints the settings that way.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from dnsmill._core import ConfigError
from dnsmill.ingest.subjects import check_name, check_pattern, matches, overlap

RECORD_TYPES = ("A", "AAAA", "MX", "CNAME", "TXT", "NS", "SRV", "CAA")
RESOLVE_TYPES = ("A", "AAAA", "MX", "NS", "SOA", "CNAME", "TXT")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> timedelta:
    """``90``, ``"90s"``, ``"30m"``, ``"1h30m"``, ``"1d"`` or a timedelta, as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    text = str(value).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 1h30m, 1d)")
    return timedelta(seconds=sum(float(number) * _UNITS[unit] for number, unit in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

#: Words that turn an optional duration off, where YAML's null cannot be written (a variable).
_NEVER = {"never", "off", "none", "null"}


def _optional_duration(value: object) -> timedelta | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NEVER):
        return None
    return parse_duration(value)


#: A duration, or None (``null`` in YAML; ``never``, ``off``, ``none`` or ``null`` as text).
OptionalDuration = Annotated[timedelta | None, BeforeValidator(_optional_duration)]


def _names(value: object) -> object:
    """A comma-separated string (from a flag or a variable) as a list; a JSON list too."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError as error:
                raise ValueError(f"not a JSON list: {error}") from None
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# NoDecode: a variable such as DNSMILL_WORK__TYPES=A,AAAA reaches the validator as written,
# not as JSON it is not.
Names = Annotated[list[str], BeforeValidator(_names), NoDecode]


def nameservers(value: object) -> list[str]:
    """Nameservers as ``IP`` or ``IP:PORT`` entries, from a comma-separated string or a list whose
    entries may also be host names (``ns1.example.net:5353``: its IPv4 addresses, else its IPv6
    ones) or files of entries, one per line (``#`` comments, and resolv.conf's ``nameserver``
    lines, so ``/etc/resolv.conf`` itself works). A host that cannot be looked up, or a file
    without any nameserver, is a ValueError naming it."""
    if value is None:
        return []
    entries = _names(value)
    if not isinstance(entries, list):
        raise ValueError(f"nameservers must be a list or a comma-separated string, not {value!r}")
    found: list[str] = []
    for entry in entries:
        entry = str(entry).strip()
        if Path(entry).is_file():
            from_file = _nameserver_file(Path(entry))
            if not from_file:
                raise ValueError(f"nameserver file {entry}: no nameserver in it")
            found += [address for line in from_file for address in _nameserver_addresses(line)]
        else:
            found += _nameserver_addresses(entry)
    return list(dict.fromkeys(found))


def _nameserver_file(path: Path) -> list[str]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) == 2 and words[0] == "nameserver":
            entries.append(words[1])
        elif len(words) == 1:
            entries.append(words[0])
    return entries


def _nameserver_addresses(entry: str) -> list[str]:
    """``entry`` as it is when it is an address (the resolver checks it), else its host
    looked up."""
    host, colon, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if not host or host.startswith("[") or _is_ip(host):
        return [entry]
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
        raise ValueError(f"nameserver {entry!r}: cannot look up {host!r} ({reason})") from None
    ipv4 = [info[4][0] for info in found if info[0] == socket.AF_INET]
    ipv6 = [f"[{info[4][0]}]" for info in found if info[0] == socket.AF_INET6]
    addresses = list(dict.fromkeys(ipv4 or ipv6))
    return [f"{address}:{port}" if colon else address for address in addresses]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SeedSettings(Section):
    """``dnsmill seed``: what to generate and how often."""

    #: Domains per run.
    count: int = Field(1000, ge=1)
    #: Domains per batch handed to the writer.
    batch_size: int = Field(500, ge=1)
    #: Run again this long after a run starts (None: once).
    every: OptionalDuration = None
    #: Each wait is stretched or shrunk by up to this fraction, so seeders do not march in step.
    jitter: float = Field(0.1, ge=0, le=1)
    #: Top-level domains of generated names.
    tlds: Names = Field(default_factory=lambda: ["com", "net", "org", "io", "dev"])
    #: Seed exactly these domains instead of generated names.
    domains: Names = Field(default_factory=list)
    #: Record types besides each zone's SOA and NS.
    types: Names = Field(default_factory=lambda: list(RECORD_TYPES))
    ttl_min: int = Field(300, ge=0, le=2**31 - 1)
    ttl_max: int = Field(86400, ge=0, le=2**31 - 1)
    #: Random seed: the same seed generates the same records (None: different every run).
    seed: int | None = None
    #: Also write one zone file per domain here.
    zones_dir: Path | None = None

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        upper = [t.upper() for t in types]
        unknown = sorted(set(upper) - set(RECORD_TYPES) - {"SOA"})
        if unknown:
            raise ValueError(f"cannot seed {', '.join(unknown)}; choose from {', '.join(RECORD_TYPES)}")
        return [t for t in upper if t != "SOA"]

    @model_validator(mode="after")
    def _ttl_range(self) -> SeedSettings:
        if self.ttl_min > self.ttl_max:
            raise ValueError(f"ttl_min ({self.ttl_min}) is above ttl_max ({self.ttl_max})")
        return self


class PublishSettings(Section):
    """``dnsmill publish``: which domains are due, and how they are batched."""

    #: Domains per message.
    batch_size: int = Field(100, ge=1)
    #: "batch": dnsmill's batch messages; "bare": one domain per message, the whole body, for
    #: the workers users run today (stop messages are then ``__STOP__``).
    message_format: Literal["batch", "bare"] = "batch"
    #: Resolve a domain again once its last resolution is older than this.
    max_age: Duration = timedelta(days=1)
    #: A domain that failed this many times is no longer published.
    max_attempts: int = Field(3, ge=1)
    #: A domain queued longer ago than this is published again: its message was lost (a broker
    #: lost it, or it was dead-lettered). Longer than a full queue takes to drain (None: never).
    requeue_after: OptionalDuration = timedelta(hours=6)


class WorkSettings(Section):
    """``dnsmill work``: how batches are resolved."""

    #: Nameservers to ask (IP, IP:PORT, host names or files of them); empty means /etc/resolv.conf.
    ns: Annotated[list[str], BeforeValidator(nameservers), NoDecode] = Field(default_factory=list)
    types: Names = Field(default_factory=lambda: list(RESOLVE_TYPES))
    concurrency: int = Field(1000, ge=1)
    timeout: Duration = timedelta(seconds=2)
    retries: int = Field(2, ge=0)
    #: Batches a worker holds at once: some resolve while others are stored (those waiting for
    #: the store together share a commit).
    prefetch: int = Field(4, ge=1)
    #: Domains per batch made of bare-domain messages (one domain per message, as the
    #: publishers users run today send them): gathered until this many, or for GATHER_SECONDS.
    gather: int = Field(1000, ge=1, le=16_000)
    worker_id: str | None = None


class ServeSettings(Section):
    """``dnsmill serve``: where to listen and how to notice new records."""

    listen: str = "127.0.0.1:5353"
    #: Look for new records this often (None or 0: only on the seeder's event, in the same process).
    poll: OptionalDuration = timedelta(seconds=10)


class BindBackendSettings(Section):
    """The BIND backend of ``dnsmill sync``: zone files and the include file named.conf reads."""

    zones_dir: Path
    include_file: Path
    #: The named.conf checked with named-checkconf after the include file changed (None: the
    #: include file alone).
    named_conf: Path | None = None
    reconfig_command: list[str] = Field(default_factory=lambda: ["rndc", "reconfig"])
    reload_command: list[str] = Field(default_factory=lambda: ["rndc", "reload"])


class CoreDnsMysqlBackendSettings(Section):
    """The CoreDNS-MySQL backend of ``dnsmill sync``: the tables a CoreDNS MySQL plugin reads."""

    #: mysql://user:password@host:3306/database
    url: str
    #: extend: the mysql_extend plugin's zones and records tables; cloud66: cloud66's
    #: coredns_records table.
    layout: Literal["extend", "cloud66"] = "extend"
    #: The tables' names, where the plugin is configured with others (extend: zones and
    #: records; cloud66: coredns_records).
    zones_table: str = "zones"
    records_table: str | None = None
    connections: int = Field(4, ge=1, le=64)


class PowerDnsBackendSettings(Section):
    """The PowerDNS backend of ``dnsmill sync``: the generic SQL schema (gmysql, gpgsql)."""

    #: mysql://... or postgresql://...
    url: str
    #: domains.type of a zone it creates: NATIVE, MASTER or PRIMARY.
    domain_type: Literal["NATIVE", "MASTER", "PRIMARY"] = "NATIVE"
    connections: int = Field(4, ge=1, le=64)


class SyncSettings(Section):
    """``dnsmill sync``: the endpoint DirectAdmin pushes zones to, and where they go."""

    listen: str = "127.0.0.1:2222"
    #: The credentials DirectAdmin is configured with; there are none by default, and the
    #: service does not start without them.
    user: str = ""
    password: str = ""
    #: This server's name, in replies to DirectAdmin's `exists`.
    hostname: str = "dnsmill"
    #: Networks DirectAdmin may connect from (empty: any).
    allowed_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trust_proxy: bool = False
    #: Serve HTTPS with this certificate (PEM, the chain after it) and key; both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body: int = Field(4 * 1024 * 1024, ge=1024)
    allowed_suffixes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Let another DirectAdmin server or user push or delete a zone (for migrations).
    takeover: bool = False
    legacy_parent_reply: bool = False
    #: The durable queue of pushes.
    pushes: Path = Path("dnsmill-sync.db")
    bind: BindBackendSettings | None = None
    coredns_mysql: CoreDnsMysqlBackendSettings | None = None
    powerdns: PowerDnsBackendSettings | None = None
    #: How long a backend may take over a batch before it counts as failed for that batch.
    backend_timeout: Duration = timedelta(minutes=5)
    #: How often every backend is compared with every zone and repaired (None: never).
    reconcile_every: OptionalDuration = timedelta(hours=1)
    #: Report drift and change nothing.
    reconcile_dry_run: bool = False
    #: Rows and zones one reconcile run may remove; past it, it reports and leaves them.
    reconcile_max_deletions: int = Field(1000, ge=0)

    @field_validator("reconcile_every")
    @classmethod
    def _reconcile_sometimes(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() <= 0:
            raise ValueError("must be more than 0 (never, or null in YAML, turns the reconciler off)")
        return value

    @field_validator("allowed_sources", "allowed_suffixes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )


class IngestStreamSettings(Section):
    """A JetStream stream ``dnsmill ingest`` drains, through one durable pull consumer that
    every writer process shares."""

    #: The stream's name.
    name: Annotated[str, AfterValidator(lambda name: check_name(name, "stream"))]
    #: The subjects it holds (``*`` one token, ``>`` the rest).
    subjects: Annotated[
        list[Annotated[str, AfterValidator(check_pattern)]], BeforeValidator(_names), NoDecode
    ] = Field(min_length=1)
    #: The durable consumer's name.
    durable: Annotated[str, AfterValidator(lambda name: check_name(name, "durable"))] = "dnsmill-ingest"
    #: Where messages that cannot be written go (None: ``<name>.DLQ``); outside the stream's
    #: own subjects, or a dead letter would come back as a message.
    dead_letter_subject: (
        Annotated[str, AfterValidator(lambda subject: check_pattern(subject, wildcards=False))] | None
    ) = None
    #: Deliveries of a message before it is dead-lettered.
    max_deliver: int = Field(5, ge=1)
    #: How long a delivery may stay unacknowledged before it is delivered again.
    ack_wait: Duration = timedelta(seconds=60)

    @model_validator(mode="after")
    def _dead_letters_outside(self) -> IngestStreamSettings:
        subject = self.dead_letter_subject or f"{self.name}.DLQ"
        caught = [pattern for pattern in self.subjects if matches(pattern, subject)]
        if caught:
            raise ValueError(
                f"stream {self.name}: dead letters go to {subject}, which its own subject {caught[0]} takes "
                "back in; set dead_letter_subject outside it"
            )
        return self


class IngestRouteSettings(Section):
    """Which processor writes the messages of some subjects, into which table, in what batches."""

    subject: Annotated[str, AfterValidator(check_pattern)]
    #: The processor's name (records, results, events, or one registered).
    processor: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    #: The table (None: the processor's own default).
    table: str | None = None
    #: A batch is written when it holds this many messages, or ``batch_timeout`` after its
    #: first, whichever comes first.
    batch_size: int = Field(5000, ge=1, le=100_000)
    batch_timeout: Duration = timedelta(milliseconds=200)


class IngestSettings(Section):
    """``dnsmill ingest``: NATS JetStream streams drained into tables."""

    nats: str = "nats://127.0.0.1:4222"
    #: The database written to (None: the top-level ``db``).
    db: str | None = None
    #: Modules imported at start, for the processors they register (``@dnsmill.ingest.processor``).
    processor_modules: Annotated[list[str], BeforeValidator(_names), NoDecode] = Field(default_factory=list)
    #: Batches of one route written side by side, each on a connection of its own.
    connections_per_route: int = Field(2, ge=1, le=32)
    streams: list[IngestStreamSettings] = Field(default_factory=list)
    #: Tried in order: a message goes to the first route whose subject matches its own.
    routes: list[IngestRouteSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _routes_reach_streams(self) -> IngestSettings:
        names = [stream.name for stream in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"streams need names of their own: {names}")
        for route in self.routes:
            if not any(
                overlap(route.subject, pattern) for stream in self.streams for pattern in stream.subjects
            ):
                raise ValueError(
                    f"route {route.subject} ({route.processor}): no stream holds any of its subjects "
                    f"(streams: {', '.join(names) or 'none'})"
                )
        return self


class CoordinatorSettings(Section):
    """``dnsmill coordinate`` and ``dnsmill streams``: the coordinator's API, status page and
    restart limits."""

    #: HOST:PORT of the JSON API and the status page (None: neither).
    listen: str | None = "127.0.0.1:8053"
    #: A token the API's changing requests (POST) must send as ``Authorization: Bearer ...``
    #: (empty: none asked, for an API on loopback only).
    api_token: str = ""
    #: The store of the streams and their events (None: the top-level ``db``).
    db: str | None = None
    #: The table the sources' events go into.
    events_table: str = "dns_events"
    #: A stream fails when its sources restart more than ``max_restarts`` times within
    #: ``max_seconds``.
    max_restarts: int = Field(10, ge=0)
    max_seconds: Duration = timedelta(seconds=60)
    #: The first wait before a restart; it doubles with each death in a row, up to ``max_backoff``.
    backoff: Duration = timedelta(milliseconds=500)
    max_backoff: Duration = timedelta(seconds=5)
    #: How often the store is checked for changes made by other processes (the CLI).
    refresh: Duration = timedelta(seconds=1)


class Settings(BaseSettings):
    """All of dnsmill's settings."""

    model_config = SettingsConfigDict(
        env_prefix="DNSMILL_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    #: The store: sqlite://relative.db or sqlite:///abs/path.db, postgresql://..., mysql://...
    db: str = "sqlite://dnsmill.db"
    #: The queue between publisher and workers: sqlite://relative.db, sqlite:///abs/path.db, or
    #: RabbitMQ at amqp://user:pass@host:5672/vhost (amqps:// for TLS).
    queue: str = "sqlite://dnsmill-queue.db"
    #: The queue's name at that URL (on RabbitMQ, the queue the publishers and workers of
    #: other tools use is dns_records too).
    queue_name: str = Field("dns_records", min_length=1, max_length=200)
    #: Serve Prometheus metrics on this port (None: not at all).
    metrics_port: int | None = Field(None, ge=1, le=65535)
    seed: SeedSettings = Field(default_factory=SeedSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    work: WorkSettings = Field(default_factory=WorkSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    coordinator: CoordinatorSettings = Field(default_factory=CoordinatorSettings)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """The settings from defaults, then ``config_file`` (or ``$DNSMILL_CONFIG``), then the
    environment, then ``overrides`` (a flag left as None does not override).

    Raises :class:`dnsmill.ConfigError` naming the file and the field that is wrong.
    """
    path = config_file or os.environ.get("DNSMILL_CONFIG")
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"{path}: no such configuration file")

    class FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
            if path is not None:
                sources += (YamlConfigSettingsSource(settings_cls, yaml_file=path),)
            return sources

    try:
        loaded = FromFile(**_without_none(overrides))
    except yaml.MarkedYAMLError as error:
        # PyYAML's text spans lines and names the file again; one line, with the place first.
        mark = error.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else f"{path}"
        problem = ": ".join(part for part in (error.context, error.problem) if part)
        raise ConfigError(f"{where}: {problem or 'not valid YAML'}") from error
    except Exception as error:  # pydantic's ValidationError, or a YAML error without a place
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{_describe(error)}") from error
    return loaded


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _without_none(value)
            if not value:
                continue
        if value is not None:
            kept[key] = value
    return kept


def _describe(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: {e['msg']}" for e in errors()
        )
    return str(error)


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def duration_text(span: timedelta) -> str:
    """``span`` as :func:`parse_duration` reads it back: ``1d``, ``1h30m``, ``90s``, ``0.5s``."""
    rest = span.total_seconds()
    if rest == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m"):
        whole, rest = divmod(rest, _UNITS[unit])
        if whole:
            parts.append(f"{int(whole)}{unit}")
    if rest:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def shown(settings: Settings) -> dict[str, Any]:
    """The settings as plain data for display (a YAML or JSON file :func:`load_settings` reads
    back), with URL passwords hidden."""
    data = settings.model_dump(mode="python")

    def plain(value: Any) -> Any:
        if isinstance(value, timedelta):
            return duration_text(value)
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

    shown_data: dict[str, Any] = plain(data)
    for key in ("db", "queue"):
        shown_data[key] = redacted(shown_data[key])
    if shown_data["sync"]["password"]:
        shown_data["sync"]["password"] = "***"
    shown_data["ingest"]["nats"] = redacted(shown_data["ingest"]["nats"])
    if shown_data["coordinator"]["api_token"]:
        shown_data["coordinator"]["api_token"] = "***"
    if shown_data["coordinator"]["db"] is not None:
        shown_data["coordinator"]["db"] = redacted(shown_data["coordinator"]["db"])
    if shown_data["ingest"]["db"] is not None:
        shown_data["ingest"]["db"] = redacted(shown_data["ingest"]["db"])
    for backend in ("coredns_mysql", "powerdns"):
        if shown_data["sync"][backend] is not None:
            shown_data["sync"][backend]["url"] = redacted(shown_data["sync"][backend]["url"])
    return shown_data
