"""The points ledger: append-only entries, each keyed by the event it books; a balance is their sum."""

import uuid
from collections import defaultdict

from peewee import chunked, fn

from server.db import bulk_insert, db, utcnow
from server.loyalty.models import Customer, PointsEntry

CHUNK = 200
ENTRY_FIELDS = ("customer", "dev", "seq", "delta", "reason", "created_at", "key", "expires_at", "note", "actor")
KEY_MAX = 96
NOTE_MAX = 200


class LedgerError(Exception):
    """A points operation was refused; the message says what was wrong and what to do next."""


def post(customer, delta, reason, key, now=None, dev=None, seq=None, expires_at=None, note=None, actor=None):
    """Book ``delta`` points for ``customer`` as the event ``key``; False if that key was booked already.

    The cached ``Customer.points`` moves in the same transaction, so it always equals the sum.
    """
    _check_key(key)
    with db.atomic():
        _customer(customer)
        columns = ", ".join('"%s"' % PointsEntry._meta.fields[name].column_name for name in ENTRY_FIELDS)
        sql = 'INSERT INTO "%s" (%s) VALUES (%s) ON CONFLICT ("key") DO NOTHING' % (
            PointsEntry._meta.table_name, columns, ", ".join([db.param] * len(ENTRY_FIELDS)))
        row = (customer, dev, seq, delta, reason, now or utcnow(), key, expires_at, note, actor)
        if db.execute_sql(sql, row).rowcount != 1:
            return False
        add_points({customer: delta})
    return True


def balance(customer):
    """The points of ``customer``: the sum of its ledger (0 for none)."""
    return PointsEntry.select(fn.COALESCE(fn.SUM(PointsEntry.delta), 0)).where(
        PointsEntry.customer == customer).scalar()


def history(customer, limit=20):
    """The newest ``limit`` ledger entries of ``customer`` as dicts, newest first."""
    rows = PointsEntry.select().where(PointsEntry.customer == customer).order_by(PointsEntry.id.desc()).limit(limit)
    return [{"at": e.created_at, "delta": e.delta, "reason": e.reason, "key": e.key, "dev": e.dev, "seq": e.seq,
             "expires_at": e.expires_at, "note": e.note, "actor": e.actor} for e in rows]


def adjust(customer, delta, reason_text, actor, now=None):
    """A manual correction of ``delta`` points with a required reason; returns key, delta and balance.

    A deduction that would leave the balance below 0 is refused.
    """
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise LedgerError("adjust %s: the change must be a whole number of points other than 0, not %r"
                          % (customer, delta))
    reason_text = (reason_text or "").strip()
    if not reason_text or len(reason_text) > NOTE_MAX:
        raise LedgerError("adjust %s: give a reason of 1 to %d characters (who asked, why)" % (customer, NOTE_MAX))
    if not actor:
        raise LedgerError("adjust %s: say who makes the change (actor, e.g. cli:root)" % customer)
    key = "adjust:" + uuid.uuid4().hex
    with db.atomic():
        row = _customer(customer)
        if row.state == "merged":
            raise LedgerError("adjust %s: this customer was merged into %s; adjust %s instead"
                              % (customer, row.merged_into, row.merged_into))
        if delta < 0 and row.points + delta < 0:
            raise LedgerError("adjust %s: the balance is %d, so %d would leave %d; points never go below 0 "
                              "(deduct at most %d)" % (customer, row.points, delta, row.points + delta,
                                                       max(row.points, 0)))
        post(customer, delta, "adjust", key, now=now, note=reason_text, actor=actor)
    return {"key": key, "delta": delta, "balance": row.points + delta}


def transfer(src, dst, key, actor, now=None):
    """Move the whole balance of ``src`` to ``dst`` (a merge); returns the points moved.

    ``merge_out`` on src, ``merge_in`` on dst: one entry per expiry date still open on src,
    so merged points expire when they would have. A second call with the same key moves
    nothing and returns the first outcome.
    """
    _check_key(key, room=len(":in:999"))
    now = now or utcnow()
    with db.atomic():
        done = booked([key + ":out"])
        if done:
            return -done[key + ":out"][1]
        if src == dst:
            raise LedgerError("transfer %s: cannot move points to the same customer" % src)
        _customer(src)
        target = _customer(dst)
        if target.state != "active":
            raise LedgerError("transfer %s -> %s: %s is %s; move the points to an active customer"
                              % (src, dst, dst, target.state))
        lots = open_lots(PointsEntry.select(PointsEntry.delta, PointsEntry.expires_at)
                         .where(PointsEntry.customer == src).tuples())
        moved = sum(points for expires_at, points in lots)
        if moved == 0:
            return 0
        rows = [(src, None, None, -moved, "merge_out", now, key + ":out", None, "merged into %s" % dst, actor)]
        rows += [(dst, None, None, points, "merge_in", now, "%s:in:%d" % (key, n), expires_at,
                  "merged from %s" % src, actor) for n, (expires_at, points) in enumerate(lots)]
        bulk_insert(PointsEntry, ENTRY_FIELDS, rows)
        add_points({src: -moved, dst: moved})
    return moved


def open_lots(entries):
    """``[(expires_at, points)]`` still held, from ``(delta, expires_at)`` entries.

    Every deduction uses up the lots that expire first (never-expiring ones last); a
    negative balance is one lot without expiry.
    """
    lots = defaultdict(int)
    spent = 0
    for delta, expires_at in entries:
        if delta > 0:
            lots[expires_at] += delta
        else:
            spent -= delta
    total = sum(lots.values())
    if total <= spent:
        return [(None, total - spent)] if total != spent else []
    out = []
    for expires_at in sorted(lots, key=lambda e: (e is None, e)):
        used = min(spent, lots[expires_at])
        spent -= used
        if lots[expires_at] > used:
            out.append((expires_at, lots[expires_at] - used))
    return out


def booked(keys):
    """``{key: (customer, delta)}`` for those of ``keys`` already in the ledger."""
    out = {}
    for part in chunked(sorted(set(keys)), CHUNK):
        sql = 'SELECT "key", "customer", "delta" FROM "%s" WHERE "key" IN (%s)' % (
            PointsEntry._meta.table_name, ", ".join([db.param] * len(part)))
        for key, customer, delta in db.execute_sql(sql, part):
            out[key] = (customer, delta)
    return out


def add_points(totals):
    """Move the cached balances by ``{customer: delta}`` with one prepared statement."""
    # Sorted: every process takes the row locks in the same order.
    rows = [(total, cust) for cust, total in sorted(totals.items()) if total]
    if rows:
        sql = 'UPDATE "%s" SET "points" = "points" + %s WHERE "id" = %s' % (Customer._meta.table_name, db.param, db.param)
        db.cursor().executemany(sql, rows)


def _customer(customer):
    row = Customer.get_or_none(Customer.id == customer)
    if row is None:
        raise LedgerError("no customer %s: check the id (possync-server loyalty show CUSTOMER)" % customer)
    return row


def _check_key(key, room=0):
    if not key or len(key) > KEY_MAX - room:
        raise LedgerError("a ledger entry needs a key naming its event, at most %d characters (got %r)"
                          % (KEY_MAX - room, key))
