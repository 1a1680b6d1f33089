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
    the same answer. When that sale is wholly refunded or voided within the coupon's validity,
    the coupon is given back: ``used_*`` cleared, ``given_back_*`` saying when and from which sale.
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
    given_back_at = DateTimeField(null=True)
    given_back_from = CharField(max_length=48, null=True)  # "{dev}:{seq}" of the reversed sale
    key = CharField(max_length=96, unique=True)

    class Meta:
        indexes = ((("customer", "expires_at"), False), (("used_dev", "used_seq"), False))


class CouponFlag(BaseModel):
    """A sale that named a coupon the server refused (typically one made offline): booked all the same,
    listed here for follow-up. One row per sale ``(dev, seq)``; ``code`` is what the sale carried."""

    dev = CharField(max_length=32)
    seq = BigIntegerField()
    ref = CharField(max_length=40)
    code = CharField(max_length=40)
    outcome = CharField(max_length=16)
    reason = CharField(max_length=200)
    amount = BigIntegerField()
    cur = CharField(max_length=3)
    customer = ForeignKeyField(Customer, null=True, column_name="customer", on_delete="RESTRICT", index=False)
    sold_at = DateTimeField()
    at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("dev", "seq"), True),)


class Referral(BaseModel):
    """``referrer`` brought in ``referee`` (one referrer per referee); ``rewarded_at`` once both got points.

    ``taken_back_at`` is set when the referee's first purchase was wholly refunded or voided and the
    rewards were taken back; ``short`` is the points that could not be (a balance never goes below 0).
    """

    referrer = ForeignKeyField(Customer, backref="referrals", column_name="referrer", on_delete="RESTRICT")
    referee = ForeignKeyField(Customer, backref="referred_by", column_name="referee", unique=True,
                              on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)
    rewarded_at = DateTimeField(null=True)
    taken_back_at = DateTimeField(null=True)
    short = BigIntegerField(default=0)


MODELS = [Coupon, CouponFlag, Referral]
