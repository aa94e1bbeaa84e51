"""The domains job table on each real store: adding, due pages as message bodies, queued marks,
and batches resolved and stored with their outcomes in one transaction, with typed errors."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import dnsmill
import pytest
from conftest import require_tool
from dnsservers import UdpServer, nsd
from stores import admin

ZONE = """$ORIGIN shop.test.
$TTL 300
@ SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
ns1 A 192.0.2.53
@ A 192.0.2.10
@ MX 10 mail
mail A 192.0.2.25
nodata TXT "only text"
"""


def test_add_checks_names_and_keeps_the_good_ones(store: str, tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text(
        "# customers\nExample.COM\nbücher.example\n\nbad name.example\nexample.com.\n"
        + "x" * 70
        + ".example\nok.example\n"
    )
    with dnsmill.Domains(store) as domains:
        result = domains.add(names)
        assert result["added"] == 3 and result["duplicates"] == 1  # example.com. came twice
        assert [(line, text, reason.split(" in name")[0]) for line, text, reason in result["rejected"]] == [
            (5, "bad name.example", "name contains whitespace"),
            (7, "x" * 70 + ".example", "label longer than 63 bytes"),
        ]
        again = domains.add(["ok.example", "new.example"])
        assert again == {"added": 1, "duplicates": 1, "rejected": []}
        due = domains.due(limit=100)
    assert [name for _, name in due] == [
        "example.com.",
        "xn--bcher-kva.example.",
        "ok.example.",
        "new.example.",
    ]
    assert admin(store, "SELECT COUNT(*) FROM domains WHERE status = 'new'") == "4"


def test_add_refuses_what_is_not_a_host_name(store: str) -> None:
    """A URL, an address or a stray byte in a domain list is a mistake in the list: reported
    with its reason, not queried."""
    given = [
        "http://example.com/x",
        "192.0.2.1",
        "2001:db8::1",
        "ex\x00ample.com",
        "me@example.com",
        "*.x.example",
    ]
    with dnsmill.Domains(store) as domains:
        result = domains.add([*given, "_dmarc.example.com"])
    assert result["added"] == 1
    reasons = [reason for _, _, reason in result["rejected"]]
    assert [line for line, _, _ in result["rejected"]] == [1, 2, 3, 4, 5, 6]
    for reason, expected in zip(
        reasons,
        [
            "a URL",
            "an IP address",
            "an IP address",
            "control character",
            "an e-mail address",
            "'*' is not allowed",
        ],
        strict=True,
    ):
        assert expected in reason, reasons


def test_due_pages_by_id_and_queued_domains_are_not_due(store: str) -> None:
    with dnsmill.Domains(store) as domains:
        domains.add([f"d{n:03}.example" for n in range(25)])
        pages, after = [], 0
        while page := domains.due(after, 10):
            pages.append(page)
            after = page[-1][0]
        assert [len(p) for p in pages] == [10, 10, 5]
        names = [name for page in pages for _, name in page]
        assert names == [f"d{n:03}.example." for n in range(25)]
        assert domains.count_due() == 25
        assert domains.mark_queued([domain_id for domain_id, _ in pages[0]]) == 10
        assert domains.count_due() == 15
        assert domains.reset_queued() == 10
        assert domains.count_due() == 25


def test_due_pages_come_as_message_bodies_made_in_rust(store: str) -> None:
    with dnsmill.Domains(store) as domains:
        domains.add([f"d{n:03}.example" for n in range(25)])
        page = domains.due_page(0, 20, batch_size=8)
        assert (page.domains, len(page.bodies)) == (20, 3)
        batches = [dnsmill.Batch.decode(body) for body in page.bodies]
        assert [len(batch) for batch in batches] == [8, 8, 4]
        assert batches[0].names[:2] == ["d000.example.", "d001.example."]
        assert not batches[0].stop and dnsmill.Batch.decode(dnsmill.Batch.encode_stop()).stop
        assert domains.mark_queued(page) == 20
        rest = domains.due_page(page.last_id, 20, batch_size=8)
        assert rest.domains == 5 and dnsmill.Batch.decode(rest.bodies[0]).names[0] == "d020.example."
        assert not domains.due_page(rest.last_id, 20)
    with pytest.raises(dnsmill.MessageError, match="not JSON"):
        dnsmill.Batch.decode(b"{nope")


def test_a_batch_is_resolved_and_stored_with_its_outcomes(store: str) -> None:
    names = ["shop.test.", "nodata.shop.test.", "missing.shop.test.", "slow.example."]
    silent = UdpServer(lambda _query: [])  # never answers: slow.example. times out
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        with dnsmill.BatchJob(resolver, store, types=["A", "TXT"]) as job:
            done = job.process(dnsmill.Batch.decode(dnsmill.Batch.encode([*names[:3], "bad name"])))
    assert done["domains"] == 3 and done["outcomes"] == {"resolved": 2, "nxdomain": 1}
    assert done["records"] == 2  # shop.test. A, nodata TXT
    assert done["invalid"] == [("bad name", "name contains whitespace")]
    timing_out = dnsmill.BatchJob(dnsmill.Resolver([silent.address], timeout=0.2, retries=0), store)
    assert timing_out.process(dnsmill.Batch.decode(dnsmill.Batch.encode(names[3:])))["outcomes"] == {
        "failed": 1
    }
    with dnsmill.Domains(store) as domains:
        assert domains.count_due(max_attempts=3) == 1  # only the failure, with attempts left
        assert domains.count_due(max_attempts=1) == 0
        assert domains.count_due(max_age=0) == 4  # everything resolved is due at once
    timing_out.process(dnsmill.Batch.decode(dnsmill.Batch.encode(names[3:])))
    timing_out.close()
    silent.close()
    rows = admin(store, "SELECT name, status, attempts FROM domains ORDER BY name")
    assert [" ".join(re.split(r"[|\s]+", row)) for row in rows.splitlines()] == [
        "missing.shop.test. nxdomain 0",
        "nodata.shop.test. resolved 0",
        "shop.test. resolved 0",
        "slow.example. failed 2",
    ]
    error = admin(store, "SELECT last_error FROM domains WHERE name = 'slow.example.'")
    assert error == "A TIMEOUT"
    resolved_at = admin(store, "SELECT COUNT(*) FROM domains WHERE last_resolved_at IS NOT NULL")
    assert resolved_at == "4"
    assert admin(store, "SELECT COUNT(*) FROM dns_records") == "2"


def test_records_and_outcomes_commit_together_or_not_at_all(store: str) -> None:
    """The outcomes' table is gone after the job opened: the batch's transaction fails as a
    whole (a schema error), so not one of its answer records is stored either."""
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        with dnsmill.BatchJob(resolver, store, types=["A", "MX"]) as job:
            admin(store, "DROP TABLE domains")
            with pytest.raises(dnsmill.StoreSchemaError) as failure:
                job.process(dnsmill.Batch.decode(dnsmill.Batch.encode(["shop.test."])))
    assert failure.value.kind == "configuration" and "domains" in str(failure.value)
    assert admin(store, "SELECT COUNT(*) FROM dns_records") == "0"


REFUSE_ONE_DOMAIN = {
    "sqlite": "CREATE TRIGGER refuse BEFORE INSERT ON domains WHEN NEW.name = 'nodata.shop.test.' "
    "BEGIN SELECT RAISE(ABORT, 'no such domain here'); END",
    "postgresql": "ALTER TABLE domains ADD CONSTRAINT refuse CHECK (name <> 'nodata.shop.test.')",
    "mysql": "ALTER TABLE domains ADD CONSTRAINT refuse CHECK (name <> 'nodata.shop.test.')",
}


def test_data_the_store_rejects_is_a_rejected_error(store: str) -> None:
    with dnsmill.Domains(store):
        pass  # the schema, so the constraint has a table to go on
    admin(store, REFUSE_ONE_DOMAIN[store.split(":")[0]])
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        with dnsmill.BatchJob(resolver, store, types=["A", "TXT"]) as job:
            with pytest.raises(dnsmill.StoreRejectedError) as failure:
                job.process(dnsmill.Batch.decode(dnsmill.Batch.encode(["shop.test.", "nodata.shop.test."])))
    assert failure.value.kind == "rejected"
    assert isinstance(failure.value, dnsmill.StoreError)


def test_an_unreachable_store_is_a_connection_error() -> None:
    with pytest.raises(dnsmill.StoreConnectionError) as failure:
        dnsmill.Domains("postgresql://postgres@127.0.0.1:1/nothing")
    assert failure.value.kind == "transient" and "127.0.0.1:1" in str(failure.value)
    with pytest.raises(ValueError, match="names no file"):
        dnsmill.Domains("sqlite://")


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_lost_connection_is_retried_inside_the_batch(store: str) -> None:
    """The server ends the job's connection between two batches: the next batch reconnects and
    commits all the same, and says it retried."""
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        with dnsmill.BatchJob(resolver, store, types=["A"]) as job:
            job.process(dnsmill.Batch.decode(dnsmill.Batch.encode(["shop.test."])))
            admin(
                store,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            done = job.process(dnsmill.Batch.decode(dnsmill.Batch.encode(["mail.shop.test."])))
    assert done["retried"] >= 1 and done["records"] == 1
    assert admin(store, "SELECT COUNT(*) FROM domains WHERE status = 'resolved'") == "2"


def test_marking_a_page_queued_keeps_an_outcome_stored_in_the_meantime(store: str) -> None:
    """A worker may take a message and commit its outcome before the publisher marks the page
    `queued`: the outcome stays, so the domain is not left queued with no message."""
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        with dnsmill.Domains(store) as domains:
            domains.add(["shop.test.", "mail.shop.test."])
            page = domains.due_page(0, 10, batch_size=10)
            resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
            with dnsmill.BatchJob(resolver, store, types=["A"]) as job:
                job.process(dnsmill.Batch.decode(dnsmill.Batch.encode(["shop.test."])))
            assert domains.mark_queued(page) == 1
    rows = admin(store, "SELECT name, status FROM domains ORDER BY name")
    assert [" ".join(re.split(r"[|\s]+", row)) for row in rows.splitlines()] == [
        "mail.shop.test. queued",
        "shop.test. resolved",
    ]


def test_batches_waiting_for_the_store_share_a_commit_and_only_a_rejected_one_fails(store: str) -> None:
    """Three batches handed to one job at once: the store takes them together, refuses the
    outcome of one domain, and then stores them one by one, so only that batch fails."""
    with dnsmill.Domains(store):
        pass
    admin(store, REFUSE_ONE_DOMAIN[store.split(":")[0]])
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        with dnsmill.BatchJob(resolver, store, types=["A", "TXT"]) as job:
            batches = [["shop.test."], ["nodata.shop.test."], ["mail.shop.test.", "ns1.shop.test."]]

            async def all_at_once() -> list[dict[str, object] | BaseException]:
                return await asyncio.gather(
                    *(job.process_async(dnsmill.Batch.decode(dnsmill.Batch.encode(b))) for b in batches),
                    return_exceptions=True,
                )

            first, refused, third = asyncio.run(all_at_once())
    assert isinstance(refused, dnsmill.StoreRejectedError)
    assert isinstance(first, dict) and first["outcomes"] == {"resolved": 1}
    assert isinstance(third, dict) and third["outcomes"] == {"resolved": 2}
    rows = admin(store, "SELECT name, status FROM domains ORDER BY name")
    assert [" ".join(re.split(r"[|\s]+", row)) for row in rows.splitlines()] == [
        "mail.shop.test. resolved",
        "ns1.shop.test. resolved",
        "shop.test. resolved",
    ]


def test_a_domain_in_two_batches_stored_together_is_recorded_once(store: str) -> None:
    """A message redelivered beside its original: one transaction may hold a domain twice."""
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        with dnsmill.BatchJob(resolver, store, types=["A"]) as job:
            body = dnsmill.Batch.encode(["shop.test.", "mail.shop.test."])

            async def twice() -> list[dict[str, object]]:
                return list(
                    await asyncio.gather(*(job.process_async(dnsmill.Batch.decode(body)) for _ in range(4)))
                )

            reports = asyncio.run(twice())
    assert all(report["outcomes"] == {"resolved": 2} and report["records"] == 2 for report in reports)
    assert admin(store, "SELECT COUNT(*) FROM domains") == "2"
    assert admin(store, "SELECT COUNT(*) FROM dns_records") == "2"


def test_a_store_that_never_answers_fails_after_the_connect_timeout() -> None:
    """A server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        for url in (
            f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=0.5",
            f"mysql://root@127.0.0.1:{port}/x?connect_timeout=0.5",
        ):
            started = time.monotonic()
            with pytest.raises(dnsmill.StoreConnectionError, match=r"no answer within 0\.5 s"):
                dnsmill.Domains(url)
            assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_a_line_that_is_not_utf8_is_rejected_with_its_number_and_the_rest_is_added(
    store: str, tmp_path: Path
) -> None:
    names = tmp_path / "latin1.txt"
    names.write_bytes(b"good.example\n" + "b\xfccher.example".encode("latin-1") + b"\r\nok.example\n")
    with dnsmill.Domains(store) as domains:
        result = domains.add(names)
    assert result["added"] == 2
    assert [(line, reason) for line, _text, reason in result["rejected"]] == [
        (2, "not UTF-8 text (save the file as UTF-8)")
    ]


def test_a_domain_queued_longer_than_requeue_after_is_due_again(store: str) -> None:
    """Its message was lost (a broker lost it, or it was dead-lettered): the publisher takes it
    up again once `requeue_after` has passed, and not before."""
    with dnsmill.Domains(store) as domains:
        domains.add([f"lost{n}.example" for n in range(5)])
        page = domains.due_page(batch_size=5, requeue_after=0.5)
        assert page.domains == 5 and domains.mark_queued(page) == 5
        assert domains.count_due(requeue_after=0.5) == 0
        assert domains.count_due() == 0  # without requeue_after a queued domain waits
        time.sleep(0.7)
        assert domains.count_due(requeue_after=0.5) == 5
        again = domains.due_page(batch_size=5, requeue_after=0.5)
        assert again.domains == 5 and domains.mark_queued(again) == 5
        assert domains.count_due(requeue_after=0.5) == 0  # queued afresh
        with pytest.raises(ValueError, match="requeue_after must be a number of seconds, more than 0"):
            domains.count_due(requeue_after=0)
    assert admin(store, "SELECT COUNT(*) FROM domains WHERE queued_at IS NOT NULL") == "5"
