"""The sliding windows of one customer's recent sales, kept as text in CustomerStats.recent.

``recent`` is ``day:amount`` per sale, comma-separated, a day may repeat (the batch writes it
straight from SQL's group_concat). Windows end today and include it: "last 90 days" is
day > today - 90; a sale dated in the future counts as recent.
"""

WINDOWS = (("orders_90d", "spend_90d", 0, 90), ("orders_prev_90d", "spend_prev_90d", 90, 180),
           ("orders_365d", "spend_365d", 0, 365))


def keep_days(rfm_window):
    """How many days back the text must reach for every window."""
    return max(365, int(rfm_window))


def parse(text):
    """``[(day, amount)]`` from the stored text."""
    if not text:
        return []
    out = []
    for item in text.split(","):
        day, _, amount = item.partition(":")
        out.append((int(day), int(amount)))
    return out


def dump(items, today, keep):
    """The stored text of ``items`` without those that fell out of every window."""
    first = today - keep
    return ",".join("%d:%d" % (day, amount) for day, amount in items if day > first)


def counts(items, today, rfm_window):
    """``{orders_90d, spend_90d, ..., rfm_orders, rfm_spend}`` of ``items`` as of ``today``."""
    out = {}
    for orders, spend, start, end in WINDOWS + (("rfm_orders", "rfm_spend", 0, int(rfm_window)),):
        lo, hi = today - end, today - start
        picked = [amount for day, amount in items if day > lo and (start == 0 or day <= hi)]
        out[orders], out[spend] = len(picked), sum(picked)
    return out

