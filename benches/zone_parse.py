"""Zone parsing: dnsmill beside kzonecheck, named-checkzone and dnspython, in one run.

Generates a realistic 1M-record zone (dnsmill.demo.realistic_zone), then times, each in its own
process so peak memory is that process's own:

  parse_zone          dnsmill.parse_zone, records kept in Rust
  + Record objects    the same, then a Python Record for every record
  + Arrow export      the same, then the whole zone as a pyarrow.Table
  dnspython           dns.zone.from_file on a 100k-record prefix of the same zone
  kzonecheck          Knot's zone checker (Debian knot-dnssecutils), whole process
  named-checkzone     BIND's zone checker (Debian bind9-utils), whole process

and prints records/s, MB/s, peak RSS and the ratios against the targets. The Python figures
time the call itself (imports are done before the clock starts); the tools' figures are their
whole process, whose start-up is a few milliseconds. dnsmill parses large files on every core;
the tools use one. A benchmark, not a test: the machine is shared, so each figure is the
median of --repeat runs.

    scripts/bench zone_parse            # or: python benches/zone_parse.py --records 1000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dnsmill.demo import realistic_zone

# (imports, timed code): the imports run before the clock starts, so each figure is the work
# itself, as the external tools' figures are (their start-up is a few milliseconds).
CHILD_SNIPPETS = {
    "parse_zone": ("import dnsmill", "z = dnsmill.parse_zone(PATH); n = len(z)"),
    "+ Record objects": ("import dnsmill", "z = dnsmill.parse_zone(PATH); rs = z.records(); n = len(rs)"),
    "+ Arrow export": (
        "import dnsmill, pyarrow",
        "z = dnsmill.parse_zone(PATH); t = z.to_arrow(); n = t.num_rows",
    ),
    "dnspython": (
        "import dns.zone",
        "z = dns.zone.from_file(PATH, origin='example.com.', relativize=False, check_origin=False); "
        "n = sum(len(rds) for _, rds in z.iterate_rdatasets())",
    ),
}

CHILD = """
import sys, time
PATH = sys.argv[1]
{imports}
started = time.perf_counter()
{code}
elapsed = time.perf_counter() - started
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(n, elapsed, int(hwm) / 1024)
"""


@dataclass
class Measurement:
    name: str
    records: int
    seconds: float
    peak_mb: float
    input_mb: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.input_mb / self.seconds


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a running process. It is per address space and starts afresh at exec, unlike
    getrusage's ru_maxrss, which carries over the forking parent's high-water mark."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_measured(argv: list[str]) -> tuple[str, float, float]:
    """Runs a process; returns its stdout, wall seconds and peak RSS in MB (sampled every 5 ms;
    the zone stays in memory until exit, so the last sample is the peak)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0.0
    while process.poll() is None:
        sample = peak_rss_mb(process.pid)
        if sample is not None:
            peak = max(peak, sample)
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    if process.returncode != 0 and "checkzone" not in argv[0]:
        raise RuntimeError(f"{argv} failed with exit code {process.returncode}")
    return stdout, elapsed, peak


def measure_python(name: str, path: Path, repeat: int) -> Measurement:
    imports, code = CHILD_SNIPPETS[name]
    script = CHILD.format(imports=imports, code=code)
    runs = []
    for _ in range(repeat):
        stdout, _, _ = run_measured([sys.executable, "-c", script, str(path)])
        count, seconds, peak = stdout.split()
        runs.append((float(seconds), int(count), float(peak)))
    seconds = statistics.median(r[0] for r in runs)
    return Measurement(name, runs[0][1], seconds, max(r[2] for r in runs), path.stat().st_size / 1e6)


def measure_tool(name: str, argv: list[str], path: Path, records: int, repeat: int) -> Measurement:
    runs = [run_measured(argv) for _ in range(repeat)]
    seconds = statistics.median(r[1] for r in runs)
    return Measurement(name, records, seconds, max(r[2] for r in runs), path.stat().st_size / 1e6)


def python_baseline_mb() -> float:
    script = CHILD.format(imports="import dnsmill", code="n = 0")
    stdout, _, _ = run_measured([sys.executable, "-c", script, "-"])
    return float(stdout.split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dnspython-records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dnsmill-bench-") as workdir:
        full = Path(workdir) / "example.com.zone"
        prefix = Path(workdir) / "prefix.zone"
        full.write_text(realistic_zone(args.records))
        prefix.write_text(realistic_zone(args.dnspython_records))
        results: list[Measurement] = []
        for name in ("parse_zone", "+ Record objects", "+ Arrow export"):
            results.append(measure_python(name, full, args.repeat))
        records = results[0].records
        print(
            f"zone: {records:,} records, {full.stat().st_size / 1e6:.1f} MB; dnspython on a "
            f"{args.dnspython_records:,}-record prefix; {os.cpu_count()} cores; median of {args.repeat}"
        )
        results.append(measure_python("dnspython", prefix, max(1, args.repeat // 2)))
        kzonecheck = shutil.which("kzonecheck")
        if kzonecheck:
            argv = [kzonecheck, "-d", "off", "-o", "example.com.", str(full)]
            results.append(measure_tool("kzonecheck", argv, full, records, args.repeat))
        named = shutil.which("named-checkzone")
        if named:
            argv = [named, "-q", "-i", "none", "-k", "ignore", "-n", "ignore", "example.com", str(full)]
            results.append(measure_tool("named-checkzone", argv, full, records, args.repeat))
        baseline = python_baseline_mb()

    print()
    print(f"{'':18} {'records/s':>12} {'MB/s':>8} {'seconds':>9} {'peak RSS MB':>12}")
    for m in results:
        print(
            f"{m.name:18} {m.records_per_second:12,.0f} {m.mb_per_second:8.1f} {m.seconds:9.3f} {m.peak_mb:12.0f}"
        )
    print(f"(Python rows include the interpreter with dnsmill imported: {baseline:.0f} MB)")

    by_name = {m.name: m for m in results}
    print()

    def ratio(a: str, b: str, target: float, what: str) -> None:
        if a in by_name and b in by_name:
            value = by_name[a].records_per_second / by_name[b].records_per_second
            verdict = "meets" if value >= target else "MISSES"
            print(f"{a} / {b}: {value:6.1f}x records/s   ({what} target >= {target}x: {verdict})")

    ratio("parse_zone", "kzonecheck", 5.0, "parse")
    ratio("parse_zone", "named-checkzone", 0.0, "no")
    ratio("+ Record objects", "dnspython", 150.0, "objects")
    ratio("+ Arrow export", "dnspython", 0.0, "no")
    if "kzonecheck" in by_name:
        ours = by_name["parse_zone"].peak_mb
        theirs = by_name["kzonecheck"].peak_mb
        verdict = "meets" if ours <= theirs else "MISSES"
        print(
            f"peak memory parse_zone {ours:.0f} MB vs kzonecheck {theirs:.0f} MB "
            f"(target <= kzonecheck: {verdict}; without the interpreter: {ours - baseline:.0f} MB)"
        )


if __name__ == "__main__":
    main()
