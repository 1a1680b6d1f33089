"""Stored-value spends, redemptions and coupon checks through the POS socket of a real runner, with a fake
server side: what the agent publishes is captured, and signed answers are fed through the
MQTT session's own verification (agent/linux/authorise.py)."""

import json
import logging
import queue
import time

import paho.mqtt.client as paho
import pytest

from agent.core import display as core_display
from agent.linux import config
from agent.linux.display import SerialDisplay
from agent.linux.runner import Runner
from agent_testkit import Pty, PosClient, RunnerThread, make_config, stored_bodies, swipe, wait_for
from protocol import envelope, frame, pinblock
from realparts import free_port

PIN = "735019"


class FakeServer:
    """The broker and server as the runner sees them: publishes are captured, answers are signed
    frames handed to the session's on_message (MAC, topic and body checked there)."""

    def __init__(self, runner, connected=True):
        self.runner = runner
        self.sent = queue.Queue()
        self.bodies = []
        runner.session.publish = self._publish
        runner.session.connected = connected

    def _publish(self, suffix, body, qos):
        if not self.runner.session.connected:
            return False
        self.bodies.append(body)
        self.sent.put((suffix, body, qos))
        return True

    def expect(self, suffix, timeout=5.0):
        while True:
            got, body, qos = self.sent.get(timeout=timeout)
            if got == suffix:
                return json.loads(body)

    def deliver(self, kind, pairs, key=None, suffix=None):
        topic = "pos/T1/" + (suffix or envelope.TOPIC_OF[kind])
        body = envelope.build(kind, "T1", pairs)
        m = paho.MQTTMessage(topic=topic.encode())
        m.payload = frame.sign(topic, body, key or self.runner.cfg["key"])
        self.runner.session._on_message(self.runner.session.client, None, m)

    def answer(self, aid, code="APPROVED", bal=0, cur="CNY", **kw):
        pairs = [("aid", aid), ("ok", code == "APPROVED"), ("code", code), ("bal", bal)]
        if cur is not None:
            pairs.append(("cur", cur))
        self.deliver("authr", pairs, **kw)


@pytest.fixture
def agent(tmp_path):
    """start(**config) -> (runner, pos client, display pty, fake server)."""
    started = []

    def start(connected=True, **over):
        pty = Pty()
        over.setdefault("display", {"port": pty.path, "lang": "en", "charset": "ascii"})
        over.setdefault("auth_timeout_ms", 60000)
        _, raw = make_config(tmp_path, free_port(), **over)
        cfg = config.check(raw)
        d = cfg["display"]
        runner = Runner(cfg, display=SerialDisplay(d["port"], d["baud"], d["lang"], d["charset"]))
        rt = RunnerThread(runner)
        server = FakeServer(runner, connected)
        pos = PosClient(runner.pos.port)
        started.append((rt, pos, pty))
        pty.read_until(core_display.show_message("welcome", "en", "ascii"))
        return runner, pos, pty, server

    yield start
    for rt, pos, pty in started:
        pos.close()
        rt.stop()
        pty.close()


def stored(runner):
    return stored_bodies(runner.cfg)


def swiped(runner, n=0):
    """Swipe test card ``n``; return the card as the runner holds it for the next payment."""
    swipe(runner, n)
    return runner.last_swipe.peek(int(time.time()))


def test_approved_spend_is_stored_with_its_auth_id_and_shown(agent):
    runner, pos, pty, server = agent()
    card = swiped(runner)
    pos.send(op="svspend", ref="SV-1", amount=3550, pin=PIN)
    req = server.expect("up/auth")
    assert (req["op"], req["ref"], req["amount"], req["cur"]) == ("svspend", "SV-1", 3550, "CNY")
    assert (req["tok"], req["bin"], req["last4"]) == (card["tok"], card["bin"], card["last4"])
    assert pinblock.open_pin(runner.cfg["key"], "T1", req["aid"], req["nonce"], req["pin"]) == PIN
    server.answer(req["aid"], bal=87650)
    assert pos.reply() == {"ok": True, "stored": True, "seq": 1, "auth": req["aid"], "bal": 87650, "cur": "CNY"}
    [spend] = stored(runner)
    assert (spend["kind"], spend["ref"], spend["amount"], spend["tok"], spend["auth"]) == (
        "svspend", "SV-1", 3550, card["tok"], req["aid"])
    assert "tried" not in spend and "pin" not in spend
    assert server.expect("up/tx") == spend  # sent like a sale
    pty.read_until(core_display.show_authr({"ok": True, "code": "APPROVED", "bal": 87650, "cur": "CNY"}, "en", "ascii"))
    assert pos.next_event() == {"event": "authr", "aid": req["aid"], "ok": True, "code": "APPROVED", "bal": 87650,
                                "cur": "CNY"}


