"""MQTT topic names of DESIGN.md §2: builders and the one parser."""

from protocol.errors import ProtocolError

# suffix -> QoS
UP = {"up/tx": 1, "up/swipe": 1, "up/hb": 0, "up/auth": 1, "state": 1}
DOWN = {"down/ack": 1, "down/status": 1, "down/auth": 1, "down/config": 1, "down/cmd": 1}
MAX_DEV_LEN = 32


def topic(dev, suffix):
    """Return ``pos/{dev}/{suffix}`` after checking both parts."""
    check_dev(dev)
    if suffix not in UP and suffix not in DOWN:
        raise ProtocolError("bad_topic", "unknown topic suffix " + repr(suffix))
    return "pos/" + dev + "/" + suffix


def check_dev(dev):
    """A device id is 1-32 chars of [A-Za-z0-9_-]; it is also the MQTT username."""
    if not isinstance(dev, str) or not 0 < len(dev) <= MAX_DEV_LEN:
        raise ProtocolError("bad_device_id", "device id must be 1-32 characters")
    for c in dev:
        if not (c.isalpha() or c.isdigit() or c in "-_") or ord(c) > 127:
            raise ProtocolError("bad_device_id", "device id may only hold A-Z a-z 0-9 - _")
    return dev


def parse(name):
    """Split a topic into ``(dev, suffix)``; raise ProtocolError("bad_topic") otherwise."""
    parts = name.split("/", 2)
    if len(parts) != 3 or parts[0] != "pos" or (parts[2] not in UP and parts[2] not in DOWN):
        raise ProtocolError("bad_topic", "not a possync topic: " + name[:80])
    try:
        check_dev(parts[1])
    except ProtocolError:
        raise ProtocolError("bad_topic", "bad device id in topic " + name[:80])
    return parts[1], parts[2]
