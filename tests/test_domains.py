"""The domains job table on each real store: adding, due pages, queued marks, outcomes."""

from __future__ import annotations

import re
from pathlib import Path

import dnsmill
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


def test_outcomes_from_a_real_resolution(store: str) -> None:
    names = ["shop.test.", "nodata.shop.test.", "missing.shop.test.", "slow.example."]
    silent = UdpServer(lambda _query: [])  # never answers: slow.example. times out
    with nsd(require_tool("nsd"), {"shop.test": ZONE}) as port:
        resolver = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        answered = resolver.resolve(names[:3], ["A", "TXT"])
    timed_out = dnsmill.Resolver([silent.address], timeout=0.2, retries=0).resolve(names[3:], ["A"])
    silent.close()
    with dnsmill.Domains(store) as domains:
        domains.add(names)
        assert domains.record_outcomes(answered) == {"resolved": 2, "nxdomain": 1}
        assert domains.record_outcomes(timed_out) == {"failed": 1}
        assert domains.count_due(max_attempts=3) == 1  # only the failure, with attempts left
        assert domains.count_due(max_attempts=1) == 0
        assert domains.count_due(max_age=0) == 4  # everything resolved is due at once
        domains.record_outcomes(timed_out)
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
