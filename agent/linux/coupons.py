"""Coupon codes and coupon-check replies at the terminal (the POS op "coupon", see agent.linux.authorise).

A code the cashier typed is normalised and its check character verified here, so a mistyped code
is answered UNKNOWN without asking the server; the codes are those server.campaigns.codes issues.
"""

import time

from protocol import envelope

# What the cashier should do after each outcome of a coupon check.
HINTS = {
    "VALID": "the coupon is valid: name it in the sale as coupon to use it",
    "USED": "the coupon was used already: do not accept it",
    "EXPIRED": "the coupon has expired: do not accept it",
    "VOID": "the coupon was voided: do not accept it",
    "NOT_YET_VALID": "the coupon is not valid yet: do not accept it today",
    "NOT_YOURS": "the coupon belongs to another customer than the card swiped: do not accept it for this card",
    "CARD_NEEDED": "the coupon belongs to a customer: swipe the customer's member card, then check it again",
    "UNKNOWN": "no such coupon: re-read the code from the voucher and check it again",
    "OFFLINE": "the server could not be asked, so the coupon is not checked: accept it only as the store's offline "
               "rule allows; a sale naming a coupon the server refuses is booked and flagged for follow-up",
}
_CODE_VALUE = dict((c, i) for i, c in enumerate(envelope.COUPON_ALPHABET))
_LOOKALIKES = {"O": "0", "I": "1", "L": "1"}


def parse(text):
    """``(code, None)``: the 12-character coupon code in what the cashier typed (any case, spaces or
    hyphens, O for 0, I or L for 1); or ``(None, why)`` when it cannot be one (characters, length,
    check character: one mistyped character or two swapped ones are always caught)."""
    code = "".join(_LOOKALIKES.get(c, c) for c in "".join(text.split()).replace("-", "").upper())
    if any(c not in _CODE_VALUE for c in code):
        return None, "a coupon code has only the characters 0-9 and A-Z: re-read the code"
    if len(code) != 12:
        return None, "a coupon code has 12 characters, this has %d: re-read the code" % len(code)
    total, weight = 0, 1
    for c in code:  # sum of alpha^i * c_i over GF(32) (x^5 + x^2 + 1) must be 0, as the server issues them
        total ^= _gf32_mul(weight, _CODE_VALUE[c])
        weight = _gf32_mul(weight, 2)
    if total:
        return None, "the check character is wrong (a character mistyped or two swapped): re-read the code"
    return code, None


def _gf32_mul(a, b):
    """``a * b`` in GF(32) modulo x^5 + x^2 + 1."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if a & 32:
            a ^= 0b100101
    return out


def printed(code):
    """A coupon code as printed: XXXX-XXXX-XXXX."""
    return "-".join(code[i:i + 4] for i in range(0, 12, 4))


def reply(code, outcome, answer):
    """The POS reply to a coupon check: the outcome, what to do, and a valid coupon's terms."""
    out = {"ok": True, "outcome": outcome, "coupon": printed(code),
             "message": HINTS.get(outcome, "the server refuses the coupon (%s): do not accept it" % outcome)}
    if outcome == "VALID" and "ckind" in answer:
        out.update(kind=answer["ckind"], value=answer["value"], cur=answer["cur"], min_spend=answer.get("min", 0),
                     expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(answer["exp"])))
    return out
