"""Prometheus metrics of the server (one set per process, in the default registry)."""

from prometheus_client import Counter, Gauge, Histogram

FRAMES = Counter("possync_ingest_frames", "Frames accepted by ingest, by kind", ["kind"])
REJECTS = Counter("possync_ingest_rejects", "Frames not applied, by reason", ["reason"])
BATCH_SIZE = Histogram("possync_ingest_batch_size", "Frames per ingest batch",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
ACK_LATENCY = Histogram("possync_ack_latency_seconds", "From a record's arrival to its ack being published",
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DEVICES_ONLINE = Gauge("possync_devices_online", "Registered, unrevoked devices whose last state is online")
