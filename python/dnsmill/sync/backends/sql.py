"""Zones as rows of SQL tables: CoreDNS-MySQL (both layouts in use) and PowerDNS generic SQL.

Each layout knows its tables and how a record becomes a row:

- ``coredns-mysql-extend`` (the ``mysql_extend`` CoreDNS plugin): ``zones(id, zone_name)`` with
  the trailing dot, ``records(id, zone_id, hostname, type, data, ttl, online)``; hostname
  relative (``@`` for the apex), data the rdata as zone text with absolute names; the plugin
  serves rows whose ``online`` is not 0.
- ``coredns-mysql`` (cloud66's ``mysql`` CoreDNS plugin): ``coredns_records(id, zone, name,
  ttl, content, record_type)``, zone with the trailing dot, name relative (``""`` for the
  apex), content JSON (A/AAAA ``ip``, TXT ``text``, CNAME/NS ``host``, MX ``host`` and
  ``preference``, SRV ``priority, weight, port, target``, SOA ``ns, MBox, refresh, retry,
  expire, minttl``, CAA ``flag, tag, value``). The plugin serves only those nine types; a
  zone's other records are left out of this layout (and logged once per zone).
- ``powerdns`` (gmysql and gpgsql): ``domains(id, name, type, ...)``, ``records(id,
  domain_id, name, type, content, ttl, prio, disabled, ordername, auth)``, names lowercase
  without the trailing dot, in content too; the priority of MX and SRV is in content, as
  PowerDNS 4 reads it.

A zone is written in one transaction that changes only what differs: the stored rows are
read (locked), rows the zone does not have are deleted, rows it lacks are inserted, so a
name server reading the tables never sees the zone half-written or empty. After the commit
the rows are read again and compared with the zone, row for row; a difference (a trigger,
a column too short, another writer) is repaired once and checked again, and is an error if
it is still there. The tables are created when missing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from dnsmill.sync.backends import BackendError, Drift, ZoneChange, ZoneContent, ZoneDeletion, drift_between

log = logging.getLogger("dnsmill.sync")

T = TypeVar("T")

#: A row as a layout compares it (the columns it writes, ids left out).
Row = tuple[Any, ...]

#: Attempts of a zone's transaction when the database chose it as a deadlock victim.
DEADLOCK_ATTEMPTS = 4

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} must be a plain SQL name (letters, digits, _), not {name!r}")
    return name


# --- the database ------------------------------------------------------------------------


class Transaction(Protocol):
    dialect: str

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Database:
    """A pool of connections to ``url`` (``mysql://`` over aiomysql, ``postgresql://`` over
    asyncpg), opened on first use so that a database down when the service starts only
    delays its zones. SQL is written with ``%s`` placeholders for both."""

    def __init__(self, url: str, *, connections: int = 4, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("mysql", "mariadb"):
            self.dialect = "mysql"
        elif parts.scheme in ("postgresql", "postgres"):
            self.dialect = "postgresql"
        else:
            raise ValueError(f"a SQL backend URL is mysql://... or postgresql://..., not {parts.scheme}://")
        if not parts.path.strip("/"):
            raise ValueError(f"{_without_password(url)}: the URL names no database")
        self.url = url
        self.connections = connections
        self.timeout = timeout
        self._pool: Any = None
        self._opening = asyncio.Lock()

    def __str__(self) -> str:
        return _without_password(self.url)

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                parts = urlsplit(self.url)
                options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                if self.dialect == "mysql":
                    import aiomysql

                    self._pool = await aiomysql.create_pool(
                        host=parts.hostname or "127.0.0.1",
                        port=parts.port or 3306,
                        user=unquote(parts.username or "root"),
                        password=unquote(parts.password or ""),
                        db=unquote(parts.path.strip("/")),
                        unix_socket=options.get("socket"),
                        charset="utf8mb4",
                        autocommit=False,
                        minsize=0,
                        maxsize=self.connections,
                        connect_timeout=self.timeout,
                        pool_recycle=300,
                        ssl=_mysql_tls(options),
                        # Locks on the rows read, not on the gaps between them: writers of
                        # different zones never deadlock on each other's new rows.
                        init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                    )
                else:
                    import asyncpg

                    # (the URL as given: sslmode and the other libpq options apply)
                    self._pool = await asyncpg.create_pool(
                        self.url,
                        min_size=0,
                        max_size=self.connections,
                        timeout=self.timeout,
                        command_timeout=self.timeout * 3,
                    )
            return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction, committed when the block ends without an error."""
        try:
            pool = await self._open()
        except Exception as error:
            raise BackendError(f"{self}: cannot connect: {error}") from error
        if self.dialect == "mysql":
            try:
                connection = await asyncio.wait_for(pool.acquire(), self.timeout)
            except asyncio.TimeoutError:
                raise BackendError(f"{self}: no connection free within {self.timeout:g} s") from None
            try:
                await connection.begin()
                async with connection.cursor() as cursor:
                    yield _MysqlTransaction(cursor)
                await connection.commit()
            except BaseException:
                # A connection that failed mid-transaction is not trusted again.
                connection.close()
                raise
            finally:
                pool.release(connection)
        else:
            async with pool.acquire(timeout=self.timeout) as connection, connection.transaction():
                yield _PostgresTransaction(connection)

    async def close(self) -> None:
        if self._pool is None:
            return
        if self.dialect == "mysql":
            self._pool.close()
            await self._pool.wait_closed()
        else:
            await self._pool.close()
        self._pool = None


