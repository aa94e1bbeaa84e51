"""The BIND backend against a real named started on a loopback port: zones written, loaded,
answered, changed and deleted through rndc, and refused zones never replacing good ones."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import directadmin
import dnsmill
import pytest
import yaml
from conftest import require_tool
from dnsmill.sync.applier import Applied, Applier
from dnsmill.sync.backends import BackendError, ZoneChange, ZoneContent, ZoneDeletion
from dnsmill.sync.backends.bind import BindBackend, BindSettings
from dnsmill.sync.pushes import DELETE, SAVE, PushQueue
from dnsservers import free_port
from stores import admin, mysql_database, postgresql_database

KEY = "c3luYy10ZXN0LWtleS1mb3ItZG5zbWlsbC10ZXN0cw=="

ZONE = """$ORIGIN {zone}.
@ 300 IN SOA ns1.example.net. hostmaster.{zone}. {serial} 3600 600 86400 300
@ 300 IN NS ns1.example.net.
@ 300 IN A {address}
www 300 IN CNAME {zone}.
"""


@dataclass
class Named:
    port: int
    backend: BindBackend
    workdir: Path

    def ask(self, name: str, qtype: str = "A") -> tuple[str, list[str]]:
        """The status and the answer rdata named gives for ``name``."""
        results = dnsmill.Resolver([f"127.0.0.1:{self.port}"], timeout=2, retries=1).resolve([name], qtype)
        result = results[0]
        return result.status, sorted(result.values)


@pytest.fixture
def named(tmp_path: Path) -> Iterator[Named]:
    binary = require_tool("named")
    require_tool("rndc")
    port, control = free_port(), free_port()
    include = tmp_path / "zones.conf"
    include.write_text("")
    key = f'key "sync" {{ algorithm hmac-sha256; secret "{KEY}"; }};\n'
    conf = tmp_path / "named.conf"
    conf.write_text(
        key
        + f'options {{ directory "{tmp_path}"; pid-file "{tmp_path}/named.pid"; listen-on port {port} {{ 127.0.0.1; }};\n'
        f"  listen-on-v6 {{ none; }}; recursion no; notify no; }};\n"
        f'controls {{ inet 127.0.0.1 port {control} allow {{ 127.0.0.1; }} keys {{ "sync"; }}; }};\n'
        f'include "{include}";\n'
    )
    rndc_conf = tmp_path / "rndc.conf"
    rndc_conf.write_text(
        key + f'options {{ default-key "sync"; default-server 127.0.0.1; default-port {control}; }};\n'
    )
    server = subprocess.Popen(
        [binary, "-g", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    rndc = ["rndc", "-c", str(rndc_conf)]
    deadline = time.monotonic() + 20
    while subprocess.run([*rndc, "status"], capture_output=True).returncode != 0:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline, "named did not start"
        time.sleep(0.1)
    settings = BindSettings(
        zones_dir=tmp_path / "zones",
        include_file=include,
        named_conf=conf,
        reconfig_command=(*rndc, "reconfig"),
        reload_command=(*rndc, "reload"),
    )
    try:
        yield Named(port, BindBackend(settings), tmp_path)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def eventually(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_a_zone_is_written_loaded_answered_changed_and_deleted(named: Named) -> None:
    backend = named.backend
    asyncio.run(
        backend.save(
            ZoneContent("example.com", ZONE.format(zone="example.com", serial=1, address="192.0.2.1"))
        )
    )
    assert eventually(lambda: named.ask("example.com.") == ("NOERROR", ["192.0.2.1"]))
    assert 'zone "example.com" { type master; file ' in backend.settings.include_file.read_text()
    asyncio.run(
        backend.save(
            ZoneContent("example.com", ZONE.format(zone="example.com", serial=2, address="192.0.2.2"))
        )
    )
    assert eventually(lambda: named.ask("example.com.") == ("NOERROR", ["192.0.2.2"]))
    stored = asyncio.run(backend.records("example.com"))
    assert stored is not None and ("example.com.", "A", 300, "192.0.2.2") in stored
    asyncio.run(backend.delete("example.com"))
    assert eventually(lambda: named.ask("example.com.")[0] == "REFUSED")
    assert backend.settings.include_file.read_text() == ""
    assert asyncio.run(backend.records("example.com")) is None
    assert asyncio.run(backend.zones()) == []


def test_a_zone_named_refuses_never_replaces_the_good_one(named: Named) -> None:
    backend = named.backend
    asyncio.run(
        backend.save(
            ZoneContent("example.com", ZONE.format(zone="example.com", serial=1, address="192.0.2.1"))
        )
    )
    broken = "$ORIGIN example.com.\n@ 300 IN SOA ns1.example.net. h.example.com. 2 3600 600 86400 300\n@ 300 IN CNAME other.example.\n@ 300 IN A 192.0.2.9\n"
    with pytest.raises(BackendError, match="named-checkzone"):
        asyncio.run(backend.save(ZoneContent("example.com", broken)))
    assert eventually(lambda: named.ask("example.com.") == ("NOERROR", ["192.0.2.1"]))
    assert not [path for path in (named.workdir / "zones").iterdir() if path.name.startswith(".")]
    checked = subprocess.run(
        ["named-checkconf", str(backend.settings.named_conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_batch_is_checked_together_and_one_bad_zone_fails_alone(named: Named) -> None:
    backend = named.backend
    zones = [f"batch{n}.example" for n in range(12)]
    broken = "$ORIGIN batch5.example.\n@ 300 IN SOA ns1.example.net. h.example.com. 1 3600 600 86400 300\n@ 300 IN CNAME other.example.\n@ 300 IN A 192.0.2.9\n"
    first = [
        ZoneContent(
            zone,
            broken if zone == "batch5.example" else ZONE.format(zone=zone, serial=1, address="192.0.2.1"),
        )
        for zone in zones
    ]
    outcomes = asyncio.run(backend.apply(first))
    assert [zone for zone, error in zip(zones, outcomes, strict=True) if error is not None] == [
        "batch5.example"
    ]
    assert "named-checkzone batch5.example" in str(outcomes[5]) and "CNAME and other data" in str(outcomes[5])
    assert eventually(lambda: named.ask("batch11.example.") == ("NOERROR", ["192.0.2.1"]))
    assert named.ask("batch5.example.")[0] == "REFUSED"
    # More changed zones than are reloaded one by one, and two deletions, in one batch.
    second: list[ZoneChange] = [
        ZoneContent(zone, ZONE.format(zone=zone, serial=2, address="192.0.2.2"))
        for zone in zones[2:]
        if zone != "batch5.example"
    ]
    second += [ZoneDeletion("batch0.example"), ZoneDeletion("batch1.example"), ZoneDeletion("never.example")]
    assert asyncio.run(backend.apply(second)) == [None] * len(second)
    for zone in zones[2:]:
        if zone != "batch5.example":
            assert eventually(lambda zone=zone: named.ask(f"{zone}.") == ("NOERROR", ["192.0.2.2"]))
    assert eventually(lambda: named.ask("batch0.example.")[0] == "REFUSED")
    assert sorted(asyncio.run(backend.zones())) == sorted(z for z in zones[2:] if z != "batch5.example")
    assert not [path for path in backend.settings.zones_dir.iterdir() if path.name.startswith(".")]


def test_a_new_zone_named_conf_refuses_fails_alone_and_blocks_no_later_reconfiguration(named: Named) -> None:
    backend = named.backend
    conf = backend.settings.named_conf
    assert conf is not None
    # The administrator serves taken.example from named.conf itself: a second statement for it
    # in the include file makes named-checkconf refuse the whole configuration.
    static = named.workdir / "taken.example.static"
    static.write_text(ZONE.format(zone="taken.example", serial=1, address="192.0.2.77"))
    conf.write_text(conf.read_text() + f'zone "taken.example" {{ type master; file "{static}"; }};\n')
    batch = [
        ZoneContent(zone, ZONE.format(zone=zone, serial=1, address="192.0.2.1"))
        for zone in ("ok1.example", "taken.example", "ok2.example")
    ]
    outcomes = asyncio.run(backend.apply(batch))
    assert outcomes[0] is None and outcomes[2] is None, outcomes
    assert "named-checkconf" in str(outcomes[1]), outcomes[1]
    assert sorted(asyncio.run(backend.zones())) == ["ok1.example", "ok2.example"]
    assert 'zone "taken.example"' not in backend.settings.include_file.read_text()
    assert eventually(lambda: named.ask("ok2.example.") == ("NOERROR", ["192.0.2.1"]))
    # Later new zones and deletions still reach named.
    later: list[ZoneChange] = [
        ZoneContent("ok3.example", ZONE.format(zone="ok3.example", serial=1, address="192.0.2.3")),
        ZoneDeletion("ok1.example"),
    ]
    assert asyncio.run(backend.apply(later)) == [None, None]
    assert eventually(lambda: named.ask("ok3.example.") == ("NOERROR", ["192.0.2.3"]))
    assert eventually(lambda: named.ask("ok1.example.")[0] == "REFUSED")
    assert not [path for path in backend.settings.zones_dir.iterdir() if path.name.startswith(".")]


def test_a_refused_reconfiguration_never_removes_a_zone_that_was_there_before(named: Named) -> None:
    """After a restart the backend does not know which zones named has. A zone it holds is
    pushed again while named.conf refuses any configuration with it (an administrator
    declared it there too): the push fails, and the zone's file stays."""
    first = ZoneContent("old.example", ZONE.format(zone="old.example", serial=1, address="192.0.2.1"))
    assert asyncio.run(named.backend.apply([first])) == [None]
    conf = named.backend.settings.named_conf
    assert conf is not None
    static = named.workdir / "old.example.static"
    static.write_text(ZONE.format(zone="old.example", serial=1, address="192.0.2.77"))
    conf.write_text(conf.read_text() + f'zone "old.example" {{ type master; file "{static}"; }};\n')
    restarted = BindBackend(named.backend.settings)
    changed = ZoneContent("old.example", ZONE.format(zone="old.example", serial=2, address="192.0.2.2"))
    (outcome,) = asyncio.run(restarted.apply([changed]))
    assert "named-checkconf" in str(outcome), outcome
    assert asyncio.run(restarted.zones()) == ["old.example"]
    assert 'zone "old.example"' in named.backend.settings.include_file.read_text()


