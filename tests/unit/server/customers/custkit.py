"""Helpers for the customers tests: sales through the real ingest path, totals across the ledgers."""

from peewee import fn

from server.fleet import merchants
from server.ingest.apply import apply_batch
from server.ingest.models import Record
from server.loyalty.models import Customer, PointsEntry

ACTOR = "cli:test"


def shop(add, dev="T1", merchant="M1", tz="Asia/Shanghai"):
    """A registered terminal selling for a merchant in zone ``tz``."""
    merchants.add_merchant(merchant, "西湖店", "浙江", tz)
    add(dev)
    merchants.set_merchant(dev, merchant)
    return dev


def sell(mk, seq, tok=None, amount=1250, kind="sale", orig=None, dev="T1", ts=1700000000):
    """Apply one sale/refund/void as ingest does; returns the customer it was booked to."""
    pairs = mk.sale(seq, amount=amount, tok=tok, kind=kind, orig=orig, ts=ts)
    apply_batch([mk.record(dev, pairs, kind)])
    return Record.get((Record.dev == dev) & (Record.seq == seq)).customer_id


def points_total():
    """Every customer's cached points, summed."""
    return Customer.select(fn.COALESCE(fn.SUM(Customer.points), 0)).scalar()


def ledgers_balance():
    """True when each customer's cached points equal the sum of its ledger entries."""
    sums = dict(PointsEntry.select(PointsEntry.customer, fn.SUM(PointsEntry.delta))
                .group_by(PointsEntry.customer).tuples())
    return all(c.points == sums.get(c.id, 0) for c in Customer.select())
