"""Daily stored-value reconciliation per merchant (store) and terminal, checked against the ledger.

An entry counts on the local day its booking time falls in, so a day once over never changes.
A row's opening and closing float are the net of every entry booked at that merchant and
terminal before the day starts and ends; the total row's are the whole programme's float.
"""

import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import JOIN, Case, fn

from server.fleet.models import Merchant, iso
from protocol.money import text as money
from server.wallet import WalletError
from server.wallet.models import WalletAccount, WalletEntry

DEFAULT_TZ = "Asia/Shanghai"
FLOWS = ("topup", "bonus", "spend_online", "spend_offline", "refund", "release", "transfer", "adjust")
MONEY = ("opening",) + FLOWS + ("closing",)
COLUMNS = ("level", "cur", "merchant", "dev") + MONEY + ("flagged", "entries")


def window(day, tz):
    """``(start, end)`` in naive UTC of local day ``day`` (a date) in zone ``tz`` (DST days are 23 or 25 hours)."""
    zone = ZoneInfo(tz)
    start, end = (datetime.combine(d, time(0), tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
                  for d in (day, day + timedelta(days=1)))
    return start, end


def daily(day, tz=None, merchant=None):
    """The reconciliation of local day ``day`` ("YYYY-MM-DD") per currency, merchant and terminal.

    ``tz`` defaults to ``merchant``'s zone, else Asia/Shanghai. Rows: one per terminal with
    entries that day, then one per merchant (dev None); totals: one per currency. WalletError
    if any row or total does not balance, or a cached balance differs from its ledger.
    """
    day, tz = _day(day), _zone(tz, merchant)
    start, end = window(day, tz)
    groups = _groups(start, end, merchant)
    terminals = [g for g in groups if g["entries"]]
    merchants = _sum(groups, ("cur", "merchant"), {(g["cur"], g["merchant"]) for g in terminals})
    totals = _sum(groups, ("cur",), None)
    _check(terminals + merchants + totals, _ledger(start, end, merchant), merchant)
    return {"day": day.isoformat(), "tz": tz, "merchant": merchant, "from": iso(start), "until": iso(end),
            "rows": sorted(terminals + merchants, key=_order), "totals": sorted(totals, key=_order)}


def to_csv(report):
    """The report as CSV: one line per terminal, merchant and currency total, amounts as decimal text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in report["rows"] + report["totals"]:
        writer.writerow([row[c] if c not in MONEY else money(row[c], row["cur"]) for c in COLUMNS])
    return out.getvalue()


def _day(text):
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise WalletError("day %r: give a date as YYYY-MM-DD" % (text,))


def _zone(tz, merchant):
    if tz is None and merchant is not None:
        row = Merchant.get_or_none(Merchant.code == merchant)
        if row is None:
            raise WalletError("no merchant %s (list them with `possync-server merchant list`)" % merchant)
        tz = row.tz
    tz = tz or DEFAULT_TZ
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise WalletError("time zone %r: give an IANA zone such as Asia/Shanghai" % (tz,))
    return tz


def _groups(start, end, merchant):
    """Per (cur, merchant, dev): floats before ``start`` and ``end``, the day's flows, flagged and entries."""
    day = (WalletEntry.booked_at >= start) & (WalletEntry.booked_at < end)
    query = (WalletEntry.select(WalletAccount.cur, WalletEntry.merchant, WalletEntry.dev, WalletEntry.kind,
                                WalletEntry.offline,
                                fn.SUM(Case(None, [(WalletEntry.booked_at < start, WalletEntry.delta)], 0)),
                                fn.SUM(Case(None, [(day, WalletEntry.delta)], 0)),
                                fn.SUM(Case(None, [(WalletEntry.booked_at < end, WalletEntry.delta)], 0)),
                                fn.SUM(Case(None, [(day & WalletEntry.flag.is_null(False), 1)], 0)),
                                fn.SUM(Case(None, [(day, 1)], 0)))
             .join(WalletAccount)
             .group_by(WalletAccount.cur, WalletEntry.merchant, WalletEntry.dev, WalletEntry.kind,
                       WalletEntry.offline))
    if merchant is not None:
        query = query.where(WalletEntry.merchant == merchant)
    rows = {}
    for cur, merch, dev, kind, offline, before, during, upto, flagged, entries in query.tuples():
        row = rows.setdefault((cur, merch, dev), dict({c: 0 for c in MONEY + ("flagged", "entries")},
                                                      level="terminal", cur=cur, merchant=merch, dev=dev))
        row[_flow(kind, offline)] += during
        row["opening"] += before
        row["closing"] += upto
        row["flagged"] += flagged
        row["entries"] += entries
    return list(rows.values())


def _flow(kind, offline):
    if kind == "spend":
        return "spend_offline" if offline else "spend_online"
    return "transfer" if kind.startswith("transfer") else kind


def _sum(groups, by, only):
    """Rows summing ``groups`` by the fields ``by`` (a merchant row, or a currency total); only keys in ``only``."""
    out = {}
    for g in groups:
        key = tuple(g[f] for f in by)
        if only is not None and key not in only:
            continue
        row = out.setdefault(key, dict({c: 0 for c in MONEY + ("flagged", "entries")}, cur=g["cur"],
                                       merchant=g["merchant"] if "merchant" in by else None, dev=None,
                                       level="merchant" if "merchant" in by else "total"))
        for c in MONEY + ("flagged", "entries"):
            row[c] += g[c]
    return list(out.values())


def _ledger(start, end, merchant):
    """``{cur: (float before start, float before end)}`` straight from the ledger, for the check."""
    query = (WalletEntry.select(WalletAccount.cur,
                                fn.SUM(Case(None, [(WalletEntry.booked_at < start, WalletEntry.delta)], 0)),
                                fn.SUM(Case(None, [(WalletEntry.booked_at < end, WalletEntry.delta)], 0)))
             .join(WalletAccount).group_by(WalletAccount.cur))
    if merchant is not None:
        query = query.where(WalletEntry.merchant == merchant)
    return {cur: (before, upto) for cur, before, upto in query.tuples()}


def _check(rows, ledger, merchant):
    """Raise WalletError if a row does not balance, totals differ from the ledger, or a cached balance is off."""
    for row in rows:
        if row["closing"] != row["opening"] + sum(row[f] for f in FLOWS):
            raise WalletError("stored-value report does not balance for %s %s/%s: opening %d + flows %d != "
                              "closing %d; the ledger may have been edited: investigate before using the report"
                              % (row["cur"], row["merchant"], row["dev"], row["opening"],
                                 sum(row[f] for f in FLOWS), row["closing"]))
    totals = {row["cur"]: (row["opening"], row["closing"]) for row in rows if row["level"] == "total"}
    if totals != ledger:
        raise WalletError("stored-value report totals %r differ from the ledger sums %r: investigate before "
                          "using the report" % (totals, ledger))
    off = _cache_drift()
    if off:
        raise WalletError("cached balance differs from the sum of the ledger for account(s) %s: the balance "
                          "column was changed outside the ledger; investigate before using the report"
                          % ", ".join(off[:20]))


def _cache_drift():
    """Accounts whose balance column differs from the sum of their entries."""
    sums = (WalletEntry.select(WalletEntry.account, fn.SUM(WalletEntry.delta).alias("total"))
            .group_by(WalletEntry.account).alias("sums"))
    query = (WalletAccount.select(WalletAccount.id)
             .join(sums, JOIN.LEFT_OUTER, on=(WalletAccount.id == sums.c.account))
             .where(WalletAccount.balance != fn.COALESCE(sums.c.total, 0)).order_by(WalletAccount.id))
    return [account for (account,) in query.tuples()]


def _order(row):
    return (row["cur"], row["merchant"] or "", row["level"] != "terminal", row["dev"] or "")
