"""The sync endpoint over real HTTP on a loopback port, requests written byte for byte as
DirectAdmin sends them: HTTP/1.0, Basic auth, no User-Agent, no Content-Type."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import directadmin
import pytest
import yaml
from aiohttp import web
from dnsmill.sync.endpoint import Endpoint, EndpointSettings
from dnsmill.sync.pushes import PushQueue

ZONE = """$TTL 14400
example.com.\t14400\tIN\tSOA\tns1.example.net. hostmaster.example.com. ( {serial} 3600 3600 1209600 86400 )
example.com.\t14400\tIN\tNS\tns1.example.net.
example.com.\t14400\tIN\tA\t192.0.2.10
www\t14400\tIN\tCNAME\texample.com.
example.com.\t14400\tIN\tMX\t10 mail.example.com.
mail\t14400\tIN\tA\t192.0.2.11
example.com.\t14400\tIN\tTXT\t"v=spf1 a mx -all"
"""


@dataclass
class Served:
    port: int
    pushes: PushQueue

    def send(
        self, method: str, target: str, body: bytes = b"", **options: Any
    ) -> tuple[int, dict[str, str], dict[str, str]]:
        """A request as DirectAdmin writes it (see :func:`directadmin.send`)."""
        return directadmin.send(self.port, method, target, body, **options)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    pushes = PushQueue(tmp_path / "pushes.db")
    settings = EndpointSettings(
        user="admin", password="s3cret", hostname="dns1.example.net", max_body=1 << 20
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, object] = {}

    async def serve() -> None:
        runner = web.AppRunner(Endpoint(settings, pushes).application())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["port"] = runner.addresses[0][1]
        state["runner"] = runner
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()))
    thread.start()
    assert started.wait(10)
    try:
        yield Served(int(state["port"]), pushes)  # type: ignore[call-overload]
    finally:
        runner = state["runner"]
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        pushes.close()


def test_login_test_and_the_connectivity_check(served: Served) -> None:
    assert served.send("GET", "/CMD_API_LOGIN_TEST")[::2] == (200, {"error": "0", "text": "Login OK"})
    assert served.send("POST", "/CMD_API_DNS_ADMIN")[::2] == (200, {"error": "0", "text": "OK"})


def test_exists_then_rawsave_then_exists_as_directadmin_does(served: Served) -> None:
    assert served.send("GET", "/CMD_API_DNS_ADMIN?action=exists&domain=example.com")[2] == {
        "error": "0",
        "exists": "0",
    }
    status, _, fields = served.send(
        "POST",
        "/CMD_API_DNS_ADMIN?action=rawsave&domain=example.com&hostname=da1.example.net&username=admin",
        ZONE.format(serial=2026113001).encode(),
    )
    assert (status, fields) == (200, {"error": "0"})
    (push,) = served.pushes.take()
    assert push.zone == "example.com" and push.serial == 2026113001
    assert "www.example.com." in push.text and "$TTL" not in push.text  # canonical, not as sent
    served.pushes.done(push)
    assert served.send("GET", "/CMD_API_DNS_ADMIN?action=exists&domain=EXAMPLE.com.")[2] == {
        "error": "0",
        "exists": "1",
        "details": "Domain exists on dns1.example.net",
    }
    # A subdomain's parent (any ancestor) held here.
    query = "action=exists&domain=a.b.example.com&check_for_parent_domain=true"
    assert served.send("GET", f"/CMD_API_DNS_ADMIN?{query}")[2] == {
        "error": "0",
        "exists": "3",
        "hostname": "da1.example.net",
        "username": "admin",
    }


def test_a_push_from_another_server_is_refused_and_a_delete_removes_every_listed_zone(served: Served) -> None:
    save = "/CMD_API_DNS_ADMIN?action=rawsave&domain=example.com&hostname=da1.example.net&username=admin"
    assert served.send("POST", save, ZONE.format(serial=1).encode())[2] == {"error": "0"}
    other = save.replace("da1.example.net", "da2.example.net")
    status, _, fields = served.send("POST", other, ZONE.format(serial=2).encode())
    assert (
        status == 400 and fields["error"] == "1" and "belongs to admin on da1.example.net" in fields["text"]
    )
    # Older serial than the one waiting: answered, and the newer one kept.
    assert "older" in served.send("POST", save, ZONE.format(serial=0).encode())[2]["text"]
    (push,) = served.pushes.take()
    served.pushes.done(push)
    body = b"action=delete&cluster=yes&hostname=da1.example.net&select0=example.com&select1=absent.example"
    assert served.send("POST", "/CMD_API_DNS_ADMIN", body)[2] == {"error": "0"}
    (gone,) = served.pushes.take()
    assert (gone.zone, gone.action) == ("example.com", "delete")


@pytest.mark.parametrize(
    "domain",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "x%22%20%7B%20type%20master%3B%20%7D%3B%20%23.com",
        "a%00b.com",
        "a%20b.com",
    ],
)
def test_hostile_zone_names_are_refused_and_nothing_is_queued(served: Served, domain: str) -> None:
    target = f"/CMD_API_DNS_ADMIN?action=rawsave&domain={domain}&hostname=h&username=u"
    status, _, fields = served.send("POST", target, ZONE.format(serial=1).encode())
    assert status == 400 and fields["error"] == "1"
    assert served.pushes.waiting() == 0


def test_zones_with_includes_or_data_outside_them_are_refused(served: Served) -> None:
    save = "/CMD_API_DNS_ADMIN?action=rawsave&domain=example.com&hostname=h&username=u"
    included = ZONE.format(serial=1) + "$INCLUDE /etc/passwd\n"
    assert "INCLUDE" in served.send("POST", save, included.encode())[2]["text"].upper()
    outside = ZONE.format(serial=1) + "evil.org. 300 IN A 192.0.2.66\n"
    assert "out of zone" in served.send("POST", save, outside.encode())[2]["text"]
    assert served.pushes.waiting() == 0


def test_credentials_size_and_throttling(served: Served) -> None:
    status, headers, fields = served.send("GET", "/CMD_API_LOGIN_TEST", credentials=("admin", "wrong"))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic") and fields["error"] == "1"
    assert served.send("GET", "/CMD_API_LOGIN_TEST", credentials=("admin2", "s3cret"))[0] == 401
    big = b"x" * (2 << 20)
    started = time.monotonic()
    assert (
        served.send("POST", "/CMD_API_DNS_ADMIN?action=rawsave&domain=a.example&hostname=h&username=u", big)[
            0
        ]
        == 413
    )
    assert time.monotonic() - started < 1.0
    for _ in range(10):
        served.send("GET", "/CMD_API_LOGIN_TEST", credentials=("admin", "guess"))
    # Too many failures from this address: refused before the credentials are looked at.
    assert served.send("GET", "/CMD_API_LOGIN_TEST")[0] == 429


def test_the_service_will_not_start_without_credentials_or_a_backend(tmp_path: Path) -> None:
    bare = subprocess.run(
        [sys.executable, "-m", "dnsmill", "sync"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert bare.returncode == 2 and "sync.user and sync.password" in bare.stderr, bare.stderr
    config = tmp_path / "dnsmill.yaml"
    config.write_text("sync: {user: admin, password: s3cret}\n")
    no_backend = subprocess.run(
        [sys.executable, "-m", "dnsmill", "sync", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_backend.returncode == 2 and "no backend" in no_backend.stderr, no_backend.stderr


def test_fifty_mib_of_junk_is_refused_within_a_second(served: Served) -> None:
    """Refused on its Content-Length, before a byte of it is read: the sender finds the
    connection answered and closed while it is still sending."""
    junk = os.urandom(1 << 20) * 50
    head = (
        "POST /CMD_API_DNS_ADMIN?action=rawsave&domain=a.example&hostname=h&username=u HTTP/1.0\r\n"
        f"Authorization: Basic {base64.b64encode(b'admin:s3cret').decode()}\r\n"
        f"Content-Length: {len(junk)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
        connection.sendall(head)
        try:
            for at in range(0, len(junk), 1 << 20):
                connection.sendall(junk[at : at + (1 << 20)])
        except OSError:
            pass  # the server has answered and closed: the rest was never read
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except OSError:
            pass
    assert time.monotonic() - started < 1.0
    assert received.startswith(b"HTTP/1.1 413") or received.startswith(b"HTTP/1.0 413"), received[:100]
    assert served.pushes.waiting() == 0


def test_the_endpoint_serves_https_when_given_a_certificate(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
    ]
    subprocess.run(
        [*request, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "dnsmill.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sync": {
                    "listen": f"127.0.0.1:{port}",
                    "user": "admin",
                    "password": "s3cret",
                    "pushes": str(tmp_path / "pushes.db"),
                    "tls_cert": str(cert),
                    "tls_key": str(key),
                    "bind": {
                        "zones_dir": str(tmp_path / "zones"),
                        "include_file": str(tmp_path / "zones.conf"),
                    },
                }
            }
        )
    )
    log = tmp_path / "sync.log"
    with open(log, "w") as errors:
        service = subprocess.Popen(
            [sys.executable, "-m", "dnsmill", "sync", "--config", str(config)], stderr=errors, text=True
        )
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in log.read_text():
            assert service.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        context = ssl.create_default_context(cafile=str(cert))
        token = base64.b64encode(b"admin:s3cret").decode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(
                    f"GET /CMD_API_LOGIN_TEST HTTP/1.0\r\nAuthorization: Basic {token}\r\n\r\n".encode()
                )
                received = b""
                while chunk := tls.recv(65536):
                    received += chunk
        assert received.split(b" ", 2)[1] == b"200" and received.endswith(b"error=0&text=Login+OK"), received
        assert b"aiohttp" not in received  # no software versions for whoever connects
        # Plain HTTP gets no answer from a TLS endpoint.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            plain.sendall(
                f"GET /CMD_API_LOGIN_TEST HTTP/1.0\r\nAuthorization: Basic {token}\r\n\r\n".encode()
            )
            try:
                answered = plain.recv(65536)
            except OSError:
                answered = b""
        assert b"Login" not in answered
    finally:
        service.terminate()
        service.wait(30)


def test_metrics_count_pushes_without_naming_a_zone(served: Served) -> None:
    def queued() -> float:
        status, _, _ = served.send("GET", "/metrics", credentials=("", ""))
        assert status == 200
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
            connection.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
        text = received.partition(b"\r\n\r\n")[2].decode()
        assert "metrics-zone.example" not in text
        for line in text.splitlines():
            if line.startswith('dnsmill_sync_pushes_total{action="save",outcome="queued"}'):
                return float(line.split()[-1])
        return 0.0

    before = queued()
    target = "/CMD_API_DNS_ADMIN?action=rawsave&domain=metrics-zone.example&hostname=h&username=u"
    body = ZONE.replace("example.com.", "metrics-zone.example.").format(serial=1).encode()
    assert served.send("POST", target, body)[2] == {"error": "0"}
    assert queued() == before + 1
