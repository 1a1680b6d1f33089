"""Replay tests/vectors/display.json through agent.core.display (statuses, authorisation answers,
messages); print one JSON result line.

Runs under MicroPython (tests/micropython/run.mjs) and under CPython from the repo root.
"""

import binascii
import json

from agent.core import display


def show(case):
    if "authr" in case:
        return display.show_authr(case["authr"], case["lang"], case["charset"])
    if "message" in case:
        return display.show_message(case["message"], case["lang"], case["charset"])
    return display.show(case["status"], case["lang"], case["charset"], case["offline"])


def main():
    with open("tests/vectors/display.json") as f:
        vectors = json.load(f)
    failures = []
    results = {}
    for i, case in enumerate(vectors):
        what = "authr" if "authr" in case else "message" if "message" in case else "status"
        name = "%d:%s:%s/%s%s" % (i, what, case["lang"], case["charset"], "/offline" if case.get("offline") else "")
        try:
            got = binascii.hexlify(show(case)).decode()
        except display.DisplayError as exc:
            got = "error:" + exc.reason
        results[name] = got
        if got != case["bytes_hex"]:
            failures.append({"case": name, "check": "show", "got": got, "want": case["bytes_hex"]})
    print(json.dumps({"driver": "display", "ran": len(vectors), "failures": failures, "results": results}))


main()
