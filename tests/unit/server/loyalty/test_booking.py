"""What records book: earn and bonus keys, burns, proportional reversal, late sales, tier upgrades."""

from datetime import datetime, timezone

from peewee import fn

from server.loyalty import ledger, programme, service
from server.loyalty.models import Customer, PointsEntry, SalePoints

TS = int(datetime(2025, 6, 15, 4, 0, tzinfo=timezone.utc).timestamp())


def tx(seq, tok=1, amount=10000, kind="sale", dev="T1", **extra):
    out = {"dev": dev, "seq": seq, "kind": kind, "ref": "R%d" % seq, "amount": amount, "cur": "CNY",
           "customer": None}
    if tok:
        out.update(tok="%064x" % tok, bin="622848", last4="0005")
    out.update(extra)
    return out


def apply(*txs):
    return service.apply_txs(list(txs))


def entries():
    return [(e.key, e.delta, e.reason) for e in PointsEntry.select().order_by(PointsEntry.id)]


def balanced():
    sums = dict(PointsEntry.select(PointsEntry.customer, fn.SUM(PointsEntry.delta))
                .group_by(PointsEntry.customer).tuples())
    return all(sums.get(c.id, 0) == c.points == ledger.balance(c.id) for c in Customer.select())


def test_a_sale_books_its_earn_and_each_campaign_bonus_under_their_keys(app):
    programme.save({"campaigns": [
        {"id": "june", "mult": 1500, "from": "2025-06-01", "until": "2025-07-01"},
        {"id": "hello", "bonus": 20, "from": "2025-06-01", "until": "2025-07-01"},
        {"id": "july", "bonus": 99, "from": "2025-07-01", "until": "2025-08-01"}]}, "cli:root")
    result = apply(tx(1, amount=12345, ts=TS))
    assert entries() == [("T1:1:earn", 123, "sale"), ("T1:1:bonus:june", 61, "bonus"), ("T1:1:bonus:hello", 20, "bonus")]
    assert result[0]["status"]["earned"] == 204 and result[0]["status"]["pts"] == 204
    earn = PointsEntry.get(PointsEntry.key == "T1:1:earn")
    assert earn.expires_at == datetime(2027, 1, 1) and earn.actor == "ingest:T1"


def test_the_sale_time_decides_the_campaign_and_a_future_clock_counts_as_now(app):
    programme.save({"campaigns": [{"id": "june", "bonus": 5, "from": "2025-06-01", "until": "2025-07-01"}]}, "x")
    now = datetime(2025, 7, 3)
    service.apply_txs([tx(1, ts=TS), tx(2, ts=TS + 10 ** 9), tx(3)], now=now)   # made in June, arrived in July
    assert [k for k, d, r in entries()] == ["T1:1:earn", "T1:1:bonus:june", "T1:2:earn", "T1:3:earn"]


def test_a_campaign_for_one_merchant(app, add):
    from server.fleet.models import Device, Merchant

    add("T1"), add("T2")
    Merchant.create(code="M1", name="Shop", province="广东省")
    Device.update(merchant="M1").where(Device.id == "T1").execute()
    programme.save({"campaigns": [{"id": "m1", "bonus": 7, "from": "2025-01-01", "until": "2030-01-01",
                                   "merchant": "M1"}]}, "x")
    apply(tx(1, ts=TS), tx(1, dev="T2", ts=TS))
    assert [k for k, d, r in entries()] == ["T1:1:earn", "T1:1:bonus:m1", "T2:1:earn"]


def test_lines_earn_their_category_rate(app):
    programme.save({"categories": {"dairy": {"points": 3, "per": 1}}}, "x")
    apply(tx(1, amount=5000, lines=[{"sku": "MILK", "cat": "dairy", "amt": 1000, "qty": 1}]))
    assert entries() == [("T1:1:earn", 30 + 40, "sale")]


def test_refunds_take_back_their_share_and_never_more_than_was_earned(app):
    apply(tx(1, amount=10000))                                        # 100
    apply(tx(2, kind="refund", amount=3333, orig="R1"))               # floor(100 x 0.3333) = 33
    apply(tx(3, kind="refund", amount=3333, orig="R1"))               # floor(100 x 0.6666) - 33 = 33
    apply(tx(4, kind="refund", amount=9999, orig="R1"))               # capped: 100 - 66
    assert entries()[1:] == [("T1:2:reverse", -33, "refund"), ("T1:3:reverse", -33, "refund"),
                             ("T1:4:reverse", -34, "refund")]
    assert Customer.get().points == 0 and balanced()


def test_a_refund_takes_back_bonus_points_too(app):
    programme.save({"campaigns": [{"id": "x2", "mult": 2000, "from": "2025-01-01", "until": "2030-01-01"}]}, "x")
    apply(tx(1, amount=10000, ts=TS))
    apply(tx(2, kind="refund", amount=5000, orig="R1"))
    assert entries()[-1] == ("T1:2:reverse", -100, "refund") and Customer.get().points == 100


