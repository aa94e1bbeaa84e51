"""One file watcher for every source of a coordinator: sources ask to be woken when something
in a directory changes, and poll on their interval either way (the fallback when the watching
library is missing or the directory cannot be watched, and a safety net for missed events).

One watchdog observer thread (inotify on Linux) serves all the directories, however many
sources there are; a wake-up is a ``call_soon_threadsafe`` into the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

log = logging.getLogger("dnsmill.coordinator")


class Watcher:
    """Wakes sources when their directories change."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._wakers: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._watches: dict[str, Any] = {}
        self._observer: Any = None
        try:
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency; polling still works
            log.warning("watchdog is not installed: sources poll on their interval only")
            return
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()

    @property
    def watching(self) -> bool:
        return self._observer is not None

    def watch(self, directory: Path, wake: asyncio.Event) -> bool:
        """Sets ``wake`` whenever something in ``directory`` changes; False when it cannot be
        watched (the source then polls)."""
        if self._observer is None:
            return False
        key = str(directory.resolve())
        with self._lock:
            self._wakers[key].add(wake)
            if key in self._watches:
                return True
            try:
                self._watches[key] = self._observer.schedule(_Handler(self, key), key, recursive=False)
            except OSError as error:
                log.warning("cannot watch %s (%s): polling it instead", key, error)
                self._wakers[key].discard(wake)
                return False
        return True

    def unwatch(self, directory: Path, wake: asyncio.Event) -> None:
        key = str(directory.resolve())
        with self._lock:
            self._wakers[key].discard(wake)
            if not self._wakers[key] and key in self._watches:
                self._observer.unschedule(self._watches.pop(key))
                del self._wakers[key]

    def _changed(self, key: str) -> None:
        with self._lock:
            wakers = list(self._wakers.get(key, ()))
        for wake in wakers:
            try:
                self._loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has closed
                return

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


class _Handler:
    """A watchdog event handler that only says "something changed here"."""

    def __init__(self, watcher: Watcher, key: str) -> None:
        self._watcher = watcher
        self._key = key

    def dispatch(self, event: Any) -> None:
        if getattr(event, "event_type", "") in ("opened", "closed_no_write"):
            return  # reads change nothing
        self._watcher._changed(self._key)


async def wait_for_change(wake: asyncio.Event, timeout: float) -> bool:
    """Waits until ``wake`` is set or ``timeout`` passes; True when woken. Clears ``wake``."""
    try:
        await asyncio.wait_for(wake.wait(), timeout)
        woken = True
    except asyncio.TimeoutError:
        woken = False
    wake.clear()
    return woken
