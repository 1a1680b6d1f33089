"""Customers, their cards (by token only) and the append-only points ledger."""

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField

from server.db import BaseModel, utcnow

STATES = ("active", "merged", "erased")


class Customer(BaseModel):
    """A customer under a neutral id ``C`` + 16 base32 chars; ``points`` = sum of the ledger.

    ``tier`` is the tier in force (raised at once when ``qual_spend`` since ``qual_since``
    reaches a threshold, lowered only at ``tier_review_at``). A merged customer points to
    the one it was merged into; an erased one keeps its id and ledgers, nothing personal.
    """

    id = CharField(max_length=17, primary_key=True)
    points = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    state = CharField(max_length=8, default="active")
    merged_into = CharField(max_length=17, null=True)
    tier = CharField(max_length=8, default="basic")
    tier_since = DateTimeField(null=True)
    tier_review_at = DateTimeField(null=True)
    qual_spend = BigIntegerField(default=0)
    qual_since = DateTimeField(null=True)


class Card(BaseModel):
    """A card known by its token (keyed hash of the PAN), with BIN and last 4 for people."""

    tok = CharField(max_length=64, unique=True)
    customer = ForeignKeyField(Customer, backref="cards", column_name="customer", on_delete="RESTRICT")
    bin = CharField(max_length=6, default="")
    last4 = CharField(max_length=4, default="")
    created_at = DateTimeField(default=utcnow)


class PointsEntry(BaseModel):
    """One change of a customer's points; rows are only ever appended.

    ``key`` names the event the entry books (e.g. ``T1:12:earn``, ``adjust:<uuid>``): a
    second booking of the same event fails on the unique key instead of counting twice.
    ``reason`` is the kind (earn, bonus, burn, reverse, expire, adjust, merge_in, ...);
    earned points carry ``expires_at`` when the programme lets them expire.
    """

    customer = ForeignKeyField(Customer, backref="ledger", column_name="customer", on_delete="RESTRICT")
    dev = CharField(max_length=32, null=True)
    seq = BigIntegerField(null=True)
    delta = BigIntegerField()
    reason = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)
    key = CharField(max_length=96, null=True, unique=True)
    expires_at = DateTimeField(null=True)
    note = CharField(max_length=200, null=True)
    actor = CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("dev", "seq"), False), (("customer", "created_at"), False))


MODELS = [Customer, Card, PointsEntry]
