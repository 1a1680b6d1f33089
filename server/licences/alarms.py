"""Compliance queries over stored sale verdicts: each terminal's and merchant's current state,
the alarm list (non-OK verdicts grouped), its CSV export, and what re-verifications changed.

Every aggregate runs in SQL on the indexes of SaleVerdict ((dev, seq) and (verdict, dev)), so
the pages stay fast with millions of judged sales.
"""

import csv
import io
from datetime import timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import JOIN, fn

from server.fleet.models import Device, Merchant, iso
from server.licences.models import SaleVerdict, VerdictChange
from server.licences.verdict import VERDICTS

DEFAULT_TZ = "Asia/Shanghai"
ALARM_VERDICTS = tuple(v for v in VERDICTS if v != "OK")
# Worst first: the acquirer is not a licensed institution at all, then settlement through a
# middle party (二清), then a grant that does not cover the sale, then metadata we cannot judge.
SEVERITY = ("REVOKED", "CANCELLED", "UNKNOWN_ACQUIRER", "INDIRECT_SETTLEMENT", "NO_ACQUIRING_GRANT", "LAPSED",
            "EXPIRED", "NOT_YET_VALID", "OUT_OF_SCOPE", "MALFORMED", "OK")
CSV_COLUMNS = ("dev", "merchant", "verdict", "inst", "lic", "settle", "count", "first_seen", "last_seen", "reason")
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def zone(name):
    """The ZoneInfo of an IANA name; Asia/Shanghai for None or an unknown name."""
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def local(when, tz):
    """A stored (naive UTC) time as an aware datetime in zone ``tz``; None stays None."""
    if when is None:
        return None
    return when.replace(tzinfo=timezone.utc).astimezone(tz)


def merchant_zones():
    """``{merchant code: ZoneInfo}`` of every merchant."""
    return {code: zone(tz) for code, tz in Merchant.select(Merchant.code, Merchant.tz).tuples()}


def terminal_compliance():
    """Per device (by id): the verdict of its latest judged sale (highest seq), or verdict None for "no sales yet".

    Each a dict: dev, merchant (its current one), revoked, verdict, reason, seq, sold_at, registry.
    """
    latest = SaleVerdict.alias("l")
    last_seq = latest.select(fn.MAX(latest.seq)).where(latest.dev == Device.id)
    query = (Device.select(Device.id, Device.merchant, Device.revoked_at, SaleVerdict.verdict, SaleVerdict.reason,
                           SaleVerdict.seq, SaleVerdict.sold_at, SaleVerdict.registry)
             .join(SaleVerdict, JOIN.LEFT_OUTER, on=((SaleVerdict.dev == Device.id) & (SaleVerdict.seq == last_seq)))
             .order_by(Device.id).tuples())
    return [{"dev": dev, "merchant": merchant, "revoked": revoked_at is not None, "verdict": verdict, "reason": reason,
             "seq": seq, "sold_at": sold_at, "registry": registry}
            for dev, merchant, revoked_at, verdict, reason, seq, sold_at, registry in query]


def worst(verdicts):
    """The most severe verdict of ``verdicts`` (None ignored); None when there is none."""
    rank = {v: i for i, v in enumerate(SEVERITY)}
    known = [v for v in verdicts if v is not None]
    return min(known, key=lambda v: rank.get(v, -1)) if known else None


def merchant_compliance(terminals=None):
    """Per merchant (by code, then None for terminals without one): its worst current terminal state.

    ``state`` is OK only when every terminal with sales is OK, None when none has sales yet;
    ``counts`` maps each current verdict to its number of terminals, ``no_sales`` counts the
    others. ``terminals`` defaults to terminal_compliance().
    """
    terminals = terminal_compliance() if terminals is None else terminals
    by_code = {}
    for t in terminals:
        by_code.setdefault(t["merchant"], []).append(t)
    out = []
    for m in Merchant.select().order_by(Merchant.code):
        out.append(_merchant_row(m.code, m.name, m.province, m.tz, by_code.pop(m.code, [])))
    if None in by_code:
        out.append(_merchant_row(None, None, None, DEFAULT_TZ, by_code.pop(None)))
    return out


def _merchant_row(code, name, province, tz, terminals):
    counts = {}
    for t in terminals:
        if t["verdict"] is not None:
            counts[t["verdict"]] = counts.get(t["verdict"], 0) + 1
    return {"merchant": code, "name": name, "province": province, "tz": tz, "terminals": len(terminals),
            "no_sales": len(terminals) - sum(counts.values()), "state": worst(counts), "counts": counts}


