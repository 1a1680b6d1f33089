"""The birthday-gift job: birthdays read from the vault, the gift given by server.campaigns.gifts.

The setting BIRTHDAY_GIFT (JSON) turns it on: ``{"kind", "value", "cur"}`` plus optional
``window`` ("month" or "day"), ``valid_days``, ``min_spend`` and ``tz`` (the zone whose calendar day
counts, default Asia/Shanghai). Only customers the vault lists as having a birthday (metadata,
nothing opened) who are active and have not had this year's gift yet are read, one audited read
each (actor job:birthday, purpose "birthday gift"). Each gift given queues a birthday greeting
(server.notify; consent and address are checked when it is sent).
"""

import json
from datetime import timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context
from peewee import chunked

from server.campaigns import gifts
from server.campaigns.coupons import DEFAULT_TZ
from server.campaigns.models import Coupon
from server.jobs import JobError
from server.loyalty.models import Customer
from server.vault import store

ACTOR = "job:birthday"
PURPOSE = "birthday gift"
CHUNK = 200
OPTIONS = {"kind", "value", "cur", "window", "valid_days", "min_spend", "tz"}


def setting():
    """The BIRTHDAY_GIFT setting as a dict, or None when birthday gifts are off; JobError for a bad one."""
    gift = current_app.config.get("BIRTHDAY_GIFT") if has_app_context() else None
    if isinstance(gift, str):
        try:
            gift = json.loads(gift)
        except ValueError:
            gift = "not JSON"
    if gift is None:
        return None
    if not (isinstance(gift, dict) and {"kind", "value", "cur"} <= set(gift) <= OPTIONS):
        raise JobError("BIRTHDAY_GIFT must be a JSON object with kind, value, cur and optionally window, "
                       "valid_days, min_spend, tz, e.g. {\"kind\": \"amount_off\", \"value\": 2000, \"cur\": \"CNY\"}")
    return gift


def run(now, progress=None):
    """Give this year's birthday gift to those due at ``now``; issue counts plus ``read`` (vault reads) and
    ``greeted`` (greetings queued)."""
    gift = setting()
    if gift is None:
        return {"off": 1}
    tz = gift.get("tz", DEFAULT_TZ)
    try:
        today = now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz)).date()
    except (ZoneInfoNotFoundError, ValueError):
        raise JobError("BIRTHDAY_GIFT tz %r: give an IANA zone such as Asia/Shanghai" % (tz,))
    birthdays = []
    for cust in _candidates(today.year):
        value = store.get(cust, ["birthday"], actor=ACTOR, purpose=PURPOSE).get("birthday")
        if value:
            birthdays.append((cust, value))
    out = gifts.birthday_gifts(today, birthdays, gift["kind"], gift["value"], gift["cur"], ACTOR,
                               window=gift.get("window", "month"), valid_days=gift.get("valid_days"),
                               min_spend=gift.get("min_spend", 0), tz=tz, now=now, progress=progress)
    return dict(out, read=len(birthdays), greeted=_greet(today.year, [c for c, _ in birthdays], now))


def _greet(year, custs, now):
    """Queue a birthday greeting (server.notify) for each of ``custs`` holding ``year``'s gift; how many queued now."""
    from server.notify import queue, setting

    channel, queued = setting("NOTIFY_CHANNEL"), 0
    for part in chunked(custs, CHUNK):
        for key, cust, kind, value, cur in Coupon.select(Coupon.key, Coupon.customer, Coupon.kind, Coupon.value,
                                                         Coupon.cur).where(
                Coupon.key.in_(["birthday:%d:%s" % (year, c) for c in part])).tuples():
            queued += queue.enqueue(cust, channel, "birthday", {"year": year, "kind": kind, "value": value,
                                                                "cur": cur}, key, now)
    return queued


def _candidates(year):
    """Active customers with a birthday in the vault who have not had ``year``'s gift."""
    out = []
    for part in chunked(store.customers_with("birthday"), CHUNK):
        active = {c for (c,) in Customer.select(Customer.id).where(
            Customer.id.in_(part) & (Customer.state == "active")).tuples()}
        given = {k for (k,) in Coupon.select(Coupon.key).where(
            Coupon.key.in_(["birthday:%d:%s" % (year, c) for c in active])).tuples()}
        out += [c for c in part if c in active and "birthday:%d:%s" % (year, c) not in given]
    return out
