"""Customers, their cards (by token only) and the append-only points ledger."""

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField

from server.db import BaseModel, utcnow


class Customer(BaseModel):
    """A customer under a neutral id ``C`` + 16 base32 chars; ``points`` = sum of the ledger."""

    id = CharField(max_length=17, primary_key=True)
    points = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow)


class Card(BaseModel):
    """A card known by its token (keyed hash of the PAN), with BIN and last 4 for people."""

    tok = CharField(max_length=64, unique=True)
    customer = ForeignKeyField(Customer, backref="cards", column_name="customer", on_delete="RESTRICT")
    bin = CharField(max_length=6, default="")
    last4 = CharField(max_length=4, default="")
    created_at = DateTimeField(default=utcnow)


class PointsEntry(BaseModel):
    """One change of a customer's points; rows are only ever appended."""

    customer = ForeignKeyField(Customer, backref="ledger", column_name="customer", on_delete="RESTRICT")
    dev = CharField(max_length=32, null=True)
    seq = BigIntegerField(null=True)
    delta = BigIntegerField()
    reason = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        # One entry per applied record: a second apply of (dev, seq) fails loudly.
        indexes = ((("dev", "seq"), True),)
