"""``seeder``: the record seeder (:mod:`dnsmill.seeder`) as a source, run every
``poll_interval`` seconds. The checkpoint is when the last run started, so a restart waits out
the rest of the interval instead of seeding at once; each run is a ``dnsmill.records.seeded``
event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import Field, model_validator

from dnsmill.config import SeedSettings
from dnsmill.coordinator.sources.base import Checkpoint, SourceConfig, SourceContext


class SeederConfig(SourceConfig):
    #: The seeder's settings (``dnsmill seed``'s section: count, batch_size, types, ...);
    #: ``every`` is the source's poll interval.
    seed: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> SeederConfig:
        SeedSettings.model_validate({**self.seed, "every": None})
        return self


class SeederSource:
    kind = "seeder"
    Config = SeederConfig

    def __init__(self, context: SourceContext, config: SeederConfig) -> None:
        self.context = context
        self.settings = SeedSettings.model_validate({**config.seed, "every": None})

    async def run(self) -> None:
        from dnsmill.seeder import Seeder

        seeder = Seeder(self.settings, self.context.db, bus=self.context.bus)
        point = (await self.context.checkpoints()).get("")
        last = float(point.position) if point is not None else 0.0
        while True:
            wait = last + self.context.poll_interval - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            last = time.time()
            # Started is remembered first: a run cut short by a kill waits out the interval
            # too (its records are written again by the next run, as the same rows).
            await self.context.save_checkpoints({"": Checkpoint(f"{last:.6f}")})
            run = await asyncio.to_thread(seeder.run_once)
            await self.context.write_events(
                [
                    (
                        "seeder",
                        f"{last:.6f}",
                        "dnsmill.records.seeded",
                        {"count": run.count, "domains": run.domains, "duration_ms": run.duration_ms},
                        "",
                    )
                ],
                {"": Checkpoint(f"{last:.6f}")},
            )


SOURCE = SeederSource
