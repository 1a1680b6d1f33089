"""Customers, their cards (by token only) and the append-only points ledger."""

import base64
import os

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, TextField

from server.db import BaseModel, utcnow

STATES = ("active", "merged", "erased")


def new_customer_id():
    """A neutral customer id: ``C`` + 16 random base32 characters (80 bits), never PII."""
    return "C" + base64.b32encode(os.urandom(10)).decode()


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
    merged_into = CharField(max_length=17, null=True, index=True)  # reviews gather a merged group's spend
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
    ``reason`` is the kind: the record kind for what a record books (sale = its earn, refund
    and void = their reversal), else bonus, burn, unburn, settle, expire, adjust, merge_in,
    merge_out. Earned points carry ``expires_at`` when the programme lets them expire.
    """

    # Indexed by (customer, created_at) below, so no index of its own: one less write per entry.
    customer = ForeignKeyField(Customer, backref="ledger", column_name="customer", on_delete="RESTRICT", index=False)
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


class SalePoints(BaseModel):
    """What a carded sale booked, so its refunds and void take back their share once, in any order.

    One row per ``(dev, ref)`` (the latest sale of a ref wins, as in ingest). A refund or void
    that arrives before its sale leaves a pending row (``seq`` null) holding what it took back;
    the sale settles it when it comes. ``reversed`` is the points taken back so far.
    """

    dev = CharField(max_length=32)
    ref = CharField(max_length=40)
    seq = BigIntegerField(null=True)
    customer = ForeignKeyField(Customer, null=True, column_name="customer", on_delete="RESTRICT", index=False)
    amount = BigIntegerField(default=0)
    earned = BigIntegerField(default=0)
    burned = BigIntegerField(default=0)
    refunded = BigIntegerField(default=0)
    voided = BooleanField(default=False)
    reversed = BigIntegerField(default=0)
    unburned = BooleanField(default=False)
    seqs = TextField(default="")  # ",5,9": the refunds and voids counted here, each once

    class Meta:
        indexes = ((("dev", "ref"), True),)


class RedeemAuth(BaseModel):
    """The answer given to one online redeem request: a replay of ``(dev, aid)`` gets it again.

    ``held``: an approved burn whose sale (the record naming it) has not come yet; the
    stale-approvals job gives the points back after the grace period and sets ``released_at``.
    """

    dev = CharField(max_length=32)
    aid = CharField(max_length=40)
    customer = ForeignKeyField(Customer, null=True, column_name="customer", on_delete="RESTRICT")
    points = BigIntegerField()
    code = CharField(max_length=16)
    pts = BigIntegerField()
    created_at = DateTimeField(default=utcnow)
    # Not null with a default: rows of an older database become "not held" and are never released.
    held = BooleanField(default=False)
    released_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("dev", "aid"), True), (("held", "created_at"), False))


class Programme(BaseModel):
    """One version of the points programme as JSON text; the newest row is in force."""

    data = TextField()
    created_at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)


MODELS = [Customer, Card, PointsEntry, SalePoints, RedeemAuth, Programme]
