"""The server's signed answers to a terminal: acks and loyalty statuses (DESIGN.md §2)."""

from protocol import envelope, frame, topics


def ack_frame(dev, key, upto, also):
    """``(topic, payload)`` telling ``dev`` that every seq <= upto, and those in ``also``, are applied."""
    body = envelope.build("ack", dev, [("upto", upto), ("also", sorted(also))])
    topic = topics.topic(dev, "down/ack")
    return topic, frame.sign(topic, body, key)


def status_frame(dev, key, for_, id_, status):
    """``(topic, payload)`` with the loyalty ``status`` for a record (``for_`` "seq") or swipe ("sid")."""
    pairs = [("for", for_), ("id", id_), ("cust", status["cust"]), ("pts", status["pts"])]
    if "earned" in status:
        pairs.append(("earned", status["earned"]))
    pairs += [("tier", status["tier"]), ("new", status["new"])]
    body = envelope.build("status", dev, pairs)
    topic = topics.topic(dev, "down/status")
    return topic, frame.sign(topic, body, key)
