"""Envelope and message kinds: build bodies in a fixed field order, validate received ones.

Every body carries ``v`` (protocol version), ``dev`` and ``kind``; records sent up
also carry ``seq`` (per device, strictly increasing) and ``ts`` (terminal clock).
"""

from protocol import frame
from protocol.errors import ProtocolError

VERSION = 1
# Kinds stored in the terminal's outbox, sent on up/tx and acked by seq.
TX_KINDS = ("sale", "refund", "void", "svspend", "svtopup", "svrefund")
# The stored-value ones among them (each needs the member card's token).
SV_KINDS = ("svspend", "svtopup", "svrefund")
# The topic suffix each kind travels on.
TOPIC_OF = {"sale": "up/tx", "refund": "up/tx", "void": "up/tx", "svspend": "up/tx", "svtopup": "up/tx",
            "svrefund": "up/tx", "swipe": "up/swipe", "hb": "up/hb", "auth": "up/auth",
            "ack": "down/ack", "status": "down/status", "authr": "down/auth", "config": "down/config"}
AUTH_OPS = ("svspend", "redeem", "coupon")
# Coupon codes: 12 characters of Crockford's base32 (no I, L, O, U), the first a check character.
COUPON_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
APPROVED = "APPROVED"
MAX_LINES = 30
MAX_TAGS = 8
MAX_BODY = frame.MAX_FRAME - frame.MAC_LEN - 1

_HEX = "0123456789abcdef"
_CODE = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_TAG = "abcdefghijklmnopqrstuvwxyz0123456789_"

