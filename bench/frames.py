"""Realistic payloads: the body and signed frame of a card-carrying sale, as a terminal sends it."""

import time

from protocol import envelope, frame, topics

# A swipe's fields as they leave the agent (a token, never a card number).
CARD = {"tok": "5f" * 32, "bin": "622202", "last4": "4321"}
KEY = bytes(range(32))


def sale_pairs(seq, ts=None, ref=None, amount=12850):
    """Envelope fields of a sale with card data, in wire order."""
    ts = int(time.time()) if ts is None else ts
    return [("seq", seq), ("ts", ts), ("ref", ref or "POS-%012d" % seq), ("amount", amount), ("cur", "CNY"),
            ("tok", CARD["tok"]), ("bin", CARD["bin"]), ("last4", CARD["last4"])]


def sale_body(dev, seq, ts=None):
    """The body bytes of a sale record from device ``dev``."""
    return envelope.build("sale", dev, sale_pairs(seq, ts))


def sale_frame(dev, seq, key=KEY):
    """The signed up/tx frame of that sale: what crosses the broker."""
    t = topics.topic(dev, "up/tx")
    return frame.sign(t, sale_body(dev, seq), key)
