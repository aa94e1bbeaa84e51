"""The sync service's zone names and its durable queue of pushes (a real SQLite file, real
processes killed with kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dnsmill.sync.names import BadZoneName, zone_name, zone_path
from dnsmill.sync.pushes import DELETE, SAVE, Owner, PushQueue, serial_older

ZONE = "$ORIGIN example.com.\n@ 300 SOA ns1 admin {serial} 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n"


def zone_text(serial: int) -> str:
    return ZONE.format(serial=serial)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-1.b2.c", "a-1.b2.c"),
    ],
)
def test_zone_names_are_lowercased_without_the_trailing_dot(given: str, expected: str) -> None:
    assert zone_name(given) == expected


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("../x", "label"),
        ("/etc/passwd", "label"),
        ('x" { type master; file "/etc/shadow"; }; #.com', "label"),
        ("ex ample.com", "label"),
        ("example.com\x00.evil", "label"),
        ("example..com", "empty label"),
        ("com", "two labels"),
        ("-a.com", "label"),
        ("a-.com", "label"),
        ("a_b.com", "label"),
        ("a\\b.com", "label"),
        ("bücher.example", "not ASCII"),
        ("a" * 64 + ".com", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("", "empty"),
    ],
)
def test_zone_names_that_could_reach_a_path_or_config_line_are_refused(bad: str, why: str) -> None:
    with pytest.raises(BadZoneName, match=why):
        zone_name(bad)


def test_allowed_suffixes_and_paths_inside_the_zones_directory(tmp_path: Path) -> None:
    assert zone_name("shop.example.net", ["example.net."]) == "shop.example.net"
    assert zone_name("example.net", ["example.net"]) == "example.net"
    with pytest.raises(BadZoneName, match="allowed suffix"):
        zone_name("badexample.net", ["example.net"])
    assert zone_path(tmp_path, "example.com") == tmp_path.resolve() / "example.com.db"
    with pytest.raises(BadZoneName, match="outside"):
        zone_path(tmp_path, "../example.com")


def test_serials_compare_as_rfc_1982_says() -> None:
    assert serial_older(1, 2) and not serial_older(2, 1) and not serial_older(5, 5)
    assert serial_older(2**32 - 10, 5)  # wrapped: 5 comes after 4294967286
    assert not serial_older(5, 2**32 - 10)


def test_pushes_of_one_zone_collapse_to_the_newest_and_older_serials_never_regress(tmp_path: Path) -> None:
    queue = PushQueue(tmp_path / "pushes.db")
    owner = {"hostname": "da1.example", "username": "admin"}
    assert queue.put("example.com", SAVE, text=zone_text(3), serial=3, **owner)
    assert queue.put("example.com", SAVE, text=zone_text(5), serial=5, **owner)
    assert not queue.put("example.com", SAVE, text=zone_text(4), serial=4, **owner)  # late, older
    assert queue.waiting() == 1
    (push,) = queue.take(10)
    assert (push.serial, push.text) == (5, zone_text(5))
    assert queue.done(push)
    # Applied at 5: an older push changes nothing, a newer one is queued.
    assert not queue.put("example.com", SAVE, text=zone_text(4), serial=4, **owner)
    assert queue.waiting() == 0
    assert queue.put("example.com", SAVE, text=zone_text(6), serial=6, **owner)
    # A delete wins over the save waiting before it; after it, any serial may come again.
    assert queue.put("example.com", DELETE, **owner)
    (push,) = queue.take()
    assert push.action == DELETE and push.text is None
    assert queue.done(push)
    assert queue.owner("example.com") is None
    assert queue.put("example.com", SAVE, text=zone_text(1), serial=1, **owner)
    queue.close()


def test_a_push_replaced_while_being_applied_is_applied_next_not_lost(tmp_path: Path) -> None:
    queue = PushQueue(tmp_path / "pushes.db", lease=60)
    owner = {"hostname": "da1.example", "username": "admin"}
    queue.put("example.com", SAVE, text=zone_text(1), serial=1, **owner)
    (first,) = queue.take()
    queue.put("example.com", SAVE, text=zone_text(2), serial=2, **owner)
    assert queue.take() == []  # the zone is being applied: the newer push waits for it
    assert not queue.done(first)  # replaced meanwhile: the newer push stays
    assert not queue.failed(first, "too late")
    assert queue.waiting() == 1
    queue.close()


def test_owners_are_remembered_per_zone(tmp_path: Path) -> None:
    queue = PushQueue(tmp_path / "pushes.db")
    assert queue.owner("example.com") is None
    queue.put("example.com", SAVE, text=zone_text(1), serial=1, hostname="da1.example", username="alice")
    assert queue.owner("example.com") == Owner("da1.example", "alice")
    (push,) = queue.take()
    queue.done(push)
    assert queue.owner("example.com") == Owner("da1.example", "alice")
    queue.close()


def test_failed_pushes_back_off_then_go_to_the_dead_pushes(tmp_path: Path) -> None:
    queue = PushQueue(tmp_path / "pushes.db", max_attempts=2)
    queue.put("example.com", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    (push,) = queue.take()
    assert not queue.failed(push, "named-checkzone refused it")
    assert queue.take() == []  # backing off
    time.sleep(1.1)
    (again,) = queue.take()
    assert again.attempts == 2
    assert queue.failed(again, "named-checkzone refused it again")
    assert queue.waiting() == 0
    assert queue.dead() == [("example.com", SAVE, "named-checkzone refused it again")]
    queue.close()


PUSH_AND_HOLD = """
import sys, time
from dnsmill.sync.pushes import PushQueue, SAVE
queue = PushQueue(sys.argv[1], lease=1)
for n in range(200):
    queue.put(f"z{n}.example", SAVE, text="x", serial=n, hostname="h", username="u")
