"""The record seeder: keeps a store filled with fresh, realistic DNS data to resolve.

Each run generates ``count`` domains, each a small zone shaped like real ones: an SOA and two
NS at the apex (with glue), A and AAAA for the apex, ``www`` and the mail hosts, MX with
preferences 10 and 20 pointing at those hosts, SPF and DMARC TXT records, CNAMEs that point at
names the zone holds, SRV for mail submission and IMAP, and CAA. Random choices come from numpy
in one draw per batch; the same ``seed`` generates the same records.

Batches cross into Rust as zone text: the Rust parser checks and canonicalises them and the Rust
writer stores them; the domains go into the ``domains`` table for publishers and workers (``--zones-dir`` also writes each domain's zone file through the Rust zone
writer). After each run the seeder publishes ``dns_records_seeded`` on the ``seeder`` topic,
logs one structured line and updates its metrics.

    from dnsmill.config import SeedSettings
    from dnsmill.seeder import Seeder
    run = Seeder(SeedSettings(count=1000, seed=7), "sqlite://dnsmill.db").run_once()
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

import dnsmill
from dnsmill import events, metrics
from dnsmill.config import SeedSettings

log = logging.getLogger("dnsmill.seeder")

_SYLLABLES = (
    "al an ar ba be bo ca co da de do el en fa fi ga go ha in ka ki la le li lo lu ma me mi mo na "
    "ne no or pa pe po ra re ri ro sa se si so ta te ti to tu va ve vi zo"
).split()
_WORDS = (
    "apex atlas beacon birch bright cedar cloud coast copper crest delta ember falcon field forge "
    "grove harbor hill iron juniper lake lantern maple meadow metro north oak orbit peak pine "
    "pixel quartz river rock sage signal silver spark stone summit terra tide timber union valley "
    "vector vista willow wolf zen"
).split()
_KINDS = "labs works studio group systems media shop cloud works data hub net apps tech".split()
_MAIL_PROVIDERS = ("mailgun.org", "sendgrid.net", "amazonses.com", "outlook.com", "google.com")
_CA = ("letsencrypt.org", "sectigo.com", "digicert.com", "pki.goog")
_TTL_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800)


@dataclass(frozen=True)
class SeedRun:
    """What one run did: the fields of the ``dns_records_seeded`` event, and a little more."""

    count: int
    domains: int
    timestamp: float
    duration_ms: float
    #: The random seed the run used: pass it back to generate the same records again.
    seed: int
    zones_written: int = 0
    #: Records the store reported as written (re-seeding the same records writes them again).
    written: int = 0


@dataclass(frozen=True)
class Batch:
    """Generated zones: their text (``$ORIGIN`` per domain) and the domains, in order."""

    domains: list[str]
    texts: list[str]

    @property
    def text(self) -> str:
        return "".join(self.texts)


class Seeder:
    """Generates and stores records per :class:`~dnsmill.config.SeedSettings`."""

    def __init__(
        self,
        settings: SeedSettings,
        db: str = "sqlite://dnsmill.db",
        *,
        table: str = "dns_records",
        bus: events.EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.table = table
        self.bus = bus or events.bus
        self._runs = 0

    def generate(self, seed: int | None = None) -> Iterator[Batch]:
        """The run's zones, ``batch_size`` domains at a time, from ``seed`` (default: the
        settings' seed, else a fresh one)."""
        settings = self.settings
        seed = self._seed() if seed is None else seed
        rng = np.random.default_rng(seed)
        wanted = set(settings.types)
        taken: set[str] = set()
        explicit = [d.rstrip(".").lower() + "." for d in settings.domains]
        total = len(explicit) if explicit else settings.count
        ttl_choices = np.array([t for t in _TTL_STEPS if settings.ttl_min <= t <= settings.ttl_max])
        for start in range(0, total, settings.batch_size):
            size = min(settings.batch_size, total - start)
            # One draw per column for the whole batch.
            first = rng.integers(0, len(_WORDS), size)
            second = rng.integers(0, len(_SYLLABLES), (size, 2))
            kind = rng.integers(0, len(_KINDS), size)
            tld = rng.integers(0, len(settings.tlds), size)
            shape = rng.random(size)
            if len(ttl_choices):
                ttls = ttl_choices[rng.integers(0, len(ttl_choices), size)]
            else:
                ttls = rng.integers(settings.ttl_min, settings.ttl_max + 1, size)
            v4 = rng.integers(0x0B000000, 0xDF000000, (size, 4), dtype=np.uint32)
            v6 = rng.integers(0, 0xFFFF, (size, 6), dtype=np.uint32)
            addresses = rng.integers(1, 4, size)
            provider = rng.integers(0, len(_MAIL_PROVIDERS), size)
            ca = rng.integers(0, len(_CA), size)
            serial = rng.integers(1, 99, size)
            domains: list[str] = []
            texts: list[str] = []
            for i in range(size):
                if explicit:
                    domain = explicit[start + i]
                else:
                    domain = self._unique_name(
                        taken,
                        f"{_WORDS[first[i]]}{_SYLLABLES[second[i, 0]]}{_SYLLABLES[second[i, 1]]}"
                        + (f"-{_KINDS[kind[i]]}" if shape[i] < 0.4 else ""),
                        settings.tlds[tld[i]],
                        start + i,
                    )
                domains.append(domain)
                texts.append(
                    _zone_text(
                        domain,
                        wanted,
                        int(ttls[i]),
                        [_ipv4(int(a)) for a in v4[i]],
                        [_ipv6(v6[i], n) for n in range(2)],
                        int(addresses[i]),
                        _MAIL_PROVIDERS[provider[i]],
                        _CA[ca[i]],
                        2026010100 + int(serial[i]),
                    )
                )
            yield Batch(domains, texts)

    @staticmethod
    def _unique_name(taken: set[str], label: str, tld: str, index: int) -> str:
        name = f"{label}.{tld}."
        suffix = index
        while name in taken:
            name = f"{label}{suffix}.{tld}."
            suffix += 1
        taken.add(name)
        return name

    def _seed(self) -> int:
        if self.settings.seed is not None:
            return self.settings.seed
        return secrets.randbits(63)

    def run_once(self) -> SeedRun:
        """Generates and stores one run's records; publishes, logs and counts it."""
        seed = self._seed()
        started = time.time()
        clock = time.perf_counter()
        records = domains = zones = 0
        zones_dir = self.settings.zones_dir
        if zones_dir is not None:
            zones_dir.mkdir(parents=True, exist_ok=True)
        try:
            with (
                dnsmill.Writer(self.db, table=self.table, source="seeder") as writer,
                dnsmill.Domains(self.db) as job_table,
            ):
                for batch in self.generate(seed):
                    zone = dnsmill.parse_zone(batch.text)
                    writer.write(zone)
                    job_table.add(batch.domains)  # for the publishers and workers
                    records += len(zone)
                    domains += len(batch.domains)
                    if zones_dir is not None:
                        for domain, text in zip(batch.domains, batch.texts, strict=True):
                            dnsmill.parse_zone(text, domain).write(zones_dir / f"{domain.rstrip('.')}.zone")
                            zones += 1
                written = writer.close()["written"]
        except Exception:
            metrics.SEEDER_RUNS.labels(outcome="failed").inc()
            raise
        duration_ms = (time.perf_counter() - clock) * 1000
        run = SeedRun(records, domains, started, round(duration_ms, 1), seed, zones, written)
        metrics.SEEDER_RUNS.labels(outcome="ok").inc()
        metrics.SEEDER_RECORDS.inc(records)
        metrics.SEEDER_DOMAINS.inc(domains)
        metrics.SEEDER_RUN_SECONDS.observe(duration_ms / 1000)
        self.bus.publish(
            "seeder",
            "dns_records_seeded",
            {"count": records, "domains": domains, "timestamp": started, "duration_ms": run.duration_ms},
        )
        log.info(
            "dns_records_seeded count=%d domains=%d duration_ms=%.1f seed=%d",
            records,
            domains,
            run.duration_ms,
            seed,
            extra={"event": "dns_records_seeded", **asdict(run)},
        )
        self._runs += 1
        return run

    def run_every(self, stop: threading.Event | None = None, runs: int | None = None) -> int:
        """Runs on the settings' schedule until ``stop`` is set (or ``runs`` have run); returns
        the number of runs that succeeded.

        Runs never overlap: the next starts ``every`` after this one started, stretched or
        shrunk by up to ``jitter``. A run that took longer than ``every`` means the store is
        slow: the next waits as long as that run took. A failed run is retried with
        exponential backoff (from 1 s, at most ``every``).
        """
        every = self.settings.every
        if every is None:
            raise ValueError("run_every needs settings.every")
        interval = every.total_seconds()
        stop = stop or threading.Event()
        jitter = random.Random()
        succeeded = failures = 0
        while not stop.is_set() and (runs is None or succeeded + failures < runs):
            began = time.monotonic()
            try:
                self.run_once()
                succeeded += 1
                failures = 0
                took = time.monotonic() - began
                wait = interval * (1 + jitter.uniform(-1, 1) * self.settings.jitter)
                wait = took if took > interval else wait - took
            except dnsmill.DnsmillError as error:
                failures += 1
                wait = min(interval, 2.0 ** (failures - 1))
                log.warning("seeding failed (%s); trying again in %.1f s", error, wait)
            if runs is not None and succeeded + failures >= runs:
                break
            stop.wait(max(0.0, wait))
        return succeeded