@pytest.mark.parametrize("code, what", [("BAD_PIN", "wrong PIN"), ("FROZEN", "frozen"), ("LOCKED", "locked"),
                                        ("UNKNOWN_CARD", "no stored-value account"), ("NEW_CODE", "NEW_CODE")])
def test_declined_spend_stores_nothing_and_says_why(agent, code, what):
    runner, pos, pty, server = agent()
    swipe(runner)
    pos.send(op="svspend", ref="SV-1", amount=100, pin="1234")
    aid = server.expect("up/auth")["aid"]
    server.answer(aid, code=code)
    r = pos.reply()
    assert (r["ok"], r["error"], r["code"], r["auth"]) == (False, "declined", code, aid)
    assert what in r["message"] and "bal" not in r
    assert stored(runner) == []
    pty.read_until(core_display.show_authr({"ok": False, "code": code, "bal": 0}, "en", "ascii"))


def test_insufficient_balance_says_the_balance(agent):
    runner, pos, _, server = agent()
    swipe(runner)
    pos.send(op="svspend", ref="SV-1", amount=5000)
    req = server.expect("up/auth")
    assert "pin" not in req
    server.answer(req["aid"], code="INSUFFICIENT", bal=1250)
    r = pos.reply()
    assert (r["error"], r["code"], r["bal"], r["cur"]) == ("declined", "INSUFFICIENT", 1250, "CNY")
    assert stored(runner) == []


def test_no_answer_in_time_spends_offline_naming_the_unanswered_request(agent):
    runner, pos, pty, server = agent(auth_timeout_ms=200)
    card = swiped(runner)
    pos.send(op="svspend", ref="SV-1", amount=100)
    aid = server.expect("up/auth")["aid"]
    assert pos.reply() == {"ok": True, "stored": True, "seq": 1, "offline": True}
    [spend] = stored(runner)
    assert spend["tried"] == aid and "auth" not in spend and spend["tok"] == card["tok"]
    pty.read_until(core_display.show_message("sv_offline", "en", "ascii"))
    # The approval that comes late is told to the POS, but books nothing more.
    server.answer(aid, bal=500)
    assert pos.next_event()["aid"] == aid
    wait_for(lambda: runner.stats["late_authr"] == 1, what="late answer counted")
    assert len(stored(runner)) == 1


def test_a_dropped_connection_sends_waiting_spends_offline_at_once(agent):
    runner, pos, _, server = agent()
    swipe(runner)
    pos.send(op="svspend", ref="SV-1", amount=100)
    aid = server.expect("up/auth")["aid"]
    runner.session.connected = False
    runner._on_mqtt("disconnected", None)
    assert pos.reply()["offline"] is True
    assert stored(runner)[0]["tried"] == aid


def test_forged_or_foreign_answers_are_not_believed(agent):
    runner, pos, _, server = agent(auth_timeout_ms=500)
    swipe(runner)
    pos.send(op="svspend", ref="SV-1", amount=100)
    aid = server.expect("up/auth")["aid"]
    server.answer(aid, key=b"not the device key")                     # bad MAC: dropped by the session
    server.answer(aid, suffix="down/status")                          # an authr on another topic
    server.answer(aid + 1 if aid < (1 << 53) - 1 else 1)               # someone else's request
    r = pos.reply()                                                    # so it times out and goes offline
    assert r["offline"] is True
    assert runner.session.dropped == {"bad_mac": 1, "bad_kind": 1}
    assert "auth" not in stored(runner)[0]


def test_offline_spends_stop_at_the_card_and_terminal_limits_until_acked(agent):
    runner, pos, _, server = agent(connected=False, offline={"card": 1000, "terminal": 1500})
    swipe(runner, 0)
    assert pos.call(op="svspend", ref="A1", amount=600) == {"ok": True, "stored": True, "seq": 1, "offline": True}
    swipe(runner, 0)
    r = pos.call(op="svspend", ref="A2", amount=401)
    assert r["error"] == "offline_limit" and "this card (6.00 of 10.00 CNY" in r["message"]
    assert "take another payment method" in r["message"]
    swipe(runner, 0)
    assert pos.call(op="svspend", ref="A2", amount=400)["seq"] == 2        # exactly up to the card limit
    swipe(runner, 1)
    r = pos.call(op="svspend", ref="B1", amount=501)
    assert r["error"] == "offline_limit" and "this terminal (10.00 of 15.00 CNY" in r["message"]
    # The server reconciles the first spend: its amount no longer counts.
    runner._on_mqtt("ack", {"v": 1, "dev": "T1", "kind": "ack", "upto": 1, "also": []})
    wait_for(lambda: runner.outbox.depth == 1, what="ack applied")
    swipe(runner, 1)
    assert pos.call(op="svspend", ref="B1", amount=501)["seq"] == 3
    assert [s["ref"] for s in stored(runner)] == ["A2", "B1"]


