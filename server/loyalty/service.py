"""Loyalty at ingest: card lookups, enrolment and the points a batch of records books, batch-first.

One query per step, never one per record (cards, sale rows, booked keys, customers), then one
INSERT per table and one UPDATE for all balances. server.ingest.apply calls apply_txs inside
the transaction that stores the records.
"""

from peewee import chunked

from server.db import bulk_insert, db, utcnow
from server.fleet.models import Device
from server.loyalty import ledger, programme, redeem
from server.loyalty.booking import Booking
from server.loyalty.earn import add_months
from server.loyalty.models import Card, Customer, PointsEntry, SalePoints, new_customer_id

__all__ = ["new_customer_id", "unknown_status", "status_for", "statuses_for", "apply_tx", "apply_txs"]

CHUNK = 200
REVERSING = ("refund", "void")
ROW_FIELDS = ("seq", "customer", "amount", "earned", "burned", "refunded", "voided", "reversed", "unburned", "seqs")
PEOPLE = ("id", "points", "tier", "qual_spend", "state", "merged_into")


def unknown_status():
    """What a terminal shows for a card no customer holds yet (the next sale enrols it)."""
    return {"cust": "", "pts": 0, "tier": programme.BASIC, "new": True}


def status_for(tok):
    """The loyalty status of the card with token ``tok``: cust, pts, tier, new."""
    return statuses_for([tok])[tok]


def statuses_for(toks):
    """``{tok: status}`` for many card tokens in one query; unknown cards get unknown_status()."""
    toks = set(toks)
    out = {tok: unknown_status() for tok in toks}
    if not toks:
        return out
    rows = (Card.select(Card.tok, Customer.id, Customer.points, Customer.tier)
            .join(Customer).where(Card.tok.in_(list(toks))).tuples())
    for tok, cust, pts, tier in rows:
        out[tok] = {"cust": cust, "pts": pts, "tier": tier, "new": False}
    return out


def apply_tx(tx, now=None):
    """Apply one transaction record in its own database transaction; see apply_txs."""
    with db.atomic():
        return apply_txs([tx], now)[0]


def apply_txs(txs, now=None):
    """Book the points of transaction records; call inside the transaction that stores them.

    Each tx is a dict with dev, seq, kind, ref, amount, cur and optional tok, bin, last4, orig,
    customer (of the stored original sale, for a refund or void), ts (unix seconds of the
    sale), lines, redeem and auth (see server.loyalty.booking); other kinds book no points.
    A sale with an unknown card enrols a new customer. Every entry is keyed by its event and
    each sale row counts a refund once, so a record given again books nothing. Returns, per tx in order, ``{"customer": id or None, "status": dict or None}``;
    status (cust, pts, earned, tier, new; pts and tier right after this record) is given when
    the tx has a tok.
    """
    now = now or utcnow()
    prog = programme.current()
    cards = _cards({tx["tok"] for tx in txs if tx.get("tok")})
    rows = _sale_rows({(tx["dev"], tx["ref"] if tx["kind"] == "sale" else tx.get("orig")) for tx in txs
                       if tx["kind"] == "sale" or tx["kind"] in REVERSING})
    released = redeem.settle([(tx["dev"], tx["auth"]) for tx in txs
                              if tx["kind"] == "sale" and tx.get("auth") is not None])
    keys = ledger.booked(key for tx in txs for key in Booking.keys_of(tx))
    people = _people(set(cards.values()) | {r["customer"] for r in rows.values()}
                     | {tx.get("customer") for tx in txs} | {cust for cust, delta in keys.values()})
    merchants = _merchants({tx["dev"] for tx in txs}) if any(c["merchant"] for c in prog["campaigns"]) else {}
    book = Booking(prog, now, cards, rows, people, keys, merchants, released)
    out = []
    for tx in txs:
        if tx["kind"] == "sale":
            cust, earned, new = book.sale(tx)
        elif tx["kind"] in REVERSING:
            cust, earned, new = book.reverse(tx)
        else:
            out.append({"customer": None, "status": None})
            continue
        status = None
        if tx.get("tok"):
            if cust is None:
                status = dict(unknown_status(), earned=0)
            else:
                status = {"cust": cust, "pts": people[cust]["points"], "earned": earned,
                          "tier": people[cust]["tier"], "new": new}
        out.append({"customer": cust, "status": status})
    _write(book, now, prog)
    return out


