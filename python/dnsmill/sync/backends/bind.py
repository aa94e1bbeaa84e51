"""BIND as a zone backend: a zone file per zone and one include file of zone statements.

A zone is written to ``<zones_dir>/<zone>.db`` atomically (a temporary file beside it, synced,
checked with ``named-checkzone``, renamed over the old one, the directory synced), so named
never reads half a file and a zone it refuses never replaces a good one. The include file is
made again from the zone files in the directory, one line per zone, written the same way and
checked with ``named-checkconf`` (the old one is put back if the check fails). A new or deleted
zone then runs the reconfigure command (``rndc reconfig``), a changed one the reload command
with the zone's name (``rndc reload <zone>``). After the rename the file is read back and
compared with the zone, record for record.

Zone names reach this module checked by :func:`dnsmill.sync.names.zone_name`: they are put
in file names and in the include file as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dnsmill
from dnsmill.sync.backends import BackendError, Drift, ZoneContent, drift_between, records_of
from dnsmill.sync.names import BadZoneName, zone_name, zone_path

EXTENSION = ".db"

__all__ = ["BackendError", "BindBackend", "BindSettings"]


@dataclass
class BindSettings:
    #: Where the zone files go.
    zones_dir: Path
    #: The file of zone statements named.conf includes.
    include_file: Path
    #: The configuration named-checkconf checks after the include file changed (its own
    #: named.conf, which includes the include file; None: the include file alone).
    named_conf: Path | None = None
    named_checkzone: str = "named-checkzone"
    named_checkconf: str = "named-checkconf"
    #: Run after a zone was added or deleted.
    reconfig_command: Sequence[str] = ("rndc", "reconfig")
    #: Run with the zone's name after it changed.
    reload_command: Sequence[str] = ("rndc", "reload")
    #: Seconds a command may take.
    command_timeout: float = 30.0


class BindBackend:
    """Zones as BIND zone files and an include file."""

    def __init__(self, settings: BindSettings, *, name: str = "bind") -> None:
        self.name = name
        self.settings = settings
        settings.zones_dir.mkdir(parents=True, exist_ok=True)
        # One rndc command at a time: named's control channel resets connections when many
        # arrive at once.
        self._control = asyncio.Lock()
        # Reconfigurations asked for, and the last one a completed run covered: the include
        # file is made from the directory when a run starts, so one run answers every request
        # made before it, and a burst of new zones costs one or two reconfigurations.
        self._reconfigs_asked = 0
        self._reconfigs_covered = 0

    async def zones(self) -> list[str]:
        """The zones whose files are in the directory."""
        return await asyncio.to_thread(self._zones)

    def _zones(self) -> list[str]:
        held = []
        for path in sorted(self.settings.zones_dir.glob(f"*{EXTENSION}")):
            with contextlib.suppress(BadZoneName):
                held.append(zone_name(path.name.removesuffix(EXTENSION)))
        return held

    async def save(self, zone: ZoneContent) -> None:
        path = zone_path(self.settings.zones_dir, zone.name, EXTENSION)
        new = not path.exists()
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            await asyncio.to_thread(_write_synced, temporary, zone.text)
            await self._run(
                [self.settings.named_checkzone, "-q", zone.name, str(temporary)],
                f"named-checkzone {zone.name}",
            )
            await asyncio.to_thread(_replace_synced, temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        drift = await self.drift(zone)
        if drift:
            raise BackendError(f"bind: {path} does not read back as written: {drift}")
        if new:
            await self._reconfigure()
        else:
            async with self._control:
                await self._run([*self.settings.reload_command, zone.name], f"reload {zone.name}")

    async def delete(self, zone: str) -> None:
        path = zone_path(self.settings.zones_dir, zone, EXTENSION)
        if not path.exists():
            return
        hidden = path.with_name(f".{path.name}.deleted")
        await asyncio.to_thread(_replace_synced, path, hidden)
        try:
            await self._reconfigure()
        except BaseException:
            await asyncio.to_thread(_replace_synced, hidden, path)
            raise
        hidden.unlink(missing_ok=True)

    async def records(self, zone: str) -> set[tuple[str, str, int, str]] | None:
        """The records the zone's file holds (None: no file)."""
        path = zone_path(self.settings.zones_dir, zone, EXTENSION)
        if not path.exists():
            return None
        parsed = await asyncio.to_thread(dnsmill.parse_zone, path, f"{zone}.")
        return set(records_of(parsed))

    async def drift(self, zone: ZoneContent) -> Drift:
        path = zone_path(self.settings.zones_dir, zone.name, EXTENSION)
        try:
            held = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except FileNotFoundError:
            return drift_between(zone.records, [])
        if held == zone.text:
            return Drift()
        try:
            parsed = await asyncio.to_thread(dnsmill.parse_zone, held, zone.origin)
        except dnsmill.ZoneSyntaxError as error:
            return Drift(missing=len(zone.records), extra=1, examples=[f"{path} does not parse: {error}"])
        return drift_between(zone.records, records_of(parsed))

    async def holds(self, zone: str) -> bool:
        return zone_path(self.settings.zones_dir, zone, EXTENSION).exists()

    async def close(self) -> None:
        pass

    async def _reconfigure(self) -> None:
        """The include file made again from the zone files, checked, and named told."""
        self._reconfigs_asked += 1
        mine = self._reconfigs_asked
        async with self._control:
            if self._reconfigs_covered >= mine:
                return  # a run that started after this request has done it
            covers = self._reconfigs_asked
            await self._rewrite_include()
            await self._run(list(self.settings.reconfig_command), "reconfigure")
            self._reconfigs_covered = covers

    async def _rewrite_include(self) -> None:
        """Makes the include file again from the zone files; puts the old one back when
        named-checkconf refuses the new one. Called holding the control lock."""
        include = self.settings.include_file
        lines = [
            f'zone "{zone}" {{ type master; file "{zone_path(self.settings.zones_dir, zone, EXTENSION)}"; }};\n'
            for zone in self._zones()
        ]
        previous = include.read_text() if include.exists() else None
        await asyncio.to_thread(_write_then_replace, include, "".join(lines))
        checked = self.settings.named_conf or include
        try:
            await self._run([self.settings.named_checkconf, str(checked)], "named-checkconf")
        except BackendError:
            if previous is None:
                include.unlink(missing_ok=True)
            else:
                await asyncio.to_thread(_write_then_replace, include, previous)
            raise

    async def _run(self, argv: list[str], doing: str) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        except OSError as error:
            raise BackendError(f"{doing}: cannot run {argv[0]}: {error}") from None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.settings.command_timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise BackendError(
                f"bind: {doing}: {argv[0]} took over {self.settings.command_timeout:g} s"
            ) from None
        if process.returncode != 0:
            said = output.decode(errors="replace").strip().replace("\n", "; ")
            raise BackendError(f"{doing} failed (exit {process.returncode}): {said[:500]}")


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _replace_synced(source: Path, target: Path) -> None:
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _write_then_replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _write_synced(temporary, text)
    _replace_synced(temporary, path)
