"""Check one frame from the broker before anything of it is believed (DESIGN.md §2)."""

from protocol import envelope, frame, topics
from protocol.errors import ProtocolError

# up topic suffix -> the kinds it may carry
KINDS_BY_SUFFIX = {
    "up/tx": envelope.TX_KINDS,
    "up/swipe": ("swipe",),
    "up/hb": ("hb",),
    "up/auth": ("auth",),
}
STATES = (b"online", b"offline")
_UNKNOWN = object()
_PARSED = {}  # topic -> (dev, suffix) of well-formed topics: a few per device
_PARSED_MAX = 100000


def verify(topic, payload, devices):
    """Return ``(dev, obj)`` for a genuine up frame, else raise ProtocolError with the reason.

    ``devices`` maps a device id to its HMAC key, or to None when the device is
    revoked. Checks run cheapest first and the MAC before any JSON is parsed.
    """
    dev, suffix = _parse(topic)
    kinds = KINDS_BY_SUFFIX.get(suffix)
    if kinds is None:
        raise ProtocolError("bad_topic", "not an up topic: " + topic[:80])
    frame.split(payload)
    key = device_key(dev, devices)
    obj = frame.loads(frame.verify(topic, payload, key))
    envelope.validate(obj, dev)
    if obj["kind"] not in kinds:
        raise ProtocolError("bad_kind", "kind %s is not sent on %s" % (obj["kind"], suffix))
    if obj["kind"] in ("refund", "void") and "orig" not in obj:
        raise ProtocolError("bad_field", obj["kind"] + ".orig: missing (the ref of the original sale)")
    return dev, obj


def verify_state(topic, payload, devices):
    """Return ``(dev, state)`` for a ``pos/{dev}/state`` message ("online" or "offline").

    State messages are unsigned (the broker's ACL vouches for the sender), so only the
    device and the value are checked.
    """
    dev, suffix = _parse(topic)
    if suffix != "state":
        raise ProtocolError("bad_topic", "not a state topic: " + topic[:80])
    device_key(dev, devices)
    if bytes(payload) not in STATES:
        raise ProtocolError("malformed", "state must be online or offline")
    return dev, bytes(payload).decode()


def _parse(topic):
    """topics.parse, remembered: the same few topics per device arrive again and again."""
    parsed = _PARSED.get(topic)
    if parsed is None:
        parsed = topics.parse(topic)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[topic] = parsed
    return parsed


def device_key(dev, devices):
    """The key of ``dev`` from ``devices``; unknown_device or revoked_device otherwise."""
    key = devices.get(dev, _UNKNOWN)
    if key is _UNKNOWN:
        raise ProtocolError("unknown_device", "device %s is not registered" % dev)
    if key is None:
        raise ProtocolError("revoked_device", "device %s is revoked" % dev)
    return key


def body_of(payload):
    """The body bytes of a frame verify() accepted."""
    return bytes(payload[:-frame.MAC_LEN - 1])
