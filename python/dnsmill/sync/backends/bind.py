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
import itertools
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dnsmill
from dnsmill.sync.backends import (
    BackendError,
    Drift,
    ZoneChange,
    ZoneContent,
    ZoneDeletion,
    drift_between,
    records_of,
)
from dnsmill.sync.names import BadZoneName, zone_name, zone_path

EXTENSION = ".db"
#: Changed zones reloaded one by one up to this many in a batch; past it, one reload of every
#: zone (named reloads only the files that changed) costs less than a command per zone.
RELOAD_EACH_UP_TO = 8
#: A line of named-checkconf -z for a zone that passed.
_LOADED = re.compile(r"^zone ([^/\s]+)/IN: loaded serial", re.MULTILINE)

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
        # One rndc command at a time: named's control channel resets connections when many
        # arrive at once.
        self._control = asyncio.Lock()
        # Reconfigurations asked for, and the last one a completed run covered: the include
        # file is made from the directory when a run starts, so one run answers every request
        # made before it, and a burst of new zones costs one or two reconfigurations.
        self._reconfigs_asked = 0
        self._reconfigs_covered = 0
        # Numbers the temporary files of each batch: batches side by side never share one.
        self._batches = itertools.count()
        self._io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dnsmill-bind-io")
        #: The zones the last reconfiguration made here told named of (None: none yet).
        self._told: set[str] | None = None

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
        (error,) = await self.apply([zone])
        if error is not None:
            raise error

    async def delete(self, zone: str) -> None:
        (error,) = await self.apply([ZoneDeletion(zone)])
        if error is not None:
            raise error

    async def apply(self, changes: Sequence[ZoneChange]) -> list[BaseException | None]:
        """Applies a batch: the zones to save checked together and installed, the deleted
        ones' files taken away, then one reconfiguration for every new or deleted zone and
        the reloads of the changed ones."""
        outcome: dict[str, BaseException | None] = {}
        saves = [change for change in changes if isinstance(change, ZoneContent)]
        deletions = [change.name for change in changes if isinstance(change, ZoneDeletion)]
        told = self._told
        new: list[str] = []
        changed: list[str] = []
        # Zones with a file before this batch: a refused reconfiguration never removes those.
        existed = await asyncio.to_thread(
            lambda: {
                zone.name
                for zone in saves
                if zone_path(self.settings.zones_dir, zone.name, EXTENSION).exists()
            }
        )
        if saves:
            for name, error in (await self._install(saves)).items():
                outcome[name] = error
                if error is not None:
                    continue
                # Whether named has the zone is what the last reconfiguration told it, not
                # whether a file was there: a crash between the rename and the reconfiguration
                # leaves a file named never heard of. Not known yet: both, to be sure.
                if told is None or name not in told:
                    new.append(name)
                if told is None or name in told:
                    changed.append(name)
        hidden = await asyncio.to_thread(self._hide, deletions)
        if new or hidden or any(told is None or name in told for name in deletions):
            fresh = [name for name in new if name not in existed]
            outcome.update(await self._reconfigure_with(new, fresh, hidden))
        changed = [name for name in changed if outcome.get(name) is None]
        if changed:
            try:
                await self._reload(changed)
            except BackendError as error:
                outcome.update(dict.fromkeys(changed, error))
        return [outcome.get(change.name) for change in changes]

    async def _reconfigure_with(
        self, new: list[str], fresh: list[str], hidden: dict[str, Path]
    ) -> dict[str, BaseException | None]:
        """Reconfigures named for the batch's new zones and deletions; each one's error. When
        named refuses, the zones whose files this batch created (``fresh``) are set aside and
        tried again one at a time, so the one at fault fails alone and never blocks the
        reconfigurations after it. A file that was there before is never removed."""
        try:
            await self._reconfigure()
        except Exception as error:
            if not fresh:
                await asyncio.to_thread(self._unhide, hidden)
                return dict.fromkeys([*new, *hidden], error)
            refused = error
        else:
            await asyncio.to_thread(_unlink_all, list(hidden.values()))
            return {}
        outcome: dict[str, BaseException | None] = {}
        aside = await asyncio.to_thread(self._set_aside, fresh)
        try:
            await self._reconfigure()
        except Exception as error:  # named refuses even without them: nothing of the batch goes in
            await asyncio.to_thread(self._unhide, hidden)
            await asyncio.to_thread(_unlink_all, list(aside.values()))
            return dict.fromkeys([*new, *hidden], error)
        await asyncio.to_thread(_unlink_all, list(hidden.values()))
        for name, path in aside.items():
            if len(fresh) == 1:
                outcome[name] = refused
                path.unlink(missing_ok=True)
                continue
            await asyncio.to_thread(
                _replace_synced, path, zone_path(self.settings.zones_dir, name, EXTENSION)
            )
            try:
                await self._reconfigure()
            except Exception as error:
                outcome[name] = error
                zone_path(self.settings.zones_dir, name, EXTENSION).unlink(missing_ok=True)
        return outcome

    def _set_aside(self, zones: Sequence[str]) -> dict[str, Path]:
        aside = {}
        for zone in zones:
            path = zone_path(self.settings.zones_dir, zone, EXTENSION)
            aside[zone] = path.with_name(f".{path.name}.refused")
            _replace_synced(path, aside[zone])
        return aside

    async def _install(self, zones: Sequence[ZoneContent]) -> dict[str, BackendError | None]:
        """Writes each zone beside its file, checks them all, and moves the ones that pass
        into place (synced before and after the rename); each zone's error."""
        directory = self.settings.zones_dir
        batch = next(self._batches)
        paths = {zone.name: zone_path(directory, zone.name, EXTENSION) for zone in zones}
        temporaries = {
            name: path.with_name(f".{path.name}.{os.getpid()}.{batch}.tmp") for name, path in paths.items()
        }
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        try:
            await asyncio.to_thread(
                lambda: [temporaries[zone.name].write_text(zone.text, encoding="utf-8") for zone in zones]
            )
            errors = await self._check(zones, temporaries)
            passing = [zone for zone in zones if errors.get(zone.name) is None]
            # Synced side by side (the disk takes several syncs at once about as fast as one),
            # on threads of the backend's own, so the endpoint's threads stay free.
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(loop.run_in_executor(self._io, _sync_file, temporaries[zone.name]) for zone in passing)
            )
            await asyncio.to_thread(
                _replace_all_synced, [(temporaries[z.name], paths[z.name]) for z in passing]
            )
            held = await asyncio.to_thread(
                lambda: [paths[zone.name].read_text(encoding="utf-8") for zone in passing]
            )
            for zone, text in zip(passing, held, strict=True):
                if text != zone.text:
                    drift = await self.drift(zone)
                    errors[zone.name] = BackendError(
                        f"bind: {paths[zone.name]} does not read back as written: {drift}"
                    )
        finally:
            for temporary in temporaries.values():
                temporary.unlink(missing_ok=True)
        return {zone.name: errors.get(zone.name) for zone in zones}

    async def _check(
        self, zones: Sequence[ZoneContent], files: dict[str, Path]
    ) -> dict[str, BackendError | None]:
        """named-checkzone's verdict on each zone's file: for a batch, one named-checkconf -z
        over all of them (one process, not one per zone), then named-checkzone on each zone
        it did not report loaded, for that zone's own error."""
        unconfirmed = list(zones)
        if len(zones) > 1:
            config = self.settings.zones_dir / f".check.{os.getpid()}.{next(self._batches)}.conf"
            await asyncio.to_thread(
                config.write_text,
                "".join(
                    f'zone "{zone.name}" {{ type master; file "{files[zone.name]}"; }};\n' for zone in zones
                ),
            )
            try:
                _, output = await self._output(
                    [self.settings.named_checkconf, "-z", str(config)], "named-checkconf -z"
                )
            except BackendError:
                output = ""
            finally:
                config.unlink(missing_ok=True)
            loaded = set(_LOADED.findall(output))
            unconfirmed = [zone for zone in zones if zone.name not in loaded]
        errors: dict[str, BackendError | None] = {}
        for zone in unconfirmed:
            try:
                await self._run(
                    [self.settings.named_checkzone, zone.name, str(files[zone.name])],
                    f"named-checkzone {zone.name}",
                )
            except BackendError as error:
                errors[zone.name] = error
        return errors

    def _hide(self, zones: Sequence[str]) -> dict[str, Path]:
        """Moves the deleted zones' files aside (named no longer finds them at the next
        reconfiguration); the hidden files by zone, for the zones that had one."""
        hidden = {}
        for zone in zones:
            path = zone_path(self.settings.zones_dir, zone, EXTENSION)
            if path.exists():
                hidden[zone] = path.with_name(f".{path.name}.deleted")
                _replace_synced(path, hidden[zone])
            else:  # (left by a process killed before its reconfiguration)
                path.with_name(f".{path.name}.deleted").unlink(missing_ok=True)
        return hidden

    def _unhide(self, hidden: dict[str, Path]) -> None:
        for zone, path in hidden.items():
            _replace_synced(path, zone_path(self.settings.zones_dir, zone, EXTENSION))

    async def _reload(self, zones: Sequence[str]) -> None:
        """Tells named the zones changed: a reload per zone, or for more than
        ``RELOAD_EACH_UP_TO``, the reload command without a zone (rndc reload: named reloads
        every zone whose file changed, in one command)."""
        async with self._control:
            if len(zones) > RELOAD_EACH_UP_TO:
                await self._run(list(self.settings.reload_command), f"reload ({len(zones)} zones)")
                return
            for zone in zones:
                await self._run([*self.settings.reload_command, zone], f"reload {zone}")

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
        self._io.shutdown(wait=False)

    async def _reconfigure(self) -> None:
        """The include file made again from the zone files, checked, and named told."""
        self._reconfigs_asked += 1
        mine = self._reconfigs_asked
        async with self._control:
            if self._reconfigs_covered >= mine:
                return  # a run that started after this request has done it
            covers = self._reconfigs_asked
            zones = await self._rewrite_include()
            await self._run(list(self.settings.reconfig_command), "reconfigure")
            self._reconfigs_covered = covers
            self._told = set(zones)

    async def _rewrite_include(self) -> list[str]:
        """Makes the include file again from the zone files; puts the old one back when
        named-checkconf refuses the new one. Returns the zones it holds. Called holding the
        control lock."""
        include = self.settings.include_file
        base = self.settings.zones_dir.resolve()
        zones = await asyncio.to_thread(self._zones)
        # (the names come from the directory, checked by _zones: their files are its children)
        lines = [f'zone "{zone}" {{ type master; file "{base / (zone + EXTENSION)}"; }};\n' for zone in zones]
        previous = await asyncio.to_thread(lambda: include.read_text() if include.exists() else None)
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
        return zones

    async def _run(self, argv: list[str], doing: str) -> None:
        returncode, output = await self._output(argv, doing)
        if returncode != 0:
            said = output.strip().replace("\n", "; ")
            raise BackendError(f"{doing} failed (exit {returncode}): {said[:500]}")

    async def _output(self, argv: list[str], doing: str) -> tuple[int, str]:
        """Runs ``argv``; its exit status and output (raises when it cannot run or hangs)."""
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
        return int(process.returncode or 0), output.decode(errors="replace")


def _unlink_all(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _sync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _replace_all_synced(moves: Sequence[tuple[Path, Path]]) -> None:
    """Renames each (source, target), then syncs the directory once."""
    for source, target in moves:
        os.replace(source, target)
    if moves:
        directory = os.open(moves[0][1].parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


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
