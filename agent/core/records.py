"""Envelope bodies of what the terminal sends: tx records from POS input, swipes, heartbeats.

POS input is checked here so the POS gets an error naming the field before anything is
stored; the last swipe's token is attached to the next tx within the swipe TTL.
"""

from protocol import envelope
from protocol.errors import ProtocolError

AMOUNT_HINT = "must be an integer number of minor units (e.g. 1250 for 12.50)"
_MAX_AMOUNT = 1 << 53
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ACQ_KEYS = ("inst", "lic", "mid", "tid", "settle")
_ACQ_HINT = "must be an object with string fields among inst, lic, mid, tid, settle"


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


def check_tx(req, currency="CNY", acq=None):
    """Validate a POS tx request (a dict with op, ref, amount, optional cur, orig, acq); return its fields.

    ``acq`` is the terminal's default acquirer metadata, sent with a sale whose request has
    none. Returns ``[(field, value), ...]`` in envelope order without seq/ts/card; raises
    ProtocolError("bad_field", "<field>: ...") naming the first bad field.
    """
    kind = req.get("op")
    if kind not in envelope.TX_KINDS:
        raise _bad("op", "must be one of sale, refund, void, status")
    ref = _ref(req, "ref")
    amount = req.get("amount")
    if type(amount) is not int or not 0 <= amount < _MAX_AMOUNT:
        raise _bad("amount", AMOUNT_HINT)
    cur = req.get("cur", currency)
    if type(cur) is not str or len(cur) != 3 or any(c not in _UPPER for c in cur):
        raise _bad("cur", "must be an ISO 4217 currency code such as CNY")
    pairs = [("ref", ref), ("amount", amount), ("cur", cur)]
    if kind != "sale":
        if "orig" not in req:
            raise _bad("orig", "missing: a " + kind + " needs the ref of the original sale")
        pairs.append(("orig", _ref(req, "orig")))
    elif "orig" in req:
        raise _bad("orig", "only a refund or void refers to an original sale")
    if "acq" in req:
        pairs.append(("acq", check_acq(req["acq"])))
    elif kind == "sale" and acq is not None:
        pairs.append(("acq", check_acq(acq)))
    return pairs


def tx(dev, seq, ts, req, currency="CNY", card=None, acq=None):
    """Return the up/tx body for a checked POS request; ``card`` is a swipe (tok, bin, last4) or None,
    ``acq`` the terminal's default acquirer metadata (see ``check_tx``)."""
    pairs = check_tx(req, currency, acq)
    head = [("seq", seq), ("ts", ts)] + pairs[:3]
    if card is not None:
        head += [("tok", card["tok"]), ("bin", card["bin"]), ("last4", card["last4"])]
    return envelope.build(req["op"], dev, head + pairs[3:])


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
