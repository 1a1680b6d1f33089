"""agent.core.pushed and the config/tags envelope fields; print one JSON result line.

Builds and signs config frames, verifies good and bad ones, saves and reloads them in a
scratch directory (a cut scratch file included), and checks status tags.
Usage: driver_pushconfig.py [WORKDIR]. Runs under MicroPython (its in-memory filesystem,
via tests/micropython/run.mjs) and under CPython from the repo root.
"""

import json
import os
import sys

from agent.core import offline, pushed
from protocol import envelope, frame
from protocol.errors import ProtocolError

WORK = sys.argv[1] if len(sys.argv) > 1 else "/tmp/pushconfig"
KEY = b"\x07" * 32
TOK = "cd" * 32
TOPIC = "pos/T1/down/config"

failures = []
results = {}
checks = [0]


def check(name, got, want):
    checks[0] += 1
    results[name] = got
    if got != want:
        failures.append({"case": name, "check": "equal", "got": got, "want": want})


def config_frame(cfg, dev="T1", key=KEY, frozen=(TOK,)):
    body = envelope.build("config", dev, [("cfg", cfg), ("ts", 1700000000), ("card", 500), ("term", 2000),
                                          ("all", True), ("frozen", list(frozen))])
    return frame.sign(TOPIC, body, key)


def reason_of(call):
    try:
        call()
    except ProtocolError as exc:
        return exc.reason
    return None


def verify_cases():
    good = config_frame(3)
    check("frame", good.decode(), good.decode())  # compared across interpreters
    obj = pushed.verify("T1", KEY, good)
    check("cfg", obj["cfg"], 3)
    check("limits", pushed.limits(obj), {"card": 500, "terminal": 2000})
    check("hot", sorted(pushed.hot_list(obj)), [TOK])
    check("offline:frozen", list(offline.allowed([], TOK, 1, pushed.limits(obj), pushed.hot_list(obj))),
          [False, "frozen_card"])
    check("offline:other", list(offline.allowed([], "ef" * 32, 500, pushed.limits(obj), pushed.hot_list(obj))),
          [True, None])
    check("bad_mac", reason_of(lambda: pushed.verify("T1", KEY, good[:-64] + b"0" * 64)), "bad_mac")
    check("other_key", reason_of(lambda: pushed.verify("T1", b"\x08" * 32, good)), "bad_mac")
    check("other_dev", reason_of(lambda: pushed.verify("T1", KEY, config_frame(3, dev="T2"))), "wrong_device")
    older = pushed.verify("T1", KEY, config_frame(2))
    check("newer", [pushed.newer(obj, None), pushed.newer(obj, older), pushed.newer(older, obj),
                    pushed.newer(obj, obj)], [True, True, False, False])


def file_cases():
    try:
        os.mkdir(WORK)
    except OSError:
        pass
    path = WORK + "/outbox.log.pushed"
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    check("load:none", list(pushed.load(path, "T1", KEY)), [None, None, []])
    pushed.save(path, config_frame(5))
    obj, payload, problems = pushed.load(path, "T1", KEY)
    check("load:saved", [obj["cfg"], payload == config_frame(5), problems], [5, True, []])
    check("load:no-scratch", sorted(os.listdir(WORK)), ["outbox.log.pushed"])
    with open(path + ".tmp", "wb") as f:
        f.write(config_frame(6)[:100])
    obj, payload, problems = pushed.load(path, "T1", KEY)
    check("load:cut-scratch", [obj["cfg"], len(problems)], [5, 1])
    with open(path + ".tmp", "wb") as f:
        f.write(config_frame(6))
    check("load:whole-scratch", pushed.load(path, "T1", KEY)[0]["cfg"], 6)
    pushed.save(path, config_frame(7))
    check("load:after-save", pushed.load(path, "T1", KEY)[0]["cfg"], 7)


def tag_cases():
    status = {"v": 1, "dev": "T1", "kind": "status", "for": "sid", "id": 1, "cust": "C", "pts": 1}
    for name, tags, want in (("none", None, None), ("ok", ["vip", "rfm_555"], None), ("upper", ["VIP"], "bad_field"),
                             ("nine", ["a"] * 9, "bad_field"), ("long", ["a" * 25], "bad_field")):
        body = dict(status)
        if tags is not None:
            body["tags"] = tags
        check("tags:" + name, reason_of(lambda: envelope.validate(body, "T1")), want)


def main():
    verify_cases()
    file_cases()
    tag_cases()
    print(json.dumps({"driver": "pushconfig", "ran": checks[0], "failures": failures, "results": results}))


main()
