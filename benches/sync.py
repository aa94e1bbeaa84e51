"""The zone sync service end to end: DirectAdmin-style pushes over HTTP into `dnsmill sync`,
through its durable queue, into BIND (zone files, the include file, rndc) and CoreDNS-MySQL
(the mysql_extend plugin's tables on the MariaDB at 127.0.0.1:3306), in one run.

Starts its own named on a loopback port and `dnsmill sync` as a process, then several clients
(as several DirectAdmin servers would be) each push their share of the zones the way
DirectAdmin does: HTTP/1.0, Basic auth, no Content-Type, `exists` then `rawsave`. Reports:

  zones/s        from the first push to the moment the queue is empty (every zone written,
                 checked with named-checkzone, in the include file, named reconfigured, and in
                 the MySQL tables; each backend's copy read back and compared record for record)
  push latency   each rawsave until its `error=0` (DirectAdmin waits on it), p50 and p99
  answered       every zone then asked for its A record from named

The tool users run today: 35-41 zones/s on this kind of machine with reloads stubbed out
(quoted, not run here). A benchmark, not a test.

    scripts/bench sync               # or: python benches/sync.py --zones 1000 --clients 4
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dnsmill
from measure import cpu_seconds

KEY = base64.b64encode(os.urandom(32)).decode()
EXISTING_TOOL = (35, 41)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def realistic_zone(zone: str, rng: random.Random) -> str:
    """About 18 records: SOA, NS, A, AAAA, MX, TXT and CNAME, as DirectAdmin writes a domain."""
    net = f"192.0.2.{rng.randrange(1, 255)}"
    lines = [
        "$TTL 14400",
        f"{zone}.\t14400\tIN\tSOA\tns1.example.net. hostmaster.{zone}. ( 2026113001 3600 3600 1209600 86400 )",
        f"{zone}.\t14400\tIN\tNS\tns1.example.net.",
        f"{zone}.\t14400\tIN\tNS\tns2.example.net.",
        f"{zone}.\t14400\tIN\tA\t{net}",
        f"{zone}.\t14400\tIN\tAAAA\t2001:db8::{rng.randrange(1, 65535):x}",
        f"{zone}.\t14400\tIN\tMX\t10 mail.{zone}.",
        f'{zone}.\t14400\tIN\tTXT\t"v=spf1 a mx ip4:{net} ~all"',
        '_dmarc\t14400\tIN\tTXT\t"v=DMARC1; p=none"',
        f'x._domainkey\t14400\tIN\tTXT\t"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC{rng.randrange(10**9)}"',
    ]
    for host in ("ftp", "www", "pop", "smtp", "imap", "webmail", "cpanel", "mail"):
        kind = "A" if host in ("mail", "ftp") else "CNAME"
        lines.append(f"{host}\t14400\tIN\t{kind}\t{net if kind == 'A' else zone + '.'}")
    return "\n".join(lines) + "\n"


def push(port: int, token: str, method: str, target: str, body: bytes = b"") -> bytes:
    head = [f"{method} {target} HTTP/1.0", "Host: 127.0.0.1", f"Authorization: Basic {token}"]
    if method == "POST":
        head.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received.partition(b"\r\n\r\n")[2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--mysql",
        default="mysql://root@127.0.0.1:3306",
        help="MariaDB/MySQL server for CoreDNS-MySQL ('' for none)",
    )
    parser.add_argument(
        "--slow-named",
        type=float,
        default=0.0,
        help="seconds each rndc command waits first: named slow to take changes (push latency must not care)",
    )
    args = parser.parse_args()
    database = f"dnsmill_bench_sync_{os.getpid()}"
    mysql = None
    if args.mysql:
        import pymysql

        mysql = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
        mysql.cursor().execute(f"CREATE DATABASE {database}")
    rng = random.Random(7)
    zones = [f"site{n}-{rng.randrange(10**6)}.example" for n in range(args.zones)]
    texts = {zone: realistic_zone(zone, rng).encode() for zone in zones}
    with tempfile.TemporaryDirectory(prefix="dnsmill-bench-sync-") as directory:
        work = Path(directory)
        port, control, listen = free_port(), free_port(), free_port()
        include = work / "zones.conf"
        include.write_text("")
        key = f'key "sync" {{ algorithm hmac-sha256; secret "{KEY}"; }};\n'
        conf = work / "named.conf"
        conf.write_text(
            key + f'options {{ directory "{work}"; pid-file "{work}/named.pid"; '
            f"listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; recursion no; notify no; }};\n"
            f'controls {{ inet 127.0.0.1 port {control} allow {{ 127.0.0.1; }} keys {{ "sync"; }}; }};\n'
            f'include "{include}";\n'
        )
        rndc_conf = work / "rndc.conf"
        rndc_conf.write_text(
            key + f'options {{ default-key "sync"; default-server 127.0.0.1; default-port {control}; }};\n'
        )
        rndc = ["rndc", "-c", str(rndc_conf)]
        slow_rndc = (
            ["sh", "-c", f'sleep {args.slow_named}; exec "$@"', "rndc", *rndc] if args.slow_named else rndc
        )
        named = subprocess.Popen(
            ["named", "-g", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while subprocess.run([*rndc, "status"], capture_output=True).returncode != 0:
            time.sleep(0.1)
        pushes = work / "pushes.db"
        config = work / "dnsmill.yaml"
        config.write_text(
            f"sync:\n  listen: 127.0.0.1:{listen}\n  user: admin\n  password: s3cret\n  pushes: {pushes}\n"
            f"  bind:\n    zones_dir: {work / 'zones'}\n    include_file: {include}\n    named_conf: {conf}\n"
            f"    reconfig_command: {[*slow_rndc, 'reconfig']}\n    reload_command: {[*slow_rndc, 'reload']}\n"
            + (f"  coredns_mysql:\n    url: {args.mysql}/{database}\n" if mysql else "")
            + "  reconcile_every: null\n"
        )
        log = open(work / "sync.log", "w")  # closed with the process
        service = subprocess.Popen(
            [sys.executable, "-m", "dnsmill", "sync", "--config", str(config)], stderr=log
        )
        while "listening on" not in (work / "sync.log").read_text():
            time.sleep(0.05)
        token = base64.b64encode(b"admin:s3cret").decode()
        latencies: list[float] = []
        lock = threading.Lock()

        def client(mine: list[str]) -> None:
            for zone in mine:
                push(listen, token, "GET", f"/CMD_API_DNS_ADMIN?action=exists&domain={zone}")
                started = time.perf_counter()
                target = (
                    f"/CMD_API_DNS_ADMIN?action=rawsave&domain={zone}&hostname=da.example.net&username=admin"
                )
                reply = push(listen, token, "POST", target, texts[zone])
                took = time.perf_counter() - started
                assert reply == b"error=0", reply
                with lock:
                    latencies.append(took)

        started = time.perf_counter()
        clients = [
            threading.Thread(target=client, args=(zones[n :: args.clients],)) for n in range(args.clients)
        ]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        pushed = time.perf_counter() - started
        with sqlite3.connect(pushes) as queue:
            while queue.execute("SELECT COUNT(*) FROM sync_pushes").fetchone()[0]:
                time.sleep(0.02)
        seconds = time.perf_counter() - started
        results = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=2).resolve(
            [f"{zone}." for zone in zones], "A"
        )
        answered = results.stats["by_status"].get("NOERROR", 0)
        # named loads new zones after `rndc reconfig` returns: the last few may still be loading.
        asked_again = time.perf_counter()
        while answered < len(zones) and time.perf_counter() - asked_again < 10:
            time.sleep(0.5)
            results = dnsmill.Resolver([f"127.0.0.1:{port}"], timeout=2).resolve(
                [f"{zone}." for zone in zones], "A"
            )
            answered = results.stats["by_status"].get("NOERROR", 0)
        late = time.perf_counter() - asked_again
        in_mysql = 0
        if mysql is not None:
            cursor = mysql.cursor()
            cursor.execute(f"SELECT COUNT(*) FROM {database}.zones")
            (in_mysql,) = cursor.fetchone()
            cursor.execute(f"DROP DATABASE {database}")
        service_cpu = cpu_seconds(service.pid)
        service.terminate()
        service.wait(30)
        log.close()
        named.terminate()
        named.wait(30)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    rate = len(zones) / seconds
    print(
        f"{len(zones):,} zones of about 18 records, {args.clients} pushing clients, {os.cpu_count()} cores shared"
        + (f", every rndc command {args.slow_named:g} s slow" if args.slow_named else "")
    )
    backends = "BIND and CoreDNS-MySQL" if mysql else "BIND"
    print(f"pushed (all answered error=0) in {pushed:.2f} s; applied to {backends} in {seconds:.2f} s")
    print(
        f"zones/s end to end        {rate:10,.0f}   (the tool users run today: {EXISTING_TOOL[0]}-{EXISTING_TOOL[1]}, quoted)"
    )
    print(f"push latency p50 / p99    {p50 * 1000:7.1f} ms / {p99 * 1000:.1f} ms")
    print(f"dnsmill sync CPU          {service_cpu / len(zones) * 1000:7.2f} ms per zone (user + system)")
    print(
        f"answered by named         {answered:,} of {len(zones):,} (all loaded {late:.1f} s after the queue emptied)"
    )
    if mysql:
        print(f"zones in CoreDNS-MySQL    {in_mysql:,} of {len(zones):,}")
    print(
        f"\ntarget: >= 1000 zones/s ({'meets' if rate >= 1000 else 'MISSES'}); "
        f"{rate / EXISTING_TOOL[1]:.0f}x-{rate / EXISTING_TOOL[0]:.0f}x the tool users run today"
    )


if __name__ == "__main__":
    main()
