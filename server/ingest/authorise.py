"""Answer a terminal's online authorisation (up/auth): a stored-value spend or a points redemption.

Each request is decided in its own short transaction, outside the record batches, so the
customer at the counter waits for one lookup and not for a batch. The PIN block is opened
here with the device's key and goes no further than the wallet's PIN check.
"""

from protocol import pinblock
from protocol.errors import ProtocolError
from server.fleet.models import Device
from server.loyalty.redeem import authorise_redeem
from server.wallet.auth import authorise as authorise_spend


def answer(dev, obj, key):
    """The authr fields ``{"aid", "ok", "code", "bal"[, "cur"]}`` for a verified auth request."""
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
