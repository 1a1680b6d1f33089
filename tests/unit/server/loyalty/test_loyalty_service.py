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
    service.apply_tx(sale(2, tok=mk.tok(1), amount=400000))
    status = service.status_for(mk.tok(1))
    assert status == {"cust": first["customer"], "pts": 5500, "tier": "gold", "new": False}
    both = service.statuses_for([mk.tok(1), mk.tok(2)])
    assert both[mk.tok(1)]["pts"] == 5500 and both[mk.tok(2)]["cust"] == ""


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
