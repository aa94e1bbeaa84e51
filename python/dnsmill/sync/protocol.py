"""What DirectAdmin's multi-server DNS sends, read into commands, and the replies it expects.

DirectAdmin speaks HTTP/1.0 with Basic auth and sends no User-Agent and no Content-Type.
``exists`` comes before every ``rawsave``; a ``delete`` carries its domains in the body as
``select0..N``; a POST with no action is a connectivity check. Replies are url-encoded
(``error=0&text=...``). This module only reads requests and writes replies: no I/O, so every
case is a plain function call in the tests, and the HTTP server stays thin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from dnsmill.sync.names import BadZoneName, zone_name

LOGIN_TEST = "/CMD_API_LOGIN_TEST"
DNS_ADMIN = "/CMD_API_DNS_ADMIN"
#: Form fields read from one request at most: parsing stops there, whatever the body holds.
MAX_FIELDS = 1000
#: Domains one delete may list.
MAX_DELETE = 500
_SELECT = re.compile(r"select(\d{1,4})")


class BadRequest(ValueError):
    """A request refused, with the HTTP status and the text of its ``error=1`` reply."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class LoginTest:
    """``CMD_API_LOGIN_TEST``: the credentials work."""


@dataclass(frozen=True)
class Ping:
    """A POST to ``CMD_API_DNS_ADMIN`` without an action: a connectivity check."""


@dataclass(frozen=True)
class Exists:
    domain: str
    #: Also look for a zone held here above it (``check_for_parent_domain=true``).
    check_parent: bool


@dataclass(frozen=True)
class RawSave:
    domain: str
    hostname: str
    username: str
    #: The zone file as sent (checked, parsed and written canonically later).
    zone: str
    reload: bool


@dataclass(frozen=True)
class Delete:
    domains: tuple[str, ...]
    hostname: str
    username: str


Command = LoginTest | Ping | Exists | RawSave | Delete


def reply(**fields: str | int) -> bytes:
    """A url-encoded reply body, fields in the order given."""
    return urlencode([(key, str(value)) for key, value in fields.items()]).encode()


def refused(error: BadRequest) -> bytes:
    return reply(error=1, text=error.text)


def _form(raw: bytes, what: str) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(400, f"the {what} is not a url-encoded form ({error})") from None


_FORM_START = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*=[^\s&]*(?:&|$)")


def _looks_like_a_form(body: bytes) -> bool:
    """A body without a Content-Type that is DirectAdmin's form (its delete), not a zone: it
    starts ``key=value&`` on a first line without spaces (no zone file does)."""
    head = body[:1024]
    return b"\n" not in head.rstrip(b"\r\n") and _FORM_START.match(head) is not None


def parse(
    method: str,
    path: str,
    query: str,
    body: bytes,
    content_type: str | None,
    allowed_suffixes: Iterable[str] = (),
) -> Command:
    """The command a request carries. Raises :class:`BadRequest` (400 for what it cannot
    read, 404 for an unknown path, 405 for a wrong method)."""
    method = method.upper()
    if path == LOGIN_TEST:
        if method not in ("GET", "POST"):
            raise BadRequest(405, f"{method} is not allowed here")
        return LoginTest()
    if path != DNS_ADMIN:
        raise BadRequest(404, f"no such command: {path[:100]!r}")
    if method not in ("GET", "POST"):
        raise BadRequest(405, f"{method} is not allowed here")
    fields = _form(query.encode(), "query")
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    zone_text: str | None = None
    if method == "POST" and body:
        if kind == "application/x-www-form-urlencoded" or (not kind and _looks_like_a_form(body)):
            fields += _form(body, "body")
        elif kind in ("", "text/plain"):
            try:
                zone_text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(400, "the zone is not UTF-8 text") from None
        else:
            raise BadRequest(400, f"unsupported Content-Type {kind!r}")
    values: dict[str, str] = {}
    for key, value in fields:
        values.setdefault(key, value)  # the first one wins, as in DirectAdmin
    action = values.get("action", "")
    if not action:
        if method == "POST":
            return Ping()
        raise BadRequest(400, "no action")
    if action == "exists":
        return Exists(_domain(values, allowed_suffixes), values.get("check_for_parent_domain") == "true")
    if action == "rawsave":
        if method != "POST":
            raise BadRequest(405, "rawsave needs a POST")
        zone = values.get("zone") if zone_text is None else zone_text
        if not zone:
            raise BadRequest(400, "rawsave without a zone")
        return RawSave(
            _domain(values, allowed_suffixes),
            _sender(values, "hostname"),
            _sender(values, "username"),
            zone,
            values.get("named_reload") == "yes",
        )
    if action == "delete":
        if method != "POST":
            raise BadRequest(405, "delete needs a POST")
        selected = sorted(
            ((int(match.group(1)), value) for key, value in fields if (match := _SELECT.fullmatch(key))),
        )
        names = [value for _, value in selected] + [value for key, value in fields if key == "domain"]
        if not names:
            raise BadRequest(400, "delete without a domain (select0=... or domain=...)")
        if len(names) > MAX_DELETE:
            raise BadRequest(400, f"delete of more than {MAX_DELETE} domains at once")
        domains = tuple(dict.fromkeys(_checked(name, allowed_suffixes) for name in names))
        return Delete(domains, _sender(values, "hostname"), _sender(values, "username", required=False))
    raise BadRequest(400, f"unknown action {action[:40]!r}")


def _checked(name: str, allowed_suffixes: Iterable[str]) -> str:
    try:
        return zone_name(name, allowed_suffixes)
    except BadZoneName as error:
        raise BadRequest(400, str(error)) from None


def _domain(values: dict[str, str], allowed_suffixes: Iterable[str]) -> str:
    if "domain" not in values:
        raise BadRequest(400, "no domain")
    return _checked(values["domain"], allowed_suffixes)


def _sender(values: dict[str, str], field: str, *, required: bool = True) -> str:
    value = values.get(field, "")
    if not value and required:
        raise BadRequest(400, f"no {field}")
    if len(value) > 253 or not value.isprintable():
        raise BadRequest(400, f"{field} is not a printable name of at most 253 characters")
    return value
