"""The Device table: one row per terminal, its sealed HMAC key and what it last reported."""

from peewee import BigIntegerField, BlobField, BooleanField, CharField, DateTimeField, IntegerField

from server.db import BaseModel, utcnow


class Device(BaseModel):
    """A terminal. ``id`` is also its MQTT user; ``key_enc`` is its HMAC key sealed by server.keys."""

    id = CharField(max_length=32, primary_key=True)
    key_enc = BlobField()
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    last_seen = DateTimeField(null=True)
    state = CharField(max_length=8, default="offline")
    version = CharField(max_length=40, default="")
    depth = IntegerField(default=0)
    oldest = IntegerField(default=0)
    uptime = BigIntegerField(default=0)
    full = BooleanField(default=False)
    acked_upto = BigIntegerField(default=0)
    # Lowest seq the terminal reused with another body (its outbox was reset or replaced):
    # acks never cover it, so the terminal keeps that record instead of deleting it unapplied.
    conflict_seq = BigIntegerField(null=True)

    def as_dict(self):
        """The public view of a device (never its key)."""
        return {
            "id": self.id,
            "state": self.state,
            "revoked": self.revoked_at is not None,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
            "last_seen": iso(self.last_seen),
            "version": self.version,
            "depth": self.depth,
            "oldest_s": self.oldest,
            "uptime_s": self.uptime,
            "full": self.full,
            "acked_upto": self.acked_upto,
            "conflict_seq": self.conflict_seq,
        }


def iso(when):
    """A stored UTC time as ISO 8601 with a Z, or None."""
    if when is None:
        return None
    return when.replace(microsecond=0).isoformat() + "Z"