def test_frozen_cards_are_refused_offline(agent):
    runner, pos, pty, server = agent(connected=False)
    card = swiped(runner)
    runner.cfg["frozen"] = frozenset([card["tok"]])
    r = pos.call(op="svspend", ref="F1", amount=1)
    assert r["error"] == "frozen_card" and "do not accept it" in r["message"]
    pty.read_until(core_display.show_message("declined", "en", "ascii"))
    assert stored(runner) == []


def test_offline_spends_in_another_currency_are_refused(agent):
    runner, pos, _, _ = agent(connected=False)
    swipe(runner)
    r = pos.call(op="svspend", ref="U1", amount=100, cur="USD")
    assert r["error"] == "offline_limit" and "only in CNY" in r["message"]


def test_svspend_needs_a_card_and_valid_fields(agent):
    runner, pos, _, server = agent()
    assert pos.call(op="svspend", ref="S", amount=100)["error"] == "no_card"
    swipe(runner)
    assert pos.call(op="svspend", ref="S", amount=100, pin="12")["message"] == "pin: must be 4-12 digits as a string"
    assert pos.call(op="svspend", ref="S", amount=100, auth=5)["message"].startswith("auth: is set by the agent")
    assert pos.call(op="svspend", ref="S", amount=0)["message"].startswith("amount: must be at least 1")
    assert not [b for b in server.bodies if json.loads(b)["kind"] == "auth"]


def test_requests_on_one_connection_are_answered_in_order(agent):
    runner, pos, _, server = agent()
    swipe(runner)
    pos.send(op="svspend", ref="SV-1", amount=100)
    pos.send(op="status")
    aid = server.expect("up/auth")["aid"]
    other = PosClient(runner.pos.port)  # another till is not held up meanwhile
    try:
        assert other.call(op="status")["ok"] is True
    finally:
        other.close()
    server.answer(aid, bal=1)
    assert pos.reply()["auth"] == aid
    assert pos.reply()["device"] == "T1"


def test_a_pos_that_left_gets_nothing_stored(agent):
    runner, pos, _, server = agent()
    swipe(runner)
    gone = PosClient(runner.pos.port)
    gone.send(op="svspend", ref="SV-1", amount=100)
    aid = server.expect("up/auth")["aid"]
    gone.close()
    wait_for(lambda: len(runner.pos.clients) == 1, what="the POS connection to close")
    server.answer(aid, bal=1)
    assert pos.next_event()["aid"] == aid
    assert stored(runner) == []


def test_redeem_is_approved_online_then_used_once_by_its_sale(agent):
    runner, pos, pty, server = agent()
    card = swiped(runner)
    pos.send(op="redeem", ref="INV-1", points=500)
    req = server.expect("up/auth")
    assert (req["op"], req["amount"], req["tok"]) == ("redeem", 500, card["tok"]) and "cur" not in req
    server.answer(req["aid"], bal=380, cur=None)
    assert pos.reply() == {"ok": True, "auth": req["aid"], "points": 500, "bal": 380}
    pty.read_until(core_display.show_authr({"ok": True, "code": "APPROVED", "bal": 380}, "en", "ascii"))
    aid = req["aid"]
    assert pos.call(op="sale", ref="INV-1", amount=2500, redeem=400, auth=aid)["message"] == \
        "redeem: approval %d is for 500 points" % aid
    assert pos.call(op="sale", ref="INV-2", amount=2500, redeem=500, auth=aid)["message"] == \
        "ref: approval %d was given for ref INV-1" % aid
    assert pos.call(op="sale", ref="INV-1", amount=2500, redeem=500, auth=aid + 1)["message"].startswith(
        "auth: %d is not a redemption approved at this terminal" % (aid + 1))
    r = pos.call(op="sale", ref="INV-1", amount=2500, redeem=500, auth=aid,
                 lines=[{"sku": "SKU-1", "cat": "food", "amt": 2500, "qty": 1}], coupon="CPN-9")
    assert r == {"ok": True, "stored": True, "seq": 1}
    [sale] = stored(runner)
    assert (sale["redeem"], sale["auth"], sale["tok"], sale["coupon"]) == (500, aid, card["tok"], "CPN-9")
    assert sale["lines"] == [{"sku": "SKU-1", "cat": "food", "amt": 2500, "qty": 1}]
    assert pos.call(op="sale", ref="INV-1", amount=2500, redeem=500, auth=aid)["message"].startswith(
        "auth: %d is not a redemption approved" % aid)


