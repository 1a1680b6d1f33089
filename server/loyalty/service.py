"""Loyalty lookups and the points ledger, batch-first: one query per step, not one per record."""

import base64
import os
from collections import defaultdict

from peewee import chunked

from server.db import bulk_insert, db, utcnow
from server.loyalty.models import Card, Customer, PointsEntry
from server.loyalty.rules import points_for, tier_for

CHUNK = 200
REVERSING = ("refund", "void")


def new_customer_id():
    """A neutral customer id: ``C`` + 16 random base32 characters (80 bits), never PII."""
    return "C" + base64.b32encode(os.urandom(10)).decode()


def unknown_status():
    """What a terminal shows for a card no customer holds yet (the next sale enrols it)."""
    return {"cust": "", "pts": 0, "tier": tier_for(0), "new": True}


def status_for(tok):
    """The loyalty status of the card with token ``tok``: cust, pts, tier, new."""
    return statuses_for([tok])[tok]


def statuses_for(toks):
    """``{tok: status}`` for many card tokens in one query; unknown cards get unknown_status()."""
    toks = set(toks)
    out = {tok: unknown_status() for tok in toks}
    if not toks:
        return out
    rows = (Card.select(Card.tok, Customer.id, Customer.points)
            .join(Customer).where(Card.tok.in_(list(toks))).tuples())
    for tok, cust, pts in rows:
        out[tok] = {"cust": cust, "pts": pts, "tier": tier_for(pts), "new": False}
    return out


def apply_tx(tx, now=None):
    """Apply one transaction record in its own database transaction; see apply_txs."""
    with db.atomic():
        return apply_txs([tx], now)[0]


def apply_txs(txs, now=None):
    """Book the points of transaction records; call inside the transaction that stores them.

    Each tx is a dict with dev, seq, kind, ref, amount, cur and optional tok, bin, last4,
    orig and customer (the customer of the stored original sale, for a refund or void).
    A refund or void reverses the points of its amount from the original sale's customer
    (given, or a sale earlier in ``txs``), else from its card's. A sale with an unknown
    card enrols a new customer. Returns, per tx in order,
    ``{"customer": id or None, "status": dict or None}``; status (cust, pts, earned, tier,
    new, with pts the balance right after this record) is given when the tx has a tok.
    """
    now = now or utcnow()
    toks = [tx["tok"] for tx in txs if tx.get("tok")]
    cards = {}
    for part in chunked(sorted(set(toks)), CHUNK):
        cards.update(Card.select(Card.tok, Card.customer).where(Card.tok.in_(part)).tuples())
    new_customers, new_cards, entries, plan = [], [], [], []
    totals = defaultdict(int)
    sold = {}
    for tx in txs:
        tok, cust, new = tx.get("tok"), tx.get("customer"), False
        if cust is None and tx["kind"] in REVERSING:
            cust = sold.get((tx["dev"], tx.get("orig")))
        if cust is None and tok:
            cust = cards.get(tok)
        if cust is None and tok and tx["kind"] == "sale":
            cust = new_customer_id()
            cards[tok] = cust
            new = True
            new_customers.append((cust, 0, now, "active", "basic", 0))
            new_cards.append((tok, cust, tx.get("bin", ""), tx.get("last4", ""), now))
        if tx["kind"] == "sale" and cust is not None:
            sold[(tx["dev"], tx.get("ref"))] = cust
        delta = points_for(tx["amount"], tx["cur"])
        if tx["kind"] in REVERSING:
            delta = -delta
        if cust is None or delta == 0:
            delta = 0
        else:
            totals[cust] += delta
            entries.append((cust, tx["dev"], tx["seq"], delta, tx["kind"], now))
        plan.append((tx, cust, delta, new))
    bulk_insert(Customer, ("id", "points", "created_at", "state", "tier", "qual_spend"), new_customers)
    bulk_insert(Card, ("tok", "customer", "bin", "last4", "created_at"), new_cards)
    bulk_insert(PointsEntry, ("customer", "dev", "seq", "delta", "reason", "created_at"), entries)
    if totals:
        # One prepared statement for all (sorted: the same lock order in every process).
        sql = 'UPDATE "%s" SET "points" = "points" + %s WHERE "id" = %s' % (Customer._meta.table_name, db.param, db.param)
        db.cursor().executemany(sql, [(total, cust) for cust, total in sorted(totals.items())])
    return _results(plan, totals)


def _results(plan, totals):
    """Running balances per record: read each balance once after the update, then replay."""
    custs = sorted({cust for tx, cust, delta, new in plan if cust and tx.get("tok")})
    balance = {}
    for part in chunked(custs, CHUNK):
        balance.update(Customer.select(Customer.id, Customer.points).where(Customer.id.in_(part)).tuples())
    for cust in balance:
        balance[cust] -= totals.get(cust, 0)
    out = []
    for tx, cust, delta, new in plan:
        status = None
        if cust in balance:
            balance[cust] += delta
        if tx.get("tok"):
            if cust in balance:
                status = {"cust": cust, "pts": balance[cust], "earned": delta,
                          "tier": tier_for(balance[cust]), "new": new}
            else:
                status = dict(unknown_status(), earned=0)
        out.append({"customer": cust, "status": status})
    return out
