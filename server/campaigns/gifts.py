"""Birthday and holiday gifts (生日礼, 春节/中秋/双十一 gifts): a coupon or points per customer.

No table of its own: a gift is idempotent through its key, ``birthday:{year}:{customer}``
or ``holiday:{name}:{year}:{customer}``, on the coupon or the ledger entry it creates, so a
job run twice (or interrupted and run again) gives nothing twice.
"""

import calendar
from datetime import datetime, timedelta

from peewee import chunked

from server.campaigns import CampaignError
from server.campaigns.coupons import CHUNK, DEFAULT_TZ, issue_batch, local_day_end
from server.db import db
from server.loyalty import ledger
from server.loyalty.models import Customer

WINDOWS = ("month", "day")
DAY_VALID_DAYS = 7
HOLIDAY_VALID_DAYS = 30


def birthday_gifts(today, birthdays, kind, value, cur, actor, window="month", valid_days=None, min_spend=0,
                   tz=DEFAULT_TZ, now=None, progress=None):
    """Give this year's birthday coupon to each active customer whose birthday falls in ``window`` of ``today``.

    ``birthdays``: (customer, "MM-DD" or "YYYY-MM-DD") pairs read by the caller from the
    vault. ``window`` "month": birthdays in today's month, valid to the month's end (生日当月);
    "day": birthdays today (29 Feb on 28 Feb in other years), valid DAY_VALID_DAYS days.
    ``valid_days`` overrides either. Returns issue_batch's counts plus ``invalid`` birthdays.
    """
    if window not in WINDOWS:
        raise CampaignError("birthday window %r unknown: use month or day" % (window,))
    due, invalid = [], 0
    for customer, text in birthdays:
        month_day = _month_day(text)
        if month_day is None:
            invalid += 1
        elif _falls(month_day, today, window):
            due.append(customer)
    if valid_days is None and window == "month":
        last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    else:
        last = today + timedelta(days=(valid_days or DAY_VALID_DAYS) - 1)
    counts = issue_batch(due, kind, value, cur, local_day_end(last, tz), "birthday %d" % today.year,
                         "birthday:%d" % today.year, actor, min_spend=min_spend, now=now, progress=progress)
    return dict(counts, invalid=invalid)


def holiday_gifts(name, day, customers, actor, points=None, coupon=None, tz=DEFAULT_TZ, now=None, progress=None):
    """Give each active one of ``customers`` the ``name`` holiday gift of ``day``'s year: points or a coupon.

    ``coupon``: dict with kind, value, cur and optional min_spend, valid_days (default
    HOLIDAY_VALID_DAYS); it is valid from the start of ``day`` (local). Returns counts
    ``issued``, ``existing`` (given by an earlier run) and ``skipped`` (unknown or not active).
    """
    if not name or ":" in name or len(name) > 40:
        raise CampaignError("holiday name %r: give 1 to 40 characters without ':' (e.g. 春节, 中秋, 双十一)"
                            % (name,))
    if (points is None) == (coupon is None):
        raise CampaignError("holiday %s: give either points or a coupon as the gift" % name)
    key = "holiday:%s:%d" % (name, day.year)
    if coupon is None:
        return _give_points(customers, points, key, name, actor, now, progress)
    last = day + timedelta(days=coupon.get("valid_days", HOLIDAY_VALID_DAYS) - 1)
    first = local_day_end(day - timedelta(days=1), tz)
    return issue_batch(customers, coupon["kind"], coupon["value"], coupon["cur"], local_day_end(last, tz), name, key,
                       actor, min_spend=coupon.get("min_spend", 0), valid_from=first, now=now, progress=progress)


def _give_points(customers, points, key, name, actor, now, progress):
    """Book ``points`` for each active customer under ``f"{key}:{customer}"``, chunk by chunk."""
    if not isinstance(points, int) or points <= 0:
        raise CampaignError("holiday %s: points %r: give a whole number above 0" % (name, points))
    ids = list(dict.fromkeys(customers))
    counts = {"issued": 0, "existing": 0, "skipped": 0}
    for done, part in enumerate(chunked(ids, CHUNK), 1):
        with db.atomic():
            live = set(c for (c,) in Customer.select(Customer.id)
                       .where(Customer.id.in_(part), Customer.state == "active").tuples())
            keys = {c: "%s:%s" % (key, c) for c in part if c in live}
            have = set(ledger.booked(keys.values()))
            for customer, k in keys.items():
                if k not in have:
                    counts["issued" if ledger.post(customer, points, "gift", k, now=now, note=name, actor=actor)
                           else "existing"] += 1
        counts["existing"] += len(have)
        counts["skipped"] += len(part) - len(keys)
        if progress:
            progress(min(done * CHUNK, len(ids)), len(ids))
    return counts


def _month_day(text):
    """(month, day) of a birthday given as MM-DD or YYYY-MM-DD, or None if it is not a date."""
    try:
        when = datetime.strptime("2000-" + text.strip()[-5:], "%Y-%m-%d")  # 2000: a leap year, so 02-29 parses
    except (AttributeError, ValueError):
        return None
    return when.month, when.day


def _falls(month_day, today, window):
    """Whether a birthday (month, day) is celebrated in ``window`` of ``today``."""
    month, day = month_day
    if window == "month":
        return month == today.month
    if (month, day) == (2, 29) and not calendar.isleap(today.year):
        day = 28
    return (month, day) == (today.month, today.day)
