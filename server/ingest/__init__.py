"""Ingest: verify frames from the broker, apply them in batches, answer with signed acks and statuses."""
