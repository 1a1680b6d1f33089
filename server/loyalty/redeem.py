"""Points redemption at the terminal: the online authorisation that books the burn, and its value."""

from server.db import db, utcnow
from server.loyalty import ledger, programme
from server.loyalty.models import Card, Customer, RedeemAuth

AID_MAX = 40


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
                          created_at=now)
    return _answer(code, pts)


def redeem_value(points, cur):
    """The discount ``points`` buy, in minor units of ``cur`` (whole redeem units only)."""
    prog = programme.current()
    if cur != prog["cur"]:
        raise ledger.LedgerError("redeem: points buy a discount in %s only, not %s" % (prog["cur"], cur))
    unit, value = prog["redeem"]
    return points // unit * value


def _answer(code, pts):
    return {"ok": code == "APPROVED", "code": code, "pts": pts}
