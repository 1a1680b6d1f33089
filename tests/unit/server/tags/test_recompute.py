"""Full recompute: hand-checkable tags on a small fixture, interruption and resume, late sales, history."""

import json

import pytest

from server.db import bulk_insert, db, utcnow
from server.ingest.apply import RECORD_FIELDS
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags import realtime, recompute
from server.tags.models import CustomerStats, CustomerTag, TagEvent, TagRun

DAY = 86400
TODAY = 20250                       # local day number (Asia/Shanghai)
NOW = TODAY * DAY - 8 * 3600 + 12 * 3600   # noon local time of TODAY


def at(days_ago, hour=12):
    """Unix time of local ``hour`` o'clock ``days_ago`` days before TODAY."""
    return (TODAY - days_ago) * DAY - 8 * 3600 + hour * 3600


def fixture_sales():
    """{customer: [(days_ago, amount)]}: groups whose inter-purchase gaps fix the lifecycle thresholds, plus specials.

    Gaps per repeat buyer (weight = purchase days - 1): 30 x 10 days (w 4), 10 x 20 (w 4), 4 x 60 (w 4),
    loyal 5 (w 11), churn 100 (w 1), growth 116/3 (w 3). Weighted 80 % quantile: 20 days (silent after),
    95 %: 60 days (lost after).
    """
    sales = {}
    for i in range(30):
        sales["CA%02d" % i] = [(i + 10 * k, 1000 + 10 * i) for k in range(5)]
    for i in range(10):
        sales["CB%02d" % i] = [(2 + 20 * k, 1000) for k in range(5)]
    for i in range(4):
        sales["CC%02d" % i] = [(3 + 60 * k, 1000) for k in range(5)]
    sales["SNEW"] = [(5, 1000)]
    sales["SSILENT"] = [(30, 1000)]
    sales["SLOST"] = [(100, 1000)]
    sales["SLOYAL"] = [(1 + 5 * k, 1000) for k in range(12)]
    sales["SCHURN"] = [(150, 1000)] * 6 + [(50, 1000)]
    sales["SGROWTH"] = [(120, 1000), (60, 1000), (30, 1000), (4, 1000)]
    return sales


@pytest.fixture
def shop(tagdb):
    sales = fixture_sales()
    Customer.insert_many([{"id": c} for c in sorted(sales) + ["SPOTENTIAL"]]).execute()
    rows, seq = [], 0
    for c, items in sorted(sales.items()):
        for days_ago, amount in items:
            seq += 1
            rows.append(("D1", seq, "sale", at(days_ago), utcnow(), "R%d" % seq, None, amount, "CNY", None, c,
                         "h%d" % seq))
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
    return sales


def snapshot():
    stats = [tuple(getattr(s, f) for f in sorted(CustomerStats._meta.fields) if f not in ("run", "updated_ts"))
             for s in CustomerStats.select().order_by(CustomerStats.customer)]
    tags = sorted(CustomerTag.select(CustomerTag.customer, CustomerTag.tag, CustomerTag.since).tuples())
    return stats, tags


def stat(c):
    return CustomerStats.get(CustomerStats.customer == c)


def test_hand_checkable_fixture(shop):
    out = recompute.run(now=NOW)
    assert out["customers"] == len(shop) and out["events"] == len(shop)
    import json
    assert json.loads(TagRun.get().params)["thresholds"][""] == [20, 60]
    assert stat("SNEW").lifecycle == "new" and stat("SNEW").customer_class == "new"
    assert stat("SSILENT").lifecycle == "silent" and stat("SLOST").lifecycle == "lost"
    assert stat("CA20").lifecycle == "active" and stat("CA21").lifecycle == "silent"
    loyal = stat("SLOYAL")
    assert (loyal.rfm_r, loyal.rfm_f, loyal.rfm_m, loyal.rfm_segment) == (5, 5, 5, "important_value")
    assert (loyal.orders, loyal.days, loyal.spend) == (12, 12, 12000)
    assert loyal.customer_class == "vip" and loyal.value_layer == "high"
    lost = stat("SLOST")
    assert (lost.rfm_r, lost.rfm_f, lost.rfm_m, lost.rfm_segment) == (1, 1, 1, "general_retain")
    assert lost.value_layer == "low" and lost.customer_class == "ordinary"
    churn = stat("SCHURN")
    assert (churn.orders_90d, churn.orders_prev_90d, churn.days) == (1, 6, 2)
    assert churn.churn_risk == pytest.approx(0.5 * 50 / 60 + 0.25 * 5 / 6 + 0.25 * 5 / 6)
    holders = {}
    for c, t in CustomerTag.select(CustomerTag.customer, CustomerTag.tag).tuples():
        holders.setdefault(t, set()).add(c)
    assert holders["loyal"] == {"SLOYAL"}
    assert "SCHURN" in holders["churn_risk"] and "SLOYAL" not in holders["churn_risk"]
    assert "SGROWTH" in holders["growth"] and "SLOYAL" not in holders["growth"]
    codes = realtime.tags_for(["SLOYAL", "SCHURN", "SPOTENTIAL"])
    assert codes["SLOYAL"][:3] == ["cls_vip", "loyal", "value_high"]
    assert codes["SCHURN"][:2] == ["cls_vip", "churn_risk"] and "lc_silent" in codes["SCHURN"]
    assert codes["SPOTENTIAL"] == ["lc_potential", "cls_potential"]
    assert out["tags"]["lc_new"] == 1 and out["tags"]["loyal"] == 1 and out["tags"]["lc_potential"] == 1