def test_a_zone_written_before_a_crash_and_never_reconfigured_is_loaded_after_the_restart(
    named: Named,
) -> None:
    """The file is in place but named never heard of the zone: a new backend (the restarted
    service) must reconfigure, not only reload."""
    settings = named.backend.settings
    settings.zones_dir.mkdir(parents=True, exist_ok=True)
    (settings.zones_dir / "crashed.example.db").write_text(
        ZONE.format(zone="crashed.example", serial=1, address="192.0.2.5")
    )
    restarted = BindBackend(settings)
    changed = ZoneContent(
        "crashed.example", ZONE.format(zone="crashed.example", serial=2, address="192.0.2.6")
    )
    assert asyncio.run(restarted.apply([changed])) == [None]
    assert eventually(lambda: named.ask("crashed.example.") == ("NOERROR", ["192.0.2.6"]))
    # And a deleted zone whose file went before a crash is still taken out of named's configuration.
    (settings.zones_dir / "crashed.example.db").rename(settings.zones_dir / ".crashed.example.db.deleted")
    again = BindBackend(settings)
    assert asyncio.run(again.apply([ZoneDeletion("crashed.example")])) == [None]
    assert eventually(lambda: named.ask("crashed.example.")[0] == "REFUSED")
    assert not list(settings.zones_dir.iterdir())


