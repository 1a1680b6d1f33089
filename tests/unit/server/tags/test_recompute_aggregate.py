"""The recompute's one-pass aggregate agrees with real time's fold, and the swap renames the staging tables in."""

import random
import time

import numpy as np
import pytest

from server.customers import identity
from server.db import bulk_insert, create_tables, db, utcnow
from server.ingest.apply import RECORD_FIELDS
from server.ingest.models import Record
from server.tags import aggregate, context, realtime, recompute, scanpart, window
from server.tags import settings as tag_settings
from server.tags.models import CustomerStats

DAY = 86400
NOW = int(time.time()) - 3600
ACTOR = "cli:test"
FOLDED = ("first_ts", "last_ts", "first_day", "last_day", "days", "orders", "spend", "max_sale", "amount_sq",
          "refunds", "refunded", "merchant")


def test_windows_count_as_window_counts():
    rng = random.Random(7)
    today = 20400
    texts = ["", "%d:5" % today, "%d:7,%d:9" % (today + 3, today - 400)]
    texts += [",".join("%d:%d" % (today - rng.randint(-2, 400), rng.randint(1, 10 ** 6))
                       for _ in range(rng.randint(1, 12))) for _ in range(200)]
    got = scanpart.windows(np.array(texts, dtype=object), today, 120)
    for i, text in enumerate(texts):
        want = window.counts(window.parse(text), today, 120)
        assert {name: int(got[name][i]) for name in want} == want, text


def test_windows_refuse_text_that_does_not_parse():
    with pytest.raises(ValueError):
        scanpart.windows(np.array(["20400:5,20401"], dtype=object), 20400, 365)


@pytest.fixture
def people(tagdb, add):
    """Customers with sales at two merchants' terminals, same-day sales, refunds and voids, refunds only.

    (Real time keeps the merchant it had when the latest sale's terminal has none, the batch does not: every
    terminal here has one.)
    """
    from server.fleet.models import Device, Merchant

    for m, dev in (("M1", "D1"), ("M2", "D2")):
        Merchant.create(code=m, name="Shop " + m, province="上海")
        add(dev)
        Device.update(merchant=m).where(Device.id == dev).execute()
    rng = random.Random(3)
    ids = [identity.create_customer(ACTOR) for _ in range(30)]
    rows, n = [], 0
    for i, c in enumerate(ids):
        for _ in range(i % 7):
            n += 1
            kind = "sale" if i % 5 or rng.random() < 0.7 else rng.choice(["refund", "void", "svrefund"])
            ts = NOW - rng.randint(0, 500) * DAY // rng.choice([1, 1, 3]) - rng.randint(0, 3600)
            rows.append((rng.choice(["D1", "D2"]), n, kind, ts, utcnow(), "R%d" % n, None, rng.randint(1, 90000),
                         "CNY", None, c, "h%d" % n))
    rows.append(("D1", n + 1, "refund", NOW - DAY, utcnow(), "RX", None, 400, "CNY", None, ids[0], "hx"))
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
    return ids


def test_scan_agrees_with_the_real_time_fold(people):
    settings, per = tag_settings.load()
    offset = tag_settings.utc_offset(NOW)
    today = tag_settings.day_of(NOW, offset)
    high = Record.select().count()
    cols = aggregate.scan(high, today, offset, settings["rfm_window_days"], chunk=4)
    assert cols["customer"].tolist() == sorted(cols["customer"].tolist())
    ctx = context.load()
    merchants = tag_settings.merchants_of_devices()
    buyers = {c for (c,) in Record.select(Record.customer).distinct().tuples()}
    assert set(cols["customer"].tolist()) == buyers
    refunds_only = 0
    for i, c in enumerate(cols["customer"].tolist()):
        row = realtime.rebuild(c, [c], ctx, merchants, NOW)
        got = {name: cols[name][i].item() if hasattr(cols[name][i], "item") else cols[name][i] for name in FOLDED}
        if got["orders"] == 0:
            refunds_only += 1
            got.update((name, None) for name in aggregate.MISSING)
        assert got == pytest.approx({name: row[name] for name in FOLDED}), c
        assert sorted(window.parse(cols["recent"][i])) == sorted(window.parse(row["recent"]))
        want = window.counts(window.parse(row["recent"]), today, settings["rfm_window_days"])
        assert {name: int(cols[name][i]) for name in want} == want
    assert refunds_only and cols["refunds"].sum() > 0 and {"M1", "M2"} <= set(cols["merchant"].tolist())


def _scan(**kw):
    settings, per = tag_settings.load()
    offset = tag_settings.utc_offset(NOW)
    return aggregate.scan(Record.select().count(), tag_settings.day_of(NOW, offset), offset,
                          settings["rfm_window_days"], **kw)