# Field checks: name -> (test, what was expected)
_CHECKS = {
    "uint": (lambda v: type(v) is int and 0 <= v < 1 << 53, "an integer >= 0"),
    "int": (lambda v: type(v) is int and -(1 << 53) < v < 1 << 53, "an integer"),
    "ref": (lambda v: type(v) is str and 0 < len(v) <= 40, "a string of 1-40 characters"),
    "text": (lambda v: type(v) is str and len(v) <= 40, "a string of at most 40 characters"),
    "tok": (lambda v: type(v) is str and len(v) == 64 and _is(v, _HEX), "64 lowercase hex digits"),
    "bin": (lambda v: type(v) is str and len(v) == 6 and _is(v, "0123456789"), "6 digits"),
    "last4": (lambda v: type(v) is str and len(v) == 4 and _is(v, "0123456789"), "4 digits"),
    "cur": (lambda v: type(v) is str and len(v) == 3 and _is(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "an ISO 4217 code such as CNY"),
    "bool": (lambda v: v is True or v is False, "true or false"),
    "uints": (lambda v: type(v) is list and len(v) <= 1000 and all(type(i) is int and i >= 0 for i in v), "a list of integers >= 0"),
    "obj": (lambda v: type(v) is dict, "a JSON object"),
    "hex16": (lambda v: type(v) is str and len(v) == 16 and _is(v, _HEX), "16 lowercase hex digits"),
    "hex32": (lambda v: type(v) is str and len(v) == 32 and _is(v, _HEX), "32 lowercase hex digits"),
    "code": (lambda v: type(v) is str and 0 < len(v) <= 16 and _is(v, _CODE), "a code of 1-16 characters A-Z 0-9 _"),
    "authop": (lambda v: v in AUTH_OPS, "svspend, redeem or coupon"),
    "cpncode": (lambda v: type(v) is str and len(v) == 12 and _is(v, COUPON_ALPHABET),
                "12 characters of 0-9 A-Z without I, L, O, U (a coupon code without hyphens)"),
    "toks": (lambda v: type(v) is list and all(_CHECKS["tok"][0](t) for t in v),
             "a list of card tokens (64 lowercase hex digits each)"),
    "tags": (lambda v: type(v) is list and len(v) <= MAX_TAGS and all(_is_tag(t) for t in v),
             "a list of at most %d tag codes of 1-24 characters a-z 0-9 _" % MAX_TAGS),
}
# The fields of one sale line, in body order.
LINE_FIELDS = (("sku", "ref"), ("cat", "text"), ("amt", "uint"), ("qty", "uint"))

# kind -> ((field, check, required), ...); v, dev and kind are checked for all kinds.
_HEAD = (("seq", "uint", True), ("ts", "uint", True), ("ref", "ref", True), ("amount", "uint", True),
         ("cur", "cur", True))
_CARD = (("tok", "tok", False), ("bin", "bin", False), ("last4", "last4", False))
_TX = _HEAD + _CARD + (("orig", "ref", False), ("acq", "obj", False))
_MEMBER = _HEAD + (("tok", "tok", True),) + _CARD[1:]
KINDS = {
    "sale": _TX + (("redeem", "uint", False), ("auth", "uint", False), ("coupon", "ref", False),
                   ("lines", "lines", False)),
    "refund": _TX,
    "void": _TX,
    "svspend": _MEMBER + (("auth", "uint", False), ("tried", "uint", False)),
    "svtopup": _MEMBER,
    "svrefund": _MEMBER + (("orig", "ref", True),),
    "swipe": (("sid", "uint", True), ("ts", "uint", True), ("tok", "tok", True), ("bin", "bin", True),
              ("last4", "last4", True)),
    "hb": (("ts", "uint", True), ("ver", "text", True), ("depth", "uint", True), ("oldest", "uint", True),
           ("up", "uint", True), ("full", "bool", True)),
    # ref, tok, bin, last4 and amount are required for svspend and redeem (see _together); a coupon
    # check names its coupon and, when a card was swiped, the card.
    "auth": (("aid", "uint", True), ("ts", "uint", True), ("op", "authop", True), ("ref", "ref", False),
             ("tok", "tok", False), ("bin", "bin", False), ("last4", "last4", False), ("amount", "uint", False),
             ("cur", "cur", False), ("pin", "hex32", False), ("coupon", "cpncode", False), ("nonce", "hex16", True)),
    "ack": (("upto", "uint", True), ("also", "uints", True)),
    "status": (("for", "text", True), ("id", "uint", True), ("cust", "text", True), ("pts", "int", True),
               ("earned", "int", False), ("tier", "text", False), ("new", "bool", False), ("lic", "text", False),
               ("sv", "int", False), ("svcur", "cur", False), ("cpn", "uint", False), ("low", "bool", False),
               ("tags", "tags", False)),
    # A valid coupon's answer carries its terms: ckind (amount_off, percent_off, gift), value (minor
    # units of cur, or permille), min (least spend) and exp (its end, unix seconds UTC).
    "authr": (("aid", "uint", True), ("ok", "bool", True), ("code", "code", True), ("bal", "int", True),
              ("cur", "cur", False), ("ckind", "text", False), ("value", "uint", False), ("min", "uint", False),
              ("exp", "uint", False)),
    # Pushed fleet config (retained): version, offline limits (card, terminal) and the frozen-card hot list;
    # all is false when the list was cut to fit one frame (the most recent freezes first).
    "config": (("cfg", "uint", True), ("ts", "uint", True), ("card", "uint", True), ("term", "uint", True),
               ("all", "bool", True), ("frozen", "toks", True)),
}


def _is(s, alphabet):
    for c in s:
        if c not in alphabet:
            return False
    return True


def _is_tag(t):
    return type(t) is str and 0 < len(t) <= 24 and _is(t, _TAG)


def lines_error(lines):
    """Why ``lines`` is not a valid list of sale lines ("[2].amt: must be ..."), or None if it is.

    A line is ``{"sku": 1-40 chars, "cat": 0-40 chars, "amt": line total in minor units, "qty": count}``.
    """
    if type(lines) is not list or len(lines) > MAX_LINES:
        return ": must be a list of at most %d lines" % MAX_LINES
    for i in range(len(lines)):
        line = lines[i]
        where = "[%d]" % i
        if type(line) is not dict:
            return where + ": must be an object with sku, cat, amt and qty"
        for key in sorted(line):  # sorted: the same first error on every interpreter
            if key not in ("sku", "cat", "amt", "qty"):
                return where + "." + str(key)[:20] + ": unknown field (expected sku, cat, amt, qty)"
        for key, check in LINE_FIELDS:
            if key not in line:
                return where + "." + key + ": missing"
            test, expected = _CHECKS[check]
            if not test(line[key]):
                return where + "." + key + ": must be " + expected
    return None


def _bad(kind, field, what):
    return ProtocolError("bad_field", kind + "." + field + ": " + what)


def _auth_fields(obj):
    """A coupon check names the coupon and no money; a spend or redemption names ref, card and amount."""
    if obj["op"] == "coupon":
        if "coupon" not in obj:
            raise _bad("auth", "coupon", "missing (the code of the coupon to check)")
        for name in ("ref", "amount", "cur", "pin"):
            if name in obj:
                raise _bad("auth", name, "a coupon check carries no " + name)
        return
    for name in ("ref", "tok", "bin", "last4", "amount"):
        if name not in obj:
            raise _bad("auth", name, "missing")
    if "coupon" in obj:
        raise _bad("auth", "coupon", "only a coupon check (op coupon) names a coupon")


def _together(kind, obj):
    """Rules across fields of one body."""
    if kind == "sale" and ("redeem" in obj) != ("auth" in obj):
        if "auth" in obj:
            raise _bad(kind, "redeem", "missing (an auth id only comes with redeemed points)")
        raise _bad(kind, "auth", "missing (redeemed points need the id of their online approval)")
    if kind == "svspend" and "auth" in obj and "tried" in obj:
        raise _bad(kind, "tried", "only an offline spend (one without auth) names an unanswered authorisation")
    if kind == "auth":
        _auth_fields(obj)
    if kind == "auth" and obj["op"] == "svspend" and "cur" not in obj:
        raise _bad(kind, "cur", "missing (a stored-value spend is money)")
    if kind == "authr" and obj["ok"] != (obj["code"] == APPROVED):
        raise _bad(kind, "code", "must be APPROVED exactly when ok is true")
    if kind == "authr" and ("ckind" in obj or "value" in obj or "exp" in obj):
        for name in ("ckind", "value", "exp"):
            if name not in obj:
                raise _bad(kind, name, "missing (a coupon's terms come together: ckind, value, exp)")
    if kind == "status" and "sv" in obj and "svcur" not in obj:
        raise _bad(kind, "svcur", "missing (the currency of the stored-value balance sv)")


def build(kind, dev, pairs):
    """Return body bytes for ``kind`` from ordered ``[(field, value), ...]``, validated.

    Raises ProtocolError("oversize") for a body too long for one frame.
    """
    body = frame.dumps([("v", VERSION), ("dev", dev), ("kind", kind)] + list(pairs))
    if len(body) > MAX_BODY:
        raise ProtocolError("oversize", "a %s body of %d bytes does not fit in a frame (at most %d): send "
                            "fewer or shorter fields, such as sale lines" % (kind, len(body), MAX_BODY))
    validate(frame.loads(body), dev)
    return body


def validate(obj, dev=None):
    """Check version, device and the kind's fields of a parsed body; return it.

    Raises ProtocolError naming the field and what was expected.
    """
    v = obj.get("v")
    if v != VERSION:
        raise ProtocolError("bad_version", "protocol version %r not supported (this side speaks %d)" % (v, VERSION))
    if dev is not None and obj.get("dev") != dev:
        raise ProtocolError("wrong_device", "body dev %r does not match topic device %r" % (str(obj.get("dev"))[:40], dev))
    kind = obj.get("kind")
    fields = KINDS.get(kind) if type(kind) is str else None
    if fields is None:
        raise ProtocolError("bad_kind", "unknown message kind %r" % (str(kind)[:20],))
    for name, check, required in fields:
        if name not in obj:
            if required:
                raise _bad(kind, name, "missing")
            continue
        if check == "lines":
            err = lines_error(obj[name])
            if err is not None:
                raise ProtocolError("bad_field", kind + "." + name + err)
            continue
        test, expected = _CHECKS[check]
        if not test(obj[name]):
            raise _bad(kind, name, "must be " + expected)
    _together(kind, obj)
    return obj
