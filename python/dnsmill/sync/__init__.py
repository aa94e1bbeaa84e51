"""The zone sync service's parts: zone names checked before they touch a path, a config line or
SQL (:mod:`dnsmill.sync.names`), DirectAdmin's requests read into commands and its replies
(:mod:`dnsmill.sync.protocol`), the durable, coalescing queue of zone pushes
(:mod:`dnsmill.sync.pushes`), the HTTP endpoint over them (:mod:`dnsmill.sync.endpoint`), and
the applier that writes queued pushes to every backend (:mod:`dnsmill.sync.applier`;
backends in :mod:`dnsmill.sync.backends`)."""
