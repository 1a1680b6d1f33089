"""The server's signed answers to a terminal: acks, loyalty statuses, authorisations, config (DESIGN.md §2).

Bodies are written with CPython's json in a fixed field order: the MAC covers the
exact bytes, so the terminal needs valid JSON, not protocol.frame.dumps' own bytes
(tests check every answer against protocol.envelope.validate).
"""

import json

from protocol import envelope, frame, topics

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
_TOPICS = {}  # (dev, suffix) -> checked topic name: a few per device


def ack_frame(dev, key, upto, also):
    """``(topic, payload)`` telling ``dev`` that every seq <= upto, and those in ``also``, are applied."""
    return _signed(dev, "down/ack", {"v": envelope.VERSION, "dev": dev, "kind": "ack", "upto": upto,
                                     "also": sorted(also)}, key)


def status_frame(dev, key, for_, id_, status):
    """``(topic, payload)`` with the loyalty ``status`` for a record (``for_`` "seq") or swipe ("sid")."""
    body = {"v": envelope.VERSION, "dev": dev, "kind": "status", "for": for_, "id": id_,
            "cust": status["cust"], "pts": status["pts"]}
    if "earned" in status:
        body["earned"] = status["earned"]
    body["tier"] = status["tier"]
    body["new"] = status["new"]
    for name in ("lic", "sv", "svcur", "cpn", "low", "tags"):
        if name in status:
            body[name] = status[name]
    return _signed(dev, "down/status", body, key)


def authr_frame(dev, key, answer):
    """``(topic, payload)`` answering an online authorisation: aid, ok, code, bal[, cur], and a valid
    coupon's terms (ckind, value, min, exp)."""
    body = {"v": envelope.VERSION, "dev": dev, "kind": "authr", "aid": answer["aid"], "ok": answer["ok"],
            "code": answer["code"], "bal": answer["bal"]}
    if answer.get("cur"):
        body["cur"] = answer["cur"]
    for name in ("ckind", "value", "min", "exp"):
        if name in answer:
            body[name] = answer[name]
    return _signed(dev, "down/auth", body, key)


def config_frame(dev, key, config):
    """``(topic, payload)`` of the fleet config (server.fleet.pushconfig.content) for ``dev``, published retained."""
    body = {"v": envelope.VERSION, "dev": dev, "kind": "config", "cfg": config["cfg"], "ts": config["ts"],
            "card": config["card"], "term": config["term"], "all": config["all"], "frozen": config["frozen"]}
    return _signed(dev, "down/config", body, key)


def _signed(dev, suffix, body, key):
    topic = _TOPICS.get((dev, suffix))
    if topic is None:
        topic = _TOPICS[(dev, suffix)] = topics.topic(dev, suffix)
    return topic, frame.sign(topic, _DUMPS(body).encode(), key)
