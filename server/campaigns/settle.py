"""Coupons after the sale: a coupon the server refused is flagged, a wholly reversed sale gives its coupon back.

Both are called by ingest inside the batch's transaction. A sale is booked even when its
coupon is refused (the customer has left the counter; an offline sale could not ask), so the
refusal is kept in CouponFlag for the merchant to follow up.
"""

from peewee import chunked

from server.campaigns.models import Coupon, CouponFlag
from server.db import utcnow
from server.fleet.models import iso

CHUNK = 200


def flag_refused(dev, seq, ref, code, outcome, reason, amount, cur, customer, sold_at, now=None):
    """Record that sale ``(dev, seq)`` named coupon ``code`` and was refused it (``outcome``, ``reason``).

    One flag per sale: flagging the same sale again changes nothing. Returns True if recorded now.
    """
    return bool(CouponFlag.insert(dev=dev, seq=seq, ref=ref, code=code[:40], outcome=outcome[:16],
                                  reason=reason[:200], amount=amount, cur=cur, customer=customer,
                                  sold_at=sold_at, at=now or utcnow())
                .on_conflict_ignore().as_rowcount().execute())


def flags(since=None, limit=100):
    """The newest ``limit`` coupon flags (those recorded at or after ``since``), newest first, as dicts."""
    rows = CouponFlag.select().order_by(CouponFlag.at.desc(), CouponFlag.id.desc()).limit(limit)
    if since is not None:
        rows = rows.where(CouponFlag.at >= since)
    return [{"dev": f.dev, "seq": f.seq, "ref": f.ref, "code": f.code, "outcome": f.outcome, "reason": f.reason,
             "amount": f.amount, "cur": f.cur, "customer": f.customer_id, "sold_at": iso(f.sold_at),
             "at": iso(f.at)} for f in rows]


def used_by(sales):
    """``{(dev, seq): code}`` of the coupons used now by any of the sales ``[(dev, seq)]``."""
    out = {}
    for part in chunked(sorted(set(sales)), CHUNK):
        devs = sorted({dev for dev, seq in part})
        query = (Coupon.select(Coupon.used_dev, Coupon.used_seq, Coupon.code)
                 .where(Coupon.used_dev.in_(devs), Coupon.used_seq.in_([seq for dev, seq in part])).tuples())
        wanted = set(part)
        out.update(((dev, seq), code) for dev, seq, code in query if (dev, seq) in wanted)
    return out


def give_back(sales, now=None):
    """Give back the coupon each wholly reversed sale ``[(dev, seq)]`` used, if still valid at ``now``.

    Only a coupon still used by exactly that sale is given back, so a reversal seen again, or
    one arriving after the coupon went to another sale, changes nothing. Returns the codes.
    """
    now = now or utcnow()
    given = []
    for (dev, seq), code in sorted(used_by(sales).items()):
        done = (Coupon.update(used_at=None, used_dev=None, used_seq=None, used_ref=None, used_discount=None,
                              given_back_at=now, given_back_from="%s:%d" % (dev, seq))
                .where(Coupon.code == code, Coupon.used_dev == dev, Coupon.used_seq == seq,
                       Coupon.voided_at.is_null(), Coupon.expires_at > now).execute())
        if done:
            given.append(code)
    return given