def test_interrupted_run_resumes_to_the_same_result(shop, monkeypatch):
    monkeypatch.setattr(recompute, "CHUNK", 7)
    seen, hit = [], []

    def boom(done, total):                      # once in the aggregate step, once in the score step
        seen.append(done)
        if len(seen) == 3 or (done > total // 2 and not hit):
            hit.extend([done] if len(seen) > 3 else [])
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=boom, now=NOW)
    state = recompute.status()
    assert state["unfinished"].step == "aggregate" and state["last"] is None
    assert CustomerStats.select().count() == 0            # nothing half-swapped
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=boom, resume=True)
    assert recompute.status()["unfinished"].step == "score"
    out = recompute.run(progress=boom, resume=True)
    assert recompute.status()["unfinished"] is None and TagRun.select().count() == 1
    assert out["customers"] == len(shop) and TagEvent.select().count() == len(shop)
    resumed = snapshot()
    assert sorted(seen) == seen                            # progress only moves forward
    again = recompute.run(now=NOW)
    assert snapshot() == resumed
    assert again["events"] == 0


def test_sales_after_the_start_are_replayed_in_the_swap(shop, monkeypatch):
    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop, now=NOW)
    rows = [("D1", 9000, "sale", at(0), utcnow(), "R9000", None, 500, "CNY", None, "SLOST", "h9000")]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
        realtime.on_sales(rows, realtime.utc(NOW))
    out = recompute.run(resume=True)
    assert out["replayed"] == 1
    s = stat("SLOST")
    assert (s.orders, s.days, s.last_day, s.lifecycle) == (2, 2, TODAY, "active")
    assert (s.burst_ts, s.burst_n, s.repeat_amount, s.repeat_n) == (at(0), 1, 500, 1)   # as ingest left them


def test_risk_patterns_ingest_keeps_outlive_the_recompute(shop, monkeypatch):
    rows = [("D1", 9000 + i, "sale", at(0) + 10 * i, utcnow(), "R%d" % i, None, 700, "CNY", None, "SNEW", "h%d" % i)
            for i in range(2)]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
        realtime.on_sales(rows, realtime.utc(NOW))
    recompute.run(now=NOW)
    s = stat("SNEW")
    assert (s.orders, s.burst_ts, s.burst_n, s.repeat_amount, s.repeat_n) == (3, at(0), 2, 700, 2)
    assert stat("SLOST").repeat_amount is None and stat("SLOST").burst_n == 0

    monkeypatch.setattr(recompute, "CHUNK", 4)   # SNEW (sorted after the C.. customers) is written after the stop

    def stop_while_writing(done, total):
        if recompute.status()["unfinished"].step == "score" and done > total // 2 + 10:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop_while_writing, now=NOW)
    recompute.run(resume=True)
    s = stat("SNEW")
    assert (s.burst_ts, s.burst_n, s.repeat_amount, s.repeat_n) == (at(0), 2, 700, 2)


def test_a_run_an_older_version_began_is_started_anew(shop):
    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop, now=NOW)
    old = recompute.status()["unfinished"]
    params = json.loads(old.params)
    del params["carries_risk"]
    TagRun.update(params=json.dumps(params)).where(TagRun.id == old.id).execute()
    recompute.run(resume=True)
    assert [(r.state, r.message) for r in TagRun.select().order_by(TagRun.id)] == [
        ("abandoned", "begun by an older version: started anew"), ("done", None)]


def test_new_run_abandons_an_unfinished_one(shop):
    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop, now=NOW)
    recompute.run(now=NOW)
    assert [r.state for r in TagRun.select().order_by(TagRun.id)] == ["abandoned", "done"]


