"""``jetstream``: a JetStream stream's messages, written by the event writer (``dnsmill
ingest``'s Rust core) through its processors: records, results, events or one registered.

The checkpoint is JetStream's own: the durable consumer remembers what was acked, and a
message is acked only after its batch committed. Pausing the stream drains the writer (what it
holds is written and acked) and keeps the consumer; the source is the event writer with one
stream and one route, so its settings are those of ``ingest.streams`` and ``ingest.routes``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from dnsmill.config import IngestRouteSettings, IngestSettings, IngestStreamSettings
from dnsmill.coordinator.sources.base import SourceConfig, SourceContext


class JetStreamConfig(SourceConfig):
    #: The NATS server.
    nats: str = "nats://127.0.0.1:4222"
    #: The stream (``ingest.streams``'s fields: name, subjects, durable, max_deliver, ...).
    stream: dict[str, Any]
    #: The processor and its batches (``ingest.routes``'s fields; the subject defaults to
    #: every subject of the stream).
    route: dict[str, Any] = Field(default_factory=lambda: {"processor": "records"})
    #: Modules registering processors of your own.
    processor_modules: list[str] = Field(default_factory=list)

    def ingest_settings(self, db: str) -> IngestSettings:
        stream = IngestStreamSettings.model_validate(self.stream)
        route = IngestRouteSettings.model_validate({"subject": ">", **self.route})
        return IngestSettings(
            nats=self.nats, db=db, streams=[stream], routes=[route], processor_modules=self.processor_modules
        )

    @model_validator(mode="after")
    def _valid(self) -> JetStreamConfig:
        self.ingest_settings("sqlite://check.db")
        return self


class JetStreamSource:
    kind = "jetstream"
    Config = JetStreamConfig

    def __init__(self, context: SourceContext, config: JetStreamConfig) -> None:
        self.context = context
        self.config = config

    async def run(self) -> None:
        from dnsmill.ingest.service import build_ingest

        ingest = build_ingest(self.config.ingest_settings(self.context.db), self.context.db)
        # The blocking run on a thread of its own: asyncio.run joins it, so the process never
        # exits while the writer's thread is still in Rust.
        running = asyncio.ensure_future(asyncio.to_thread(ingest.run))
        reported = 0
        try:
            while not running.done():
                await asyncio.wait({running}, timeout=max(1.0, self.context.poll_interval))
                stats = ingest.stats()
                rows = sum(route.get("rows", 0) for route in stats.get("routes", {}).values())
                if rows > reported:
                    self.context.announce("messages_written", {"rows": rows - reported})
                    self.context.health.records += rows - reported
                    reported = rows
            running.result()
            raise RuntimeError("the event writer stopped by itself")
        finally:
            if not running.done():
                ingest.stop()
                await asyncio.shield(running)


SOURCE = JetStreamSource
