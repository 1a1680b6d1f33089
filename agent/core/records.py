"""Envelope bodies of what the terminal sends: tx records from POS input, swipes, heartbeats,
authorisation requests.

POS input is checked here so the POS gets an error naming the field before anything is
stored; the last swipe's token is attached to the next tx within the swipe TTL.
"""

from protocol import envelope, pinblock
from protocol.errors import ProtocolError

AMOUNT_HINT = "must be an integer number of minor units (e.g. 1250 for 12.50)"
_MAX_AMOUNT = 1 << 53
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ACQ_KEYS = ("inst", "lic", "mid", "tid", "settle")
_ACQ_HINT = "must be an object with string fields among inst, lic, mid, tid, settle"
POS_OPS = ("sale", "refund", "void", "redeem", "svspend", "svtopup", "svrefund", "coupon", "status")
_WITH_ORIG = {"refund": "sale", "void": "sale", "svrefund": "svspend"}
_SV_REFUSES = {"auth": "is set by the agent from the server's approval, not by the POS",
               "acq": "stored-value records carry no acquirer metadata"}


def _bad(field, what):
    return ProtocolError("bad_field", field + ": " + what)


def _controls(v):
    for c in v:
        if ord(c) < 32 or ord(c) == 127:
            return True
    return False


def _ref(req, field):
    v = req.get(field)
    if type(v) is not str or not 0 < len(v) <= 40:
        raise _bad(field, "must be a string of 1-40 characters (the POS's own receipt reference)")
    if _controls(v):
        raise _bad(field, "must not hold control characters")
    return v


def check_acq(acq):
    """Check the shape of acquirer metadata and return a copy; its content is the server's to judge.

    Raises ProtocolError("bad_field", "acq.<key>: ...") for an unknown key or a value that is
    not a string of at most 40 characters without control characters.
    """
    if type(acq) is not dict:
        raise _bad("acq", _ACQ_HINT)
    out = {}
    for key in sorted(acq):  # sorted: the same first error on every interpreter
        name = "acq." + str(key)[:20]
        if key not in ACQ_KEYS:
            raise _bad(name, "unknown field (expected inst, lic, mid, tid or settle)")
        v = acq[key]
        if type(v) is not str or len(v) > 40 or _controls(v):
            raise _bad(name, "must be a string of at most 40 characters without control characters")
        out[key] = v
    return out


def _amount(req, kind):
    amount = req.get("amount")
    if type(amount) is not int or not 0 <= amount < _MAX_AMOUNT:
        raise _bad("amount", AMOUNT_HINT)
    if kind in envelope.SV_KINDS and amount == 0:
        raise _bad("amount", "must be at least 1 (minor units of stored value)")
    return amount


def _uint(req, field, what):
    v = req.get(field)
    if type(v) is not int or not 0 < v < _MAX_AMOUNT:
        raise _bad(field, "must be an integer >= 1 (" + what + ")")
    return v


def _sale_extras(req):
    """The redemption, coupon and basket lines of a sale request, in envelope order."""
    pairs = []
    if ("redeem" in req) != ("auth" in req):
        if "auth" in req:
            raise _bad("redeem", "missing: an auth id comes with the points it approved")
        raise _bad("auth", "missing: redeemed points need the approval id the redeem op returned")
    if "redeem" in req:
        pairs.append(("redeem", _uint(req, "redeem", "the points approved by the redeem op")))
        pairs.append(("auth", _uint(req, "auth", "the approval id the redeem op returned")))
    if "coupon" in req:
        pairs.append(("coupon", _ref(req, "coupon")))
    if "lines" in req:
        lines = req["lines"]
        err = envelope.lines_error(lines)
        if err is not None:
            raise ProtocolError("bad_field", "lines" + err)
        for i in range(len(lines)):
            for key in ("sku", "cat"):
                if _controls(lines[i][key]):
                    raise _bad("lines[%d].%s" % (i, key), "must not hold control characters")
        pairs.append(("lines", [dict(line) for line in lines]))
    return pairs


