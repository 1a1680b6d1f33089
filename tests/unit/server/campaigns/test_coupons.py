"""Coupons on a real SQLite file: every validate outcome, single use under a race, replays, batches."""

import threading
from datetime import date, datetime, timedelta

import pytest

from server.campaigns import CampaignError, coupons
from server.campaigns.codes import new_code, printed
from server.campaigns.models import Coupon
from server.db import db
from server.loyalty.models import Card, Customer

NOW = datetime(2026, 3, 1, 12, 0)
LATER = NOW + timedelta(days=30)
TOK = "ab" * 32


@pytest.fixture
def people(app):
    for cid, state in (("CALICE0000000000A", "active"), ("CBOB00000000000BB", "active"),
                       ("CGONE0000000000GG", "erased"), ("COLD00000000000OO", "merged")):
        Customer.create(id=cid, state=state)
    Card.create(tok=TOK, customer="CALICE0000000000A")
    return "CALICE0000000000A", "CBOB00000000000BB"


def give(customer, kind="amount_off", value=1000, key=None, **kw):
    kw.setdefault("now", NOW)
    return coupons.issue(customer, kind, value, kw.pop("cur", "CNY"), kw.pop("expires_at", LATER), "spring",
                         key or "test:" + new_code(), "cli:test", **kw)


def test_valid_discounts(people):
    alice, _ = people
    assert coupons.validate(give(alice, value=1000), alice, 5000, "CNY", NOW) == {
        "ok": True, "code": "VALID", "discount": 1000, "reason": "valid until 2026-03-31T12:00:00Z"}
    # never more than the amount
    assert coupons.validate(give(alice, value=1000), alice, 600, "CNY", NOW)["discount"] == 600
    # 15 % of 9.99 = 1.4985 -> 1.49, rounded down
    assert coupons.validate(give(alice, "percent_off", 150), alice, 999, "CNY", NOW)["discount"] == 149
    assert coupons.validate(give(alice, "percent_off", 1000), alice, 999, "CNY", NOW)["discount"] == 999
    gift = coupons.validate(give(alice, "gift", 8800), alice, 100, "CNY", NOW)
    assert gift["ok"] and gift["discount"] == 0


def test_bearer_voucher_works_for_anyone_and_by_printed_code(people):
    code = give(None)
    for who in (None, "CBOB00000000000BB", TOK):
        assert coupons.validate(printed(code).lower(), who, 5000, "CNY", NOW)["code"] == "VALID"


def test_card_token_stands_for_its_customer(people):
    alice, bob = people
    code = give(alice)
    assert coupons.validate(code, TOK, 5000, "CNY", NOW)["ok"]
    assert coupons.validate(code, "cd" * 32, 5000, "CNY", NOW)["code"] == "WRONG_CUSTOMER"


@pytest.mark.parametrize("case, expected", [
    ("unknown", "UNKNOWN"), ("expired", "EXPIRED"), ("used", "USED"), ("early", "NOT_YET_VALID"),
    ("other", "WRONG_CUSTOMER"), ("anonymous", "WRONG_CUSTOMER"), ("small", "MIN_SPEND"),
    ("currency", "WRONG_CURRENCY"), ("voided", "VOIDED")])
def test_every_refusal(people, case, expected):
    alice, bob = people
    code = give(alice, min_spend=2000, valid_from=NOW - timedelta(days=1))
    who, amount, cur, now = alice, 5000, "CNY", NOW
    if case == "unknown":
        code = new_code()
    elif case == "expired":
        now = LATER
    elif case == "used":
        assert coupons.use(code, "T1", 1, "R1", 5000, "CNY", NOW, alice)["ok"]
    elif case == "early":
        now = NOW - timedelta(days=2)
    elif case == "other":
        who = bob
    elif case == "anonymous":
        who = None
    elif case == "small":
        amount = 1999
    elif case == "currency":
        cur = "HKD"
    elif case == "voided":
        assert coupons.void(code, "cli:test")
    out = coupons.validate(code, who, amount, cur, now)
    assert out["code"] == expected and not out["ok"] and out["discount"] == 0 and out["reason"]
    # use refuses for the same reason and leaves the coupon as it was
    assert coupons.use(code, "T9", 9, "R9", amount, cur, now, who)["code"] == expected
    assert Coupon.select().where(Coupon.used_dev == "T9").count() == 0


def test_the_outcomes_are_those_above():
    refusals = {"UNKNOWN", "EXPIRED", "USED", "NOT_YET_VALID", "WRONG_CUSTOMER", "MIN_SPEND", "WRONG_CURRENCY", "VOIDED"}
    assert set(coupons.OUTCOMES) == refusals | {"VALID"}


