"""Coupon codes: 11 random base32 characters and a check character, printed as XXXX-XXXX-XXXX.

The alphabet is Crockford's (no I, L, O, U), so what a cashier reads aloud or types is
unambiguous. The check character makes the weighted sum over GF(32) of all 12 characters
zero, with a different weight per position: every single wrong character and every swap of
two different characters changes the sum, so such a typo is caught before any look-up.
"""

import secrets

from server.campaigns import CampaignError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
# What people type for the characters the alphabet leaves out.
LOOKALIKES = {"O": "0", "I": "1", "L": "1"}
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def _tables():
    """exp/log tables of GF(32) built on the primitive polynomial x^5 + x^2 + 1."""
    exp, log, x = [0] * 62, [0] * 32, 1
    for i in range(31):
        exp[i] = exp[i + 31] = x
        log[x] = i
        x <<= 1
        if x & 32:
            x ^= 0b100101
    return exp, log


_EXP, _LOG = _tables()


def _weighted_sum(values):
    """XOR of alpha^i * values[i] for i = 0..n-1 in GF(32); position 0 is the check character."""
    total = 0
    for i, v in enumerate(values):
        if v:
            total ^= _EXP[_LOG[v] + i]
    return total


def new_code():
    """A fresh random code (55 random bits) with its check character, 12 characters."""
    body = [secrets.randbelow(32) for _ in range(LENGTH - 1)]
    return ALPHABET[_weighted_sum([0] + body)] + "".join(ALPHABET[v] for v in body)


def normalise(text):
    """The 12-character code in ``text`` (any case, spaces/hyphens, O for 0, I/L for 1), or CampaignError.

    The error says what is wrong with what was typed, so the cashier can re-read the voucher.
    """
    code = "".join((text or "").split()).replace("-", "").upper()
    code = "".join(LOOKALIKES.get(c, c) for c in code)
    bad = sorted(set(c for c in code if c not in _VALUE))
    if bad:
        raise CampaignError("%r is not a coupon code: coupon codes never contain %s; re-read the code"
                            % (text, " ".join(bad)))
    if len(code) != LENGTH:
        raise CampaignError("%r is not a coupon code: it has %d characters, a code has %d; re-read the code"
                            % (text, len(code), LENGTH))
    if _weighted_sum([_VALUE[c] for c in code]):
        raise CampaignError("coupon code %s: check character wrong: re-read the code (one character is "
                            "mistyped or two are swapped)" % printed(code))
    return code


def printed(code):
    """``code`` grouped for print and display: XXXX-XXXX-XXXX."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))
