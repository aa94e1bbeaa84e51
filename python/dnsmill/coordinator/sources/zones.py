"""``zone_directory``: the zone files of a directory, each change as the records it added and
removed.

Each file ``<zone>.zone`` (the pattern is a setting) is the zone named by its file name. A
look at the directory (on a change the watcher reports, else every ``poll_interval``) reads
only the files whose size or modification time moved, and of those parses (in Rust) only the
ones whose content changed (SHA-256). The new records are compared with the zone held
(``Zone.diff``), and every changed file of the look is written in one call: the added records,
then, in one transaction, an event per record added or removed and the checkpoints: per file,
its generation (one more per change), its fingerprint and its records as canonical text, so
after a restart the next version is compared with the last one written. Events are keyed by
the generation and the fingerprint, so a file that goes back to an earlier content makes new
events, while the same change written twice (after a crash) is one row each. A file removed is
all its records removed; its checkpoint stays as a tombstone, so the generation goes on if it
comes back. A file that does not parse is reported (the source's last error) and skipped until
it changes; the other zones go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from dnsmill import _core
from dnsmill.coordinator.sources.base import Checkpoint, SourceConfig, SourceContext
from dnsmill.coordinator.watch import wait_for_change


class ZoneDirectoryConfig(SourceConfig):
    #: The directory holding the zone files.
    path: Path
    #: Which files are zones; the zone's name is the file name without the pattern's suffix.
    pattern: str = "*.zone"
    #: Write the records added into the records table too (else only the events).
    records: bool = True
    #: After a change is reported, wait this long for the writes to settle before reading.
    settle: float = Field(0.05, ge=0, le=10)


#: A file whose modification time is this close to the look is read again at the next look:
#: a second write within the clock's granularity keeps the same stat (git's "racy clean").
RACY_NS = 2_000_000_000

#: The fingerprint of a file that is gone (its checkpoint stays, as a tombstone, so that its
#: generation goes on if it comes back).
GONE = "-"


@dataclass
class _Held:
    """A zone file as last written: its generation (one more per change written), its
    fingerprint, its stat, its records."""

    generation: int
    fingerprint: str
    stat: tuple[int, int, int, int] | None
    zone: _core.Zone | None
    text: str | None

    @property
    def position(self) -> str:
        return f"{self.generation}:{self.fingerprint}"

    @classmethod
    def from_checkpoint(cls, point: Checkpoint) -> _Held:
        generation, _, fingerprint = point.position.partition(":")
        return cls(int(generation), fingerprint, None, None, point.state)


class ZoneDirectory:
    kind = "zone_directory"
    Config = ZoneDirectoryConfig

    def __init__(self, context: SourceContext, config: ZoneDirectoryConfig) -> None:
        self.context = context
        self.config = config
        self.directory = config.path
        if not config.pattern.startswith("*") or "*" in config.pattern[1:]:
            raise ValueError(f"pattern {config.pattern!r}: give '*' and a suffix, such as '*.zone'")
        self._suffix = config.pattern[1:]
        self._held: dict[str, _Held] = {}
        #: Files that failed to parse, by the stat they had: skipped until they change.
        self._bad: dict[str, tuple[int, int, int, int]] = {}

    async def run(self) -> None:
        context = self.context
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory}: no such directory")
        for item, point in (await context.checkpoints()).items():
            self._held[item] = _Held.from_checkpoint(point)
        wake = asyncio.Event()
        watched = context.watcher is not None and context.watcher.watch(self.directory, wake)
        try:
            while True:
                await self.look()
                if await wait_for_change(wake, context.poll_interval) and self.config.settle:
                    await asyncio.sleep(self.config.settle)
                    wake.clear()
        finally:
            if watched and context.watcher is not None:
                context.watcher.unwatch(self.directory, wake)

    def _zone_name(self, file_name: str) -> str:
        return file_name[: len(file_name) - len(self._suffix)].rstrip(".") + "."

    async def look(self) -> int:
        """Reads what changed in the directory and writes it; returns the zones changed."""
        problems: list[str] = []
        changes, held = await asyncio.to_thread(self._read_changes, problems, time.time_ns())
        for problem in problems:
            self.context.problem(problem)
        if not changes:
            return 0
        await self.context.write_changes(
            [(zone, version, added, removed) for zone, version, added, removed in changes],
            {
                name: Checkpoint(point.position, point.text if point.fingerprint != GONE else None)
                for name, point in held.items()
            },
            records=self.config.records,
        )
        for name, point in held.items():
            point.text = None  # kept as the parsed zone from here on
            self._held[name] = point
        return len(changes)

    def _read_changes(
        self, problems: list[str], now_ns: int
    ) -> tuple[list[tuple[str, str, _core.Zone, _core.Zone]], dict[str, _Held]]:
        """On a worker thread: every file that changed, parsed and compared (Rust releases the
        GIL for the parse and the comparison), with each one's next state."""
        present: dict[str, tuple[int, int, int, int]] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.endswith(self._suffix) and entry.is_file():
                    info = entry.stat()
                    present[entry.name] = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
        changes: list[tuple[str, str, _core.Zone, _core.Zone]] = []
        updated: dict[str, _Held] = {}
        for name, stat in sorted(present.items()):
            held = self._held.get(name)
            if (held is not None and held.stat == stat) or self._bad.get(name) == stat:
                continue
            # A stat this recent may yet hide a second write: not trusted until it is older.
            trusted = stat if now_ns - max(stat[0], stat[3]) > RACY_NS else None
            path = self.directory / name
            try:
                data = path.read_bytes()
            except OSError:
                continue  # gone since the scan: the next look sees it gone
            fingerprint = hashlib.sha256(data).hexdigest()
            if held is not None and held.fingerprint == fingerprint:
                held.stat = trusted
                continue
            zone_name = self._zone_name(name)
            try:
                zone = _core.parse_zone(data, origin=zone_name)
            except _core.ZoneSyntaxError as error:
                self._bad[name] = stat
                problems.append(f"{path}:{error.line}:{error.column}: {error.message}")
                continue
            except ValueError as error:  # not UTF-8, a limit passed
                self._bad[name] = stat
                problems.append(f"{path}: {error}")
                continue
            self._bad.pop(name, None)
            before = self._previous(held, zone_name)
            added, removed = zone.diff(before)
            new = _Held((held.generation if held else 0) + 1, fingerprint, trusted, zone, zone.to_text())
            changes.append((zone_name, new.position, added, removed))
            updated[name] = new
        for name, held in self._held.items():
            if name in present or held.fingerprint == GONE:
                continue
            before = self._previous(held, self._zone_name(name))
            gone = _Held(held.generation + 1, GONE, None, before[0:0], None)
            changes.append((self._zone_name(name), gone.position, before[0:0], before))
            updated[name] = gone
        return changes, updated

    def _previous(self, held: _Held | None, zone_name: str) -> _core.Zone:
        """The zone as last written: kept from the last look, or read back from its checkpoint."""
        if held is None or held.fingerprint == GONE:
            return _core.parse_zone(b"", origin=zone_name)
        if held.zone is None:
            held.zone = _core.parse_zone((held.text or "").encode(), origin=zone_name)
            held.text = None
        return held.zone


SOURCE = ZoneDirectory
