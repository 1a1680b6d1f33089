"""Points redemption at the terminal: the online authorisation that books the burn, and its value.

An approved burn stays ``held`` until the sale naming it arrives (settle). One still held after
the grace period is released by a job: the points come back under ``auth:{dev}:{aid}:release``;
a sale that comes after that burns them again under ``auth:{dev}:{aid}:late`` (server.loyalty.booking),
noted late_after_release. Both sides decide by a conditional UPDATE of the held row, so the
points move once whichever commits first.
"""

from datetime import timedelta

from server import held
from server.db import db, utcnow
from server.loyalty import ledger, programme
from server.loyalty.models import Card, Customer, PointsEntry, RedeemAuth

AID_MAX = 40
CHUNK = held.CHUNK
LATE = "late_after_release"


def authorise_redeem(dev, aid, tok, points, now=None):
    """Authorise burning ``points`` of card ``tok``'s customer for request ``aid`` of terminal ``dev``.

    Returns ``{"ok", "code", "pts"}``: APPROVED (burn booked under ``auth:{dev}:{aid}``, the
    key the sale carrying ``auth`` books it with again, as a no-op), UNKNOWN_CARD, INSUFFICIENT
    or BAD_AMOUNT (not a positive multiple of the programme's redeem unit); ``pts`` is the
    balance after. The answer is kept: a replay of (dev, aid) gets it again, whatever changed.
    """
    aid = str(aid)
    if not aid or len(aid) > AID_MAX:
        raise ledger.LedgerError("redeem: the authorisation id must be 1 to %d characters" % AID_MAX)
    now = now or utcnow()
    with db.atomic():
        done = RedeemAuth.get_or_none((RedeemAuth.dev == dev) & (RedeemAuth.aid == aid))
        if done is not None:
            return _answer(done.code, done.pts)
        unit = programme.current()["redeem"][0]
        card = Card.get_or_none(Card.tok == tok)
        customer = Customer.get_by_id(card.customer_id) if card is not None else None
        valid = isinstance(points, int) and not isinstance(points, bool) and points > 0 and points % unit == 0
        if customer is None or customer.state != "active":
            code, pts, customer = "UNKNOWN_CARD", 0, None
        elif not valid:
            code, pts = "BAD_AMOUNT", customer.points
        elif points > customer.points:
            code, pts = "INSUFFICIENT", customer.points
        else:
            ledger.post(customer.id, -points, "burn", "auth:%s:%s" % (dev, aid), now=now, dev=dev,
                        note="authorised online", actor="ingest:%s" % dev)
            code, pts = "APPROVED", customer.points - points
        RedeemAuth.create(dev=dev, aid=aid, customer=customer, points=points if valid else 0, code=code, pts=pts,
                          created_at=now, held=code == "APPROVED")
    return _answer(code, pts)


def redeem_value(points, cur):
    """The discount ``points`` buy, in minor units of ``cur`` (whole redeem units only)."""
    prog = programme.current()
    if cur != prog["cur"]:
        raise ledger.LedgerError("redeem: points buy a discount in %s only, not %s" % (prog["cur"], cur))
    unit, value = prog["redeem"]
    return points // unit * value


def settle(pairs):
    """Mark the redemptions ``[(dev, aid)]`` as met by their sale; returns those released before it came.

    Call inside the transaction that books the sales.
    """
    return held.settle(RedeemAuth, pairs)


def release_stale(grace_min, now=None, actor="job:stale", progress=None, chunk=CHUNK):
    """Give back the points of every redemption still held ``grace_min`` minutes after its approval.

    Returns ``{"released": n, "points": total}``; run again, it finds nothing more.
    """
    now = now or utcnow()
    cutoff = now - timedelta(minutes=grace_min)
    back = held.release_stale(RedeemAuth, RedeemAuth.created_at, cutoff,
                              lambda row: _release(row, now, grace_min, actor), progress, chunk)
    return {"released": len(back), "points": sum(back)}


def _release(row, now, grace_min, actor):
    """Release one held redemption unless its sale came meanwhile; the points given back, or None."""
    taken = held.take(RedeemAuth, row, now)
    key = "auth:%s:%s" % (row.dev, row.aid)
    burn = PointsEntry.get_or_none(PointsEntry.key == key)
    if not taken or burn is None or burn.delta >= 0:
        return None
    ledger.post(_holder(burn.customer_id), -burn.delta, "release", key + ":release", now=now, dev=row.dev,
                note="no sale within %d min of the approval" % grace_min, actor=actor)
    return -burn.delta


def _holder(customer):
    """The customer holding ``customer``'s points now (following merges)."""
    for _ in range(1000):
        merged_into = Customer.select(Customer.merged_into).where(
            (Customer.id == customer) & (Customer.state == "merged")).scalar()
        if not merged_into:
            return customer
        customer = merged_into
    raise ledger.LedgerError("customer %s: merge chain longer than 1000 (a cycle?)" % customer)


def _answer(code, pts):
    return {"ok": code == "APPROVED", "code": code, "pts": pts}