def test_a_clash_in_a_batch_insert_falls_back_row_by_row(people):
    alice, bob = people
    code = give(alice, key="clash:" + alice)
    rows = [coupons._row(c, "amount_off", 100, "CNY", LATER, "", "clash:" + c, "job:x", 0, NOW, NOW)
            for c in (alice, bob)]
    coupons._insert_many(rows)
    assert Coupon.get(Coupon.key == "clash:" + alice).code == code
    assert Coupon.get(Coupon.key == "clash:" + bob).value == 100


def test_mistyped_code_is_unknown_with_a_hint(people):
    code = give(people[0])
    typo = code[:5] + ("X" if code[5] != "X" else "Y") + code[6:]
    for out in (coupons.validate(typo, people[0], 5000, "CNY", NOW),
                coupons.use(typo, "T1", 1, "R1", 5000, "CNY", NOW, people[0])):
        assert out["code"] == "UNKNOWN" and "check character wrong: re-read the code" in out["reason"]


def test_use_once_and_replay_returns_the_earlier_outcome(people):
    alice, _ = people
    code = give(alice, "percent_off", 100)
    first = coupons.use(code, "T1", 7, "R7", 5000, "CNY", NOW, alice)
    assert first["ok"] and first["discount"] == 500
    # the same sale again (even if it came with other figures or later): the same answer
    assert coupons.use(code, "T1", 7, "R7", 5000, "CNY", NOW, alice) == first
    assert coupons.use(printed(code), "T1", 7, "R7", 9000, "CNY", LATER, alice)["discount"] == 500
    assert coupons.use(code, "T1", 8, "R8", 5000, "CNY", NOW, alice)["code"] == "USED"
    row = Coupon.get(Coupon.code == code)
    assert (row.used_dev, row.used_seq, row.used_ref, row.used_discount, row.used_at) == ("T1", 7, "R7", 500, NOW)