def test_redeem_carries_its_card_even_after_another_swipe_is_refused(agent):
    runner, pos, _, server = agent()
    swipe(runner, 0)
    pos.send(op="redeem", ref="INV-1", points=10)
    server.answer(server.expect("up/auth")["aid"], bal=0, cur=None)
    aid = pos.reply()["auth"]
    swipe(runner, 1)
    r = pos.call(op="sale", ref="INV-1", amount=100, redeem=10, auth=aid)
    assert r["message"] == "auth: approval %d is for another card than the one swiped last" % aid


def test_redeem_is_online_only(agent):
    runner, pos, _, server = agent(connected=False)
    swipe(runner)
    r = pos.call(op="redeem", ref="INV-1", points=10)
    assert r["error"] == "offline" and "only online" in r["message"]
    runner.session.connected = True
    runner.cfg["auth_timeout_ms"] = 200
    pos.send(op="redeem", ref="INV-1", points=10)
    server.expect("up/auth")
    assert pos.reply()["error"] == "auth_timeout"
    server.answer(1, code="INSUFFICIENT", bal=3, cur=None)  # nobody waits for it
    assert pos.next_event()["code"] == "INSUFFICIENT"
    assert stored(runner) == []


def test_topup_and_refund_are_stored_like_sales_with_the_card(agent):
    runner, pos, _, server = agent(connected=False)
    assert pos.call(op="svtopup", ref="T1", amount=10000)["error"] == "no_card"
    card = swiped(runner)
    assert pos.call(op="svtopup", ref="T1", amount=10000) == {"ok": True, "stored": True, "seq": 1}
    swipe(runner)
    assert pos.call(op="svrefund", ref="RF1", orig="SV-1", amount=300, cur="CNY")["seq"] == 2
    topup, refund = stored(runner)
    assert (topup["kind"], topup["tok"], refund["kind"], refund["orig"], refund["tok"]) == (
        "svtopup", card["tok"], "svrefund", "SV-1", card["tok"])


def test_the_pin_is_never_logged_stored_or_echoed(agent, caplog):
    caplog.set_level(logging.DEBUG)
    runner, pos, _, server = agent(auth_timeout_ms=300)
    seen = []
    for n, outcome in enumerate(("APPROVED", "BAD_PIN", None)):
        swipe(runner)
        pos.send(op="svspend", ref="P%d" % n, amount=100, pin=PIN)
        aid = server.expect("up/auth")["aid"]
        if outcome is not None:
            server.answer(aid, code=outcome)
        seen.append(pos.reply())
    swipe(runner)
    seen.append(pos.call(op="svspend", ref="P9", amount=100, pin=PIN + "x"))  # refused: not echoed
    runner.session.connected = False
    swipe(runner)
    seen.append(pos.call(op="svspend", ref="P10", amount=100, pin=PIN))     # offline: never sent anywhere
    assert [r["ok"] for r in seen] == [True, False, True, False, True]
    with open(runner.cfg["outbox"]["path"], "rb") as f:
        outbox = f.read()
    everything = [outbox, caplog.text.encode(), json.dumps(seen).encode(), json.dumps(pos.events).encode()]
    everything += server.bodies
    for blob in everything:
        assert PIN.encode() not in blob and PIN.encode().hex().encode() not in blob
    assert len(stored(runner)) == 3


def test_status_events_carry_stored_value_and_the_display_shows_it(agent):
    runner, pos, pty, _ = agent()
    swipe(runner)
    status = {"v": 1, "dev": "T1", "kind": "status", "for": "sid", "id": 1, "cust": "C9", "pts": 120,
              "tier": "gold", "new": False, "sv": 4550, "svcur": "CNY", "cpn": 2, "low": True}
    runner._on_mqtt("status", status)
    pty.read_until(core_display.frame_cd5220("Pts 120         GOLD", "Bal 45.50 LOW  Cpn 2", "ascii"))
    assert pos.next_event() == {"event": "status", "for": "sid", "id": 1, "cust": "C9", "pts": 120, "tier": "gold",
                                "new": False, "sv": 4550, "svcur": "CNY", "cpn": 2, "low": True}


