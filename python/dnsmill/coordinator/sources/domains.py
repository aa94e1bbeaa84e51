"""``domain_list``: a file of domain names (one per line) that grows; new names go into the
``domains`` table for the publisher.

The checkpoint is the file's identity (device, inode and a digest of its first kilobyte) and
the offset read up to, after the last complete line. A file replaced (another inode, or the
same inode with other first bytes) or cut shorter is read again from the start; names
already in the table are left as they are. A last line without its newline waits for it. Each read is one
``dnsmill.domains.added`` event, keyed by the file and the byte range, with the counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from dnsmill import _core
from dnsmill.coordinator.sources.base import Checkpoint, SourceConfig, SourceContext
from dnsmill.coordinator.watch import wait_for_change


class DomainListConfig(SourceConfig):
    #: The file of names.
    path: Path
    #: Most bytes read per step (the rest follows at once).
    chunk_bytes: int = Field(4 << 20, ge=1024)


#: Bytes at the start of the file that identify it, with its inode.
HEAD_BYTES = 1024


class DomainList:
    kind = "domain_list"
    Config = DomainListConfig

    def __init__(self, context: SourceContext, config: DomainListConfig) -> None:
        self.context = context
        self.config = config
        self._identity = ""
        self._offset = 0

    async def run(self) -> None:
        point = (await self.context.checkpoints()).get("")
        if point is not None:
            identity, _, offset = point.position.rpartition("@")
            self._identity, self._offset = identity, int(offset or 0)
        wake = asyncio.Event()
        watcher = self.context.watcher
        directory = self.config.path.parent
        watched = watcher is not None and watcher.watch(directory, wake)
        domains = await asyncio.to_thread(_core.Domains, self.context.db)
        try:
            while True:
                while await self.look(domains):
                    pass
                await wait_for_change(wake, self.context.poll_interval)
        finally:
            if watched and watcher is not None:
                watcher.unwatch(directory, wake)
            await asyncio.to_thread(domains.close)

    def _same_file(self, identity: str, head: bytes) -> bool:
        """Whether ``identity`` (of the file now, whose first bytes are ``head``) is the file
        read so far: the same inode, starting with the bytes seen then."""
        if not self._identity:
            return False
        device, inode, length, digest = self._identity.split(":")
        now = identity.split(":")
        if (device, inode) != (now[0], now[1]) or len(head) < int(length):
            return False
        return hashlib.sha256(head[: int(length)]).hexdigest()[:16] == digest

    async def look(self, domains: _core.Domains) -> bool:
        """Reads one chunk of new lines; True when there may be more."""
        chunk = await asyncio.to_thread(self._read)
        if chunk is None:
            return False
        start, end, names = chunk
        added: dict[str, Any] = {"added": 0, "duplicates": 0, "rejected": []}
        if names:
            added = await asyncio.to_thread(domains.add, names)
        rejected: list[tuple[int, str, str]] = added["rejected"]
        if rejected:
            _, text, reason = rejected[0]
            self.context.problem(
                f"{self.config.path}: {len(rejected)} names refused, the first {text!r}: {reason}"
            )
        await self.context.write_events(
            [
                (
                    str(self.config.path),
                    self._identity,
                    "dnsmill.domains.added",
                    {
                        "from": start,
                        "to": end,
                        "added": added["added"],
                        "duplicates": added["duplicates"],
                        "rejected": len(rejected),
                    },
                    f"{start}-{end}",
                )
            ],
            {"": Checkpoint(f"{self._identity}@{end}")},
        )
        self._offset = end
        return True

    def _read(self) -> tuple[int, int, list[str]] | None:
        try:
            with open(self.config.path, "rb") as file:
                info = os.fstat(file.fileno())
                # The file's device and inode, and a digest of its first bytes: an inode used
                # again by a new file of the same name starts differently.
                head = file.read(HEAD_BYTES)
                identity = f"{info.st_dev}:{info.st_ino}:{len(head)}:{hashlib.sha256(head).hexdigest()[:16]}"
                if not self._same_file(identity, head) or info.st_size < self._offset:
                    self._identity, self._offset = identity, 0
                elif len(head) > int(self._identity.split(":")[2]):
                    self._identity = identity  # the head grew: remember the longer one
                if info.st_size <= self._offset:
                    return None
                file.seek(self._offset)
                data = file.read(self.config.chunk_bytes)
        except FileNotFoundError:
            return None
        complete = data.rfind(b"\n") + 1
        if complete == 0:
            if len(data) < self.config.chunk_bytes:
                return None  # a line still being written
            complete = len(data)  # one line longer than a chunk: not a name; let add() say so
        start = self._offset
        lines = data[:complete].decode("utf-8", errors="replace").splitlines()
        names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        return start, start + complete, names


SOURCE = DomainList
