"""Answer a terminal's online authorisation (up/auth): a stored-value spend, a points redemption or a
coupon check (which uses nothing: the sale naming the coupon does).

Each request is decided in its own short transaction, outside the record batches, so the
customer at the counter waits for one lookup and not for a batch. The PIN block is opened
here with the device's key and goes no further than the wallet's PIN check.
"""

import calendar

from protocol import envelope, pinblock
from protocol.errors import ProtocolError
from server.campaigns.coupons import check_at_terminal
from server.fleet.models import Device
from server.loyalty.redeem import authorise_redeem
from server.wallet.auth import authorise as authorise_spend


def answer(dev, obj, key):
    """The authr fields ``{"aid", "ok", "code", "bal"[, "cur"]}`` for a verified auth request
    (a valid coupon's also carry ``ckind``, ``value``, ``min`` and ``exp``)."""
    if obj["op"] == "coupon":
        return coupon_answer(obj)
    if obj["op"] == "redeem":
        out = authorise_redeem(dev, obj["aid"], obj["tok"], obj["amount"])
        return {"aid": obj["aid"], "ok": out["ok"], "code": out["code"], "bal": out["pts"] or 0}
    pin = None
    if "pin" in obj:
        try:
            pin = pinblock.open_pin(key, dev, obj["aid"], obj["nonce"], obj["pin"])
        except ProtocolError:
            return {"aid": obj["aid"], "ok": False, "code": "BAD_PIN", "bal": 0, "cur": obj["cur"]}
    merchant = Device.select(Device.merchant).where(Device.id == dev).scalar()
    out = authorise_spend(dev, obj["aid"], obj["tok"], obj["amount"], obj["cur"], pin, merchant=merchant)
    return {"aid": obj["aid"], "ok": out["ok"], "code": out["code"], "bal": out["bal"] or 0,
            "cur": out["cur"] if out["cur"] and out["cur"] != "XXX" else obj["cur"]}


def coupon_answer(obj, now=None):
    """The authr fields for a coupon check: APPROVED with the coupon's terms, or the outcome as the decline code."""
    outcome, terms = check_at_terminal(obj["coupon"], obj.get("tok"), now)
    if terms is None:
        return {"aid": obj["aid"], "ok": False, "code": outcome, "bal": 0}
    return {"aid": obj["aid"], "ok": True, "code": envelope.APPROVED, "bal": 0, "cur": terms["cur"],
            "ckind": terms["kind"], "value": terms["value"], "min": terms["min_spend"],
            "exp": calendar.timegm(terms["expires_at"].timetuple())}