def test_two_sales_racing_for_one_coupon_exactly_one_wins(people):
    alice, _ = people
    codes = [give(alice) for _ in range(10)]
    db.close()  # every thread opens its own connection to the same file
    for code in codes:
        results, barrier = {}, threading.Barrier(4)

        def sell(seq):
            barrier.wait()
            try:
                results[seq] = coupons.use(code, "T%d" % seq, seq, "R%d" % seq, 5000, "CNY", NOW, alice)
            finally:
                db.close()
        threads = [threading.Thread(target=sell, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [s for s, out in results.items() if out["ok"]]
        assert len(results) == 4 and len(winners) == 1
        assert sorted(out["code"] for out in results.values()) == ["USED", "USED", "USED", "VALID"]
        assert Coupon.get(Coupon.code == code).used_seq == winners[0]


def test_issue_is_idempotent_by_key_and_checks_terms(people):
    alice, _ = people
    code = give(alice, key="welcome:" + alice)
    assert give(alice, key="welcome:" + alice, value=5) == code
    assert Coupon.select().count() == 1
    for kw, msg in [(dict(kind="cash"), "kind 'cash' unknown"), (dict(value=0), "value 0"),
                    (dict(kind="percent_off", value=1001), "at most 1000 permille"),
                    (dict(cur="cny"), "ISO 4217"), (dict(min_spend=-1), "minimum spend"),
                    (dict(expires_at=NOW), "before it becomes valid")]:
        with pytest.raises(CampaignError, match=msg):
            give(alice, **kw)
    with pytest.raises(CampaignError, match="CGONE0000000000GG is erased"):
        give("CGONE0000000000GG")
    with pytest.raises(CampaignError, match="is merged: coupons go to active customers only "
                                            r"\(issue to the customer it was merged into\)"):
        give("COLD00000000000OO")
    with pytest.raises(CampaignError, match="is unknown"):
        give("CNOBODY000000000X")


def test_batch_issue_twice_issues_nothing_new(people):
    alice, bob = people
    many = ["C%016d" % i for i in range(450)]
    Customer.insert_many([{"id": c} for c in many]).execute()
    everyone = many + [alice, bob, alice, "CGONE0000000000GG", "CNOBODY000000000X"]
    seen = []
    first = coupons.issue_batch(many[:100], "amount_off", 500, "CNY", LATER, "spring", "spring:2026", "job:x",
                                now=NOW)
    assert first == {"issued": 100, "existing": 0, "skipped": 0}
    # the rest after an "interruption", then everything again
    second = coupons.issue_batch(everyone, "amount_off", 500, "CNY", LATER, "spring", "spring:2026", "job:x",
                                 now=NOW, progress=lambda done, total: seen.append((done, total)))
    assert second == {"issued": 352, "existing": 100, "skipped": 2}
    assert seen[-1] == (454, 454) and len(seen) == 3
    again = coupons.issue_batch(everyone, "amount_off", 500, "CNY", LATER, "spring", "spring:2026", "job:x",
                                now=NOW)
    assert again == {"issued": 0, "existing": 452, "skipped": 2}
    assert Coupon.select().count() == 452
    assert Coupon.get(Coupon.key == "spring:2026:" + bob).customer_id == bob
    assert coupons.valid_count([alice, bob, "CGONE0000000000GG"], NOW) == {alice: 1, bob: 1, "CGONE0000000000GG": 0}


def test_void_list_count_and_move(people):
    alice, bob = people
    used, voided, early, late = give(alice), give(alice), give(alice, valid_from=LATER - timedelta(days=1)), give(alice)
    assert coupons.use(used, "T1", 1, "R1", 5000, "CNY", NOW, alice)["ok"]
    assert coupons.void(voided, "cli:test") is True
    assert coupons.void(voided, "cli:test") is False
    with pytest.raises(CampaignError, match="was used by sale T1 seq 1 .* a used coupon cannot be voided"):
        coupons.void(used, "cli:test")
    with pytest.raises(CampaignError, match="no coupon has the code"):
        coupons.void(new_code(), "cli:test")
    listed = coupons.coupons_of(alice)
    assert [c["code"] for c in listed] == [used, voided, early, late]
    assert [c["state"] for c in coupons.coupons_of(alice, NOW)] == ["VALID"]
    assert listed[0]["used"] and listed[0]["used_ref"] == "R1" and listed[1]["voided"]
    assert listed[3]["expires_at"] == "2026-03-31T12:00:00Z" and listed[3]["value"] == 1000
    assert coupons.valid_count([alice], NOW) == {alice: 1}
    assert coupons.valid_count([alice], LATER - timedelta(hours=1)) == {alice: 2}
    assert coupons.move_owner(alice, bob, "cli:test") == 2
    assert coupons.coupons_of(bob, NOW)[0]["code"] == late
    assert coupons.info(late)["customer"] == bob


def test_local_day_end_is_midnight_in_the_zone():
    assert coupons.local_day_end(date(2027, 1, 31)) == datetime(2027, 1, 31, 16, 0)
    assert coupons.local_day_end(date(2027, 1, 31), "UTC") == datetime(2027, 2, 1, 0, 0)


@pytest.mark.parametrize("case, expected", [
    ("valid", "VALID"), ("typo", "UNKNOWN"), ("unknown", "UNKNOWN"), ("used", "USED"), ("expired", "EXPIRED"),
    ("voided", "VOID"), ("early", "NOT_YET_VALID"), ("other card", "NOT_YOURS"), ("no card", "CARD_NEEDED"),
    ("unknown card", "NOT_YOURS")])
def test_the_terminal_check_names_each_outcome_and_uses_nothing(people, case, expected):
    alice, _ = people
    code = give(alice, min_spend=2000, valid_from=NOW - timedelta(days=1))
    tok, now = TOK, NOW
    if case == "typo":
        code = code[:5] + ("X" if code[5] != "X" else "Y") + code[6:]
    elif case == "unknown":
        code = new_code()
    elif case == "used":
        assert coupons.use(code, "T1", 1, "R1", 5000, "CNY", NOW, alice)["ok"]
    elif case == "expired":
        now = LATER
    elif case == "voided":
        coupons.void(code, "cli:test")
    elif case == "early":
        now = NOW - timedelta(days=2)
    elif case == "other card":
        Card.create(tok="cd" * 32, customer="CBOB00000000000BB")
        tok = "cd" * 32
    elif case == "no card":
        tok = None
    elif case == "unknown card":
        tok = "ef" * 32
    outcome, terms = coupons.check_at_terminal(printed(code) if case != "typo" else code, tok, now)
    assert outcome == expected
    if expected == "VALID":
        assert terms == {"kind": "amount_off", "value": 1000, "cur": "CNY", "min_spend": 2000, "expires_at": LATER}
    else:
        assert terms is None
    assert Coupon.select().where(Coupon.used_dev.is_null(False)).count() == (case == "used")


def test_a_bearer_voucher_is_valid_at_any_terminal_with_or_without_a_card(people):
    code = give(None, kind="percent_off", value=150)
    assert coupons.check_at_terminal(code, None, NOW)[0] == "VALID"
    assert coupons.check_at_terminal(code.lower(), "ef" * 32, NOW)[1]["value"] == 150


def test_a_coupon_issued_now_is_valid_for_a_sale_in_the_same_second(people):
    issued = NOW + timedelta(microseconds=900_000)
    code = give(people[0], now=issued)
    sale_time = NOW  # terminal times are whole seconds
    assert coupons.validate(code, people[0], 5000, "CNY", sale_time)["ok"]
    assert coupons.validate(code, people[0], 5000, "CNY", NOW - timedelta(seconds=1))["code"] == "NOT_YET_VALID"
