"""Replay tests/vectors/tracks.json through protocol.track.parse_swipe; print one JSON result line.

Every case runs as str and, since a reader delivers bytes one char per byte, as bytes too.
Runs under MicroPython (tests/micropython/run.mjs) and under CPython from the repo root.
"""

import binascii
import json

from protocol.errors import ProtocolError
from protocol.track import parse_swipe


def outcome(raw, key, now):
    """The parse as a dict, or "reject:<reason>"."""
    try:
        return parse_swipe(raw, key, now)
    except ProtocolError as exc:
        return "reject:" + exc.reason


def as_bytes(raw):
    """The bytes a reader would have sent for ``raw``, or None if a char is not one byte."""
    for c in raw:
        if ord(c) > 255:
            return None
    return bytes([ord(c) for c in raw])


def main():
    with open("tests/vectors/tracks.json") as f:
        vectors = json.load(f)
    key = binascii.unhexlify(vectors["token_key_hex"])
    now = vectors["now_yymm"]
    failures = []
    results = {}
    ran = 0
    for case in vectors["cases"]:
        want = case["expect"] if "expect" in case else "reject:" + case["reject"]
        raw = case["raw"]
        inputs = [("str", raw)]
        if as_bytes(raw) is not None:
            inputs.append(("bytes", as_bytes(raw)))
        for form, value in inputs:
            ran += 1
            got = outcome(value, key, now)
            results[form + ":" + case["name"]] = got
            if got != want:
                failures.append({"case": case["name"], "check": "parse_swipe(" + form + ")", "got": got, "want": want})
    print(json.dumps({"driver": "tracks", "ran": ran, "failures": failures, "results": results}))


main()
