"""Tag settings: defaults, per-merchant overrides (TagSetting rows), and the local day of a sale.

Lifecycle thresholds left unset come from each merchant's own inter-purchase times at every
recompute (server.tags.builtin.lifecycle_thresholds), not from fixed days.
"""

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from peewee import fn

from server.db import db
from server.tags.models import TagSetting, TagState

DEFAULTS = {
    "rfm_window_days": 365,   # RFM frequency and money count sales in this window
    "silent_after_days": None,  # None: from the merchant's inter-purchase times
    "lost_after_days": None,
    "vip_share": 0.05,        # top share of buyers by value: class VIP
    "high_share": 0.20,       # value layers: top 20 % high, next 30 % mid, the rest low
    "mid_share": 0.30,
    "loyal_p_alive": 0.7,
    "growth_ratio": 1.25,     # 90-day spend at least this times the 90 days before
    "churn_threshold": 0.6,
    "clv_horizon_days": 365,
    "clv_discount": 0.01,     # per 30-day step
    "large_sigma": 4.0,       # high-risk sale: beyond mean + k sd of own sales ...
    "large_factor": 3.0,      # ... and this many times the own mean
    "large_min_orders": 5,
    "burst_seconds": 600,     # high-risk pattern: burst_count sales within burst_seconds
    "burst_count": 5,
    "repeat_count": 4,        # the same amount this many times in a row
}
MERCHANT_KEYS = ("silent_after_days", "lost_after_days")


class SettingError(ValueError):
    """A setting that does not exist or has a value of the wrong kind."""


def load():
    """``(defaults merged with global rows, {merchant: {key: value}})``."""
    out, per = dict(DEFAULTS), {}
    for row in TagSetting.select():
        value = json.loads(row.value)
        if row.merchant:
            per.setdefault(row.merchant, {})[row.key] = value
        else:
            out[row.key] = value
    return out, per


def put(key, value, merchant=""):
    """Set ``key`` (for ``merchant``, or for all when "") to ``value``; None removes the override."""
    if key not in DEFAULTS:
        raise SettingError("unknown tag setting %r (one of: %s)" % (key, ", ".join(sorted(DEFAULTS))))
    if merchant and key not in MERCHANT_KEYS:
        raise SettingError("%s is not set per merchant (only %s are)" % (key, ", ".join(MERCHANT_KEYS)))
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise SettingError("%s must be a number >= 0, not %r" % (key, value))
    with db.atomic():
        TagSetting.delete().where((TagSetting.merchant == merchant) & (TagSetting.key == key)).execute()
        if value is not None:
            TagSetting.create(merchant=merchant, key=key, value=json.dumps(value))
        bump()


def bump():
    """Tell every process's real-time tagging that what it caches has changed."""
    if TagState.update(version=TagState.version + 1).where(TagState.id == 1).execute() == 0:
        TagState.insert(id=1, version=1).on_conflict_ignore().execute()


def version():
    """The current TagState version (0 before anything was set)."""
    row = TagState.select(TagState.version).where(TagState.id == 1).tuples().first()
    return row[0] if row else 0


def utc_offset(now=None):
    """Seconds east of UTC of the time zone most merchants use (Asia/Shanghai when none): days are local."""
    from server.fleet.models import Merchant

    row = (Merchant.select(Merchant.tz, fn.COUNT(Merchant.code).alias("n")).group_by(Merchant.tz)
           .order_by(fn.COUNT(Merchant.code).desc(), Merchant.tz).tuples().first())
    zone = row[0] if row else "Asia/Shanghai"
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("Asia/Shanghai")
    when = datetime.fromtimestamp(now or 0, timezone.utc) if now else datetime.now(timezone.utc)
    return int(when.astimezone(tz).utcoffset().total_seconds())


def day_of(ts, offset):
    """The local day number of unix time ``ts``."""
    return (ts + offset) // 86400


def merchants_of_devices():
    """``{device: merchant}`` for devices with a merchant."""
    from server.fleet.models import Device

    return dict(Device.select(Device.id, Device.merchant).where(Device.merchant.is_null(False)).tuples())


def now_ts():
    """Now as unix seconds."""
    return int(datetime.now(timezone.utc).timestamp())