class _MysqlTransaction:
    dialect = "mysql"

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.cursor.execute(sql, tuple(args) or None)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.cursor.executemany(sql, [tuple(row) for row in rows])

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        await self.cursor.execute(sql, tuple(args) or None)
        return [tuple(row) for row in await self.cursor.fetchall()]


class _PostgresTransaction:
    dialect = "postgresql"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.connection.execute(_numbered(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.connection.executemany(_numbered(sql), rows)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.connection.fetch(_numbered(sql), *args)]


def _mysql_tls(options: dict[str, str]) -> ssl.SSLContext | None:
    """TLS to MySQL from the URL's options: ``?ssl=true`` (the system's CAs) or
    ``?ssl_ca=/path/ca.pem``; the server's certificate is always checked."""
    if options.get("ssl", "false").lower() in ("false", "0", "no") and "ssl_ca" not in options:
        return None
    return ssl.create_default_context(cafile=options.get("ssl_ca"))


def _numbered(sql: str) -> str:
    """``%s`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("%s")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], 1)) + parts[-1]


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _missing_table(error: BaseException | None) -> bool:
    code = getattr(error, "sqlstate", None) or (error.args[0] if error is not None and error.args else None)
    return code in (1146, "42P01")


def _deadlock(error: BaseException) -> bool:
    code = getattr(error, "sqlstate", None) or (error.args[0] if getattr(error, "args", None) else None)
    return code in (1213, 1205, "40P01", "40001")


# --- rdata fields --------------------------------------------------------------------------


def fields(rdata: str) -> list[str]:
    """The fields of canonical rdata, a quoted string being one field with its quotes."""
    out: list[str] = []
    index, length = 0, len(rdata)
    while index < length:
        if rdata[index] == " ":
            index += 1
            continue
        start = index
        if rdata[index] == '"':
            index += 1
            while index < length and rdata[index] != '"':
                index += 2 if rdata[index] == "\\" else 1
            index += 1
        else:
            while index < length and rdata[index] != " ":
                index += 1
        out.append(rdata[start:index])
    return out


def character_strings(rdata: str) -> list[bytes]:
    """The strings of canonical TXT-like rdata (``"a" "b\\"c"``), unescaped."""
    strings = []
    for quoted in fields(rdata):
        body, out, index = quoted.strip('"'), bytearray(), 0
        while index < len(body):
            char = body[index]
            if (
                char == "\\"
                and body[index + 1 : index + 4].isdigit()
                and len(body[index + 1 : index + 4]) == 3
            ):
                out.append(int(body[index + 1 : index + 4]))
                index += 4
            elif char == "\\" and index + 1 < len(body):
                out += body[index + 1].encode()
                index += 2
            else:
                out += char.encode()
                index += 1
        strings.append(bytes(out))
    return strings


#: The rdata fields that are domain names, by type (for PowerDNS, which stores them without
#: the trailing dot).
NAME_FIELDS: dict[str, tuple[int, ...]] = {
    "NS": (0,),
    "CNAME": (0,),
    "DNAME": (0,),
    "PTR": (0,),
    "MB": (0,),
    "MD": (0,),
    "MF": (0,),
    "MG": (0,),
    "MR": (0,),
    "NSAP-PTR": (0,),
    "SOA": (0, 1),
    "RP": (0, 1),
    "MINFO": (0, 1),
    "MX": (1,),
    "KX": (1,),
    "AFSDB": (1,),
    "RT": (1,),
    "LP": (1,),
    "PX": (1, 2),
    "SRV": (3,),
    "NAPTR": (5,),
    "SVCB": (1,),
    "HTTPS": (1,),
}


def _undotted(name: str) -> str:
    return name if name == "." else name.removesuffix(".")


def _relative(owner: str, origin: str, apex: str) -> str:
    return apex if owner == origin else owner.removesuffix(f".{origin}")


# --- layouts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    """Where a layout keeps zones: the records table, the columns a row is made of (the
    zone's column and the id left out), and the zones table if it has one."""

    records: str
    columns: tuple[str, ...]
    #: The records' column naming their zone: the zones table's id, or the zone's name.
    zone_column: str
    zones: str | None = None
    #: The zones table's name column.
    zone_name_column: str = "name"
    #: Columns every inserted record gets as they are, with their values.
    fixed: tuple[tuple[str, Any], ...] = ()


class Layout(Protocol):
    """How one schema holds zones."""

    name: ClassVar[str]
    dialects: ClassVar[tuple[str, ...]]
    tables: Tables

    def schema(self, dialect: str) -> list[str]: ...

    def zone_value(self, zone: str) -> str:
        """The zone's name as the tables hold it."""

    def new_zone(self) -> dict[str, Any]:
        """The zones table's columns of a new zone besides its name."""

    def rows(self, zone: ZoneContent) -> list[Row]: ...

    def stored(self, values: tuple[Any, ...]) -> Row:
        """A row as read (``tables.columns``) in the form :meth:`rows` makes."""

    def values(self, row: Row) -> tuple[Any, ...]:
        """A row's values for ``tables.columns``."""


def _in(items: Collection[Any]) -> str:
    return ", ".join(["%s"] * len(items))


def _for_update(lock: bool) -> str:
    return " FOR UPDATE" if lock else ""


@dataclass
class CoreDnsExtendLayout:
    """The ``mysql_extend`` CoreDNS plugin's ``zones`` and ``records`` tables."""

    zones_table: str = "zones"
    records_table: str = "records"

    name: ClassVar[str] = "coredns-mysql-extend"
    dialects: ClassVar[tuple[str, ...]] = ("mysql",)

    def __post_init__(self) -> None:
        self.tables = Tables(
            records=_identifier(self.records_table, "records_table"),
            columns=("hostname", "type", "data", "ttl", "online"),
            zone_column="zone_id",
            zones=_identifier(self.zones_table, "zones_table"),
            zone_name_column="zone_name",
        )

    def schema(self, dialect: str) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.zones_table} ("
            "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "zone_name VARCHAR(255) NOT NULL, "
            "UNIQUE KEY zone_name (zone_name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            f"CREATE TABLE IF NOT EXISTS {self.records_table} ("
            "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "zone_id INT NOT NULL, "
            "hostname VARCHAR(512) NOT NULL, "
            "type VARCHAR(10) NOT NULL, "
            "data TEXT NOT NULL, "
            "ttl INT NOT NULL DEFAULT 120, "
            "online INT NOT NULL DEFAULT 0, "
            "KEY zone_host_type (zone_id, hostname(191), type)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ]

    def zone_value(self, zone: str) -> str:
        return f"{zone}."

    def new_zone(self) -> dict[str, Any]:
        return {}

    def rows(self, zone: ZoneContent) -> list[Row]:
        return [
            (_relative(owner, zone.origin, "@"), rtype, rdata, ttl, True)
            for owner, rtype, ttl, rdata in zone.records
        ]

    def stored(self, values: tuple[Any, ...]) -> Row:
        hostname, rtype, data, ttl, online = values
        return (hostname, rtype, data, ttl, online != 0)

    def values(self, row: Row) -> tuple[Any, ...]:
        hostname, rtype, data, ttl, online = row
        return (hostname, rtype, data, ttl, int(online))


#: The types cloud66's plugin serves, and the JSON it reads for each.
CLOUD66_TYPES = ("A", "AAAA", "CNAME", "NS", "MX", "SRV", "SOA", "TXT", "CAA")


def cloud66_content(rtype: str, rdata: str) -> dict[str, Any]:
    """The JSON content cloud66's plugin reads for a record."""
    parts = fields(rdata)
    if rtype in ("A", "AAAA"):
        return {"ip": rdata}
    if rtype in ("CNAME", "NS"):
        return {"host": rdata}
    if rtype == "MX":
        return {"host": parts[1], "preference": int(parts[0])}
    if rtype == "SRV":
        return {"priority": int(parts[0]), "weight": int(parts[1]), "port": int(parts[2]), "target": parts[3]}
    if rtype == "SOA":
        # The plugin makes the serial up itself; it reads no serial.
        return {
            "ns": parts[0],
            "MBox": parts[1],
            "refresh": int(parts[3]),
            "retry": int(parts[4]),
            "expire": int(parts[5]),
            "minttl": int(parts[6]),
        }
    if rtype == "TXT":
        return {"text": b"".join(character_strings(rdata)).decode("utf-8", "replace")}
    if rtype == "CAA":
        (value,) = character_strings(parts[2]) if parts[2].startswith('"') else [parts[2].encode()]
        return {"flag": int(parts[0]), "tag": parts[1], "value": value.decode("utf-8", "replace")}
    raise ValueError(f"cloud66's plugin does not serve {rtype}")


def _canonical_json(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class CoreDnsCloud66Layout:
    """cloud66's ``mysql`` CoreDNS plugin: one ``coredns_records`` table."""

    records_table: str = "coredns_records"

    name: ClassVar[str] = "coredns-mysql"
    dialects: ClassVar[tuple[str, ...]] = ("mysql",)

    def __post_init__(self) -> None:
        self.tables = Tables(
            records=_identifier(self.records_table, "records_table"),
            columns=("name", "record_type", "content", "ttl"),
            zone_column="zone",
        )
        self._skipped_logged: set[str] = set()

    def schema(self, dialect: str) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.records_table} ("
            "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "zone VARCHAR(255) NOT NULL, "
            "name VARCHAR(255) NOT NULL, "
            "ttl INT DEFAULT NULL, "
            "content TEXT, "
            "record_type VARCHAR(255) NOT NULL, "
            "KEY zone_name (zone(191), name(191))) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ]

    def zone_value(self, zone: str) -> str:
        return f"{zone}."

    def new_zone(self) -> dict[str, Any]:
        return {}

    def rows(self, zone: ZoneContent) -> list[Row]:
        rows, skipped = [], Counter[str]()
        for owner, rtype, ttl, rdata in zone.records:
            if rtype not in CLOUD66_TYPES:
                skipped[rtype] += 1
                continue
            content = _canonical_json(cloud66_content(rtype, rdata))
            rows.append((_relative(owner, zone.origin, ""), rtype, content, ttl))
        if skipped and zone.name not in self._skipped_logged:
            self._skipped_logged.add(zone.name)
            log.info(
                "coredns-mysql: zone %s: left out %s (the plugin serves only %s)",
                zone.name,
                ", ".join(f"{count} {rtype}" for rtype, count in sorted(skipped.items())),
                ", ".join(CLOUD66_TYPES),
            )
        return rows

    def stored(self, values: tuple[Any, ...]) -> Row:
        name, rtype, content, ttl = values
        try:
            content = _canonical_json(json.loads(content))
        except (TypeError, ValueError):
            pass  # not JSON: it differs from every row the zone has, so it is extra
        return (name, rtype, content, ttl)

    def values(self, row: Row) -> tuple[Any, ...]:
        return row


def powerdns_content(rtype: str, rdata: str) -> str:
    """Canonical rdata as PowerDNS stores it: names without the trailing dot."""
    positions = NAME_FIELDS.get(rtype)
    if positions is None:
        return rdata
    parts = fields(rdata)
    for position in positions:
        if position < len(parts):
            parts[position] = _undotted(parts[position])
    return " ".join(parts)


@dataclass
class PowerDnsLayout:
    """PowerDNS's generic SQL schema (gmysql, gpgsql): ``domains`` and ``records``."""

    #: What ``domains.type`` says of a new zone (NATIVE: replicated by the database; MASTER:
    #: PowerDNS sends NOTIFYs).
    domain_type: str = "NATIVE"

    name: ClassVar[str] = "powerdns"
    dialects: ClassVar[tuple[str, ...]] = ("mysql", "postgresql")

    def __post_init__(self) -> None:
        if self.domain_type not in ("NATIVE", "MASTER", "PRIMARY"):
            raise ValueError(f"powerdns domain_type is NATIVE, MASTER or PRIMARY, not {self.domain_type!r}")
        self.tables = Tables(
            records="records",
            columns=("name", "type", "content", "ttl", "disabled"),
            zone_column="domain_id",
            zones="domains",
            # PowerDNS 4 reads the priority from content; auth marks data it serves.
            fixed=(("prio", 0), ("auth", True)),
        )

    def schema(self, dialect: str) -> list[str]:
        if dialect == "mysql":
            return [
                "CREATE TABLE IF NOT EXISTS domains ("
                "id INT AUTO_INCREMENT, name VARCHAR(255) NOT NULL, master VARCHAR(128) DEFAULT NULL, "
                "last_check INT DEFAULT NULL, type VARCHAR(8) NOT NULL, notified_serial INT UNSIGNED DEFAULT NULL, "
                "account VARCHAR(40) CHARACTER SET 'utf8' DEFAULT NULL, options VARCHAR(64000) DEFAULT NULL, "
                "catalog VARCHAR(255) DEFAULT NULL, PRIMARY KEY (id), UNIQUE KEY name_index (name)) "
                "ENGINE=InnoDB CHARACTER SET 'latin1'",
                "CREATE TABLE IF NOT EXISTS records ("
                "id BIGINT AUTO_INCREMENT, domain_id INT DEFAULT NULL, name VARCHAR(255) DEFAULT NULL, "
                "type VARCHAR(10) DEFAULT NULL, content VARCHAR(64000) DEFAULT NULL, ttl INT DEFAULT NULL, "
                "prio INT DEFAULT NULL, disabled TINYINT(1) DEFAULT 0, ordername VARCHAR(255) BINARY DEFAULT NULL, "
                "auth TINYINT(1) DEFAULT 1, PRIMARY KEY (id), KEY nametype_index (name, type), "
                "KEY domain_id (domain_id), KEY ordername (ordername)) ENGINE=InnoDB CHARACTER SET 'latin1'",
            ]
        return [
            "CREATE TABLE IF NOT EXISTS domains ("
            "id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL, master VARCHAR(128) DEFAULT NULL, "
            "last_check INT DEFAULT NULL, type TEXT NOT NULL, notified_serial BIGINT DEFAULT NULL, "
            "account VARCHAR(40) DEFAULT NULL, options TEXT DEFAULT NULL, catalog TEXT DEFAULT NULL, "
            "CONSTRAINT c_lowercase_name CHECK (((name)::TEXT = LOWER((name)::TEXT))))",
            "CREATE UNIQUE INDEX IF NOT EXISTS name_index ON domains(name)",
            "CREATE TABLE IF NOT EXISTS records ("
            "id BIGSERIAL PRIMARY KEY, domain_id INT DEFAULT NULL, name VARCHAR(255) DEFAULT NULL, "
            "type VARCHAR(10) DEFAULT NULL, content VARCHAR(65535) DEFAULT NULL, ttl INT DEFAULT NULL, "
            "prio INT DEFAULT NULL, disabled BOOL DEFAULT 'f', ordername VARCHAR(255), auth BOOL DEFAULT 't', "
            "CONSTRAINT domain_exists FOREIGN KEY(domain_id) REFERENCES domains(id) ON DELETE CASCADE, "
            "CONSTRAINT c_lowercase_name CHECK (((name)::TEXT = LOWER((name)::TEXT))))",
            "CREATE INDEX IF NOT EXISTS rec_name_index ON records(name)",
            "CREATE INDEX IF NOT EXISTS nametype_index ON records(name,type)",
            "CREATE INDEX IF NOT EXISTS domain_id ON records(domain_id)",
        ]

    def zone_value(self, zone: str) -> str:
        return zone

    def new_zone(self) -> dict[str, Any]:
        return {"type": self.domain_type}

    def rows(self, zone: ZoneContent) -> list[Row]:
        return [
            (_undotted(owner), rtype, powerdns_content(rtype, rdata), ttl, False)
            for owner, rtype, ttl, rdata in zone.records
        ]

    def stored(self, values: tuple[Any, ...]) -> Row:
        name, rtype, content, ttl, disabled = values
        return (name, rtype, content, ttl, bool(disabled))

    def values(self, row: Row) -> tuple[Any, ...]:
        return row


# --- the tables, for any layout ------------------------------------------------------------


async def zone_keys(
    tx: Transaction, layout: Layout, zones: Sequence[str], *, create: bool, lock: bool
) -> dict[str, Any]:
    """What the records of each zone refer to it by (its id, or its name), for the zones the
    tables hold, or all of them with ``create`` (new zone rows inserted)."""
    tables = layout.tables
    names = {layout.zone_value(zone): zone for zone in zones}
    if tables.zones is None:
        if create:
            return {zone: value for value, zone in names.items()}
        found = await tx.fetch(
            f"SELECT DISTINCT {tables.zone_column} FROM {tables.records} WHERE {tables.zone_column} IN ({_in(names)})",
            list(names),
        )
        return {names[value]: value for (value,) in found if value in names}
    select = f"SELECT {tables.zone_name_column}, id FROM {tables.zones} WHERE {tables.zone_name_column} IN "
    found = await tx.fetch(select + f"({_in(names)})" + _for_update(lock), list(names))
    keys = {names[value]: id_ for value, id_ in found if value in names}
    missing = [value for value, zone in names.items() if zone not in keys]
    if create and missing:
        extra = layout.new_zone()
        columns = ", ".join([tables.zone_name_column, *extra])
        insert = f"INTO {tables.zones} ({columns}) VALUES ({_in([None, *extra])})"
        insert = (
            f"INSERT IGNORE {insert}" if tx.dialect == "mysql" else f"INSERT {insert} ON CONFLICT DO NOTHING"
        )
        await tx.executemany(insert, [(value, *extra.values()) for value in missing])
        found = await tx.fetch(select + f"({_in(missing)}) FOR UPDATE", missing)
        keys.update({names[value]: id_ for value, id_ in found if value in names})
    return keys


async def read_rows(
    tx: Transaction, layout: Layout, keys: dict[str, Any], *, lock: bool
) -> dict[str, list[tuple[Any, Row]]]:
    """The stored rows of each zone in ``keys``, with their ids."""
    tables = layout.tables
    held: dict[str, list[tuple[Any, Row]]] = {zone: [] for zone in keys}
    if not keys:
        return held
    zone_of = {key: zone for zone, key in keys.items()}
    rows = await tx.fetch(
        f"SELECT id, {tables.zone_column}, {', '.join(tables.columns)} FROM {tables.records} "
        f"WHERE {tables.zone_column} IN ({_in(zone_of)})" + _for_update(lock),
        list(zone_of),
    )
    for id_, key, *values in rows:
        zone = zone_of.get(key)
        if zone is not None:  # (a zone name the collation matched in another case is not ours)
            held[zone].append((id_, layout.stored(tuple(values))))
    return held


async def insert_rows(tx: Transaction, layout: Layout, rows: Sequence[tuple[Any, Row]]) -> None:
    tables = layout.tables
    columns = [tables.zone_column, *tables.columns, *(name for name, _ in tables.fixed)]
    fixed = tuple(value for _, value in tables.fixed)
    await tx.executemany(
        f"INSERT INTO {tables.records} ({', '.join(columns)}) VALUES ({_in(columns)})",
        [(key, *layout.values(row), *fixed) for key, row in rows],
    )


async def remove_rows(tx: Transaction, layout: Layout, ids: Sequence[Any]) -> None:
    if not ids:
        return
    if tx.dialect == "postgresql":  # one array parameter: no limit on how many
        await tx.execute(f"DELETE FROM {layout.tables.records} WHERE id = ANY(%s)", (list(ids),))
        return
    await tx.execute(f"DELETE FROM {layout.tables.records} WHERE id IN ({_in(ids)})", ids)


async def drop_zones(tx: Transaction, layout: Layout, keys: dict[str, Any]) -> None:
    if not keys:
        return
    tables, values = layout.tables, list(keys.values())
    await tx.execute(f"DELETE FROM {tables.records} WHERE {tables.zone_column} IN ({_in(values)})", values)
    if tables.zones is not None:
        await tx.execute(f"DELETE FROM {tables.zones} WHERE id IN ({_in(values)})", values)


async def held_zones(tx: Transaction, layout: Layout) -> list[str]:
    tables = layout.tables
    if tables.zones is None:
        found = await tx.fetch(f"SELECT DISTINCT {tables.zone_column} FROM {tables.records}")
    else:
        found = await tx.fetch(f"SELECT {tables.zone_name_column} FROM {tables.zones}")
    return [str(value).removesuffix(".") for (value,) in found]


# --- the backend ---------------------------------------------------------------------------

#: Zones written in one transaction.
ZONES_PER_TRANSACTION = 64


class SqlBackend:
    """Zones in the tables of ``layout`` in ``database``. A batch is written
    ``ZONES_PER_TRANSACTION`` zones to a transaction, transactions side by side over the
    pool's connections; a transaction the database refuses is done again a zone at a time, so
    each zone gets its own outcome."""

    def __init__(self, database: Database, layout: Layout, *, name: str | None = None) -> None:
        if database.dialect not in layout.dialects:
            raise ValueError(
                f"the {layout.name} layout is for {' or '.join(layout.dialects)}, not {database.dialect}"
            )
        self.database = database
        self.layout = layout
        self.name = name or layout.name
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()

    async def _ensure_schema(self) -> None:
        # Once, by one task: CREATE TABLE IF NOT EXISTS side by side collides on PostgreSQL.
        async with self._schema_lock:
            if self._schema_ready:
                return
            async with self._transaction("creating the tables") as tx:
                for statement in self.layout.schema(self.database.dialect):
                    await tx.execute(statement)
            self._schema_ready = True

    @asynccontextmanager
    async def _transaction(self, doing: str) -> AsyncIterator[Transaction]:
        try:
            async with self.database.transaction() as tx:
                yield tx
        except BackendError:
            raise
        except Exception as error:
            raise BackendError(f"{self.name}: {doing}: {type(error).__name__}: {error}") from error

    async def _retrying(
        self, doing: str, work: Callable[[Transaction], Awaitable[T]], *, writes: bool = True
    ) -> T:
        """``work(tx)`` in a transaction, again when the database picked it as a deadlock
        victim. The tables are created before the first work that ``writes``: reading (a
        dry run) never changes the database."""
        if writes:
            await self._ensure_schema()
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                async with self._transaction(doing) as tx:
                    return await work(tx)
            except BackendError as error:
                if attempt == DEADLOCK_ATTEMPTS or not _deadlock(error.__cause__ or error):
                    raise
                await asyncio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    async def _write(self, expected: dict[str, list[Row]]) -> None:
        """Makes each zone's stored rows its ``expected`` rows, changing only those that
        differ, in one transaction."""

        async def work(tx: Transaction) -> None:
            keys = await zone_keys(tx, self.layout, list(expected), create=True, lock=True)
            stored = await read_rows(tx, self.layout, keys, lock=True)
            extra_ids: list[Any] = []
            missing: list[tuple[Any, Row]] = []
            for zone, rows in expected.items():
                wanted = Counter(rows)
                for id_, row in stored[zone]:
                    if wanted[row] > 0:
                        wanted[row] -= 1
                    else:
                        extra_ids.append(id_)
                missing += [(keys[zone], row) for row in wanted.elements()]
            await remove_rows(tx, self.layout, extra_ids)
            await insert_rows(tx, self.layout, missing)

        await self._retrying(f"writing {_zones_said(list(expected))}", work)

    async def _held(self, zones: Sequence[str]) -> dict[str, list[Row]]:
        """The stored rows of each of ``zones`` the tables hold."""

        async def work(tx: Transaction) -> dict[str, list[Row]]:
            keys = await zone_keys(tx, self.layout, zones, create=False, lock=False)
            held = await read_rows(tx, self.layout, keys, lock=False)
            return {zone: [row for _, row in rows] for zone, rows in held.items()}

        try:
            return await self._retrying(f"reading {_zones_said(zones)}", work, writes=False)
        except BackendError as error:
            if _missing_table(error.__cause__):
                return {}  # no tables yet: no zones
            raise

    async def apply(self, changes: Sequence[ZoneChange]) -> list[BaseException | None]:
        outcome: dict[str, BaseException | None] = {}
        saves = [change for change in changes if isinstance(change, ZoneContent)]
        deletions = [change.name for change in changes if isinstance(change, ZoneDeletion)]

        async def save_some(zones: list[ZoneContent]) -> None:
            # The zones parsed and made rows off the event loop: the endpoint answers meanwhile.
            expected = await asyncio.to_thread(lambda: {zone.name: self.layout.rows(zone) for zone in zones})
            try:
                await self._write(expected)
                held = await self._held(list(expected))
            except BackendError as error:
                if len(zones) == 1:
                    outcome[zones[0].name] = error
                    return
                # Which zone the database refused, if it was one: each alone.
                await asyncio.gather(*(save_some([zone]) for zone in zones))
                return
            for zone in zones:
                if drift_between(expected[zone.name], held.get(zone.name, [])):
                    try:
                        await self.save(zone)
                    except BackendError as error:
                        outcome[zone.name] = error

        async def delete_some(zones: list[str]) -> None:
            try:
                await self._drop(zones)
            except BackendError as error:
                outcome.update(dict.fromkeys(zones, error))

        await asyncio.gather(
            *(
                save_some(saves[at : at + ZONES_PER_TRANSACTION])
                for at in range(0, len(saves), ZONES_PER_TRANSACTION)
            ),
            *(
                delete_some(deletions[at : at + ZONES_PER_TRANSACTION])
                for at in range(0, len(deletions), ZONES_PER_TRANSACTION)
            ),
        )
        return [outcome.get(change.name) for change in changes]

    async def save(self, zone: ZoneContent) -> None:
        """Writes ``zone``, then checks the tables hold exactly it (repaired once if not)."""
        expected = self.layout.rows(zone)
        for attempt in (1, 2):
            await self._write({zone.name: expected})
            drift = drift_between(expected, (await self._held([zone.name])).get(zone.name, []))
            if not drift:
                return
            if attempt == 1:
                log.warning(
                    "%s: zone %s differs right after it was written (%s); writing it again",
                    self.name,
                    zone.name,
                    drift,
                )
        raise BackendError(f"{self.name}: zone {zone.name} does not read back as written: {drift}")

    async def _drop(self, zones: Sequence[str]) -> None:
        async def work(tx: Transaction) -> None:
            keys = await zone_keys(tx, self.layout, zones, create=False, lock=True)
            await drop_zones(tx, self.layout, keys)

        await self._retrying(f"deleting {_zones_said(zones)}", work)

    async def delete(self, zone: str) -> None:
        await self._drop([zone])

    async def drift(self, zone: ZoneContent) -> Drift:
        """How the tables' copy of ``zone`` differs from it."""
        return drift_between(self.layout.rows(zone), (await self._held([zone.name])).get(zone.name, []))

    async def holds(self, zone: str) -> bool:
        return zone in await self._held([zone])

    async def zones(self) -> list[str]:
        async def work(tx: Transaction) -> list[str]:
            return await held_zones(tx, self.layout)

        try:
            return await self._retrying("listing zones", work, writes=False)
        except BackendError as error:
            if _missing_table(error.__cause__):
                return []
            raise

    async def close(self) -> None:
        await self.database.close()


def _zones_said(zones: Sequence[str]) -> str:
    return f"zone {zones[0]}" if len(zones) == 1 else f"{len(zones)} zones ({zones[0]}, ...)"