def check_tx(req, currency="CNY", acq=None):
    """Validate a POS tx request (a dict with op, ref, amount, optional cur, orig, acq, and for a sale
    redeem/auth, coupon, lines); return its fields.

    ``acq`` is the terminal's default acquirer metadata, sent with a sale whose request has
    none. Returns ``[(field, value), ...]`` in envelope order without seq/ts/card; raises
    ProtocolError("bad_field", "<field>: ...") naming the first bad field.
    """
    kind = req.get("op")
    if kind not in envelope.TX_KINDS:
        raise _bad("op", "must be one of " + ", ".join(POS_OPS))
    ref = _ref(req, "ref")
    amount = _amount(req, kind)
    cur = req.get("cur", currency)
    if type(cur) is not str or len(cur) != 3 or any(c not in _UPPER for c in cur):
        raise _bad("cur", "must be an ISO 4217 currency code such as CNY")
    pairs = [("ref", ref), ("amount", amount), ("cur", cur)]
    if kind in _WITH_ORIG:
        if "orig" not in req:
            raise _bad("orig", "missing: a " + kind + " needs the ref of the original " + _WITH_ORIG[kind])
        pairs.append(("orig", _ref(req, "orig")))
    elif "orig" in req:
        raise _bad("orig", "only a refund, void or svrefund refers to an original record")
    if kind in envelope.SV_KINDS:
        for field in ("acq", "redeem", "auth", "coupon", "lines"):
            if field in req:
                raise _bad(field, _SV_REFUSES.get(field, "only a sale carries " + field))
        return pairs
    if "acq" in req:
        pairs.append(("acq", check_acq(req["acq"])))
    elif kind == "sale" and acq is not None:
        pairs.append(("acq", check_acq(acq)))
    if kind == "sale":
        pairs += _sale_extras(req)
    else:
        for field in ("redeem", "auth", "coupon", "lines"):
            if field in req:
                raise _bad(field, "only a sale carries " + field)
    return pairs


def pin_of(req):
    """The PIN of a POS request (None if it has none), checked without ever echoing it."""
    if "pin" not in req:
        return None
    pin = req["pin"]
    if type(pin) is not str or not 4 <= len(pin) <= 12 or any(c not in "0123456789" for c in pin):
        raise _bad("pin", "must be 4-12 digits as a string")
    return pin


def check_redeem(req):
    """The ``(ref, points)`` of a POS redeem request."""
    return _ref(req, "ref"), _uint(req, "points", "the points to redeem")


def tx(dev, seq, ts, req, currency="CNY", card=None, acq=None, auth=None, tried=None):
    """Return the up/tx body for a checked POS request; ``card`` is a swipe (tok, bin, last4) or None,
    ``acq`` the terminal's default acquirer metadata (see ``check_tx``). An svspend gets ``auth`` (the
    server's approval id) or, spent offline after an unanswered request, ``tried`` (that request's id)."""
    pairs = check_tx(req, currency, acq)
    kind = req["op"]
    if card is None and kind in envelope.SV_KINDS:
        raise ProtocolError("no_card", "swipe the member card first: a " + kind + " needs its token")
    head = [("seq", seq), ("ts", ts)] + pairs[:3]
    if card is not None:
        head += [("tok", card["tok"]), ("bin", card["bin"]), ("last4", card["last4"])]
    tail = []
    if kind == "svspend":
        if auth is not None:
            tail.append(("auth", auth))
        elif tried is not None:
            tail.append(("tried", tried))
    return envelope.build(kind, dev, head + pairs[3:] + tail)


def auth(dev, key, aid, ts, op, ref, card, amount, nonce, cur=None, pin=None):
    """Return the up/auth body asking the server to approve ``op`` ("svspend": ``amount`` minor units
    of ``cur``; "redeem": ``amount`` points) for ``card``; a ``pin`` goes only as its sealed block."""
    pairs = [("aid", aid), ("ts", ts), ("op", op), ("ref", ref), ("tok", card["tok"]), ("bin", card["bin"]),
             ("last4", card["last4"]), ("amount", amount)]
    if cur is not None:
        pairs.append(("cur", cur))
    if pin is not None:
        pairs.append(("pin", pinblock.seal_pin(key, dev, aid, nonce, pin)))
    pairs.append(("nonce", nonce))
    return envelope.build("auth", dev, pairs)


def swipe(dev, sid, ts, card):
    """Return the up/swipe body: a loyalty lookup for the card just swiped."""
    return envelope.build("swipe", dev, [("sid", sid), ("ts", ts), ("tok", card["tok"]),
                                         ("bin", card["bin"]), ("last4", card["last4"])])


def hb(dev, ts, ver, depth, oldest_ts, up_s, full):
    """Return the up/hb body; ``oldest`` is the age in seconds of the oldest pending record (0 if none)."""
    oldest = 0 if oldest_ts is None else max(0, ts - oldest_ts)
    return envelope.build("hb", dev, [("ts", ts), ("ver", ver), ("depth", depth), ("oldest", oldest),
                                      ("up", max(0, up_s)), ("full", bool(full))])


class LastSwipe:
    """The terminal's last swipe (tok, bin, last4 only: the PAN is never kept), valid ``ttl_s`` seconds."""

    def __init__(self, ttl_s=120):
        self.ttl_s = ttl_s
        self._card = None
        self._at = 0

    def put(self, card, now_s):
        """Remember a parsed swipe, dropping every field but tok, bin and last4."""
        self._card = {"tok": card["tok"], "bin": card["bin"], "last4": card["last4"]}
        self._at = now_s

    def peek(self, now_s):
        """The card of a swipe not older than the TTL, or None; it stays until ``consume``."""
        if self._card is not None and 0 <= now_s - self._at <= self.ttl_s:
            return self._card
        return None

    def consume(self):
        """Forget the swipe once a stored tx carries it."""
        self._card = None
