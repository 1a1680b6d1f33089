"""Loyalty service: lookups by card token and the ledger kept equal to the balance."""

from server.loyalty import service
from server.loyalty.models import Customer, PointsEntry


def sale(seq, tok=None, amount=150000, kind="sale", dev="T1", **extra):
    tx = {"dev": dev, "seq": seq, "kind": kind, "ref": "R%d" % seq, "amount": amount, "cur": "CNY"}
    if tok:
        tx.update(tok=tok, bin="622848", last4="0005")
    tx.update(extra)
    return tx


def test_customer_ids_are_neutral_and_random():
    ids = {service.new_customer_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 17 and cid[0] == "C" and set(cid[1:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_unknown_card_status(app, mk):
    assert service.status_for(mk.tok(1)) == {"cust": "", "pts": 0, "tier": "basic", "new": True}


def test_status_after_sales(app, mk):
    first = service.apply_tx(sale(1, tok=mk.tok(1)))
    assert first["status"]["new"] is True and first["status"]["earned"] == 1500
    assert first["status"]["tier"] == "silver"  # 1500.00 CNY reached silver at once
    service.apply_tx(sale(2, tok=mk.tok(1), amount=400000))  # 4000 x 1.2 (silver), then gold
    status = service.status_for(mk.tok(1))
    assert status == {"cust": first["customer"], "pts": 6300, "tier": "gold", "new": False}
    both = service.statuses_for([mk.tok(1), mk.tok(2)])
    assert both[mk.tok(1)]["pts"] == 6300 and both[mk.tok(2)]["cust"] == ""


def test_refund_with_the_card_reverses_points(app, mk):
    service.apply_tx(sale(1, tok=mk.tok(3), amount=10000))
    result = service.apply_tx(sale(2, tok=mk.tok(3), amount=2550, kind="refund", orig="R1"))
    assert result["status"]["earned"] == -25 and result["status"]["pts"] == 75
    assert Customer.get().points == sum(e.delta for e in PointsEntry.select()) == 75


def test_refund_of_an_unknown_card_books_nothing(app, mk):
    result = service.apply_tx(sale(1, tok=mk.tok(4), kind="refund", orig="R0"))
    assert result == {"customer": None, "status": {"cust": "", "pts": 0, "tier": "basic", "new": True, "earned": 0}}
    assert Customer.select().count() == 0 and PointsEntry.select().count() == 0


def test_small_sale_enrols_without_a_zero_ledger_row(app, mk):
    result = service.apply_tx(sale(1, tok=mk.tok(5), amount=50))
    assert result["status"]["cust"] and result["status"]["pts"] == 0
    assert PointsEntry.select().count() == 0


def test_the_status_tier_is_the_customers_tier_not_a_points_band(app, mk):
    cust = service.apply_tx(sale(1, tok=mk.tok(6), amount=100))["customer"]
    Customer.update(tier="vip").where(Customer.id == cust).execute()
    assert service.status_for(mk.tok(6))["tier"] == "vip"


def test_points_of_a_merged_customer_go_to_the_one_it_was_merged_into(app, mk):
    src = service.apply_tx(sale(1, tok=mk.tok(7), amount=10000))["customer"]
    dst = service.apply_tx(sale(2, tok=mk.tok(8), amount=100))["customer"]
    from server.loyalty import ledger

    ledger.transfer(src, dst, "merge:" + src, "cli:root")
    Customer.update(state="merged", merged_into=dst).where(Customer.id == src).execute()
    # a refund of the merged customer's sale, as ingest passes it (customer of the stored sale)
    result = service.apply_tx(sale(3, kind="refund", amount=5000, orig="R1", customer=src))
    assert result["customer"] == dst
    assert Customer.get_by_id(src).points == 0 and Customer.get_by_id(dst).points == 101 - 50


def test_other_record_kinds_book_no_points(app, mk):
    result = service.apply_txs([sale(1, tok=mk.tok(9), kind="svspend")])
    assert result == [{"customer": None, "status": None}]
    assert Customer.select().count() == 0 and PointsEntry.select().count() == 0
