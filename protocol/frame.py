"""Frames: ``BODY + b"\\n" + MAC``, MAC = hex HMAC-SHA256 over ``topic + "\\n" + BODY``.

The MAC covers the exact bytes sent, so a receiver verifies before it parses and
nobody re-serialises JSON to check a signature.
"""

import json

from protocol import mac
from protocol.errors import ProtocolError

MAX_FRAME = 4096
MAC_LEN = 64


def dumps(pairs):
    """Serialise ``[(key, value), ...]`` as one compact JSON object in the given order.

    MicroPython dicts are unordered and its json writes non-ASCII raw, so bodies are
    built by hand: fields in the given order, nested keys sorted, non-ASCII escaped,
    giving the same bytes on every interpreter.
    """
    out = []
    for key, value in pairs:
        out.append(json.dumps(key) + ":" + _value(value))
    return _ascii("{" + ",".join(out) + "}").encode()


def _value(value):
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _value(value[k]) for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return json.dumps(value)


def _ascii(text):
    """Escape every non-ASCII character as JSON ``\\uXXXX`` (surrogate pairs above U+FFFF)."""
    if all(ord(c) < 128 for c in text):
        return text
    out = []
    for c in text:
        n = ord(c)
        if n < 128:
            out.append(c)
        elif n < 0x10000:
            out.append("\\u%04x" % n)
        else:
            n -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF)))
    return "".join(out)


def sign(topic, body, key):
    """Return the frame bytes for ``body`` (bytes) published on ``topic`` under ``key``."""
    return body + b"\n" + mac.hexmac(key, topic.encode() + b"\n" + body)


def split(frame):
    """Return ``(body, mac)`` of a frame without checking the MAC."""
    if not isinstance(frame, (bytes, bytearray)):
        raise ProtocolError("malformed", "frame must be bytes")
    if len(frame) > MAX_FRAME:
        raise ProtocolError("oversize", "frame of %d bytes exceeds %d" % (len(frame), MAX_FRAME))
    cut = len(frame) - MAC_LEN - 1
    if cut < 2 or frame[cut] != 0x0A:
        raise ProtocolError("malformed", "frame is not BODY\\nMAC")
    return bytes(frame[:cut]), bytes(frame[cut + 1:])


def verify(topic, frame, key):
    """Check the MAC of ``frame`` on ``topic`` under ``key``; return the body bytes."""
    body, got = split(frame)
    want = mac.hexmac(key, topic.encode() + b"\n" + body)
    if not mac.equal(got, want):
        raise ProtocolError("bad_mac", "MAC does not match the device key for " + topic[:80])
    return body


def loads(body):
    """Parse a body into a dict, mapping every JSON problem to ProtocolError("malformed")."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeError) as exc:
        raise ProtocolError("malformed", "body is not JSON (" + str(exc)[:60] + ")")
    if not isinstance(obj, dict):
        raise ProtocolError("malformed", "body must be a JSON object")
    return obj
