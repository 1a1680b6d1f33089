"""Replay tests/vectors/display.json through agent.core.display.show; print one JSON result line.

Runs under MicroPython (tests/micropython/run.mjs) and under CPython from the repo root.
"""

import binascii
import json

from agent.core import display


def main():
    with open("tests/vectors/display.json") as f:
        vectors = json.load(f)
    failures = []
    results = {}
    for i, case in enumerate(vectors):
        name = "%d:%s/%s%s" % (i, case["lang"], case["charset"], "/offline" if case["offline"] else "")
        try:
            got = binascii.hexlify(display.show(case["status"], case["lang"], case["charset"], case["offline"])).decode()
        except display.DisplayError as exc:
            got = "error:" + exc.reason
        results[name] = got
        if got != case["bytes_hex"]:
            failures.append({"case": name, "check": "show", "got": got, "want": case["bytes_hex"],
                             "status": case["status"]})
    print(json.dumps({"driver": "display", "ran": len(vectors), "failures": failures, "results": results}))


main()