def test_a_void_takes_back_everything_left_and_gives_the_burn_back(app):
    from server.loyalty.redeem import authorise_redeem

    apply(tx(1, amount=50000))                                        # 500
    assert authorise_redeem("T1", 7, "%064x" % 1, 300)["code"] == "APPROVED"
    apply(tx(2, amount=10000, redeem=300, auth=7))                    # +100, burn already booked
    apply(tx(3, kind="refund", amount=4000, orig="R2"))               # -40
    result = apply(tx(4, kind="void", amount=6000, orig="R2"))        # -60, +300 back
    assert entries()[1:] == [("auth:T1:7", -300, "burn"), ("T1:2:earn", 100, "sale"), ("T1:3:reverse", -40, "refund"),
                             ("T1:4:reverse", -60, "void"), ("T1:4:unburn", 300, "unburn")]
    assert result[0]["status"]["earned"] == 240 and result[0]["status"]["pts"] == 500 - 300 + 100 - 40 + 240
    assert balanced()


def test_a_sale_books_a_redemption_its_authorisation_did_not(app):
    apply(tx(1, amount=50000))
    apply(tx(2, amount=1000, redeem=200, auth=9), tx(3, amount=1000, redeem=100))
    assert entries()[1:] == [("T1:2:earn", 10, "sale"), ("auth:T1:9", -200, "burn"), ("T1:3:earn", 10, "sale"),
                             ("T1:3:burn", -100, "burn")]
    assert PointsEntry.get(PointsEntry.key == "auth:T1:9").note == "no authorisation on record"


def test_a_refund_before_its_sale_is_settled_when_the_sale_comes(app):
    apply(tx(1, amount=1000))                                         # enrol the card: 10
    programme.save({"campaigns": [{"id": "x2", "mult": 2000, "from": "2025-01-01", "until": "2030-01-01"}]}, "x")
    apply(tx(3, kind="refund", amount=2500, orig="R2"))               # sale 2 unknown: base rate, -25
    apply(tx(2, amount=10000, ts=TS))                                 # earns 100 + 100 bonus; due 50 -> settle -25
    assert entries()[1:] == [("T1:3:reverse", -25, "refund"), ("T1:2:earn", 100, "sale"),
                             ("T1:2:bonus:x2", 100, "bonus"), ("T1:2:settle", -25, "settle")]
    assert Customer.get().points == 10 + 200 - 50 and balanced()


def test_a_cardless_void_before_its_sale_leaves_nothing_once_the_sale_comes(app):
    apply(tx(1, amount=1000))
    apply(tx(3, tok=None, kind="void", amount=7000, orig="R2"))
    assert len(entries()) == 1
    apply(tx(2, amount=7000))
    assert entries()[1:] == [("T1:2:earn", 70, "sale"), ("T1:2:settle", -70, "settle")]
    assert Customer.get().points == 10


def test_records_given_again_book_nothing(app):
    first = apply(tx(1, amount=10000), tx(2, kind="refund", amount=5000, orig="R1"), tx(3, tok=None, amount=100))
    again = apply(tx(1, amount=10000), tx(2, kind="refund", amount=5000, orig="R1"), tx(3, tok=None, amount=100),
                  tx(2, kind="refund", amount=5000, orig="R1"))
    assert len(entries()) == 2 and Customer.get().points == 50
    assert [r["status"]["earned"] for r in again[:2]] == [100, -50] and again[2]["customer"] is None
    assert again[0]["customer"] == first[0]["customer"]
    assert SalePoints.get().refunded == 5000 and Customer.get().qual_spend == 5000


def test_the_tier_rises_at_once_and_its_multiplier_counts_from_the_next_sale(app):
    result = apply(tx(1, amount=99999), tx(2, amount=1), tx(3, amount=10000))
    assert [(r["status"]["earned"], r["status"]["tier"]) for r in result] == [(999, "basic"), (0, "silver"),
                                                                              (120, "silver")]
    c = Customer.get()
    assert (c.tier, c.qual_spend) == ("silver", 110000)
    assert c.tier_review_at.year == c.tier_since.year + 1


def test_an_upgrade_of_a_stored_customer_sets_a_review_a_year_on(app):
    apply(tx(1, amount=1000))
    now = datetime(2025, 6, 15, 10, 0)
    service.apply_txs([tx(2, amount=600000)], now=now)
    c = Customer.get()
    assert (c.tier, c.tier_since, c.tier_review_at) == ("gold", now, datetime(2026, 6, 15, 10, 0))


def test_refunds_lower_the_qualifying_spend_but_never_the_tier(app):
    apply(tx(1, amount=150000))
    apply(tx(2, kind="refund", amount=100000, orig="R1"))
    c = Customer.get()
    assert (c.tier, c.qual_spend) == ("silver", 50000)


def test_other_currencies_earn_but_do_not_count_toward_the_tier(app):
    apply(tx(1, amount=500000, cur="USD"))
    c = Customer.get()
    assert (c.points, c.tier, c.qual_spend) == (5000, "basic", 0)
