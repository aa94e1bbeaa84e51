"""``zone_transfer``: zones from a primary, brought up to date on an SOA-serial poll.

The first transfer of a zone is an AXFR; after that the source asks only for what changed
since the serial it holds (IXFR), and a primary that keeps no history that far back answers
with the whole zone, which is compared with the zone held. Every change is written as the
records added and removed and one ``dnsmill.zone.transferred`` event, written in one
transaction with the checkpoint (a generation, the serial and the zone's records); events are
keyed by the generation and the serial. Transfers run over TCP in Rust.
With ``notify`` set, a NOTIFY from the primary for one of the zones polls its serial at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, field_validator

from dnsmill import _core
from dnsmill.coordinator.sources.base import Checkpoint, SourceConfig, SourceContext
from dnsmill.coordinator.watch import wait_for_change


class ZoneTransferConfig(SourceConfig):
    #: The primary: IP, IP:PORT or [IPv6]:PORT.
    primary: str
    #: The zones to transfer.
    zones: list[str] = Field(min_length=1)
    #: Seconds a whole transfer may take.
    timeout: float = Field(30.0, gt=0)
    #: Write the records added into the records table too (else only the events).
    records: bool = True
    #: HOST:PORT to take NOTIFY messages on (UDP): a NOTIFY for one of the zones from the
    #: primary's address polls its serial at once (None: the poll alone).
    notify: str | None = None

    @field_validator("zones")
    @classmethod
    def _absolute(cls, zones: list[str]) -> list[str]:
        return [zone.strip().lower().rstrip(".") + "." for zone in zones]


class ZoneTransfer:
    kind = "zone_transfer"
    Config = ZoneTransferConfig

    def __init__(self, context: SourceContext, config: ZoneTransferConfig) -> None:
        self.context = context
        self.config = config
        #: Per zone: the generation, the serial, the zone held (or its text, until parsed).
        self._held: dict[str, tuple[int, int, _core.Zone | None, str | None]] = {}

    async def run(self) -> None:
        for zone, point in (await self.context.checkpoints()).items():
            generation, _, serial = point.position.partition(":")
            self._held[zone] = (int(generation), int(serial), None, point.state)
        wake = asyncio.Event()
        listener = None
        if self.config.notify:
            listener = await listen_for_notify(
                self.config.notify, self._primary_host(), self.config.zones, wake
            )
        try:
            while True:
                await self.look()
                await wait_for_change(wake, self.context.poll_interval)
        finally:
            if listener is not None:
                listener.close()

    def _primary_host(self) -> str:
        host = self.config.primary
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    async def look(self) -> int:
        """Polls every zone's serial and transfers those that moved; returns the zones changed."""
        changed = 0
        for zone in self.config.zones:
            serial = await asyncio.to_thread(
                _core.soa_serial, self.config.primary, zone, timeout=min(self.config.timeout, 10.0)
            )
            held = self._held.get(zone)
            if held is not None and held[1] == serial:
                continue
            known = self._known(zone) if held is not None else None
            done = await asyncio.to_thread(
                _core.transfer_zone, self.config.primary, zone, known=known, timeout=self.config.timeout
            )
            if done["kind"] == "current":
                continue
            generation = (held[0] if held is not None else 0) + 1
            # The generation keeps a serial used again (a zone made anew) from meeting the
            # events of its first use.
            version = f"{generation}:{done['serial']}"
            added, removed = done["added"], done["removed"]
            transferred = {
                "transfer": done["kind"],
                "serial": done["serial"],
                "records": len(done["zone"]),
                "added": len(added),
                "removed": len(removed),
            }
            # The records, the transfer's event and the checkpoint in one call: a source killed
            # mid-way transfers again from the serial it held, and writes the same rows.
            await self.context.write_changes(
                [(zone, version, added, removed)],
                {zone: Checkpoint(version, done["zone"].to_text())},
                records=self.config.records,
                events=[(zone, version, "dnsmill.zone.transferred", transferred, "")],
            )
            self._held[zone] = (generation, done["serial"], done["zone"], None)
            changed += 1
        return changed

    def _known(self, zone: str) -> _core.Zone | None:
        generation, serial, held, text = self._held[zone]
        if held is None:
            held = _core.parse_zone((text or "").encode(), origin=zone)
            self._held[zone] = (generation, serial, held, None)
        return held if held.soa is not None else None


NOTIFY_OPCODE = 4


def notified_zone(message: bytes) -> str | None:
    """The zone a NOTIFY query (RFC 1996) names, lowercased and absolute; None for anything else."""
    if len(message) < 12 or message[2] & 0x80 or (message[2] >> 3) & 0x0F != NOTIFY_OPCODE:
        return None
    if int.from_bytes(message[4:6], "big") < 1:
        return None
    labels: list[str] = []
    at = 12
    while at < len(message):
        length = message[at]
        if length == 0:
            return ".".join(labels).lower() + "."
        if length & 0xC0 or at + 1 + length > len(message):
            return None  # a query's question is not compressed
        labels.append(message[at + 1 : at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    return None


def notify_reply(message: bytes) -> bytes:
    """The answer to a NOTIFY: its id and question, QR and AA set, no records."""
    end = 12
    while end < len(message) and message[end] != 0:
        end += 1 + message[end]
    question = message[12 : end + 5]
    flags = bytes([message[2] | 0x84, message[3] & 0xF0])
    return message[:2] + flags + (1).to_bytes(2, "big") + bytes(6) + question


class _NotifyListener(asyncio.DatagramProtocol):
    def __init__(self, primary: str, zones: set[str], wake: asyncio.Event) -> None:
        self.primary, self.zones, self.wake = primary, zones, wake
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, address: tuple[str | Any, int]) -> None:
        zone = notified_zone(data)
        if zone is None or zone not in self.zones or address[0] != self.primary:
            return  # not a NOTIFY of ours, or not from our primary: no answer, no transfer
        if self.transport is not None:
            self.transport.sendto(notify_reply(data), address)
        self.wake.set()


async def listen_for_notify(
    listen: str, primary: str, zones: list[str], wake: asyncio.Event
) -> asyncio.DatagramTransport:
    """Answers NOTIFY messages for ``zones`` from ``primary`` on ``listen`` and sets ``wake``."""
    host, _, port = listen.rpartition(":")
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _NotifyListener(primary, set(zones), wake),
        local_addr=(host.strip("[]") or "127.0.0.1", int(port)),
    )
    return transport


SOURCE = ZoneTransfer
