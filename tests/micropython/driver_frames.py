"""Replay tests/vectors/frames.json through protocol.mac/frame/envelope; print one JSON result line.

Runs under MicroPython (tests/micropython/run.mjs) and under CPython from the repo root.
"""

import binascii
import json

from protocol import envelope, frame, mac
from protocol.errors import ProtocolError

failures = []
results = {}


def fail(group, name, check, got, want):
    failures.append({"group": group, "case": name, "check": check, "got": got, "want": want})


def text(b):
    return b.decode() if isinstance(b, (bytes, bytearray)) else repr(b)


def reason_of(call):
    """Run ``call``; return the ProtocolError reason and detail, or (None, None) if it passed."""
    try:
        call()
    except ProtocolError as exc:
        return exc.reason, exc.detail
    return None, None


def check_frame(case, key):
    name = case["name"]
    topic = case["topic"]
    body = case["body"].encode()
    want = binascii.unhexlify(case["frame_hex"])
    got_mac = mac.hexmac(key, topic.encode() + b"\n" + body)
    if got_mac != case["mac"].encode():
        fail("frames", name, "mac.hexmac", text(got_mac), case["mac"])
    signed = frame.sign(topic, body, key)
    if signed != want:
        fail("frames", name, "frame.sign", text(signed), text(want))
    built = envelope.build(case["kind"], case["dev"], case["pairs"])
    if built != body:
        fail("frames", name, "envelope.build", text(built), case["body"])
    results["frame:" + name] = text(binascii.hexlify(frame.sign(topic, built, key)))
    got_body = frame.verify(topic, want, key)
    obj = envelope.validate(frame.loads(got_body), case["dev"])
    for field, value in case["pairs"]:
        if obj.get(field) != value:
            fail("frames", name, "parsed field " + field, repr(obj.get(field)), repr(value))


def main():
    with open("tests/vectors/frames.json") as f:
        vectors = json.load(f)
    keys = {}
    for name in vectors["keys"]:
        keys[name] = binascii.unhexlify(vectors["keys"][name])
    ran = 0
    for case in vectors["frames"]:
        ran += 1
        try:
            check_frame(case, keys[case["key"]])
        except ProtocolError as exc:
            fail("frames", case["name"], "accepted", "ProtocolError " + str(exc), "accepted")
    for case in vectors["rejects"]:
        ran += 1
        raw = binascii.unhexlify(case["body_hex"]) if "body_hex" in case else case["body"].encode()
        reason, detail = reason_of(lambda: envelope.validate(frame.loads(raw), case["dev"]))
        results["reject:" + case["name"]] = reason
        if reason != case["reason"]:
            fail("rejects", case["name"], "reason", reason, case["reason"])
        elif "detail" in case and detail != case["detail"]:
            fail("rejects", case["name"], "detail", detail, case["detail"])
    for case in vectors["frame_rejects"]:
        ran += 1
        raw = binascii.unhexlify(case["frame_hex"])
        reason, _ = reason_of(lambda: frame.verify(case["topic"], raw, keys[case["key"]]))
        results["frame_reject:" + case["name"]] = reason
        if reason != case["reason"]:
            fail("frame_rejects", case["name"], "reason", reason, case["reason"])
    print(json.dumps({"driver": "frames", "ran": ran, "failures": failures, "results": results}))


main()
