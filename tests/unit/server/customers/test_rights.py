"""Customer rights: export holds everything (never a token); erase leaves no PII in either database file."""

import json

import pytest
from custkit import ACTOR, ledgers_balance, points_total, sell, shop
from peewee import fn
from realparts import file_bytes

from server.customers import cases, consent, identity, rights
from server.customers.identity import CustomerError
from server.customers.models import CardEvent
from server.db import db
from server.ingest.models import Record
from server.loyalty import ledger
from server.loyalty.models import Card, Customer
from server.vault import store
from server.vault.db import vault_db
from server.wallet import service as wallet
from server.wallet.models import WalletAccount, WalletEntry

PROFILE = {"name": "张三丰", "phone": "13800138000", "email": "zhang.sanfeng@example.com",
           "address": "浙江省杭州市西湖区文三路90号", "birthday": "1980-02-29", "preferences": {"tea": "龙井茶"}}
CASE_TEXT = "张三丰来电：水壶漏水，回电13800138000"
FOLLOW_TEXT = "已上门维修，张三丰签收"
SECRETS = list(PROFILE.values())[:-1] + ["龙井茶", CASE_TEXT, FOLLOW_TEXT, "同一人张三丰", "卡丢了张三丰",
                                         "补偿张三丰", "纸质表格张三丰"]


def person(add, mk, others=0):
    """A customer C (with D merged into it) holding every kind of data; returns (C, D, its card tokens).

    ``others`` customers buy first, so C's rows sit among theirs on shared pages.
    """
    shop(add)
    for n in range(10, 10 + others):
        sell(mk, n, tok=mk.tok(n), amount=100 + n)
    c = sell(mk, 1, tok=mk.tok(1), amount=88800)
    sell(mk, 2, tok=mk.tok(1), amount=1000, kind="refund", orig="R1")
    d = sell(mk, 3, tok=mk.tok(3), amount=5000)
    identity.link_card(c, mk.tok(2), "622848", "5678", ACTOR)
    identity.link_card(c, mk.tok(4), "622848", "4321", ACTOR)
    identity.unlink_card(mk.tok(4), ACTOR, "卡丢了张三丰")
    store.put(c, PROFILE, ACTOR, "enrolment form")
    store.put(d, {"phone": "13800138000"}, ACTOR, "enrolment form")
    consent.grant(c, "sms", "纸质表格张三丰", ACTOR)
    case = cases.open_case(c, "warranty", CASE_TEXT, ACTOR, dev="T1", ref="R1")
    cases.follow_up(case, ACTOR, FOLLOW_TEXT, "closed")
    ledger.post(c, 50, "adjust", "test:adjust:1", note="补偿张三丰", actor=ACTOR)
    account = wallet.open_account(mk.tok(5), customer=c, actor=ACTOR, bin="900001", last4="0001", pin="4096")["id"]
    wallet.topup(account, 30000, "test:topup:1", actor=ACTOR)
    identity.merge(d, c, ACTOR, "同一人张三丰")
    return c, d, [mk.tok(n) for n in (1, 2, 3, 4, 5)]


def test_export_holds_everything_and_no_token(app, add, mk):
    c, d, toks = person(add, mk)
    out = rights.export(d, "web:dpo", "access request 42")
    text = json.dumps(out, ensure_ascii=False)
    assert out["customer"]["id"] == c and out["customer"]["merged_from"] == [d]
    assert out["profile"] == PROFILE
    assert out["consent"]["sms"]["granted"] is True and out["consent_changes"][0]["channel"] == "sms"
    assert {(x["bin"], x["last4"]) for x in out["cards"]} == {("622848", "1234"), ("622848", "5678")}
    assert {e["action"] for e in out["card_events"]} == {"link", "unlink", "merge_in", "merge_out"}
    assert "卡丢了张三丰" in [e["text"] for e in out["card_events"]]
    assert out["merges"][0]["text"] == "同一人张三丰"
    assert {(p["customer"], p["kind"], p["amount"]) for p in out["purchases"]} == {
        (c, "sale", 88800), (c, "refund", 1000), (d, "sale", 5000)}
    assert sum(e["delta"] for e in out["points_entries"]) == Customer.get_by_id(c).points
    assert out["wallets"][0]["balance"] >= 30000 and out["wallets"][0]["statement"]
    assert out["cases"][0]["text"] == CASE_TEXT and out["cases"][0]["events"][0]["text"] == FOLLOW_TEXT
    assert {"read", "write", "export"} <= {row["action"] for row in out["vault_audit"]}
    assert any(row["purpose"] == "access request 42" and row["action"] == "export" for row in out["vault_audit"])
    for tok in toks:
        assert tok not in text
    assert json.loads(text) == out