print("queued", flush=True)
(taken,) = queue.take()
print("taken", taken.zone, flush=True)
time.sleep(60)
"""


def test_pushes_survive_kill_9_including_the_one_being_applied(tmp_path: Path) -> None:
    path = tmp_path / "pushes.db"
    process = subprocess.Popen(
        [sys.executable, "-c", PUSH_AND_HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "queued"
    taken = process.stdout.readline().split()[1]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    queue = PushQueue(path)
    assert queue.waiting() == 200
    time.sleep(1.1)  # the killed process's lease runs out
    zones = {push.zone for push in queue.take(500)}
    assert len(zones) == 200 and taken in zones
    queue.close()


def test_a_push_replaced_while_being_applied_is_due_as_soon_as_that_apply_ends(tmp_path: Path) -> None:
    pushes = PushQueue(tmp_path / "pushes.db", lease=60)
    pushes.put("example.com", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    (first,) = pushes.take()
    pushes.put("example.com", SAVE, text=zone_text(2), serial=2, hostname="h", username="u")
    assert pushes.take() == []  # the newer one waits while the older is being applied...
    assert not pushes.done(first)
    (second,) = pushes.take()  # ...and not for the rest of the lease once it is done
    assert second.serial == 2
    pushes.put("example.com", SAVE, text=zone_text(3), serial=3, hostname="h", username="u")
    assert not pushes.failed(second, "backend down")
    (third,) = pushes.take()
    assert third.serial == 3
    pushes.close()


def test_a_restarted_service_releases_the_leases_of_the_process_it_replaces(tmp_path: Path) -> None:
    pushes = PushQueue(tmp_path / "pushes.db", lease=60)
    for n in range(3):
        pushes.put(f"zone{n}.example", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    assert len(pushes.take(2)) == 2
    pushes.close()
    again = PushQueue(tmp_path / "pushes.db", lease=60)
    assert [push.zone for push in again.take(3)] == ["zone2.example"]
    assert again.release_leases() == 3
    assert sorted(push.zone for push in again.take(3)) == ["zone0.example", "zone1.example", "zone2.example"]
    again.close()


def test_the_backends_that_have_a_push_are_remembered_until_a_newer_push_comes(tmp_path: Path) -> None:
    pushes = PushQueue(tmp_path / "pushes.db", lease=0)
    pushes.put("example.com", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    (push,) = pushes.take()
    assert push.backends_done == frozenset()
    pushes.progress(push, frozenset({"bind"}))
    pushes.failed(push, "powerdns: down")
    assert pushes.release_leases() == 0  # backing off is not a lease
    time.sleep(1.1)  # the first backoff
    (again,) = pushes.take()
    assert again.backends_done == {"bind"} and again.version == push.version
    pushes.put("example.com", SAVE, text=zone_text(2), serial=2, hostname="h", username="u")
    (newer,) = pushes.take()
    assert newer.backends_done == frozenset()
    assert pushes.applied() == []
    assert pushes.done(newer)
    assert pushes.applied() == [("example.com", zone_text(2))]
    pushes.put("example.com", DELETE, hostname="h", username="u")
    assert pushes.applied() == []  # a push waits: the applier has the zone
    (delete,) = pushes.take()
    assert pushes.done(delete)
    assert pushes.applied() == [("example.com", None)]
    pushes.close()


def test_puts_side_by_side_share_commits_and_each_gets_its_own_outcome(tmp_path: Path) -> None:
    import threading

    pushes = PushQueue(tmp_path / "pushes.db")
    outcomes: dict[tuple[int, int], bool] = {}

    def client(n: int) -> None:
        for k in range(40):
            # Five puts per zone, serials rising (the first is 1), whatever batch each lands in.
            serial = 100 + k if k % 5 else 1
            outcomes[(n, k)] = pushes.put(
                f"zone{n}-{k // 5}.example",
                SAVE,
                text=zone_text(serial),
                serial=serial,
                hostname="h",
                username="u",
            )

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 320
    assert all(outcomes[(n, k)] for n in range(8) for k in range(40))
    assert pushes.waiting() == 8 * 8
    assert pushes.put_commits < 320
    assert not pushes.put("zone0-0.example", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    assert [push.serial for push in pushes.take(100) if push.zone == "zone0-0.example"] == [104]
    pushes.close()


def test_a_newer_push_does_not_inherit_the_backoff_of_the_one_it_replaces(tmp_path: Path) -> None:
    pushes = PushQueue(tmp_path / "pushes.db", lease=0)
    pushes.put("example.com", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    for _ in range(5):  # backing off longer each time: 16 s after the fifth failure
        pushes.release_leases()
        pushes._db.execute("UPDATE sync_pushes SET available_at = 0")  # the backoff, run out
        (push,) = pushes.take()
        pushes.failed(push, "backend down")
    assert pushes.take() == []
    pushes.put("example.com", SAVE, text=zone_text(2), serial=2, hostname="h", username="u")
    (newer,) = pushes.take()
    assert newer.serial == 2 and newer.attempts == 1
    pushes.close()


def test_the_reconciler_is_not_given_zones_whose_last_push_died(tmp_path: Path) -> None:
    pushes = PushQueue(tmp_path / "pushes.db", lease=0, max_attempts=1)
    pushes.put("example.com", SAVE, text=zone_text(1), serial=1, hostname="h", username="u")
    (push,) = pushes.take()
    pushes.done(push)
    assert pushes.applied() == [("example.com", zone_text(1))] == pushes.applied("example.com")
    pushes.put("example.com", SAVE, text=zone_text(2), serial=2, hostname="h", username="u")
    (push,) = pushes.take()
    assert pushes.failed(push, "powerdns: down")  # dead: some backends may hold serial 2
    assert pushes.applied() == [] == pushes.applied("example.com")
    assert pushes.known() == {"example.com"}
    pushes.put("example.com", SAVE, text=zone_text(3), serial=3, hostname="h", username="u")
    (push,) = pushes.take()
    pushes.done(push)
    assert pushes.applied() == [("example.com", zone_text(3))]
    pushes.close()


def test_dead_pushes_are_listed_and_queued_again_unless_a_newer_push_superseded_them(tmp_path: Path) -> None:
    pushes = PushQueue(tmp_path / "pushes.db", lease=0, max_attempts=1)
    for zone in ("a.example", "b.example"):
        pushes.put(zone, SAVE, text=zone_text(5), serial=5, hostname="h", username="u")
    for push in pushes.take(2):
        assert pushes.failed(push, f"powerdns: {push.zone} refused")
    # b.example gets a newer push, applied: its dead one is superseded.
    pushes.put("b.example", SAVE, text=zone_text(6), serial=6, hostname="h", username="u")
    (newer,) = pushes.take()
    pushes.done(newer)
    pushes.close()
    config = tmp_path / "dnsmill.yaml"
    config.write_text(f"sync: {{pushes: {tmp_path / 'pushes.db'}}}\n")
    command = [sys.executable, "-m", "dnsmill", "sync", "--config", str(config)]
    listed = subprocess.run([*command, "--dead"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "a.example\tsave\tpowerdns: a.example refused",
        "b.example\tsave\tpowerdns: b.example refused",
    ]
    retried = subprocess.run([*command, "--retry-dead"], capture_output=True, text=True, timeout=60)
    assert retried.returncode == 0, retried.stderr
    assert "1 dead pushes queued again; 1 superseded" in retried.stdout
    again = PushQueue(tmp_path / "pushes.db")
    (push,) = again.take(10)
    assert (push.zone, push.serial, push.attempts) == ("a.example", 5, 1)
    assert again.dead() == []
    again.close()
