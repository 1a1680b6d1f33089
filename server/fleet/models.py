"""The Merchant and Device tables: who a terminal sells for, its sealed HMAC key and what it last reported."""

from peewee import BigIntegerField, BlobField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from server.db import BaseModel, utcnow


class Merchant(BaseModel):
    """A merchant (or store) the terminals sell for: where it is registered and its time zone.

    ``province`` is a full province name (server.licences.vocab): acquiring grants are judged
    against it. ``tz`` is the IANA zone its times are shown in.
    """

    code = CharField(max_length=32, primary_key=True)
    name = CharField(max_length=200)
    province = CharField(max_length=20)
    tz = CharField(max_length=40, default="Asia/Shanghai")
    created_at = DateTimeField(default=utcnow)

    def as_dict(self):
        """The public view of a merchant."""
        return {"code": self.code, "name": self.name, "province": self.province, "tz": self.tz}


class Device(BaseModel):
    """A terminal. ``id`` is also its MQTT user; ``key_enc`` is its HMAC key sealed by server.keys."""

    id = CharField(max_length=32, primary_key=True)
    key_enc = BlobField()
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    # When the ingest removed a revoked device's retained config from the broker (server.fleet.pushconfig).
    config_cleared_at = DateTimeField(null=True)
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
    merchant = ForeignKeyField(Merchant, null=True, column_name="merchant", backref="devices", on_delete="RESTRICT")

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
            "merchant": self.merchant_id,
        }


class FleetConfig(BaseModel):
    """The config every terminal is pushed (server.fleet.pushconfig): one row, ``version`` rising with each change.

    ``limits`` is the JSON of the offline limits last recorded ("" until the ingest records its setting).
    """

    id = IntegerField(primary_key=True)
    version = BigIntegerField(default=0)
    limits = CharField(max_length=200, default="")
    reason = CharField(max_length=40, default="")
    changed_at = DateTimeField(default=utcnow)


def iso(when):
    """A stored UTC time as ISO 8601 with a Z, or None."""
    if when is None:
        return None
    return when.replace(microsecond=0).isoformat() + "Z"


MODELS = [Merchant, Device, FleetConfig]
