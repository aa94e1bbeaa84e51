"""``dnsmill ingest``, the event writer (being built): NATS JetStream streams drained into
database tables. So far: the subjects its routes and streams are written in (``subjects``) and
its settings (``dnsmill.config.IngestSettings``)."""
