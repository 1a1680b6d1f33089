"""Envelope and message kinds: build bodies in a fixed field order, validate received ones.

Every body carries ``v`` (protocol version), ``dev`` and ``kind``; records sent up
also carry ``seq`` (per device, strictly increasing) and ``ts`` (terminal clock).
"""

from protocol import frame
from protocol.errors import ProtocolError

VERSION = 1
TX_KINDS = ("sale", "refund", "void")

# Field checks: name -> (test, what was expected)
_CHECKS = {
    "uint": (lambda v: type(v) is int and 0 <= v < 1 << 53, "an integer >= 0"),
    "int": (lambda v: type(v) is int and -(1 << 53) < v < 1 << 53, "an integer"),
    "ref": (lambda v: type(v) is str and 0 < len(v) <= 40, "a string of 1-40 characters"),
    "text": (lambda v: type(v) is str and len(v) <= 40, "a string of at most 40 characters"),
    "tok": (lambda v: type(v) is str and len(v) == 64 and _is(v, "0123456789abcdef"), "64 lowercase hex digits"),
    "bin": (lambda v: type(v) is str and len(v) == 6 and _is(v, "0123456789"), "6 digits"),
    "last4": (lambda v: type(v) is str and len(v) == 4 and _is(v, "0123456789"), "4 digits"),
    "cur": (lambda v: type(v) is str and len(v) == 3 and _is(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "an ISO 4217 code such as CNY"),
    "bool": (lambda v: v is True or v is False, "true or false"),
    "uints": (lambda v: type(v) is list and len(v) <= 1000 and all(type(i) is int and i >= 0 for i in v), "a list of integers >= 0"),
    "obj": (lambda v: type(v) is dict, "a JSON object"),
}

# kind -> ((field, check, required), ...); v, dev and kind are checked for all kinds.
_TX = (("seq", "uint", True), ("ts", "uint", True), ("ref", "ref", True), ("amount", "uint", True),
       ("cur", "cur", True), ("tok", "tok", False), ("bin", "bin", False), ("last4", "last4", False),
       ("orig", "ref", False), ("acq", "obj", False))
KINDS = {
    "sale": _TX,
    "refund": _TX,
    "void": _TX,
    "swipe": (("sid", "uint", True), ("ts", "uint", True), ("tok", "tok", True), ("bin", "bin", True),
              ("last4", "last4", True)),
    "hb": (("ts", "uint", True), ("ver", "text", True), ("depth", "uint", True), ("oldest", "uint", True),
           ("up", "uint", True), ("full", "bool", True)),
    "ack": (("upto", "uint", True), ("also", "uints", True)),
    "status": (("for", "text", True), ("id", "uint", True), ("cust", "text", True), ("pts", "int", True),
               ("earned", "int", False), ("tier", "text", False), ("new", "bool", False), ("lic", "text", False)),
}


def _is(s, alphabet):
    for c in s:
        if c not in alphabet:
            return False
    return True


def build(kind, dev, pairs):
    """Return body bytes for ``kind`` from ordered ``[(field, value), ...]``, validated."""
    body = frame.dumps([("v", VERSION), ("dev", dev), ("kind", kind)] + list(pairs))
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
                raise ProtocolError("bad_field", kind + "." + name + ": missing")
            continue
        test, expected = _CHECKS[check]
        if not test(obj[name]):
            raise ProtocolError("bad_field", kind + "." + name + ": must be " + expected)
    return obj
