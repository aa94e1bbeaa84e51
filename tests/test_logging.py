"""Rust's log records reach Python's logging under dnsmill's logger names."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_rust_records_come_under_the_dnsmill_loggers(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, format="%(name)s|%(message)s", stream=sys.stderr)
        import dnsmill
        resolver = dnsmill.Resolver(["127.0.0.1:9"], timeout=0.1, retries=0)
        with dnsmill.BatchJob(resolver, sys.argv[1]) as job:
            job.process(dnsmill.Batch.decode(dnsmill.Batch.encode(["example.test."])))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"sqlite://{tmp_path / 'log.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = {line.split("|", 1)[0] for line in done.stderr.splitlines() if "|" in line}
    assert "dnsmill.pipeline|storing 1 batches (0 records) in one transaction" in done.stderr
    assert not [name for name in names if name.startswith("_core")], names
