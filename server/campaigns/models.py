"""Coupons and referrals. Gift runs need no table: a gift's idempotency is its coupon or ledger key."""

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField

from server.db import BaseModel, utcnow
from server.loyalty.models import Customer

KINDS = ("amount_off", "percent_off", "gift")


class Coupon(BaseModel):
    """A single-use coupon; ``customer`` NULL makes it a bearer voucher anyone may present.

    ``value`` is minor units of ``cur`` (amount_off; gift = the worth of the present handed
    over) or permille (percent_off: 150 = 15 %). ``key`` names the event that issued it
    (``birthday:2026:C…``), so running an issuing job twice issues nothing new. ``used_*``
    record the one sale that used it and the discount it got, so a replay of that sale gets
    the same answer.
    """

    code = CharField(max_length=12, unique=True)
    kind = CharField(max_length=12)
    value = BigIntegerField()
    cur = CharField(max_length=3, default="CNY")
    min_spend = BigIntegerField(default=0)
    customer = ForeignKeyField(Customer, null=True, backref="coupons", column_name="customer", on_delete="RESTRICT")
    campaign = CharField(max_length=64, default="")
    issued_at = DateTimeField(default=utcnow)
    issued_by = CharField(max_length=64)
    valid_from = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    used_dev = CharField(max_length=32, null=True)
    used_seq = BigIntegerField(null=True)
    used_ref = CharField(max_length=40, null=True)
    used_discount = BigIntegerField(null=True)
    voided_at = DateTimeField(null=True)
    voided_by = CharField(max_length=64, null=True)
    key = CharField(max_length=96, unique=True)

    class Meta:
        indexes = ((("customer", "expires_at"), False),)


class Referral(BaseModel):
    """``referrer`` brought in ``referee`` (one referrer per referee); ``rewarded_at`` once both got points."""

    referrer = ForeignKeyField(Customer, backref="referrals", column_name="referrer", on_delete="RESTRICT")
    referee = ForeignKeyField(Customer, backref="referred_by", column_name="referee", unique=True,
                              on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)
    rewarded_at = DateTimeField(null=True)


MODELS = [Coupon, Referral]
