"""The sync service's SQL backends on the real servers: CoreDNS-MySQL (both layouts) and
PowerDNS on MariaDB 127.0.0.1:3306 and PostgreSQL 127.0.0.1:5432, each test in databases of
its own; the reconciler; and a MySQL that goes away (a real one behind a proxy killed and
started again)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dnsmill
import pytest
import yaml
from dnsmill.sync.applier import Applied, Applier
from dnsmill.sync.backends import ZoneContent, ZoneDeletion
from dnsmill.sync.backends.sql import (
    CoreDnsCloud66Layout,
    CoreDnsExtendLayout,
    Database,
    Layout,
    PowerDnsLayout,
    SqlBackend,
    cloud66_content,
    powerdns_content,
)
from dnsmill.sync.pushes import DELETE, SAVE, PushQueue
from dnsmill.sync.reconciler import Reconciler
from stores import admin, mysql_database, postgresql_database
from tcp_proxy import TcpProxy

ZONE = """$ORIGIN {zone}.
$TTL 300
@ SOA ns1 hostmaster {serial} 3600 300 86400 300
@ NS ns1
@ NS ns2.example.net.
ns1 A 192.0.2.1
@ A {address}
@ AAAA 2001:db8::1
@ MX 10 mail
mail A 192.0.2.2
@ TXT "v=spf1 mx -all" "second string"
www CNAME @
_sip._tcp SRV 10 5 5060 sip
@ CAA 0 issue "letsencrypt.org"
@ SSHFP 1 1 0123456789abcdef0123456789abcdef01234567
"""
RECORDS = 13


def put(pushes: PushQueue, serial: int, address: str = "192.0.2.10", name: str = "example.com") -> None:
    """A push of ``zone(name, serial, address)`` queued as the endpoint queues one."""
    pushes.put(name, SAVE, text=zone(name, serial, address).text, serial=serial, hostname="h", username="u")


def zone(name: str = "example.com", serial: int = 1, address: str = "192.0.2.10") -> ZoneContent:
    text = dnsmill.parse_zone(ZONE.format(zone=name, serial=serial, address=address), f"{name}.").to_text()
    return ZoneContent(name, text)


# Every layout on every database it serves: (database, the records table, its type column,
# the layout).
LAYOUTS: dict[str, tuple[str, str, str, Callable[[], Layout]]] = {
    "coredns-mysql-extend": ("mysql", "records", "type", CoreDnsExtendLayout),
    "coredns-mysql": ("mysql", "coredns_records", "record_type", CoreDnsCloud66Layout),
    "powerdns-mysql": ("mysql", "records", "type", PowerDnsLayout),
    "powerdns-postgresql": ("postgresql", "records", "type", PowerDnsLayout),
}


class Target:
    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.dialect, self.table, self.type_column, self.layout = LAYOUTS[kind]

    def backend(self, url: str | None = None) -> SqlBackend:
        return SqlBackend(Database(url or self.url), self.layout())

    def sql(self, statement: str) -> str:
        return admin(self.url, statement)

    def ids(self) -> set[str]:
        return set(self.sql(f"SELECT id FROM {self.table}").split())


@pytest.fixture(params=list(LAYOUTS))
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    dialect = LAYOUTS[request.param][0]
    with mysql_database() if dialect == "mysql" else postgresql_database() as url:
        yield Target(request.param, url)


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_a_zone_is_written_as_each_layout_reads_it(target: Target) -> None:
    backend = target.backend()

    async def scenario() -> None:
        await backend.save(zone())
        assert await backend.zones() == ["example.com"]
        assert await backend.holds("example.com")
        assert not await backend.holds("example.net")
        await backend.close()

    run(scenario())
    if target.kind == "coredns-mysql-extend":
        rows = target.sql(
            "SELECT r.hostname, r.type, r.data, r.ttl, r.online FROM records r JOIN zones z ON r.zone_id = z.id "
            "WHERE z.zone_name = 'example.com.' AND r.type IN ('SOA', 'MX', 'SRV') ORDER BY r.type"
        ).splitlines()
        assert rows == [
            "@\tMX\t10 mail.example.com.\t300\t1",
            "@\tSOA\tns1.example.com. hostmaster.example.com. 1 3600 300 86400 300\t300\t1",
            "_sip._tcp\tSRV\t10 5 5060 sip.example.com.\t300\t1",
        ]
        assert target.sql("SELECT COUNT(*) FROM records") == str(RECORDS)
    elif target.kind == "coredns-mysql":
        rows = {
            (name.removeprefix("="), rtype): json.loads(content)
            for name, rtype, content in (
                line.split("\t")
                for line in target.sql(
                    "SELECT CONCAT('=', name), record_type, content FROM coredns_records WHERE zone = 'example.com.'"
                ).splitlines()
            )
        }
        assert rows[("", "MX")] == {"host": "mail.example.com.", "preference": 10}
        assert rows[("", "SOA")] == {
            "ns": "ns1.example.com.",
            "MBox": "hostmaster.example.com.",
            "refresh": 3600,
            "retry": 300,
            "expire": 86400,
            "minttl": 300,
        }
        assert rows[("", "TXT")] == {"text": "v=spf1 mx -allsecond string"}
        assert rows[("", "CAA")] == {"flag": 0, "tag": "issue", "value": "letsencrypt.org"}
        assert rows[("_sip._tcp", "SRV")] == {
            "priority": 10,
            "weight": 5,
            "port": 5060,
            "target": "sip.example.com.",
        }
        assert rows[("www", "CNAME")] == {"host": "example.com."}
        assert ("", "SSHFP") not in rows  # the plugin does not serve it
        assert target.sql("SELECT COUNT(*) FROM coredns_records") == str(RECORDS - 1)
    else:
        rows = target.sql(
            "SELECT name, type, content, ttl, prio FROM records WHERE type IN ('SOA', 'MX', 'CNAME') ORDER BY type"
        ).splitlines()
        separator = "|" if target.dialect == "postgresql" else "\t"
        assert [row.split(separator) for row in rows] == [
            ["www.example.com", "CNAME", "example.com", "300", "0"],
            ["example.com", "MX", "10 mail.example.com", "300", "0"],
            ["example.com", "SOA", "ns1.example.com hostmaster.example.com 1 3600 300 86400 300", "300", "0"],
        ]
        assert target.sql("SELECT name, type FROM domains").replace("|", "\t") == "example.com\tNATIVE"
        assert target.sql("SELECT COUNT(*) FROM records") == str(RECORDS)


def test_a_changed_zone_changes_only_its_differing_rows_and_drift_is_found_and_repaired(
    target: Target,
) -> None:
    backend = target.backend()

    async def scenario() -> None:
        await backend.save(zone(serial=1, address="192.0.2.10"))
        before = target.ids()
        await backend.save(zone(serial=2, address="192.0.2.20"))
        after = target.ids()
        # The SOA and the apex A changed: two rows replaced, every other row kept as it was
        # (cloud66's layout keeps no serial: its SOA row stays).
        changed = 1 if target.kind == "coredns-mysql" else 2
        assert len(before - after) == changed and len(after - before) == changed
        assert not await backend.drift(zone(serial=2, address="192.0.2.20"))
        # Someone edits the tables behind the service's back.
        target.sql(f"DELETE FROM {target.table} WHERE {target.type_column} = 'AAAA'")
        target.sql(f"UPDATE {target.table} SET ttl = 7 WHERE {target.type_column} = 'NS'")
        drift = await backend.drift(zone(serial=2, address="192.0.2.20"))
        assert (drift.missing, drift.extra) == (3, 2), drift
        await backend.save(zone(serial=2, address="192.0.2.20"))
        assert not await backend.drift(zone(serial=2, address="192.0.2.20"))
        await backend.delete("example.com")
        await backend.delete("example.com")  # a zone it does not hold: nothing to do
        assert await backend.zones() == []
        assert target.sql(f"SELECT COUNT(*) FROM {target.table}") == "0"
        await backend.close()

    run(scenario())


def test_record_rdata_becomes_each_layouts_form() -> None:
    assert (
        powerdns_content("SOA", "ns1.example.com. h.example.com. 1 2 3 4 5")
        == "ns1.example.com h.example.com 1 2 3 4 5"
    )
    assert powerdns_content("MX", "0 .") == "0 ."
    assert powerdns_content("TXT", '"a. b." "c."') == '"a. b." "c."'
    assert powerdns_content("NAPTR", '100 10 "S" "SIP+D2U" "" _sip._udp.example.com.') == (
        '100 10 "S" "SIP+D2U" "" _sip._udp.example.com'
    )
    assert cloud66_content("TXT", '"a\\"b" "\\059c"') == {"text": 'a"b;c'}
    with pytest.raises(ValueError, match="does not serve"):
        cloud66_content("SSHFP", "1 1 00")


def test_the_reconciler_repairs_drift_deletes_what_was_deleted_and_respects_dry_run_and_its_cap(
    tmp_path: Path,
) -> None:
    with postgresql_database() as url:
        target = Target("powerdns-postgresql", url)
        backend = target.backend()
        pushes = PushQueue(tmp_path / "pushes.db")

        async def scenario() -> None:
            for name in ("a.example", "b.example", "c.example"):
                pushes.put(name, SAVE, text=zone(name).text, serial=1, hostname="h", username="u")
            assert await Applier(pushes, [backend]).apply_once() == Applied(applied=3)
            pushes.put("c.example", DELETE, hostname="h", username="u")
            assert await Applier(pushes, [backend]).apply_once() == Applied(applied=1)
            # Drift: a changed row in a (one missing, one extra), a row gone from b (missing
            # only), the deleted zone c back, and a zone never pushed here.
            target.sql("UPDATE records SET ttl = 7 WHERE name = 'www.a.example'")
            target.sql("DELETE FROM records WHERE name = 'mail.b.example'")
            await backend.save(zone("c.example"))
            await backend.save(zone("unmanaged.example"))

            dry = await Reconciler(pushes, [backend], dry_run=True).run_once()
            assert (dry.compared, dry.drifting, dry.repaired, dry.deleted, dry.held_back, dry.unmanaged) == (
                2,
                3,
                0,
                0,
                3,
                1,
            )
            assert await backend.drift(zone("a.example"))

            capped = await Reconciler(pushes, [backend], max_deletions=0).run_once()
            assert (capped.repaired, capped.deleted, capped.held_back) == (1, 0, 2)  # b needed no deletion
            assert not await backend.drift(zone("b.example"))
            assert await backend.drift(zone("a.example"))

            full = await Reconciler(pushes, [backend], max_deletions=10).run_once()
            assert (full.repaired, full.deleted, full.held_back, full.errors) == (1, 1, 0, [])
            assert sorted(await backend.zones()) == ["a.example", "b.example", "unmanaged.example"]
            assert not await backend.drift(zone("a.example"))
            again = await Reconciler(pushes, [backend]).run_once()
            assert (again.drifting, again.unmanaged) == (0, 1)
            await backend.close()

        run(scenario())
        pushes.close()


def test_a_backend_that_goes_away_holds_no_other_up_and_gets_its_zones_when_it_returns(
    tmp_path: Path,
) -> None:
    with mysql_database() as mysql_url, postgresql_database() as postgres_url:
        proxy = TcpProxy(3306)
        try:
            through_proxy = mysql_url.replace("127.0.0.1:3306", proxy.url_netloc)
            coredns = Target("coredns-mysql-extend", mysql_url)
            powerdns = Target("powerdns-postgresql", postgres_url)
            backends = [coredns.backend(through_proxy), powerdns.backend()]
            pushes = PushQueue(tmp_path / "pushes.db")

            async def scenario() -> None:
                applier = Applier(pushes, backends)
                put(pushes, serial=1)
                assert await applier.apply_once() == Applied(applied=1)
                proxy.stop()  # MySQL is gone, with the pooled connections to it
                started = time.monotonic()
                put(pushes, serial=2, address="192.0.2.20")
                assert await applier.apply_once() == Applied(failed=1)
                assert time.monotonic() - started < 5, "a refused connection fails fast"
                assert not await backends[1].drift(zone(serial=2, address="192.0.2.20"))  # PowerDNS has it
                assert pushes.waiting() == 1
                # Meanwhile someone edits PowerDNS: the retry must not touch it (it has the
                # push), the reconciler then repairs it.
                powerdns.sql("UPDATE records SET ttl = 7 WHERE type = 'NS'")
                proxy.start()
                deadline = time.monotonic() + 10
                while (done := await applier.apply_once()) == Applied():
                    assert time.monotonic() < deadline, "the push came back after its backoff"
                    await asyncio.sleep(0.2)
                assert done == Applied(applied=1)
                assert pushes.waiting() == 0
                assert not await backends[0].drift(zone(serial=2, address="192.0.2.20"))
                assert (
                    coredns.sql("SELECT data FROM records WHERE type = 'A' AND hostname = '@'")
                    == "192.0.2.20"
                )
                assert await backends[1].drift(zone(serial=2, address="192.0.2.20"))
                report = await Reconciler(pushes, backends).run_once()
                assert (report.drifting, report.repaired, report.errors) == (1, 1, [])
                assert not await backends[1].drift(zone(serial=2, address="192.0.2.20"))
                for backend in backends:
                    await backend.close()

            run(scenario())
            pushes.close()
        finally:
            proxy.stop()


def test_dnsmill_sync_reconcile_reports_then_repairs(tmp_path: Path) -> None:
    with postgresql_database() as url:
        target = Target("powerdns-postgresql", url)
        pushes = PushQueue(tmp_path / "pushes.db")
        pushes.put("example.com", SAVE, text=zone().text, serial=1, hostname="h", username="u")

        async def apply() -> None:
            backend = target.backend()
            assert await Applier(pushes, [backend]).apply_once() == Applied(applied=1)
            await backend.close()

        run(apply())
        pushes.close()
        target.sql("DELETE FROM records WHERE type = 'MX'")
        config = tmp_path / "dnsmill.yaml"
        config.write_text(
            yaml.safe_dump({"sync": {"pushes": str(tmp_path / "pushes.db"), "powerdns": {"url": url}}})
        )
        command = [sys.executable, "-m", "dnsmill", "sync", "--config", str(config), "--reconcile"]
        dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr
        assert "dry run: 1 zone copies compared: 1 drifting, 0 repaired" in dry.stdout
        assert target.sql("SELECT COUNT(*) FROM records WHERE type = 'MX'") == "0"
        repaired = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert repaired.returncode == 0, repaired.stderr
        assert "1 drifting, 1 repaired" in repaired.stdout
        assert target.sql("SELECT content FROM records WHERE type = 'MX'") == "10 mail.example.com"


def test_a_batch_is_written_in_a_few_transactions_and_a_zone_the_database_refuses_fails_alone() -> None:
    with mysql_database() as url:
        target = Target("coredns-mysql-extend", url)
        backend = target.backend()
        zones = [zone(f"z{n}.example", address=f"192.0.2.{n % 250 + 1}") for n in range(150)]
        # A TXT record longer in text than the data column holds: MariaDB (strict) refuses it.
        huge = " ".join(['"' + "x" * 250 + '"'] * 260)
        text = zones[70].text + f"z70.example.\t300\tIN\tTXT\t{huge}\n"
        zones[70] = ZoneContent("z70.example", dnsmill.parse_zone(text, "z70.example.").to_text())

        async def scenario() -> None:
            outcomes = await backend.apply(zones)
            assert [n for n, error in enumerate(outcomes) if error is not None] == [70]
            assert "Data too long" in str(outcomes[70])
            for n in (0, 69, 71, 149):
                assert not await backend.drift(zones[n])
            assert len(await backend.zones()) == 149
            deletions = [ZoneDeletion(f"z{n}.example") for n in range(100)]
            assert await backend.apply(deletions) == [None] * 100
            assert len(await backend.zones()) == 50  # z70 was never written
            await backend.close()

        run(scenario())
        assert target.sql("SELECT COUNT(*) FROM records") == str(50 * RECORDS)


def test_the_reconciler_holds_backends_to_the_zone_as_it_is_when_it_gets_to_it(tmp_path: Path) -> None:
    """A push applied after a reconcile run began is never written back over with the text
    the run started from."""
    with postgresql_database() as url:
        backend = Target("powerdns-postgresql", url).backend()
        pushes = PushQueue(tmp_path / "pushes.db")

        async def scenario() -> None:
            put(pushes, serial=1)
            await Applier(pushes, [backend]).apply_once()
            started_from = pushes.applied()
            put(pushes, serial=2, address="192.0.2.20")
            await Applier(pushes, [backend]).apply_once()

            class RunBeganEarlier(PushQueue):
                def applied(self, zone: str | None = None) -> list[tuple[str, str | None]]:
                    return started_from if zone is None else pushes.applied(zone)

            stale = RunBeganEarlier(tmp_path / "pushes.db")
            report = await Reconciler(stale, [backend]).run_once()
            assert (report.drifting, report.repaired) == (0, 0)
            assert not await backend.drift(zone(serial=2, address="192.0.2.20"))
            stale.close()
            await backend.close()

        run(scenario())
        pushes.close()


def test_a_backend_that_hangs_holds_the_others_up_only_until_its_timeout(tmp_path: Path) -> None:
    """A MySQL that accepts connections and never answers (a listening socket nobody serves)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    with postgresql_database() as url:
        hanging = SqlBackend(
            Database(f"mysql://root@127.0.0.1:{silent.getsockname()[1]}/x", timeout=30), CoreDnsExtendLayout()
        )
        powerdns = Target("powerdns-postgresql", url).backend()
        pushes = PushQueue(tmp_path / "pushes.db")

        async def scenario() -> None:
            pushes.put("example.com", SAVE, text=zone().text, serial=1, hostname="h", username="u")
            started = time.monotonic()
            done = await Applier(pushes, [hanging, powerdns], backend_timeout=1.0).apply_once()
            assert done == Applied(failed=1)
            assert time.monotonic() - started < 5
            assert not await powerdns.drift(zone())
            await powerdns.close()
            await hanging.close()

        run(scenario())
        pushes.close()
    silent.close()


def test_a_repairing_reconcile_is_refused_beside_the_running_service_and_a_dry_run_changes_nothing(
    tmp_path: Path,
) -> None:
    from dnsmill.sync.service import _only_service_of

    with postgresql_database() as url:
        config = tmp_path / "dnsmill.yaml"
        config.write_text(
            yaml.safe_dump({"sync": {"pushes": str(tmp_path / "pushes.db"), "powerdns": {"url": url}}})
        )
        command = [sys.executable, "-m", "dnsmill", "sync", "--config", str(config), "--reconcile"]
        lock = _only_service_of(tmp_path / "pushes.db")  # as the running service holds it
        try:
            refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
            assert refused.returncode == 2 and "is running" in refused.stderr, refused.stderr
            dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=60)
            assert dry.returncode == 0, dry.stderr
        finally:
            lock.close()
        # The dry run read an empty database and created nothing in it.
        assert (
            Target("powerdns-postgresql", url).sql(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
            )
            == "0"
        )
