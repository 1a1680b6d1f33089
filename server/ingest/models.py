"""The Record table: every applied sale, refund and void, keyed by (dev, seq)."""

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField

from server.db import BaseModel, utcnow
from server.fleet.models import iso
from server.loyalty.models import Customer


class Record(BaseModel):
    """An applied transaction record; ``body_hash`` (sha256 of the exact body) tells resends from conflicts."""

    dev = CharField(max_length=32)
    seq = BigIntegerField()
    kind = CharField(max_length=8)
    ts = BigIntegerField()
    received_at = DateTimeField(default=utcnow, index=True)
    ref = CharField(max_length=40)
    orig = CharField(max_length=40, null=True)
    amount = BigIntegerField()
    cur = CharField(max_length=3)
    tok = CharField(max_length=64, null=True)
    customer = ForeignKeyField(Customer, null=True, column_name="customer", on_delete="RESTRICT")
    body_hash = CharField(max_length=64)

    class Meta:
        indexes = (
            (("dev", "seq"), True),
            (("dev", "ref"), False),
        )

    def as_dict(self):
        """The public view of a record (the card token stays inside)."""
        return {
            "dev": self.dev,
            "seq": self.seq,
            "kind": self.kind,
            "ref": self.ref,
            "orig": self.orig,
            "amount": self.amount,
            "cur": self.cur,
            "customer": self.customer_id,
            "ts": self.ts,
            "received_at": iso(self.received_at),
        }


MODELS = [Record]