def _write(book, now, prog):
    """Store what the booking decided: new customers and cards, entries, sale rows, balances, tiers."""
    review = add_months(now, prog["review"])
    people = book.people
    fresh = [p for p in people.values() if p.get("new")]
    bulk_insert(Customer, ("id", "points", "created_at", "state", "tier", "tier_since", "tier_review_at",
                           "qual_spend", "qual_since"),
                [(p["id"], p["points"], now, "active", p["tier"], now, review, p["qual"], now) for p in fresh])
    bulk_insert(Card, ("tok", "customer", "bin", "last4", "created_at"), book.new_cards)
    bulk_insert(PointsEntry, ledger.ENTRY_FIELDS, book.entries)
    dirty = [r for r in book.rows.values() if r.get("dirty")]
    bulk_insert(SalePoints, ("dev", "ref") + ROW_FIELDS,
                [(r["dev"], r["ref"]) + tuple(r[f] for f in ROW_FIELDS) for r in dirty if r["id"] is None])
    changed = [r for r in dirty if r["id"] is not None]
    if changed:
        sql = 'UPDATE "%s" SET %s WHERE "id" = %s' % (
            SalePoints._meta.table_name, ", ".join('"%s" = %s' % (f, db.param) for f in ROW_FIELDS), db.param)
        db.cursor().executemany(sql, [tuple(r[f] for f in ROW_FIELDS) + (r["id"],) for r in changed])
    # Sorted: every process takes the row locks in the same order.
    moved = sorted((p["id"], p["dpoints"], p["dqual"]) for p in people.values()
                   if not p.get("new") and (p["dpoints"] or p["dqual"]))
    if moved:
        sql = 'UPDATE "%s" SET "points" = "points" + %s, "qual_spend" = "qual_spend" + %s WHERE "id" = %s' % (
            Customer._meta.table_name, db.param, db.param, db.param)
        db.cursor().executemany(sql, [(points, qual, cust) for cust, points, qual in moved])
    raised = sorted(p["id"] for p in people.values() if p.get("raised") and not p.get("new"))
    if raised:
        sql = 'UPDATE "%s" SET "tier" = %s, "tier_since" = %s, "tier_review_at" = %s WHERE "id" = %s' % (
            Customer._meta.table_name, db.param, db.param, db.param, db.param)
        db.cursor().executemany(sql, [(people[cust]["tier"], now, review, cust) for cust in raised])


def _cards(toks):
    """``{tok: customer}`` of the known cards among ``toks``."""
    cards = {}
    for part in chunked(sorted(toks), CHUNK):
        sql = 'SELECT "tok", "customer" FROM "%s" WHERE "tok" IN (%s)' % (Card._meta.table_name,
                                                                        ", ".join([db.param] * len(part)))
        cards.update(db.execute_sql(sql, part))
    return cards


def _sale_rows(keys):
    """``{(dev, ref): row dict}`` of the SalePoints rows among ``keys``."""
    keys = sorted((dev, ref) for dev, ref in keys if ref is not None)
    columns = ("id", "dev", "ref") + ROW_FIELDS
    out = {}
    for part in chunked(keys, CHUNK):
        by_dev = {}
        for dev, ref in part:
            by_dev.setdefault(dev, []).append(ref)
        terms, args = [], []
        for dev, refs in by_dev.items():
            terms.append('("dev" = %s AND "ref" IN (%s))' % (db.param, ", ".join([db.param] * len(refs))))
            args += [dev] + refs
        sql = 'SELECT %s FROM "%s" WHERE %s' % (", ".join('"%s"' % c for c in columns),
                                                SalePoints._meta.table_name, " OR ".join(terms))
        for values in db.execute_sql(sql, args):
            row = dict(zip(columns, values))
            out[(row["dev"], row["ref"])] = row
    return out


def _people(ids):
    """``{id: state}`` of customers ``ids`` and of those they were merged into (locked on PostgreSQL)."""
    out, todo = {}, {i for i in ids if i}
    lock = " FOR UPDATE" if getattr(db.obj, "for_update", False) else ""
    while todo:
        for part in chunked(sorted(todo), CHUNK):
            sql = 'SELECT %s FROM "%s" WHERE "id" IN (%s)%s' % (", ".join('"%s"' % c for c in PEOPLE),
                                                                 Customer._meta.table_name,
                                                                 ", ".join([db.param] * len(part)), lock)
            for cust, points, tier, qual, state, merged_into in db.execute_sql(sql, part):
                out[cust] = {"id": cust, "points": points, "tier": tier, "qual": qual, "dpoints": 0, "dqual": 0,
                             "merged_into": merged_into if state == "merged" else None}
        todo = {p["merged_into"] for p in out.values() if p["merged_into"] and p["merged_into"] not in out}
    return out


def _merchants(devs):
    """``{dev: merchant code}`` for campaigns limited to a merchant."""
    out = {}
    for part in chunked(sorted(devs), CHUNK):
        out.update(Device.select(Device.id, Device.merchant).where(Device.id.in_(part)).tuples())
    return out
