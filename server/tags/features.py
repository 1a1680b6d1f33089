"""The customer features admin rules may use: name -> (type, what it means), and their values.

Money is in minor units of the sale currency (fen for CNY); days are local calendar days.
A feature a customer has no value for (e.g. days_since_last before any purchase) is missing:
every comparison with it is false. The vault features are read from the PII vault only for
customers who granted marketing consent, and only while tagging: they are never stored in the
main database.
"""

FEATURES = {
    "orders": ("int", "sales ever (refunds and voids not counted)"),
    "spend": ("int", "sum of all sales, minor units"),
    "net_spend": ("int", "spend minus refunds and voids, minor units"),
    "refunds": ("int", "refunds and voids ever"),
    "refunded": ("int", "amount refunded or voided, minor units"),
    "purchase_days": ("int", "distinct days with a sale"),
    "repeat_purchases": ("int", "purchase days after the first (BG/NBD frequency)"),
    "avg_basket": ("int", "spend / orders, minor units"),
    "max_sale": ("int", "largest single sale, minor units"),
    "days_since_last": ("int", "days since the latest sale"),
    "days_since_first": ("int", "days since the first sale"),
    "avg_gap_days": ("num", "mean days between purchase days (2+ purchase days)"),
    "orders_90d": ("int", "sales in the last 90 days"),
    "spend_90d": ("int", "sales in the last 90 days, minor units"),
    "orders_prev_90d": ("int", "sales 91-180 days ago"),
    "spend_prev_90d": ("int", "sales 91-180 days ago, minor units"),
    "orders_365d": ("int", "sales in the last 365 days"),
    "spend_365d": ("int", "sales in the last 365 days, minor units"),
    "rfm_r": ("int", "RFM recency score 1-5 (5 = most recent)"),
    "rfm_f": ("int", "RFM frequency score 1-5"),
    "rfm_m": ("int", "RFM money score 1-5"),
    "rfm_segment": ("str", "RFM segment: important_value, important_develop, important_keep, important_retain, "
                           "general_value, general_develop, general_keep, general_retain"),
    "p_alive": ("num", "BG/NBD probability the customer still buys (0-1)"),
    "exp_90d": ("num", "BG/NBD expected purchase days in the next 90 days"),
    "exp_spend": ("num", "Gamma-Gamma expected spend per future purchase, minor units"),
    "clv": ("num", "expected discounted value over the CLV horizon, minor units"),
    "churn_risk": ("num", "churn risk 0-1 (P(alive) and the drop in frequency and amount)"),
    "lifecycle": ("str", "potential, new, active, silent or lost"),
    "value_layer": ("str", "high, mid or low"),
    "customer_class": ("str", "vip, ordinary, new or potential"),
    "tier": ("str", "loyalty tier in force"),
    "points": ("int", "points balance"),
    "birthday_month": ("int", "month of birth 1-12 (vault, with marketing consent)"),
    "gender": ("str", "female, male, other or undisclosed (vault, with marketing consent)"),
    "age_band": ("str", "age band such as 25-34 (vault, with marketing consent)"),
    "income_band": ("str", "income band (vault, with marketing consent)"),
    "region": ("str", "region (vault, with marketing consent)"),
}
VAULT = ("birthday_month", "gender", "age_band", "income_band", "region")
CUSTOMER = ("tier", "points")
STORED = ("orders", "spend", "refunds", "refunded", "max_sale", "orders_90d", "spend_90d", "orders_prev_90d",
          "spend_prev_90d", "orders_365d", "spend_365d", "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "p_alive",
          "exp_90d", "exp_spend", "clv", "churn_risk", "lifecycle", "value_layer", "customer_class")


def types():
    """``{name: type}`` as the rule parser takes it."""
    return {name: spec[0] for name, spec in FEATURES.items()}


def sql_columns(today, stats="s", customer="c"):
    """``{feature: SQL expression}`` over a stats table aliased ``stats`` joined to customer ``customer``.

    The vault features are NULL here (missing: every comparison with them is false); the full
    recompute evaluates rules naming them again in Python for consenting customers (values from
    the vault, in memory only), and real-time tagging leaves those rules' tags as the batch set them.
    """
    s = lambda col: '%s."%s"' % (stats, col)  # noqa: E731
    cols = {name: s(name) for name in STORED}
    cols.update({
        "net_spend": "(%s - %s)" % (s("spend"), s("refunded")),
        "purchase_days": s("days"),
        "repeat_purchases": "(CASE WHEN %s > 0 THEN %s - 1 ELSE 0 END)" % (s("days"), s("days")),
        "avg_basket": "(CASE WHEN %s > 0 THEN %s / %s END)" % (s("orders"), s("spend"), s("orders")),
        "days_since_last": "(%d - %s)" % (int(today), s("last_day")),
        "days_since_first": "(%d - %s)" % (int(today), s("first_day")),
        "avg_gap_days": "(CASE WHEN %s >= 2 THEN (%s - %s) * 1.0 / (%s - 1) END)"
                        % (s("days"), s("last_day"), s("first_day"), s("days")),
        "tier": '%s."tier"' % customer,
        "points": '%s."points"' % customer,
    })
    cols.update((name, "NULL") for name in VAULT)
    return cols


def values(row, today, customer=None, vault=None):
    """The feature values of one customer from its stats ``row`` (dict), Customer fields and vault data."""
    out = {name: row.get(name) for name in STORED}
    days, orders = row.get("days") or 0, row.get("orders") or 0
    last, first = row.get("last_day"), row.get("first_day")
    out.update({
        "net_spend": (row.get("spend") or 0) - (row.get("refunded") or 0),
        "purchase_days": days,
        "repeat_purchases": max(days - 1, 0),
        "avg_basket": row["spend"] // orders if orders else None,
        "days_since_last": today - last if last is not None else None,
        "days_since_first": today - first if first is not None else None,
        "avg_gap_days": (last - first) / (days - 1.0) if days >= 2 else None,
    })
    for name in CUSTOMER:
        out[name] = (customer or {}).get(name)
    for name in VAULT:
        out[name] = (vault or {}).get(name)
    return out