def test_export_needs_a_purpose(app):
    cid = identity.create_customer(ACTOR)
    with pytest.raises(CustomerError, match="say why"):
        rights.export(cid, ACTOR, "")


def wallet_totals():
    """(sum of account balances, sum of all entries) and whether each account equals its own entries."""
    sums = dict(WalletEntry.select(WalletEntry.account, fn.SUM(WalletEntry.delta)).group_by(WalletEntry.account)
                .tuples())
    each = all(a.balance == sums.get(a.id, 0) for a in WalletAccount.select())
    return WalletAccount.select(fn.SUM(WalletAccount.balance)).scalar(), sum(sums.values()), each


def files(app, tmp_path):
    vault = app.config["VAULT_DATABASE_URL"][len("sqlite:///"):]
    return [str(tmp_path / "possync.db"), str(tmp_path / "possync.db") + "-wal", vault, vault + "-wal"]


def leaks(data, toks):
    """Every PII string (UTF-8 and GB18030) and card token found in ``data``."""
    found = [s for s in SECRETS if s.encode("utf-8") in data or s.encode("gb18030") in data]
    return found + [t for t in toks if t.encode() in data]


def test_erase_leaves_no_pii_in_either_database_and_every_total_balances(app, add, mk, tmp_path):
    c, d, toks = person(add, mk, others=300)
    bystander = mk.tok(10)
    points, balances = points_total(), wallet_totals()
    c_points = Customer.get_by_id(c).points
    paths = files(app, tmp_path)
    assert set(leaks(file_bytes(paths), toks)) >= set(toks)  # the scan finds tokens while they are there

    out = rights.erase(d, "cli:dpo", "erasure request 43")

    assert out["erased"] is True and out["customer"] == c and set(out["members"]) == {c, d}
    assert out["checkpointed"] is True and out["wallet_balance"] == {"CNY": balances[0]}
    assert leaks(file_bytes(paths), toks) == []  # open: the WALs were truncated
    db.close()
    vault_db.close()
    assert leaks(file_bytes(paths), toks) == []
    assert bystander.encode() in file_bytes(paths)

    assert Customer.get_by_id(c).state == "erased" and Customer.get_by_id(c).points == c_points
    assert points_total() == points and ledgers_balance()
    assert wallet_totals() == balances and balances[2] and balances[0] == balances[1]
    assert WalletAccount.get().state == "closed" and WalletAccount.get().pin_hash is None
    assert all(r.tok is None for r in Record.select().where(Record.customer.in_([c, d])))
    assert {(x.bin, x.last4) for x in Card.select().where(Card.customer == c)} == {("", "")}
    assert CardEvent.select().where(CardEvent.action == "erase").count() == 3
    assert store.get(c, actor=ACTOR, purpose="check") == {} == store.get(d, actor=ACTOR, purpose="check")
    assert rights.erase(c, "cli:dpo", "erasure request 43")["erased"] is False
    assert sell(mk, 900, tok=mk.tok(1)) not in (c, d)  # the card, swiped again, is a stranger now
    assert consent.may_contact(c, "sms", ACTOR, "check") is False


def test_erase_needs_a_reason(app):
    cid = identity.create_customer(ACTOR)
    with pytest.raises(CustomerError, match="say why"):
        rights.erase(cid, ACTOR, " ")
    assert Customer.get_by_id(cid).state == "active"


def test_erase_removes_the_customers_tags_and_their_history(app, add, mk):
    from server.tags import recompute, settings
    from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagDef, TagEvent

    c, d, toks = person(add, mk)
    TagDef.create(code="buyer", name_zh="买家", name_en="buyer", expr="orders >= 1")
    settings.bump()
    recompute.run()
    RiskFlag.create(customer=c, dev="T1", seq=1, ts=1700000000, amount=88800, cur="CNY", reason="large", detail="x")
    assert CustomerStats.get_by_id(c).orders == 2 and CustomerTag.select().where(CustomerTag.customer == c).exists()
    assert TagEvent.select().where(TagEvent.customer.in_([c, d])).count() >= 2
    rights.erase(c, "cli:dpo", "erasure request 44")
    for model in (CustomerStats, CustomerTag, TagEvent, RiskFlag):
        assert not model.select().where(model.customer.in_([c, d])).exists(), model.__name__