def test_drop_folder_cannot_spend_stored_value(tmp_path, agent):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.json").write_text(json.dumps({"op": "svspend", "ref": "D1", "amount": 500}))
    runner, pos, _, _ = agent(drop_dir=str(drop))
    wait_for(lambda: (drop / "a.bad").exists(), what="drop file refused")
    assert "needs the POS socket" in (drop / "a.err").read_text()


def test_redeem_short_of_points_says_how_many_there_are(agent):
    runner, pos, pty, server = agent()
    swipe(runner)
    pos.send(op="redeem", ref="INV-1", points=900)
    aid = server.expect("up/auth")["aid"]
    server.answer(aid, code="INSUFFICIENT", bal=120, cur=None)
    r = pos.reply()
    assert (r["error"], r["code"], r["bal"], r["auth"]) == ("declined", "INSUFFICIENT", 120, aid)
    assert "not enough points" in r["message"] and "cur" not in r
    pty.read_until(core_display.frame_cd5220("Not enough points", "Pts 120", "ascii"))
    assert pos.call(op="sale", ref="INV-1", amount=100, redeem=900, auth=aid)["error"] == "bad_field"


def test_a_valid_coupon_is_answered_with_its_terms_and_nothing_is_used_or_stored(agent):
    runner, pos, pty, server = agent()
    card = swiped(runner)
    code = "0000-0000-0000"
    pos.send(op="coupon", code=code.lower())
    req = server.expect("up/auth")
    assert (req["op"], req["coupon"], req["tok"], req["last4"]) == ("coupon", "000000000000", card["tok"],
                                                                    card["last4"])
    assert not {"pin", "amount", "ref", "cur"} & set(req)
    terms = [("cur", "CNY"), ("ckind", "amount_off"), ("value", 1000), ("min", 5000), ("exp", 4073558400)]
    server.deliver("authr", [("aid", req["aid"]), ("ok", True), ("code", "APPROVED"), ("bal", 0)] + terms)
    assert pos.reply() == {"ok": True, "outcome": "VALID", "coupon": code, "kind": "amount_off", "value": 1000,
                           "cur": "CNY", "min_spend": 5000, "expires": "2099-01-31T16:00:00Z",
                           "message": "the coupon is valid: name it in the sale as coupon to use it"}
    pty.read_until(core_display.show_authr(dict(terms, op="coupon", ok=True, code="APPROVED", bal=0), "en", "ascii"))
    assert stored(runner) == [] and runner.last_swipe.peek(int(time.time())) == card  # the swipe is for the sale
    assert pos.call(op="sale", ref="S1", amount=8000, coupon=code)["stored"]
    assert stored(runner)[0]["coupon"] == code and stored(runner)[0]["tok"] == card["tok"]


@pytest.mark.parametrize("code, shown, what", [
    ("USED", b"Coupon used", "used already"), ("NOT_YOURS", b"Not this card's", "another customer"),
    ("CARD_NEEDED", b"Swipe card first", "swipe the customer's member card"),
    ("WRONG_STORE", b"WRONG_STORE", "the server refuses the coupon (WRONG_STORE)")])
def test_a_refused_coupon_says_why_on_the_pos_and_the_display(agent, code, shown, what):
    runner, pos, pty, server = agent()
    pos.send(op="coupon", code="000000000000")
    req = server.expect("up/auth")
    assert "tok" not in req  # no card swiped: the server says whether the coupon needs one
    server.answer(req["aid"], code=code, cur=None)
    r = pos.reply()
    assert (r["ok"], r["outcome"], r["coupon"]) == (True, code, "0000-0000-0000") and what in r["message"]
    assert "value" not in r
    pty.read_until(shown)


def test_a_mistyped_coupon_is_unknown_without_asking_and_offline_when_unanswered(agent):
    runner, pos, pty, server = agent(auth_timeout_ms=200)
    r = pos.call(op="coupon", code="0000-0000-0001")
    assert (r["ok"], r["outcome"]) == (True, "UNKNOWN") and "re-read the code" in r["message"]
    pty.read_until(b"Check the code")
    assert not [b for b in server.bodies if b'"kind":"auth"' in b]
    assert pos.call(op="coupon")["error"] == "bad_field"
    assert pos.call(op="coupon", code=12)["error"] == "bad_field"
    pos.send(op="coupon", code="000000000000")
    server.expect("up/auth")
    r = pos.reply()  # no answer within auth_timeout_ms
    assert (r["outcome"], r["coupon"]) == ("OFFLINE", "0000-0000-0000") and "not checked" in r["message"]
    pty.read_until(b"Coupon not checked")
    runner.session.connected = False
    assert pos.call(op="coupon", code="000000000000")["outcome"] == "OFFLINE"
    assert stored(runner) == []
