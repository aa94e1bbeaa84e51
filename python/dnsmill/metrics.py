"""Prometheus metrics of dnsmill's services (prometheus-client, the default registry).

Names follow Prometheus conventions: ``dnsmill_<part>_<what>_total`` for counters,
``..._seconds`` for durations. Labels are small closed sets (topic, outcome, status, queue);
nothing is labelled per domain. ``--metrics-port`` on a service, or :func:`serve`, exposes
them over HTTP at ``/metrics``. This module imports nothing of dnsmill's: the parts that report
figures (the server's collector, the queues) import it.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

EVENTS_PUBLISHED = Counter("dnsmill_events_published_total", "Events published on the bus.", ["topic"])
EVENTS_DROPPED = Counter(
    "dnsmill_events_dropped_total", "Events dropped because a subscriber's queue was full.", ["topic"]
)

SEEDER_RUNS = Counter("dnsmill_seeder_runs_total", "Seeding runs, by outcome.", ["outcome"])
SEEDER_RECORDS = Counter("dnsmill_seeder_records_total", "Records the seeder wrote.")
SEEDER_DOMAINS = Counter("dnsmill_seeder_domains_total", "Domains the seeder generated.")
SEEDER_RUN_SECONDS = Histogram(
    "dnsmill_seeder_run_seconds",
    "How long a seeding run took.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

QUEUE_PUT = Counter("dnsmill_queue_messages_put_total", "Messages put on a queue.", ["queue"])
QUEUE_ACKED = Counter("dnsmill_queue_messages_acked_total", "Messages acknowledged.", ["queue"])
QUEUE_NACKED = Counter("dnsmill_queue_messages_nacked_total", "Messages returned for redelivery.", ["queue"])
QUEUE_DEAD = Counter(
    "dnsmill_queue_messages_dead_lettered_total", "Messages moved to dead letters.", ["queue"]
)
QUEUE_DEPTH = Gauge("dnsmill_queue_depth_messages", "Messages on a queue, by state.", ["queue", "state"])
QUEUE_CONSUMERS = Gauge(
    "dnsmill_queue_consumers",
    "Consumers attached to a queue, in every process (where it can tell).",
    ["queue"],
)

PUBLISHER_DOMAINS = Counter("dnsmill_publisher_domains_total", "Domains published for resolution.")
WORKER_BATCHES = Counter("dnsmill_worker_batches_total", "Batches a worker handled, by outcome.", ["outcome"])
WORKER_DOMAINS = Counter(
    "dnsmill_worker_domains_total", "Domains a worker resolved, by outcome.", ["outcome"]
)
WORKER_RECORDS = Counter("dnsmill_worker_records_written_total", "Answer records a worker stored.")
WORKER_BATCH_SECONDS = Histogram(
    "dnsmill_worker_batch_seconds",
    "From taking a batch to acknowledging it.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


SYNC_PUSHES = Counter(
    "dnsmill_sync_pushes_total",
    "Zone pushes the sync endpoint answered, by action and outcome (queued, stale, refused).",
    ["action", "outcome"],
)
SYNC_ZONES = Counter(
    "dnsmill_sync_zones_total", "Queued zone changes the sync service handled, by outcome.", ["outcome"]
)
SYNC_BACKEND_ZONES = Counter(
    "dnsmill_sync_backend_zones_total",
    "Zone changes applied to a backend, by outcome.",
    ["backend", "outcome"],
)
SYNC_PROPAGATION_SECONDS = Histogram(
    "dnsmill_sync_propagation_seconds",
    "From a push's arrival to a backend holding it, checked.",
    ["backend"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
SYNC_BATCH_SECONDS = Histogram(
    "dnsmill_sync_batch_seconds",
    "How long the sync service took to apply one batch of queued changes.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SYNC_ZONES_PER_SECOND = Gauge("dnsmill_sync_zones_per_second", "Zones per second of the last batch.")
SYNC_WAITING = Gauge("dnsmill_sync_pushes_waiting", "Zone changes queued and not applied everywhere yet.")
SYNC_DRIFT_ROWS = Counter(
    "dnsmill_sync_drift_rows_total",
    "Rows a backend held differently from the zone, by backend and kind (missing, extra).",
    ["backend", "kind"],
)
SYNC_RECONCILED_ZONES = Counter(
    "dnsmill_sync_reconciled_zones_total",
    "Zones the reconciler found drifting, by backend and what it did (repaired, deleted, reported).",
    ["backend", "action"],
)


def serve(port: int, address: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY) -> None:
    """Serves ``/metrics`` on ``address:port`` from a background thread."""
    start_http_server(port, addr=address, registry=registry)


INGEST_ROUTE = {
    name: Counter(f"dnsmill_ingest_{name}_total", help_text, ["route"])
    for name, help_text in (
        ("messages", "Messages the event writer took, by route."),
        ("rows", "Rows the event writer wrote (records, outcomes, events), by route."),
        ("batches", "Batches the event writer committed, by route."),
        ("acked", "Messages acked after their batch's commit, by route."),
        ("dead_lettered", "Messages set aside on the dead-letter subject, by route."),
        ("naks", "Deliveries given back for redelivery later, by route."),
        ("redeliveries", "Messages that arrived delivered before, by route."),
        ("retries", "Batch writes tried again after the store failed, by route."),
        ("batch_seconds", "Seconds spent writing batches, by route."),
    )
}
INGEST_STREAM = {
    name: Counter(f"dnsmill_ingest_stream_{name}_total", help_text, ["stream"])
    for name, help_text in (
        ("received", "Deliveries the event writer received, by stream."),
        ("unrouted", "Messages no route takes (dead-lettered), by stream."),
        ("read_errors", "Errors reading deliveries (missed heartbeats, a lost connection), by stream."),
    )
}
INGEST_LAG = Gauge(
    "dnsmill_ingest_consumer_lag_messages",
    "Messages in the stream not yet delivered to the writer.",
    ["stream"],
)
INGEST_BREAKER_OPEN = Gauge(
    "dnsmill_ingest_breaker_open", "1 while the store breaker is open (the store is down; reading paused)."
)

COORDINATOR_STREAMS = Gauge(
    "dnsmill_coordinator_streams", "Streams the coordinator knows, by status.", ["status"]
)
COORDINATOR_WORKERS = Gauge(
    "dnsmill_coordinator_workers", "Sources running under the coordinator's supervisors."
)
COORDINATOR_RESTARTS = Counter(
    "dnsmill_coordinator_restarts_total",
    "Sources restarted by their stream's supervisor, by stream.",
    ["stream"],
)
COORDINATOR_WORKER_EXITS = Counter(
    "dnsmill_coordinator_worker_exits_total",
    "Sources that ended by themselves, by stream and outcome (error, normal).",
    ["stream", "outcome"],
)
COORDINATOR_FAILURES = Counter(
    "dnsmill_coordinator_stream_failures_total",
    "Streams failed because a source restarted past the limit, by stream.",
    ["stream"],
)
COORDINATOR_EVENTS = Counter(
    "dnsmill_coordinator_events_total",
    "Events the coordinator's sources wrote (new ones), by stream.",
    ["stream"],
)