def alarms(verdict=None, dev=None, merchant=None, since=None, until=None):
    """Non-OK verdicts grouped by (dev, merchant, verdict, inst, lic, settle), latest first.

    Each a dict with the group's fields, count, first_seen / last_seen (min / max sold_at, naive
    UTC), last_seq and the reason of its latest sale (highest seq). Filters combine; ``since``
    (inclusive) and ``until`` (exclusive) are UTC datetimes compared with sold_at. The merchant
    is the one the terminal sold for at the time, so a terminal moved to another merchant
    starts new groups.
    """
    sv = SaleVerdict
    where = [sv.verdict == verdict] if verdict else [sv.verdict.in_(ALARM_VERDICTS)]
    if dev:
        where.append(sv.dev == dev)
    if merchant:
        where.append(sv.merchant == merchant)
    if since is not None:
        where.append(sv.sold_at >= _naive_utc(since))
    if until is not None:
        where.append(sv.sold_at < _naive_utc(until))
    keys = (sv.dev, sv.merchant, sv.verdict, sv.inst, sv.lic, sv.settle)
    groups = (sv.select(*keys, fn.COUNT(sv.id).alias("count"), fn.MIN(sv.sold_at).alias("first_seen"),
                        fn.MAX(sv.sold_at).alias("last_seen"), fn.MAX(sv.seq).alias("last_seq"))
              .where(*where).group_by(*keys).alias("g"))
    latest = SaleVerdict.alias("r")
    columns = [groups.c[k.name] for k in keys] + [groups.c.count, groups.c.first_seen, groups.c.last_seen,
                                                  groups.c.last_seq]
    query = (latest.select(*columns, latest.reason).from_(groups)
             .join(latest, on=((latest.dev == groups.c.dev) & (latest.seq == groups.c.last_seq)))
             .order_by(groups.c.last_seen.desc(), groups.c.dev, groups.c.verdict).dicts())
    rows = []
    for row in query:
        # Columns of a subquery come back raw (text on SQLite): convert like the field would.
        row["first_seen"] = sv.sold_at.python_value(row["first_seen"])
        row["last_seen"] = sv.sold_at.python_value(row["last_seen"])
        rows.append(row)
    return rows


def alarm_counts():
    """``{dev: number of sales with a non-OK verdict}`` for the devices that have any."""
    query = (SaleVerdict.select(SaleVerdict.dev, fn.COUNT(SaleVerdict.id))
             .where(SaleVerdict.verdict.in_(ALARM_VERDICTS)).group_by(SaleVerdict.dev).tuples())
    return dict(query)


def alarms_csv(rows, tz):
    """CSV text (header first) of alarms() rows, times in zone ``tz`` as ISO 8601 with their offset.

    Cells a spreadsheet would take for a formula (terminals send the acquirer fields) get a ' in front.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        first, last = local(row["first_seen"], tz), local(row["last_seen"], tz)
        cells = dict(row, first_seen=first and first.isoformat(), last_seen=last and last.isoformat())
        writer.writerow([_cell(cells[name]) for name in CSV_COLUMNS])
    return out.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_CSV_FORMULA):
        return "'" + value
    return value


def changes(registry=None, limit=100):
    """The ``limit`` most recent verdicts a re-verification changed (of registry version ``registry``
    if given), newest first, each with its sale's dev, seq, merchant and sold_at."""
    query = (VerdictChange.select(VerdictChange, SaleVerdict.dev, SaleVerdict.seq, SaleVerdict.merchant,
                                  SaleVerdict.sold_at)
             .join(SaleVerdict).order_by(VerdictChange.changed_at.desc(), VerdictChange.id.desc()).limit(limit))
    if registry is not None:
        query = query.where(VerdictChange.registry == registry)
    return [change_row(c) for c in query]


def change_json(row, tz=None):
    """A changes() row ready for JSON: times as ISO UTC with a Z, plus ``sold_at_local`` in
    zone ``tz`` when one is given."""
    out = dict(row, sold_at=iso(row["sold_at"]), changed_at=iso(row["changed_at"]))
    if tz is not None:
        when = local(row["sold_at"], tz)
        out["sold_at_local"] = when.isoformat() if when else None
    return out


def change_row(c):
    """A VerdictChange (its sale joined) as a dict; times stay naive UTC."""
    return {"dev": c.sale.dev, "seq": c.sale.seq, "merchant": c.sale.merchant, "sold_at": c.sale.sold_at,
            "old": c.old, "old_reason": c.old_reason, "old_registry": c.old_registry,
            "new": c.new, "new_reason": c.new_reason, "registry": c.registry, "changed_at": c.changed_at}


def _naive_utc(when):
    """An aware datetime as naive UTC (the stored form); a naive one is taken as UTC already."""
    return when if when.tzinfo is None else when.astimezone(timezone.utc).replace(tzinfo=None)