def test_queued_pushes_are_applied_to_every_backend_and_a_failing_one_holds_none_up(
    named: Named, tmp_path: Path
) -> None:
    pushes = PushQueue(tmp_path / "pushes.db")
    broken = BindBackend(
        BindSettings(
            zones_dir=tmp_path / "elsewhere",
            include_file=tmp_path / "elsewhere.conf",
            named_checkzone="/nonexistent/named-checkzone",
        ),
        name="broken-bind",
    )
    for n in range(3):
        zone = f"zone{n}.example"
        pushes.put(
            zone,
            SAVE,
            text=ZONE.format(zone=zone, serial=1, address=f"192.0.2.{n + 1}"),
            serial=1,
            hostname="h",
            username="u",
        )
    applied = asyncio.run(Applier(pushes, [named.backend]).apply_once())
    assert applied == Applied(applied=3)
    assert eventually(lambda: named.ask("zone2.example.") == ("NOERROR", ["192.0.2.3"]))
    assert pushes.waiting() == 0
    # A backend that fails: the others still get the push, which stays queued for a retry.
    changed = ZONE.format(zone="zone0.example", serial=2, address="192.0.2.99")
    pushes.put("zone0.example", SAVE, text=changed, serial=2, hostname="h", username="u")
    applied = asyncio.run(Applier(pushes, [broken, named.backend]).apply_once())
    assert applied == Applied(failed=1)
    assert eventually(lambda: named.ask("zone0.example.") == ("NOERROR", ["192.0.2.99"]))
    assert pushes.waiting() == 1
    pushes.put("zone1.example", DELETE, hostname="h", username="u")
    assert asyncio.run(Applier(pushes, [named.backend]).apply_once()) == Applied(applied=1)  # zone0 backs off
    assert eventually(lambda: named.ask("zone1.example.")[0] == "REFUSED")
    pushes.close()


