"""CPU time of processes, for benchmarks that report CPU per unit of work beside throughput.

User plus system seconds are what the kernel charged a process; unlike wall time they do not
grow when the other side of a benchmark (a server, a load generator) takes the shared cores.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User plus system seconds charged to process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of `pid` and of every live process below it (a forking server's workers)."""
    parents = _parents()
    below, total = [pid], 0.0
    while below:
        current = below.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue  # it ended meanwhile
        below += [child for child, parent in parents.items() if parent == current]
    return total


def children_cpu_seconds() -> float:
    """User plus system seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_pids(program: str) -> list[int]:
    """Process ids of this process's children running the executable named `program`."""
    return [
        pid
        for pid, parent in _parents().items()
        if parent == os.getpid() and Path(f"/proc/{pid}/exe").resolve().name == program
    ]


def _parents() -> dict[int, int]:
    """Every live process's parent, by process id."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue  # it ended meanwhile
    return parents