def test_models_in_force_feed_the_scores(shop):
    from server.tags import refit

    recompute.run(now=NOW)
    fits = refit.refit(NOW)
    out = recompute.run(now=NOW)
    loyal, lost = stat("SLOYAL"), stat("SLOST")
    assert 0 <= lost.p_alive <= 1 and loyal.exp_90d > 0
    # the fixture's spends are all about 1000: Gamma-Gamma cannot be fitted, so there is no CLV
    assert fits["gammagamma"][0] is None and loyal.clv is None and loyal.exp_spend is None
    assert stat("SNEW").p_alive == 1.0            # no repeat purchase: never seen to drop out
    realtime.on_sales([("D1", 9000, "sale", at(0), utcnow(), "R", None, 500, "CNY", None, "SLOST", "h")],
                      realtime.utc(NOW))
    assert stat("SLOST").p_alive < lost.p_alive == 1.0 and out["tags"]["loyal"] >= 1   # real time uses the model too


def test_refunds_are_counted_apart_from_sales(shop):
    Customer.create(id="SREFUND")
    rows = [("D1", 8000 + i, kind, at(3), utcnow(), "X%d" % i, "R1", 300, "CNY", None, c, "x%d" % i)
            for i, (kind, c) in enumerate([("refund", "SLOYAL"), ("void", "SLOYAL"), ("refund", "SREFUND")])]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
    recompute.run(now=NOW)
    loyal, only = stat("SLOYAL"), stat("SREFUND")
    assert (loyal.orders, loyal.spend, loyal.refunds, loyal.refunded, loyal.orders_90d) == (12, 12000, 2, 600, 12)
    assert (only.orders, only.days, only.refunds, only.refunded, only.lifecycle) == (0, 0, 1, 300, "potential")


def test_rule_tags_in_batch_agree_with_real_time(shop):
    from server.tags import settings as tag_settings
    from server.tags.models import TagDef

    TagDef.create(code="regular", name_zh="常客", name_en="regular", expr='orders >= 5 and has_tag("lc_active")')
    TagDef.create(code="no_region", name_zh="x", name_en="x", expr='not region == "north" and days_since_last > 90')
    tag_settings.bump()
    recompute.run(now=NOW)
    holders = {}
    for c, t in CustomerTag.select(CustomerTag.customer, CustomerTag.tag).tuples():
        holders.setdefault(t, set()).add(c)
    assert holders["regular"] == {c for c in shop if len(shop[c]) >= 5 and stat(c).lifecycle == "active"}
    assert holders["no_region"] == {"SLOST"}
    before, events = snapshot(), TagEvent.select().count()
    from server.tags import context
    stats = realtime.read(realtime.STATS, sorted(shop))
    realtime.retag(stats, context.load(), realtime.utc(NOW))
    assert TagEvent.select().count() == events            # real time scores every customer as the batch did
    assert snapshot() == before


KILLER = """
import os, signal, sys
from server import create_app
from server.tags import recompute
app = create_app({"INSTANCE_PATH": sys.argv[1], "DATABASE_URL": sys.argv[2], "SECRET_KEY_FILE": sys.argv[3],
                  "INGEST": False})
calls = []
def progress(done, total):
    calls.append(done)
    if (sys.argv[4] == "aggregate" and len(calls) == 4) or (sys.argv[4] == "score" and done > total // 2):
        os.kill(os.getpid(), signal.SIGKILL)
with app.app_context():
    recompute.CHUNK = 7
    recompute.run(progress=progress, now=%d, resume=True)
""" % NOW


@pytest.mark.parametrize("kill_at", ["aggregate", "score"])
def test_killed_process_resumes_to_the_same_result(shop, app, tmp_path, kill_at):
    import subprocess
    import sys

    args = [sys.executable, "-c", KILLER, str(tmp_path / "k"), app.config["DATABASE_URL"],
            app.config["SECRET_KEY_FILE"], kill_at]
    proc = subprocess.run(args, cwd=str(recompute.__file__).rsplit("/server/", 1)[0], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    state = recompute.status()["unfinished"]
    assert state is not None and state.step == kill_at
    assert CustomerStats.select().count() == 0
    out = recompute.run(resume=True)
    assert out["customers"] == len(shop) and TagRun.select().count() == 1
    resumed = snapshot()
    assert recompute.run(now=NOW)["events"] == 0 and snapshot() == resumed


def test_merchant_is_that_of_the_latest_sale(shop, add):
    from server.fleet.models import Device, Merchant

    Merchant.create(code="M1", name="Shop 1", province="上海")
    add("D1")
    add("D2")
    Device.update(merchant="M1").where(Device.id == "D2").execute()
    rows = [("D2", 9100, "sale", at(7), utcnow(), "R9100", None, 700, "CNY", None, "SNEW", "h9100"),
            ("D2", 9101, "sale", at(50), utcnow(), "R9101", None, 700, "CNY", None, "SLOST", "h9101")]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
    recompute.run(now=NOW)
    assert stat("SNEW").merchant is None and stat("SLOST").merchant == "M1"
    assert stat("CA00").merchant is None
