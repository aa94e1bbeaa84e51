"""The built-in authoritative server: its answers against the stored records, over UDP and TCP."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dnsmill
import pytest
from dnsmill.config import SeedSettings
from dnsmill.events import EventBus
from dnsmill.seeder import Seeder
from dnsservers import free_port
from stores import admin

ZONE = """$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 7 7200 900 1209600 60
@ NS ns1
ns1 A 192.0.2.53
@ A 192.0.2.1
www CNAME @
*.wild A 192.0.2.99
big TXT {strings}
only-text TXT "here"
""".format(strings=" ".join(f'"{"x" * 60}-{n}"' for n in range(40)))


def query(server: dnsmill.server.Server, name: str, rtype: str, *, tcp: bool = False) -> dns.message.Message:
    message = dns.message.make_query(name, rtype)
    if tcp:
        return dns.query.tcp(message, "127.0.0.1", port=server.port, timeout=3)
    return dns.query.udp(message, "127.0.0.1", port=server.port, timeout=3)


def test_every_answer_equals_the_stored_records(store: str) -> None:
    bus = EventBus()
    Seeder(SeedSettings(count=30, seed=17), store, bus=bus).run_once()
    stored = set(stored_rows(store))
    with dnsmill.serve(store, listen="127.0.0.1:0", poll=None, bus=bus) as server:
        assert server.stats["zones"] == 30 and server.stats["records"] == len(stored)
        assert server.stats["skipped"] == 0
        asked = sorted({(name, rtype) for name, rtype, _, _ in stored})
        # Correctness, not load: a modest window, so a busy machine drops nothing.
        resolver = dnsmill.Resolver([server.address], concurrency=100, timeout=2, retries=3)
        names = sorted({name for name, _ in asked})
        results = resolver.resolve(names, sorted({rtype for _, rtype in asked}))
    answered = set()
    for result in results:
        if (result.name, result.type) in {(n, t) for n, t in asked}:
            assert result.status == "NOERROR", result
        for record in result.answers:
            if (record.name, record.type) == (result.name, result.type):
                answered.add((record.name, record.type, record.ttl, record.rdata))
    assert answered == stored


def stored_rows(store: str) -> list[tuple[str, str, int, str]]:
    """The store's records, read through the store's own client."""
    out = admin(store, "SELECT name, type, ttl, rdata FROM dns_records")
    rows = []
    for line in out.splitlines():
        parts = line.replace("|", "\t").split("\t") if ("|" in line or "\t" in line) else line.split(" ", 3)
        name, rtype, ttl, rdata = parts[0], parts[1], int(parts[2]), parts[3]
        rows.append((name, rtype, ttl, rdata))
    assert rows
    return rows


@pytest.fixture
def zone_server(tmp_path: Path) -> Iterator[dnsmill.server.Server]:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "example.test.zone").write_text(ZONE)
    server = dnsmill.serve(zones=zones, listen="127.0.0.1:0", poll=None, reload_on_events=False)
    yield server
    server.stop()


def test_authoritative_semantics(zone_server: dnsmill.server.Server) -> None:
    reply = query(zone_server, "example.test.", "A")
    assert reply.flags & dns.flags.AA and reply.rcode() == dns.rcode.NOERROR
    assert [str(rr) for rr in reply.answer] == ["example.test. 300 IN A 192.0.2.1"]
    # NXDOMAIN and NODATA carry the SOA in the authority section.
    for name, rtype, rcode in (
        ("missing.example.test.", "A", "NXDOMAIN"),
        ("only-text.example.test.", "A", "NOERROR"),
    ):
        reply = query(zone_server, name, rtype)
        assert dns.rcode.to_text(reply.rcode()) == rcode and not reply.answer
        assert reply.flags & dns.flags.AA
        assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]
    # CNAME chased within the zone; wildcards synthesised for the query name.
    reply = query(zone_server, "www.example.test.", "A")
    assert [rrset.to_text() for rrset in reply.answer] == [
        "www.example.test. 300 IN CNAME example.test.",
        "example.test. 300 IN A 192.0.2.1",
    ]
    reply = query(zone_server, "anything.wild.example.test.", "A")
    assert [rrset.to_text() for rrset in reply.answer] == ["anything.wild.example.test. 300 IN A 192.0.2.99"]
    # Not ours.
    assert query(zone_server, "example.org.", "A").rcode() == dns.rcode.REFUSED


def test_large_answers_truncate_over_udp_and_come_whole_over_tcp(zone_server: dnsmill.server.Server) -> None:
    for edns in (0, -1):
        # The header, the question and (with EDNS) the OPT record: nothing half written after.
        message = dns.message.make_query("big.example.test.", "TXT", use_edns=edns)
        udp = dns.query.udp(message, "127.0.0.1", port=zone_server.port, timeout=3)
        assert udp.flags & dns.flags.TC and not udp.answer and not udp.authority
        assert udp.question == message.question and udp.edns == edns
    tcp = query(zone_server, "big.example.test.", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC
    assert len(tcp.answer[0][0].strings) == 40
    # The resolver follows TC to TCP by itself.
    (result,) = dnsmill.Resolver([zone_server.address]).resolve(["big.example.test."], "TXT")
    assert result.status == "NOERROR" and result.answers[0].rdata.count('"') == 80


def test_repeated_questions_come_from_the_cache_as_the_asker_spelled_them(
    zone_server: dnsmill.server.Server, tmp_path: Path
) -> None:
    first = query(zone_server, "www.example.test.", "A")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for spelling, edns, payload in (
        ("www.example.test.", -1, 0),
        ("WwW.ExAmPlE.tEsT.", -1, 0),
        ("WWW.EXAMPLE.TEST.", 0, 1232),
        ("www.example.test.", 0, 200),
    ):
        message = dns.message.make_query(spelling, "A", use_edns=edns, payload=payload)
        message.flags &= ~dns.flags.RD
        reply = dns.query.udp(message, "127.0.0.1", port=zone_server.port, timeout=3, sock=client)
        assert reply.id == message.id and not reply.flags & dns.flags.RD and reply.flags & dns.flags.AA
        assert reply.question[0].name.to_text() == spelling  # the case comes back as sent
        assert [rrset.to_text().lower() for rrset in reply.answer] == [
            r.to_text().lower() for r in first.answer
        ]
        assert reply.edns == edns and (edns < 0 or reply.payload == max(payload, 512))
    client.close()
    stats = zone_server.stats
    assert stats["udp_queries"] >= 5 and stats["udp_cached"] >= 2
    # A reload empties the caches: the same question gets the new records.
    zone = tmp_path / "zones" / "example.test.zone"
    zone.write_text(zone.read_text().replace("@ A 192.0.2.1", "@ A 192.0.2.7"))
    zone_server.reload()
    reply = query(zone_server, "www.example.test.", "A")
    assert reply.answer[-1].to_text() == "example.test. 300 IN A 192.0.2.7"


def test_malformed_queries_get_formerr_and_responses_get_nothing(zone_server: dnsmill.server.Server) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(1)
        # One question announced, none there.
        client.sendto(bytes.fromhex("abcd 0100 0001 0000 0000 0000 07"), ("127.0.0.1", zone_server.port))
        reply = client.recv(512)
        assert reply[:2] == b"\xab\xcd" and reply[2] & 0x80 and reply[3] & 0x0F == dns.rcode.FORMERR
        # A response is never answered, so two servers cannot bounce packets between them.
        answer = dns.message.make_response(dns.message.make_query("example.test.", "A"))
        client.sendto(answer.to_wire(), ("127.0.0.1", zone_server.port))
        with pytest.raises(TimeoutError):
            client.recv(512)


def test_new_records_are_picked_up_by_polling_and_by_the_seeding_event(tmp_path: Path) -> None:
    bus = EventBus()
    url = f"sqlite://{tmp_path / 's.db'}"
    Seeder(SeedSettings(domains=["first.test"], seed=1), url, bus=bus).run_once()
    with dnsmill.serve(url, listen="127.0.0.1:0", poll=None, bus=bus) as server:
        assert query(server, "second.test.", "SOA").rcode() == dns.rcode.REFUSED
        Seeder(SeedSettings(domains=["second.test"], seed=1), url, bus=bus).run_once()  # event
        _wait_for(lambda: query(server, "second.test.", "SOA").rcode() == dns.rcode.NOERROR)
        assert server.stats["zones"] == 2
    with dnsmill.serve(url, listen="127.0.0.1:0", poll=0.2, reload_on_events=False) as server:
        Seeder(SeedSettings(domains=["third.test"], seed=1), url, bus=EventBus()).run_once()
        _wait_for(lambda: query(server, "third.test.", "SOA").rcode() == dns.rcode.NOERROR)
        assert server.stats["loads"] >= 2


def _wait_for(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("the condition did not come true in time")


def test_bad_sources_and_addresses_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(dnsmill.ServeError, match="cannot connect"):
        dnsmill.serve("postgresql://nobody@127.0.0.1:1/none", listen="127.0.0.1:0")
    with pytest.raises(ValueError, match="either db= or zones="):
        dnsmill.serve()
    with pytest.raises(ValueError, match="listen must be IP:PORT"):
        dnsmill.serve(zones=tmp_path, listen="localhost")
    with dnsmill.serve(zones=tmp_path, listen="127.0.0.1:0", poll=None) as server:
        with pytest.raises(dnsmill.ServeError, match="cannot listen"):
            dnsmill.serve(zones=tmp_path, listen=server.address)
    (tmp_path / "broken.test.zone").write_text("@ SOA ns1 hostmaster 1 2 3 4 5\nwww A not-an-address\n")
    with pytest.raises(dnsmill.ServeError, match=r"broken.test.zone:2:\d+"):
        dnsmill.serve(zones=tmp_path, listen="127.0.0.1:0")


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "example.test.zone").write_text(ZONE)
    metrics_port = free_port()
    command = subprocess.Popen(
        [
            *(sys.executable, "-m", "dnsmill", "serve", "--zones", str(zones), "--listen", "127.0.0.1:0"),
            *("--metrics-port", str(metrics_port)),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stderr is not None
    line = command.stderr.readline()
    assert "serving 1 zones" in line, line
    address = line.rsplit(" on ", 1)[1].strip()
    host, port = address.rsplit(":", 1)
    reply = dns.query.udp(dns.message.make_query("example.test.", "A"), host, port=int(port), timeout=3)
    assert reply.answer
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    assert "dnsmill_server_udp_queries_total 1.0" in scraped
    assert "dnsmill_server_zones 1.0" in scraped
    command.send_signal(signal.SIGTERM)
    assert command.wait(timeout=20) == 0
