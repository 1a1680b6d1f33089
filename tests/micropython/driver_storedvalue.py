"""Stored value in agent.core: records of the new kinds, the offline limiter, money text.

Builds bodies with agent.core.records, checks them against protocol.envelope, runs the
offline limiter over them and prints one JSON result line; the results are compared
between MicroPython (tests/micropython/run.mjs) and CPython (run from the repo root).
"""

import json

from agent.core import offline, records
from protocol import envelope, frame, money, pinblock
from protocol.errors import ProtocolError

KEY = b"\x01" * 32
A = {"tok": "a" * 64, "bin": "622202", "last4": "0004"}
B = {"tok": "b" * 64, "bin": "621700", "last4": "9876"}
LIMITS = {"card": 20000, "terminal": 30000}

failures = []
results = {}


def check(name, got, want):
    results[name] = got
    if got != want:
        failures.append({"case": name, "check": "value", "got": got, "want": want})


def detail_of(call):
    try:
        call()
    except ProtocolError as exc:
        return exc.reason + ": " + exc.detail
    return None


def main():
    ran = 0
    outbox = []
    # (card, amount, auth, tried): offline ones count, the approved one (auth) does not
    spends = ((A, 15000, None, None), (B, 9000, None, None), (A, 5000, None, 77), (A, 99999, 4503599627370497, None))
    for i in range(len(spends)):
        card, amount, auth, tried = spends[i]
        req = {"op": "svspend", "ref": "SV-%d" % i, "amount": amount, "cur": "CNY"}
        body = records.tx("T1", i + 1, 1700000000 + i, req, "CNY", card, None, auth, tried)
        envelope.validate(frame.loads(body), "T1")
        outbox.append((i + 1, body))
    outbox.append((9, records.tx("T1", 9, 1, {"op": "sale", "ref": "S", "amount": 50000}, "CNY", A)))
    outbox.append((10, records.tx("T1", 10, 1, {"op": "svtopup", "ref": "T", "amount": 50000}, "CNY", A)))
    ran += 1
    check("exposure:A", list(offline.exposure(outbox, A["tok"])), [20000, 29000])
    ran += 1
    check("exposure:B", list(offline.exposure(outbox, B["tok"])), [9000, 29000])
    for name, tok, amount, frozen, want in (
            ("card-at-limit", B["tok"], 1000, (), [True, None]),
            ("card-over", A["tok"], 1, (), [False, "card_limit"]),
            ("terminal-over", B["tok"], 1001, (), [False, "terminal_limit"]),
            ("frozen", B["tok"], 1, (B["tok"],), [False, "frozen_card"])):
        ran += 1
        ok, why = offline.allowed(outbox, tok, amount, LIMITS, frozen)
        check("allowed:" + name, [ok, why], want)
    ran += 1
    check("allowed:after-ack", list(offline.allowed(outbox[1:], A["tok"], 5000, LIMITS)), [True, None])

    nonce = "0011223344556677"
    body = records.auth("T1", KEY, 42, 1700000000, "svspend", "SV-1", A, 3550, nonce, "CNY", "135790")
    obj = envelope.validate(frame.loads(body), "T1")
    ran += 1
    check("auth:body-has-no-pin", b"135790" in body, False)
    ran += 1
    check("auth:pin-opens", pinblock.open_pin(KEY, "T1", 42, nonce, obj["pin"]) == "135790", True)
    ran += 1
    check("auth:body", body.decode(), body.decode())  # compared across interpreters
    sale = {"op": "sale", "ref": "INV-1", "amount": 2500, "redeem": 500, "auth": 42, "coupon": "C-1",
            "lines": [{"sku": "S1", "cat": "food", "amt": 2500, "qty": 1}]}
    ran += 1
    check("sale:body", records.tx("T1", 3, 5, sale, "CNY", A).decode(), records.tx("T1", 3, 5, sale, "CNY", A).decode())
    for name, req, want in (
            ("redeem-without-auth", {"op": "sale", "ref": "R", "amount": 1, "redeem": 5},
             "bad_field: auth: missing: redeemed points need the approval id the redeem op returned"),
            ("line-bad", {"op": "sale", "ref": "R", "amount": 1, "lines": [{"sku": "S", "cat": "", "amt": -1, "qty": 1}]},
             "bad_field: lines[0].amt: must be an integer >= 0"),
            ("svrefund-no-orig", {"op": "svrefund", "ref": "R", "amount": 1},
             "bad_field: orig: missing: a svrefund needs the ref of the original svspend"),
            ("svspend-zero", {"op": "svspend", "ref": "R", "amount": 0},
             "bad_field: amount: must be at least 1 (minor units of stored value)"),
            ("svspend-pos-auth", {"op": "svspend", "ref": "R", "amount": 1, "auth": 5},
             "bad_field: auth: is set by the agent from the server's approval, not by the POS")):
        ran += 1
        check("check_tx:" + name, detail_of(lambda: records.check_tx(req)), want)
    ran += 1
    check("tx:no-card", detail_of(lambda: records.tx("T1", 1, 1, {"op": "svtopup", "ref": "R", "amount": 1})),
          "no_card: swipe the member card first: a svtopup needs its token")
    for amount, cur, want in ((123450, "CNY", "1234.50"), (5, "CNY", "0.05"), (-5, "CNY", "-0.05"),
                              (5000, "JPY", "5000"), (1, "KWD", "0.001"), (-123456789012345, "CLF", "-12345678901.2345")):
        ran += 1
        check("money:%d%s" % (amount, cur), money.text(amount, cur), want)
    print(json.dumps({"driver": "storedvalue", "ran": ran, "failures": failures, "results": results}))


main()
