"""The event writer's settings: subjects and patterns checked strictly, routes that reach a
stream, dead letters that cannot loop back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dnsmill import ConfigError
from dnsmill.config import load_settings
from dnsmill.ingest.subjects import check_name, check_pattern, matches, overlap


@pytest.mark.parametrize("pattern", ["dns", "dns.records", "dns.*.example", "dns.>", "*", ">", "a-b_c.D9"])
def test_subject_patterns_nats_accepts_are_accepted(pattern: str) -> None:
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("", "empty"),
        ("dns..records", "empty token"),
        ("dns.", "empty token"),
        ("dns.>.x", "last token"),
        ("dns records", "whitespace"),
        ("dns.re*cords", "wildcard"),
        ("dns.\x00", "control"),
    ],
)
def test_bad_subject_patterns_say_what_is_wrong(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_pattern(pattern)


def test_wildcards_are_refused_where_a_subject_is_wanted() -> None:
    with pytest.raises(ValueError, match="wildcards are not allowed"):
        check_pattern("dns.*", wildcards=False)
    with pytest.raises(ValueError, match="no dots"):
        check_name("DNS.events", "stream")


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("dns.records", "dns.records", True),
        ("dns.records", "dns.records.x", False),
        ("dns.*", "dns.records", True),
        ("dns.*", "dns.records.x", False),
        ("dns.>", "dns.records", True),
        ("dns.>", "dns.records.x.y", True),
        ("dns.>", "dns", False),
        ("*.records", "dns.records", True),
        (">", "anything.at.all", True),
    ],
)
def test_patterns_match_subjects_as_nats_does(pattern: str, subject: str, expected: bool) -> None:
    assert matches(pattern, subject) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("dns.records.>", "dns.>", True),
        ("dns.records.>", "dns.results.>", False),
        ("dns.*.a", "dns.b.*", True),
        ("dns.*", "dns.a.b", False),
        ("dns.>", "dns", False),
        ("dns.a", "dns.a", True),
        ("*.*", "dns.>", True),
        (">", "x", True),
    ],
)
def test_patterns_overlap_when_some_subject_matches_both(first: str, second: str, expected: bool) -> None:
    assert overlap(first, second) is expected
    assert overlap(second, first) is expected


STREAM = {"name": "DNS", "subjects": ["dns.records.>", "dns.results.>"]}


def test_streams_and_routes_read_from_settings_with_their_defaults() -> None:
    settings = load_settings(
        ingest={"streams": [STREAM], "routes": [{"subject": "dns.records.>", "processor": "records"}]}
    ).ingest
    (stream,) = settings.streams
    assert (stream.durable, stream.max_deliver, stream.ack_wait.total_seconds()) == ("dnsmill-ingest", 5, 60)
    (route,) = settings.routes
    assert (route.batch_size, route.batch_timeout.total_seconds(), route.table) == (5000, 0.2, None)


@pytest.mark.parametrize(
    ("ingest", "why"),
    [
        (
            {"streams": [STREAM], "routes": [{"subject": "dns.events.>", "processor": "events"}]},
            "no stream holds",
        ),
        ({"streams": [STREAM, STREAM]}, "names of their own"),
        ({"streams": [{"name": "DNS", "subjects": ["DNS.>"]}]}, "takes back in"),
        ({"streams": [{"name": "DNS", "subjects": []}]}, "at least 1"),
        ({"streams": [{"name": "DNS events", "subjects": ["x"]}]}, "letters, digits"),
        (
            {"streams": [STREAM], "routes": [{"subject": "dns.records.>", "processor": "Records!"}]},
            "processor",
        ),
        ({"streams": [STREAM], "routes": [{"subject": "dns..x", "processor": "records"}]}, "empty token"),
        (
            {
                "streams": [STREAM],
                "routes": [{"subject": "dns.records.>", "processor": "records", "batch_size": 0}],
            },
            "batch_size",
        ),
    ],
)
def test_settings_that_could_never_work_are_refused_naming_the_field(
    ingest: dict[str, object], why: str
) -> None:
    with pytest.raises(ConfigError, match=why):
        load_settings(ingest=ingest)


def test_a_dead_letter_subject_outside_the_stream_is_accepted() -> None:
    stream = {"name": "DNS", "subjects": ["DNS.>"], "dead_letter_subject": "dead.DNS"}
    assert load_settings(ingest={"streams": [stream]}).ingest.streams[0].dead_letter_subject == "dead.DNS"


def test_ingest_settings_come_from_a_file_and_the_environment_with_passwords_hidden(tmp_path: Path) -> None:
    config = tmp_path / "dnsmill.yaml"
    config.write_text(
        "ingest:\n  streams:\n    - name: DNS\n      subjects: [dns.records.>]\n"
        "  routes:\n    - {subject: dns.records.>, processor: records, batch_timeout: 50ms}\n"
    )
    shown = subprocess.run(
        [sys.executable, "-m", "dnsmill", "config", "show", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DNSMILL_INGEST__NATS": "nats://writer:hunter2@127.0.0.1:4222", "PATH": "/usr/bin:/bin"},
    )
    assert shown.returncode == 0, shown.stderr
    ingest = json.loads(shown.stdout)["ingest"]
    assert ingest["nats"] == "nats://writer:***@127.0.0.1:4222"
    assert ingest["routes"][0]["batch_timeout"] == "0.05s"
    assert "hunter2" not in shown.stdout
