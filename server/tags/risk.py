"""High-risk sales: unusually large or patterned against the customer's own history, listed for review.

Decided on the hot path from the running stats alone (count, sum, sum of squares, the current
burst and run of equal amounts), never from the sales history. A flag puts the customer's
``high_risk`` tag on until every open flag of that customer is reviewed.
"""

import math

from server.db import db, utcnow
from server.tags.models import CustomerTag, RiskFlag, TagEvent
from server.tags.settings import now_ts

VERDICTS = ("ok", "fraud")


class RiskError(Exception):
    """A review that cannot be done (unknown flag, already reviewed, bad verdict)."""


def check(st, ts, amount, settings):
    """The ``(reason, detail)`` flags of a sale about to be added to stats ``st`` (a dict it updates).

    large: beyond mean + large_sigma sd and large_factor x mean of at least large_min_orders sales;
    burst: the burst_count-th sale within burst_seconds; repeat: the same amount repeat_count times in a row.
    """
    out = []
    n = st["orders"]
    if n >= settings["large_min_orders"]:
        mean = st["spend"] / n
        sd = math.sqrt(max(st["amount_sq"] / n - mean * mean, 0.0))
        if amount > mean + settings["large_sigma"] * sd and amount >= settings["large_factor"] * mean:
            out.append(("large", "%d is %.1f sd above the mean %.0f of %d sales" % (
                amount, (amount - mean) / sd if sd else float("inf"), mean, n)))
    start = st["burst_ts"]
    if start is not None and 0 <= ts - start <= settings["burst_seconds"]:
        st["burst_n"] += 1
    else:
        st["burst_ts"], st["burst_n"] = ts, 1
    if st["burst_n"] == settings["burst_count"]:
        out.append(("burst", "%d sales within %d s" % (st["burst_n"], settings["burst_seconds"])))
    if amount == st["repeat_amount"]:
        st["repeat_n"] += 1
    else:
        st["repeat_amount"], st["repeat_n"] = amount, 1
    if st["repeat_n"] == settings["repeat_count"]:
        out.append(("repeat", "the amount %d %d times in a row" % (amount, st["repeat_n"])))
    return out


def open_flags(limit=100, customer=None):
    """Unreviewed flags, newest first."""
    query = RiskFlag.select().where(RiskFlag.reviewed_at.is_null()).order_by(RiskFlag.id.desc()).limit(limit)
    if customer:
        query = query.where(RiskFlag.customer == customer)
    return list(query)


def review(flag_id, verdict, actor):
    """Close a flag with ``verdict``; the customer's high_risk tag goes when no open flag is left."""
    if verdict not in VERDICTS:
        raise RiskError("verdict must be one of %s, not %r" % (", ".join(VERDICTS), verdict))
    with db.atomic():
        flag = RiskFlag.get_or_none(RiskFlag.id == flag_id)
        if flag is None:
            raise RiskError("no risk flag %s" % flag_id)
        if flag.reviewed_at is not None:
            raise RiskError("risk flag %s was already reviewed by %s" % (flag_id, flag.reviewed_by))
        RiskFlag.update(reviewed_at=utcnow(), reviewed_by=actor, verdict=verdict).where(
            RiskFlag.id == flag_id).execute()
        left = RiskFlag.select().where((RiskFlag.customer == flag.customer) & RiskFlag.reviewed_at.is_null()).exists()
        if not left and CustomerTag.delete().where((CustomerTag.customer == flag.customer)
                                                   & (CustomerTag.tag == "high_risk")).execute():
            TagEvent.create(customer=flag.customer, at=now_ts(), lost="high_risk")
    return flag
