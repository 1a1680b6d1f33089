"""The service view: purchases in the merchant's zone, points, stored value, coupons, cases, cards."""

import json
from datetime import timedelta

from custkit import ACTOR, sell, shop

from server.campaigns import coupons
from server.customers import cases, history, identity
from server.db import utcnow
from server.fleet import merchants
from server.vault import store
from server.wallet import service as wallet


def test_history_of_a_customer_and_those_merged_into_it(app, add, mk):
    shop(add, "T1", "M1", "Asia/Shanghai")
    shop(add, "T2", "M2", "Europe/Amsterdam")
    a = sell(mk, 1, tok=mk.tok(1), amount=1250, dev="T1")
    b = sell(mk, 1, tok=mk.tok(2), amount=99900, dev="T2")
    sell(mk, 2, tok=mk.tok(2), amount=300, kind="refund", orig="R1", dev="T2")
    account = wallet.open_account(mk.tok(50), customer=b, actor=ACTOR, bin="900001", last4="7788")["id"]
    wallet.topup(account, 20000, "test:topup:1", actor=ACTOR)
    coupons.issue(b, "amount_off", 500, "CNY", utcnow() + timedelta(days=30), "spring", "test:coupon:1", ACTOR)
    case = cases.open_case(b, "warranty", "kettle leaks", ACTOR, dev="T2", ref="R1")
    cases.follow_up(case, ACTOR, "sent for repair", "in_progress")
    identity.unlink_card(mk.tok(2), ACTOR, "card damaged")
    identity.merge(b, a, ACTOR, "same person")

    view = history.history(b, "web:alice", "customer on the phone", limit=10)

    assert view["customer"] == a and view["merged"] == [b]
    assert view["points"] == sum(e["delta"] for e in view["points_entries"] if e["customer"] == a) > 0
    sales = {(p["customer"], p["kind"], p["dev"]): p for p in view["purchases"]}
    assert sales[(a, "sale", "T1")]["time"] == "2023-11-15T06:13:20+08:00"
    assert sales[(b, "sale", "T2")]["time"] == "2023-11-14T23:13:20+01:00"
    assert sales[(b, "sale", "T2")]["display"] == "999.00 CNY" and sales[(b, "sale", "T2")]["amount"] == 99900
    assert sales[(b, "refund", "T2")]["orig"] == "R1"
    assert {e["reason"] for e in view["points_entries"]} >= {"sale", "refund", "merge_in", "merge_out"}
    [acc] = view["wallets"]
    assert acc["id"] == account and acc["balance"] >= 20000 and acc["statement"][0]["kind"] == "topup"
    assert [(c["code"] != "", c["value"], c["customer"]) for c in view["coupons"]] == [(True, 500, a)]
    [kettle] = view["cases"]
    assert kettle["text"] == "kettle leaks" and kettle["events"][0]["text"] == "sent for repair"
    assert kettle["customer"] == a and (kettle["dev"], kettle["ref"]) == ("T2", "R1")
    actions = [(e["customer"], e["action"], e["card"]) for e in view["card_events"]]
    assert (b, "unlink", "622848…1234") in actions
    assert [e["text"] for e in view["card_events"] if e["action"] == "unlink"] == ["card damaged"]
    assert view["merges"][0]["text"] == "same person" and view["merges"][0]["src"] == b
    assert view["cards"] == [{"bin": "622848", "last4": "1234", "since": view["cards"][0]["since"]}]
    text = json.dumps(view, ensure_ascii=False)
    for n in (1, 2, 50):
        assert mk.tok(n) not in text
    audit = store.audit(a, limit=1)[0]
    assert (audit["actor"], audit["action"], audit["purpose"]) == ("web:alice", "read", "customer on the phone")


def test_limit_keeps_the_newest(app, add, mk):
    shop(add)
    cid = sell(mk, 1, tok=mk.tok(1))
    for seq in range(2, 6):
        sell(mk, seq, tok=mk.tok(1), amount=100 * seq)
    view = history.history(cid, ACTOR, "check", limit=2)
    assert [p["seq"] for p in view["purchases"]] == [5, 4]
    assert len(view["points_entries"]) == 2


def test_a_customer_without_notes_is_not_read_from_the_vault(app, add, mk):
    merchants.add_merchant("M1", "店", "浙江")
    cid = identity.create_customer(ACTOR)
    view = history.history(cid, ACTOR, "check")
    assert view["purchases"] == [] and view["cases"] == [] and view["wallets"] == []
    assert store.audit(cid) == []
