"""The KPIs and cohorts grouped in SQL against the purchases read row by row, on a random shop of many customers:
voids (also of another terminal's ref), refunds, merges (a chain too), sales without a card, two currencies and
stores in three zones, two with summer time, plus a terminal of no store."""

import calendar
import random
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from server.analytics import cohorts, kpis
from server.fleet.models import Device, Merchant
from server.ingest.models import Record
from server.loyalty.models import Customer

STORES = {"S1": "Asia/Shanghai", "S2": "Europe/Berlin", "S3": "America/New_York"}
TERMINALS = {"D1": "S1", "D2": "S1", "D3": "S2", "D4": "S3", "D5": None}
START, END = calendar.timegm((2024, 11, 1, 0, 0, 0)), calendar.timegm((2026, 1, 15, 0, 0, 0))


@pytest.fixture
def shop(app, add):
    """Fill the shop; return ``{merged customer: the one it finally counts as}``."""
    rng = random.Random(7)
    for code, tz in STORES.items():
        Merchant.create(code=code, name=code, province="浙江省", tz=tz)
    for dev, store in TERMINALS.items():
        add(dev)
        Device.update(merchant=store).where(Device.id == dev).execute()
    ids = ["C%016d" % n for n in range(300)]
    Customer.insert_many([{"id": c} for c in ids]).execute()
    pairs = {ids[n]: ids[n + 1] for n in range(0, 40, 2)}
    for a, b in dict(pairs, **{ids[41]: ids[42], ids[42]: ids[43]}).items():
        Customer.update(state="merged", merged_into=b).where(Customer.id == a).execute()
    months = [calendar.timegm((2024 + m // 12, m % 12 + 1, 1, 0, 0, 0)) for m in range(10, 25)]
    rows = []
    for seq in range(4000):
        dev = rng.choice(sorted(TERMINALS))
        kind = rng.choices(["sale", "refund", "void"], [90, 4, 6])[0]
        orig = "R%d" % rng.randrange(seq + 1) if kind == "void" else None
        rows.append({"dev": dev, "seq": seq, "kind": kind, "ts": timestamp(rng, months), "ref": "R%d" % seq,
                     "orig": orig, "amount": rng.randrange(100, 20000), "cur": rng.choice(["CNY", "CNY", "HKD"]),
                     "customer": None if rng.random() < 0.05 else rng.choice(ids), "body_hash": "x"})
    Record.insert_many(rows).execute()
    return dict(pairs, **{ids[41]: ids[43], ids[42]: ids[43]})  # where each was finally merged into


def timestamp(rng, months):
    """Any time of the shop's span, or (a third of them) one within 12 h of a month's start in UTC."""
    if rng.random() < 0.3:
        return rng.choice(months) + rng.randrange(-12 * 3600, 12 * 3600)
    return rng.randrange(START, END)


def purchases_row_by_row(w, merged, carded=True, start=True):
    """The purchases of ``w`` by the rules of kpis.purchases, read one record at a time."""
    records = list(Record.select().order_by(Record.ts, Record.id))
    voided = {(r.dev, r.orig) for r in records if r.kind == "void"}
    devs = set(kpis.devices_of(w.merchant)) if w.merchant else None
    return [(merged.get(r.customer_id, r.customer_id), r.ts, r.dev, r.amount, r.cur) for r in records
            if r.kind == "sale" and r.ts < w.end_ts and (not start or r.ts >= w.start_ts)
            and (r.customer_id or not carded) and (devs is None or r.dev in devs) and (r.dev, r.ref) not in voided]


def cohorts_row_by_row(w, merged):
    """``{first month: [active customers in month k after it]}`` with each sale's month in its store's zone."""
    first, months = {}, {}
    for c, ts, dev, amount, cur in purchases_row_by_row(w, merged, start=False):
        store = TERMINALS[dev]
        m = cohorts.month_index(ts, w.tz if w.merchant or not store else ZoneInfo(STORES[store]))
        first.setdefault(c, m)
        months.setdefault(c, set()).add(m)
    start, last = cohorts.month_index(w.start_ts, w.tz), cohorts.month_index(w.end_ts - 1, w.tz)
    table = {}
    for c, m0 in first.items():
        if start <= m0 <= last:
            row = table.setdefault(m0, [0] * (last - m0 + 1))
            for m in months[c]:
                if m <= last:
                    row[m - m0] += 1
    return table


WINDOWS = [("2025-01-01", "2025-11-30", None), ("2025-03-01", "2025-10-31", "S2"), ("2025-02-01", "2025-12-31", "S3"),
           ("2025-06-01", "2025-06-30", "S1")]


@pytest.mark.parametrize("frm,to,merchant", WINDOWS)
def test_purchases_and_orders_per_customer(shop, frm, to, merchant):
    w = kpis.window(frm, to, merchant)
    everything = purchases_row_by_row(w, shop, carded=False, start=False)
    assert list(kpis.purchases(w, carded=False, start=False)) == everything
    want = Counter(c for c, *_ in purchases_row_by_row(w, shop))
    assert len(want) > 20 and kpis.orders_per_customer(w) == want


@pytest.mark.parametrize("frm,to,merchant", WINDOWS)
def test_average_basket_never_mixes_currencies(shop, frm, to, merchant):
    w = kpis.window(frm, to, merchant)
    sales = purchases_row_by_row(w, shop, carded=False)
    devs = kpis.devices_of(w.merchant) if w.merchant else TERMINALS
    refunds = [r for r in Record.select().where(Record.kind == "refund")
               if w.start_ts <= r.ts < w.end_ts and r.dev in devs]
    got = {b["cur"]: (b["orders"], b["gross"], b["refunds"]) for b in kpis.average_basket(w)}
    assert got == {cur: (sum(1 for p in sales if p[4] == cur), sum(p[3] for p in sales if p[4] == cur),
                         sum(r.amount for r in refunds if r.cur == cur)) for cur in ("CNY", "HKD")}


@pytest.mark.parametrize("frm,to,merchant", WINDOWS)
def test_cohort_table(shop, frm, to, merchant):
    w = kpis.window(frm, to, merchant)
    want = cohorts_row_by_row(w, shop)
    assert sum(row[0] for row in want.values()) > 10
    assert [(r["cohort"], r["active"]) for r in cohorts.cohort_table(w)] == [
        (cohorts.label(m0), row) for m0, row in sorted(want.items())]


def test_kpi_rows_agree_with_the_kpis_and_churn_with_the_purchases(shop):
    w = kpis.window("2025-06-01", "2025-11-30")
    header, rows = kpis.kpi_rows(w)
    repeat, churn = kpis.repeat_purchase_rate(w), kpis.churn_rate(w)
    assert rows[0] == ["repeat_purchase_rate", "", kpis.fixed(repeat["rate"]), repeat["repeaters"], repeat["customers"]]
    assert rows[1] == ["churn_rate", "", kpis.fixed(churn["rate"]), churn["churned"], churn["customers"]]
    before = {c for c, *_ in purchases_row_by_row(w.prior(), shop)}
    assert churn["churned"] == len(before - {c for c, *_ in purchases_row_by_row(w, shop)}) > 0