def test_worker_processes_scan_ranges_into_the_same_columns(people):
    alone = _scan(chunk=4)
    seen = []
    parts = aggregate.ranges(3)
    assert len(parts) == 3 and parts[0][0] is None and parts[-1][1] is None
    side_by_side = _scan(chunk=2, parts=parts, progress=seen.append)
    assert set(side_by_side) == set(alone)
    for name, v in alone.items():
        assert side_by_side[name].dtype == v.dtype and side_by_side[name].tolist() == v.tolist(), name
    assert seen and seen[-1] == len(alone["customer"]) + int(alone["refunds"].astype(bool).sum()) - int(
        ((alone["refunds"] > 0) & (alone["orders"] == 0)).sum())   # groups read: sales and reversals apart


def test_range_edges_fall_on_a_customer_with_sales_and_reversals(people):
    alone = _scan()
    both = alone["customer"][(alone["orders"] > 0) & (alone["refunds"] > 0)]
    edge = both[len(both) // 2]
    side_by_side = _scan(parts=[(None, edge), (edge, edge), (edge, None)])   # the middle range is empty
    for name, v in alone.items():
        assert side_by_side[name].dtype == v.dtype and side_by_side[name].tolist() == v.tolist(), name


def test_a_failing_worker_says_which_and_why(people, monkeypatch):
    make = aggregate._sql
    monkeypatch.setattr(aggregate, "_sql", lambda *a: (make(*a)[0].replace("NOT INDEXED", "NOT INDEXED nonsense"),
                                                       make(*a)[1]))
    with pytest.raises(aggregate.ScanError, match=r"scan worker [12] of 2 failed: OperationalError: near \"nonsense\": syntax error"):
        _scan(parts=aggregate.ranges(2))


def _schema():
    return sorted(db.execute_sql("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


def test_swap_renames_the_staging_tables_under_the_live_names(people):
    before = [r for r in _schema() if "tagnext" not in r[1]]
    first = recompute.run(now=NOW)
    again = recompute.run(now=NOW)
    after = _schema()
    assert after == before and not [r for r in after if "tagnext" in r[1] or "tagnext" in r[2]]
    create_tables()                            # what the server does on start: nothing left to add
    assert _schema() == after
    assert first["customers"] == again["customers"] == CustomerStats.select().count() > 0 and again["events"] == 0


def test_a_merge_while_rows_are_written_is_kept_at_the_swap(people, monkeypatch):
    monkeypatch.setattr(recompute, "CHUNK", 4)
    recompute.run(now=NOW)
    a, b = sorted(c for c in people if CustomerStats.get_or_none(CustomerStats.customer == c) is not None
                  and CustomerStats.get(CustomerStats.customer == c).orders > 1)[-2:]   # written in the last chunks
    seen = {}

    def merge_once(done, total):               # the rows in memory were scored before the merge
        if done > total // 2 and not seen:
            seen["step"] = recompute.status()["unfinished"].step
            identity.merge(b, a, ACTOR, "same person")
            seen["merged"] = CustomerStats.get(CustomerStats.customer == a)
    recompute.run(progress=merge_once, now=NOW)
    assert seen["step"] == "score"
    assert CustomerStats.get_or_none(CustomerStats.customer == b) is None
    survivor, merged = CustomerStats.get(CustomerStats.customer == a), seen["merged"]
    assert (survivor.orders, survivor.spend, survivor.refunds) == (merged.orders, merged.spend, merged.refunds)


def test_a_merge_and_an_erase_during_a_run_count_the_late_sales_once(people, monkeypatch):
    from server.customers import rights

    monkeypatch.setattr(recompute, "CHUNK", 4)
    a, b, c = people[10:13]

    def stop_while_writing(done, total):
        if recompute.status()["unfinished"].step == "score" and done > total // 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop_while_writing, now=NOW)
    rows = [("D1", 9100 + i, "sale", NOW - 3600 + i, utcnow(), "RL%d" % i, None, 300 + i, "CNY", None, who, "hl%d" % i)
            for i, who in enumerate([a, b, b, c])]   # sales after the run began
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
        realtime.on_sales(rows, realtime.utc(NOW))
    identity.merge(b, a, ACTOR, "same person")
    rights.erase(c, "cli:dpo", "erasure request")
    assert recompute.run(resume=True)["replayed"] == 3
    resumed = CustomerStats.get(CustomerStats.customer == a)
    recompute.run(now=NOW)   # from scratch: every sale came before it
    fresh = CustomerStats.get(CustomerStats.customer == a)
    for name in FOLDED + ("orders_90d", "spend_90d", "orders_365d"):
        assert getattr(resumed, name) == pytest.approx(getattr(fresh, name)), name
    assert sorted(window.parse(resumed.recent)) == sorted(window.parse(fresh.recent))
    assert fresh.orders == Record.select().where(Record.customer.in_([a, b]), Record.kind == "sale").count()
    assert not CustomerStats.select().where(CustomerStats.customer.in_([b, c])).exists()
