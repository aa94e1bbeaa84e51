"""Real DNS servers for the resolver tests, on free loopback ports: NSD serving zones the tests
write, a "nameserver" that never answers, and one that answers with forged replies."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` (NSD listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@contextmanager
def nsd(
    nsd_path: str, zones: dict[str, str], addresses: tuple[str, ...] = ("127.0.0.1",), server_count: int = 1
) -> Iterator[int]:
    """Runs NSD serving `zones` (origin -> zone text) on a free port of each address, with
    `server_count` server processes and rate limiting off; yields the port."""
    workdir = Path(tempfile.mkdtemp(prefix="dnsmill-nsd-"))
    port = free_port()
    listen = "\n".join(f"    ip-address: {address}@{port}" for address in addresses)
    zone_blocks = []
    for origin, text in zones.items():
        (workdir / f"{origin}.zone").write_text(text)
        zone_blocks.append(f"zone:\n    name: {origin}\n    zonefile: {workdir}/{origin}.zone\n")
    config = workdir / "nsd.conf"
    config.write_text(
        f"""server:
{listen}
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    database: ""
    xfrdfile: "{workdir}/xfrd.state"
    xfrdir: "{workdir}"
    zonelistfile: "{workdir}/zone.list"
    logfile: "{workdir}/nsd.log"
    server-count: {server_count}
    verbosity: 1
    minimal-responses: yes
    rrl-ratelimit: 0
remote-control:
    control-enable: no
"""
        + "".join(zone_blocks)
    )
    process = subprocess.Popen(
        [nsd_path, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_answering(addresses[0], port, next(iter(zones)), workdir / "nsd.log", process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def wait_until_answering(
    host: str, port: int, origin: str, log: Path, process: subprocess.Popen[bytes]
) -> None:
    """Waits until the server answers an SOA query for `origin` authoritatively."""
    query = make_query(0x4242, origin, 6)
    deadline = time.monotonic() + 20
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"nsd exited: {log.read_text() if log.exists() else ''}")
            probe.sendto(query, (host, port))
            try:
                reply = probe.recv(4096)
            except OSError:
                continue
            if reply[:2] == query[:2] and reply[3] & 0x0F == 0 and reply[2] & 0x04:
                return
            time.sleep(0.05)
    raise RuntimeError(f"nsd did not start answering: {log.read_text() if log.exists() else ''}")


def make_query(ident: int, name: str, qtype: int) -> bytes:
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".") if label)
    return (
        ident.to_bytes(2, "big")
        + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + labels
        + b"\x00"
        + qtype.to_bytes(2, "big")
        + b"\x00\x01"
    )


class UdpServer:
    """A UDP "nameserver" on a free loopback port, run in a thread; `respond` maps a query to
    the datagrams sent back (none: it never answers)."""

    def __init__(self, respond: Callable[[bytes], list[bytes]] | None = None) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port: int = self.socket.getsockname()[1]
        self.received = 0
        self.respond = respond
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def serve(self) -> None:
        while self.running:
            try:
                query, peer = self.socket.recvfrom(65535)
            except OSError:
                continue
            self.received += 1
            if self.respond:
                for reply in self.respond(query):
                    self.socket.sendto(reply, peer)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


def forged_replies(query: bytes) -> list[bytes]:
    """Two forgeries per query: the right question under a wrong id, and the right id for
    another question; each claims the name exists at 6.6.6.6."""
    ident = int.from_bytes(query[:2], "big")
    question_end = 12
    while query[question_end] != 0:
        question_end += query[question_end] + 1
    question = query[12 : question_end + 5]
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x06\x06\x06\x06"
    header = b"\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00"
    wrong_id = ((ident + 1) & 0xFFFF).to_bytes(2, "big") + header + question + answer
    other_question = make_query(0, "forged.invalid", 1)[12:]
    wrong_question = ident.to_bytes(2, "big") + header + other_question + answer
    return [wrong_id, wrong_question]
