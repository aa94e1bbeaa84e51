"""``zone_transfer``: zones from a primary, brought up to date on an SOA-serial poll.

The first transfer of a zone is an AXFR; after that the source asks only for what changed
since the serial it holds (IXFR), and a primary that keeps no history that far back answers
with the whole zone, which is compared with the zone held. Every change is written as the
records added and removed (keyed by the new serial), then one ``dnsmill.zone.transferred``
event together with the checkpoint (the serial and the zone's records). Transfers run over TCP in Rust.
"""

from __future__ import annotations

import asyncio

from pydantic import Field, field_validator

from dnsmill import _core
from dnsmill.coordinator.sources.base import Checkpoint, SourceConfig, SourceContext


class ZoneTransferConfig(SourceConfig):
    #: The primary: IP, IP:PORT or [IPv6]:PORT.
    primary: str
    #: The zones to transfer.
    zones: list[str] = Field(min_length=1)
    #: Seconds a whole transfer may take.
    timeout: float = Field(30.0, gt=0)
    #: Write the records added into the records table too (else only the events).
    records: bool = True

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
        self._held: dict[str, tuple[int, _core.Zone | None, str | None]] = {}

    async def run(self) -> None:
        for zone, point in (await self.context.checkpoints()).items():
            self._held[zone] = (int(point.position), None, point.state)
        while True:
            await self.look()
            await asyncio.sleep(self.context.poll_interval)

    async def look(self) -> int:
        """Polls every zone's serial and transfers those that moved; returns the zones changed."""
        changed = 0
        for zone in self.config.zones:
            serial = await asyncio.to_thread(
                _core.soa_serial, self.config.primary, zone, timeout=min(self.config.timeout, 10.0)
            )
            held = self._held.get(zone)
            if held is not None and held[0] == serial:
                continue
            known = self._known(zone) if held is not None else None
            done = await asyncio.to_thread(
                _core.transfer_zone, self.config.primary, zone, known=known, timeout=self.config.timeout
            )
            if done["kind"] == "current":
                continue
            version = str(done["serial"])
            added, removed = done["added"], done["removed"]
            text = done["zone"].to_text()
            checkpoint = {zone: Checkpoint(version, text)}
            # The records, then the transfer's event with the checkpoint: the record events
            # are keyed by the serial, so a transfer repeated after a crash adds none twice.
            await self.context.write_changes(
                [(zone, version, added, removed)], {}, records=self.config.records
            )
            await self.context.write_events(
                [
                    (
                        zone,
                        version,
                        "dnsmill.zone.transferred",
                        {
                            "transfer": done["kind"],
                            "serial": done["serial"],
                            "records": len(done["zone"]),
                            "added": len(added),
                            "removed": len(removed),
                        },
                        "",
                    )
                ],
                checkpoint,
            )
            self._held[zone] = (done["serial"], done["zone"], None)
            changed += 1
        return changed

    def _known(self, zone: str) -> _core.Zone | None:
        serial, held, text = self._held[zone]
        if held is None:
            held = _core.parse_zone((text or "").encode(), origin=zone)
            self._held[zone] = (serial, held, None)
        return held if held.soa is not None else None


SOURCE = ZoneTransfer
