"""How a dnsmill service runs: one way to stop, drain and report, shared by every service.

A service is a coroutine that takes a stop event. :func:`run_service` runs it with the
Prometheus endpoint up (when a port is given) and SIGTERM/SIGINT wired to the event: the first
signal asks the service to stop taking work, finish and commit what it holds, ack it and
return (the process then exits 0); a second signal cancels it at once. Services written as
threads (the seeder's schedule, the server's wait) use :func:`stop_on_signals` the same way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dnsmill import metrics

log = logging.getLogger("dnsmill.service")

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _announce(signum: int) -> None:
    print(f"{signal.Signals(signum).name}: finishing the work in hand, then stopping", file=sys.stderr)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (a second one raises KeyboardInterrupt), for services
    that run in threads."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        _announce(signum)
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)
    return stop


async def run_service(
    service: Callable[[asyncio.Event], Awaitable[T]], *, metrics_port: int | None = None
) -> T:
    """Runs ``service(stop)`` until it returns; see the module notes for signals."""
    if metrics_port is not None:
        metrics.serve(metrics_port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.ensure_future(service(stop))

    def on_signal(signum: int) -> None:
        if stop.is_set():
            task.cancel()
            return
        _announce(signum)
        stop.set()

    installed = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            log.debug("cannot handle %s here; the service stops only when it ends", signum)
    try:
        return await task
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run(service: Callable[[asyncio.Event], Awaitable[T]], *, metrics_port: int | None = None) -> T:
    """:func:`run_service` in a new event loop: what a command calls."""
    return asyncio.run(run_service(service, metrics_port=metrics_port))
