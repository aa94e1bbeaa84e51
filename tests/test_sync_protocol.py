"""DirectAdmin's multi-server DNS requests, as it sends them, read into commands."""

from __future__ import annotations

import time

import pytest
from dnsmill.sync.protocol import (
    DNS_ADMIN,
    LOGIN_TEST,
    BadRequest,
    Delete,
    Exists,
    LoginTest,
    Ping,
    RawSave,
    parse,
    refused,
    reply,
)

ZONE = b"$TTL 14400\nexample.com.\t14400\tIN\tSOA\tns1.example.net. hostmaster.example.com. (\n\t2026113001 3600 3600 1209600 86400 )\n"


def test_login_test_and_the_connectivity_check() -> None:
    assert parse("GET", LOGIN_TEST, "", b"", None) == LoginTest()
    assert parse("POST", LOGIN_TEST, "", b"", None) == LoginTest()
    assert parse("POST", DNS_ADMIN, "", b"", None) == Ping()
    assert reply(error=0, text="Login OK") == b"error=0&text=Login+OK"


def test_exists_with_and_without_the_parent_check() -> None:
    assert parse("GET", DNS_ADMIN, "action=exists&domain=Example.COM.", b"", None) == Exists(
        "example.com", False
    )
    query = "action=exists&domain=shop.example.com&check_for_parent_domain=true"
    assert parse("GET", DNS_ADMIN, query, b"", None) == Exists("shop.example.com", True)


def test_rawsave_as_directadmin_sends_it_no_content_type_zone_in_the_body() -> None:
    query = "action=rawsave&domain=example.com&hostname=da1.example.net&username=admin&named_reload=yes"
    command = parse("POST", DNS_ADMIN, query, ZONE, None)
    assert command == RawSave("example.com", "da1.example.net", "admin", ZONE.decode(), True)
    assert parse("POST", DNS_ADMIN, query, ZONE, "text/plain; charset=utf-8") == command
    # Or the whole of it as a form, the zone in a field.
    form = f"{query}&zone={ZONE.decode()}".replace("\n", "%0A").replace("\t", "%09").replace("$", "%24")
    formed = parse("POST", DNS_ADMIN, "", form.encode(), "application/x-www-form-urlencoded")
    assert formed == command


def test_delete_as_directadmin_sends_it_domains_as_select0_to_n_in_a_bare_body() -> None:
    body = b"action=delete&cluster=yes&hostname=da1.example.net&select0=one.example&select1=TWO.example.&select2=one.example"
    command = parse("POST", DNS_ADMIN, "", body, None)
    assert command == Delete(("one.example", "two.example"), "da1.example.net", "")
    # Also `domain=` and the parameters in the query string.
    assert parse("POST", DNS_ADMIN, "action=delete&hostname=h&domain=three.example", b"", None) == Delete(
        ("three.example",), "h", ""
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "status", "text"),
    [
        ("GET", DNS_ADMIN, "", b"", 400, "no action"),
        ("PUT", DNS_ADMIN, "action=exists&domain=a.example", b"", 405, "not allowed"),
        ("GET", DNS_ADMIN, "action=rawsave&domain=a.example&hostname=h&username=u", b"", 405, "needs a POST"),
        ("GET", "/CMD_API_SHOW_ALL_USERS", "", b"", 404, "no such command"),
        ("GET", DNS_ADMIN, "action=frobnicate", b"", 400, "unknown action"),
        ("GET", DNS_ADMIN, "action=exists", b"", 400, "no domain"),
        ("GET", DNS_ADMIN, "action=exists&domain=../../etc/passwd", b"", 400, "label"),
        (
            "POST",
            DNS_ADMIN,
            "action=rawsave&domain=a.example&hostname=h&username=u",
            b"",
            400,
            "without a zone",
        ),
        ("POST", DNS_ADMIN, "action=rawsave&domain=a.example&username=u", ZONE, 400, "no hostname"),
        (
            "POST",
            DNS_ADMIN,
            "action=rawsave&domain=x%22%20%7B%7D%3B%23.com&hostname=h&username=u",
            ZONE,
            400,
            "label",
        ),
        (
            "POST",
            DNS_ADMIN,
            "action=rawsave&domain=a.example&hostname=h&username=u",
            b"\xff\xfe",
            400,
            "UTF-8",
        ),
        ("POST", DNS_ADMIN, "", b"action=delete&hostname=h", 400, "without a domain"),
        ("POST", DNS_ADMIN, "", b"action=delete&hostname=h&select0=a%00b.example", 400, "label"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(
    method: str, path: str, query: str, body: bytes, status: int, text: str
) -> None:
    with pytest.raises(BadRequest, match=text) as refusal:
        parse(method, path, query, body, None)
    assert refusal.value.status == status
    assert refused(refusal.value).startswith(b"error=1&text=")


def test_allowed_suffixes_apply_to_every_action() -> None:
    with pytest.raises(BadRequest, match="allowed suffix"):
        parse("GET", DNS_ADMIN, "action=exists&domain=elsewhere.org", b"", None, ["example.com"])
    with pytest.raises(BadRequest, match="allowed suffix"):
        parse("POST", DNS_ADMIN, "", b"action=delete&hostname=h&select0=elsewhere.org", None, ["example.com"])


def test_a_huge_form_of_junk_is_refused_quickly() -> None:
    junk = b"action=delete&" + b"&".join(b"x%d=1" % n for n in range(2_000_000))  # about 20 MB
    started = time.monotonic()
    with pytest.raises(BadRequest, match="not a url-encoded form"):
        parse("POST", DNS_ADMIN, "", junk, None)
    assert time.monotonic() - started < 1.0
