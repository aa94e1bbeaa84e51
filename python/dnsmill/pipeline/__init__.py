"""The work pipeline: a publisher puts due domains on a queue, workers resolve them into a
store. Python runs the loops; each batch crosses into Rust once (:class:`dnsmill.BatchJob`).
"""

from __future__ import annotations

from dnsmill.pipeline.publisher import Publisher, PublishReport
from dnsmill.pipeline.run import run_pipeline, run_pipeline_async
from dnsmill.pipeline.stores import ensure_apart
from dnsmill.pipeline.worker import Worker, WorkReport, shared_job

__all__ = [
    "PublishReport",
    "Publisher",
    "WorkReport",
    "Worker",
    "ensure_apart",
    "run_pipeline",
    "run_pipeline_async",
    "shared_job",
]
