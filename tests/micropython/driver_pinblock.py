"""Replay tests/vectors/pinblock.json through protocol.pinblock; print one JSON result line.

Runs under MicroPython (tests/micropython/run.mjs) and under CPython from the repo root.
"""

import binascii
import json

from protocol import pinblock
from protocol.errors import ProtocolError


def reason_of(call):
    try:
        call()
    except ProtocolError as exc:
        return exc.reason
    return None


def main():
    with open("tests/vectors/pinblock.json") as f:
        vectors = json.load(f)
    keys = {}
    for name in vectors["keys"]:
        keys[name] = binascii.unhexlify(vectors["keys"][name])
    failures = []
    results = {}
    ran = 0
    for c in vectors["seal"]:
        ran += 1
        key = keys[c["key"]]
        block = pinblock.seal_pin(key, c["dev"], c["aid"], c["nonce"], c["pin"])
        results["seal:" + c["name"]] = block
        if block != c["block"]:
            failures.append({"case": c["name"], "check": "seal_pin", "got": block, "want": c["block"]})
        pin = pinblock.open_pin(key, c["dev"], c["aid"], c["nonce"], c["block"])
        if pin != c["pin"]:
            failures.append({"case": c["name"], "check": "open_pin", "got": "(a different PIN)", "want": "the PIN"})
    for c in vectors["open_rejects"]:
        ran += 1
        got = reason_of(lambda: pinblock.open_pin(keys[c["key"]], c["dev"], c["aid"], c["nonce"], c["block"]))
        results["open_reject:" + c["name"]] = got
        if got != c["reason"]:
            failures.append({"case": c["name"], "check": "open_pin reason", "got": got, "want": c["reason"]})
    for c in vectors["seal_rejects"]:
        ran += 1
        got = reason_of(lambda: pinblock.seal_pin(keys[c["key"]], c["dev"], c["aid"], c["nonce"], c["pin"]))
        results["seal_reject:" + c["name"]] = got
        if got != c["reason"]:
            failures.append({"case": c["name"], "check": "seal_pin reason", "got": got, "want": c["reason"]})
    print(json.dumps({"driver": "pinblock", "ran": ran, "failures": failures, "results": results}))


main()
