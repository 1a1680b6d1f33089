"""Judge sales as ingest applies them: exactly one stored verdict per sale, in the sale's transaction.

The registry is read from the database once per imported version and kept in memory, so the
hot path costs one small query per batch plus the judging itself.
"""

import threading
from datetime import datetime, timezone

from peewee import chunked

from server.db import bulk_insert, utcnow
from server.fleet.models import Device, Merchant
from server.licences import registry, verdict
from server.licences.models import RegistryVersion, SaleVerdict

CHUNK = 200
ACQ_FIELDS = ("inst", "lic", "mid", "tid", "settle")
VERDICT_FIELDS = ("dev", "seq", "merchant", "province", "sold_at") + ACQ_FIELDS + (
    "acq_whole", "verdict", "reason", "registry", "judged_at")

_lock = threading.Lock()
_cached = {"key": None, "registry": None}


def current_registry():
    """The registry in force; re-read from the database only after a new version was imported.

    The cache key is the newest version's number, hash and import time, so another database
    (a test, a restore) holding a version of the same number is not mistaken for this one.
    """
    key = (RegistryVersion.select(RegistryVersion.number, RegistryVersion.sha256, RegistryVersion.imported_at)
           .order_by(RegistryVersion.number.desc()).limit(1).tuples().first())
    with _lock:
        if _cached["registry"] is None or _cached["key"] != key:
            _cached["registry"] = registry.load()
            _cached["key"] = key
        return _cached["registry"]


def merchants_of(devs):
    """``{dev: (merchant code, province)}`` for the devices in ``devs`` that have a merchant."""
    out = {}
    for part in chunked(sorted(set(devs)), CHUNK):
        query = (Device.select(Device.id, Merchant.code, Merchant.province).join(Merchant)
                 .where(Device.id.in_(part)).tuples())
        out.update((dev, (code, province)) for dev, code, province in query)
    return out


def acq_fields(acq):
    """``(fields, whole)``: the acquirer fields worth storing (each a string of at most 40
    characters, else None), and whether they hold everything the verdict looks at."""
    if not isinstance(acq, dict):
        return (None,) * len(ACQ_FIELDS), acq is None
    sent = [acq.get(k) for k in ACQ_FIELDS]
    fields = tuple(v if isinstance(v, str) and len(v) <= 40 else None for v in sent)
    return fields, all(v is None or f is not None for v, f in zip(sent, fields))


def sale_time(ts):
    """The UTC time (naive) of a terminal timestamp, or None when no calendar holds it
    (in UTC or in Shanghai, where the sale is judged)."""
    try:
        when = datetime.fromtimestamp(ts, timezone.utc)
        verdict.china_date(when)
    except (OverflowError, OSError, ValueError):
        return None
    return when.replace(tzinfo=None)


def judge_one(acq, province, sold_at, reg):
    """``(verdict, reason)`` of one sale; a terminal without a merchant, or a clock outside any
    calendar, makes it MALFORMED with a reason that says what to fix."""
    if sold_at is None:
        return "MALFORMED", "the terminal's clock gave a sale time outside any calendar; set the terminal's clock"
    if province is None:
        return "MALFORMED", ("the terminal has no merchant, so the merchant province is unknown; "
                             "set one with `possync-server device set DEVICE --merchant CODE`")
    return verdict.judge(acq, province, sold_at, reg)


def judge_sales(sales, now=None):
    """Judge and store newly applied sales ``[(dev, seq, ts, acq)]``; return ``{(dev, seq): verdict}``.

    Call inside the transaction that stores the sales: a sale and its verdict commit together.
    """
    if not sales:
        return {}
    now = now or utcnow()
    reg = current_registry()
    where = merchants_of(dev for dev, seq, ts, acq in sales)
    rows, out, seen = [], {}, {}
    for dev, seq, ts, acq in sales:
        merchant, province = where.get(dev, (None, None))
        sold_at = sale_time(ts)
        fields, whole = acq_fields(acq)
        # A terminal's acquirer rarely changes: sales alike in all the verdict looks at
        # (acquirer, province, Shanghai day) are judged once per batch.
        key = (fields, acq is None, province, verdict.china_date(sold_at)) if whole and sold_at else None
        found = seen.get(key) if key else None
        if found is None:
            found = judge_one(acq, province, sold_at, reg)
            if key:
                seen[key] = found
        result, reason = found
        out[(dev, seq)] = result
        rows.append((dev, seq, merchant, province, sold_at) + fields
                    + (whole, result, reason, reg.version, now))
    bulk_insert(SaleVerdict, VERDICT_FIELDS, rows)
    return out