def _ipv4(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _ipv6(groups: np.ndarray, host: int) -> str:
    # Inside 2001:db8::/32, the prefix reserved for documentation.
    return f"2001:db8:{groups[0]:x}:{groups[1]:x}::{groups[2 + host]:x}"


def _zone_text(
    domain: str,
    types: set[str],
    ttl: int,
    v4: list[str],
    v6: list[str],
    addresses: int,
    mail_provider: str,
    ca: str,
    serial: int,
) -> str:
    """One domain's zone; every CNAME, MX, NS and SRV target is a name the zone holds."""
    lines = [
        f"$ORIGIN {domain}",
        f"$TTL {ttl}",
        f"@ SOA ns1 hostmaster {serial} 7200 900 1209600 300",
    ]
    add = lines.append
    if "NS" in types:
        add("@ NS ns1")
        add("@ NS ns2")
    if "A" in types:
        for address in v4[:addresses]:
            add(f"@ A {address}")
        add(f"mail A {v4[3]}")
        if "NS" in types:
            add(f"ns1 A {v4[0]}")
            add(f"ns2 A {v4[3]}")
    if "AAAA" in types:
        add(f"@ AAAA {v6[0]}")
        add(f"mail AAAA {v6[1]}")
    if "MX" in types:
        add("@ MX 10 mail")
        if addresses > 1:
            add("@ MX 20 mx.backup")
            if "A" in types:
                add(f"mx.backup A {v4[2]}")
    if "TXT" in types:
        add(f'@ TXT "v=spf1 mx ip4:{v4[0]} include:_spf.{mail_provider} ~all"')
        add(f'_dmarc TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain[:-1]}; pct=100"')
    if "CNAME" in types:
        add("www CNAME @")
        add("blog CNAME www")
    elif "A" in types:
        add(f"www A {v4[0]}")
    if "SRV" in types:
        add("_submission._tcp SRV 0 1 587 mail")
        add("_imaps._tcp SRV 0 1 993 mail")
    if "CAA" in types:
        add(f'@ CAA 0 issue "{ca}"')
        add(f'@ CAA 0 iodef "mailto:security@{domain[:-1]}"')
    lines.append("")
    return "\n".join(lines)