#: Every sync service a test started, killed when the test ends (a failed test leaves none).
_SERVICES: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_service_outlives_its_test() -> Iterator[None]:
    yield
    while _SERVICES:
        process = _SERVICES.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def start_sync(config: Path, log: Path) -> tuple[subprocess.Popen[str], int]:
    """``dnsmill sync`` in a process of its own; returns it and the port it listens on."""
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "dnsmill", "sync", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
    _SERVICES.append(process)
    deadline = time.monotonic() + 30
    while "listening on" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    address = log.read_text().rsplit("listening on ", 1)[1].split()[0]
    return process, int(address.rsplit(":", 1)[1])


def test_the_sync_service_applies_every_push_through_kill_9_and_stops_on_sigterm(
    named: Named, tmp_path: Path
) -> None:
    with mysql_database() as mysql_url, postgresql_database() as postgres_url:
        the_service_applies_every_push(named, tmp_path, mysql_url, postgres_url)


def the_service_applies_every_push(named: Named, tmp_path: Path, mysql_url: str, postgres_url: str) -> None:
    """To BIND, CoreDNS-MySQL on MariaDB and PowerDNS on PostgreSQL at once."""
    bind = named.backend.settings
    config = tmp_path / "dnsmill.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sync": {
                    "listen": "127.0.0.1:0",
                    "user": "admin",
                    "password": "s3cret",
                    "hostname": "dns1.example.net",
                    "pushes": str(tmp_path / "pushes.db"),
                    "bind": {
                        "zones_dir": str(bind.zones_dir),
                        "include_file": str(bind.include_file),
                        "named_conf": str(bind.named_conf),
                        "reconfig_command": list(bind.reconfig_command),
                        "reload_command": list(bind.reload_command),
                    },
                    "coredns_mysql": {"url": mysql_url},
                    "powerdns": {"url": postgres_url},
                }
            }
        )
    )
    log = tmp_path / "sync.log"
    service, port = start_sync(config, log)
    zones = [f"site{n}.example" for n in range(60)]
    for n, zone in enumerate(zones):
        assert (
            directadmin.send(port, "GET", f"/CMD_API_DNS_ADMIN?action=exists&domain={zone}")[2]["exists"]
            == "0"
        )
        target = f"/CMD_API_DNS_ADMIN?action=rawsave&domain={zone}&hostname=da1.example.net&username=admin"
        body = ZONE.format(zone=zone, serial=1, address=f"192.0.2.{n + 1}").encode()
        assert directadmin.send(port, "POST", target, body)[2] == {"error": "0"}
    # Killed with pushes queued and one being applied: every push was answered error=0, so
    # every one must be applied once the service is back.
    os.kill(service.pid, signal.SIGKILL)
    service.wait()
    log = tmp_path / "sync-again.log"
    service, port = start_sync(config, log)
    started = time.monotonic()
    for n, zone in enumerate(zones):
        assert eventually(
            lambda zone=zone, n=n: named.ask(f"{zone}.") == ("NOERROR", [f"192.0.2.{n + 1}"]), 60
        )
    assert time.monotonic() - started < 30, "applied promptly after the restart"
    assert directadmin.send(port, "GET", "/healthz", credentials=("", ""))[0] == 200
    body = b"action=delete&cluster=yes&hostname=da1.example.net&select0=site0.example&select1=site1.example"
    assert directadmin.send(port, "POST", "/CMD_API_DNS_ADMIN", body)[2] == {"error": "0"}
    assert eventually(lambda: named.ask("site1.example.")[0] == "REFUSED")
    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0, log.read_text()
    assert 'zone "site0.example"' not in bind.include_file.read_text()
    assert 'zone "site59.example"' in bind.include_file.read_text()
    # The tables hold every zone but the two deleted, each record for record.
    expected = {f"site{n}.example." for n in range(2, 60)}
    assert set(admin(mysql_url, "SELECT zone_name FROM zones").split()) == expected
    assert set(admin(postgres_url, "SELECT name || '.' FROM domains").split()) == expected
    assert (
        admin(
            mysql_url,
            "SELECT r.data FROM records r JOIN zones z ON z.id = r.zone_id "
            "WHERE z.zone_name = 'site59.example.' AND r.hostname = '@' AND r.type = 'A'",
        )
        == "192.0.2.60"
    )
    assert admin(
        postgres_url, "SELECT content FROM records WHERE name = 'site59.example' AND type = 'A'"
    ) == ("192.0.2.60")
    records_per_zone = len(
        dnsmill.parse_zone(ZONE.format(zone="x.example", serial=1, address="192.0.2.1"), "x.example.")
    )
    assert admin(mysql_url, "SELECT COUNT(*) FROM records") == str(58 * records_per_zone)
    assert admin(postgres_url, "SELECT COUNT(*) FROM records") == str(58 * records_per_zone)
