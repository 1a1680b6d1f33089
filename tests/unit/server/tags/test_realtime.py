"""Real-time tagging: running aggregates, risk flags, re-tagging and history for the touched customers."""

import re
from datetime import datetime, timedelta

from server.tags import realtime, risk
from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagDef, TagEvent
from server.tags import settings as tag_settings

DAY = 86400
T0 = 1_750_000_000          # 2025-06-15 15:06 UTC, 23:06 in Shanghai
NOW = datetime(2025, 6, 20, 12, 0)


def stats(c):
    return CustomerStats.get(CustomerStats.customer == c)


def test_aggregates_follow_sales_refunds_and_days(tagdb, rec):
    realtime.on_sales([rec("C1", 1, T0, 1000), rec("C1", 2, T0 + 60, 3000)], NOW)
    realtime.on_sales([rec("C1", 3, T0 + 2 * DAY, 500), rec("C1", 4, T0 + 3 * DAY, 700, kind="refund"),
                       rec(None, 5, T0, 999)], NOW)
    s = stats("C1")
    assert (s.orders, s.spend, s.max_sale, s.days, s.refunds, s.refunded) == (3, 4500, 3000, 2, 1, 700)
    assert s.amount_sq == 1000.0 ** 2 + 3000.0 ** 2 + 500.0 ** 2
    first = (T0 + 8 * 3600) // DAY
    assert (s.first_day, s.last_day, s.first_ts, s.last_ts) == (first, first + 2, T0, T0 + 2 * DAY)
    assert sorted(s.recent.split(",")) == sorted(["%d:1000" % first, "%d:3000" % first, "%d:500" % (first + 2)])
    assert (s.orders_90d, s.spend_90d, s.orders_365d) == (3, 4500, 3)
    assert CustomerStats.select().count() == 1


def test_new_customer_is_tagged_and_history_kept(tagdb, rec):
    out = realtime.on_sales([rec("C1", 1, T0)], NOW)
    assert out["C1"][0] == "lc_new" and "cls_new" in out["C1"]
    assert realtime.tags_for(["C1"]) == {"C1": out["C1"]}
    realtime.on_sales([rec("C1", 2, T0 + 3 * DAY)], NOW)
    assert stats("C1").lifecycle == "active"
    events = list(TagEvent.select().order_by(TagEvent.id))
    assert [(e.gained, e.lost) for e in events] == [("cls_new,lc_new", ""),
                                                    ("cls_ordinary,growth,lc_active", "cls_new,lc_new")]


def test_old_sale_outside_window_still_counts(tagdb, rec):
    realtime.on_sales([rec("C1", 1, T0 - 400 * DAY, 800), rec("C1", 2, T0, 200)], NOW)
    s = stats("C1")
    assert (s.orders, s.days, s.orders_365d, s.spend_365d) == (2, 2, 1, 200)
    assert s.recent.count(":") == 1


def test_large_sale_is_flagged_and_review_clears_the_tag(tagdb, rec):
    realtime.on_sales([rec("C1", i, T0 + i * DAY, 1000 + i) for i in range(6)], NOW)
    out = realtime.on_sales([rec("C1", 9, T0 + 9 * DAY, 90000)], NOW)
    flag = RiskFlag.get()
    assert (flag.reason, flag.amount, flag.seq) == ("large", 90000, 9)
    assert out["C1"][0] == "high_risk"
    risk.review(flag.id, "ok", "tester")
    assert "high_risk" not in realtime.tags_for(["C1"])["C1"]
    assert TagEvent.select().order_by(TagEvent.id.desc()).first().lost == "high_risk"


def test_burst_and_repeat_patterns(tagdb, rec):
    realtime.on_sales([rec("C1", i, T0 + i * 10, 500) for i in range(5)], NOW)
    assert sorted(f.reason for f in RiskFlag.select()) == ["burst", "repeat"]


def test_rule_tags_follow_their_validity(tagdb, rec):
    TagDef.create(code="two_plus", name_zh="两单以上", name_en="two plus", expr="orders >= 2", priority=5)
    TagDef.create(code="expired", name_zh="过期", name_en="expired", expr="orders >= 1",
                  valid_until=NOW - timedelta(days=1))
    tag_settings.bump()
    realtime.on_sales([rec("C1", 1, T0)], NOW)
    assert "two_plus" not in realtime.tags_for(["C1"])["C1"]
    out = realtime.on_sales([rec("C1", 2, T0 + DAY)], NOW)
    assert out["C1"][0] == "two_plus" and "expired" not in out["C1"]
    assert CustomerTag.get(CustomerTag.tag == "two_plus").customer == "C1"
    assert "two_plus" in TagEvent.select().order_by(TagEvent.id.desc()).first().gained


def test_tags_for_is_short_valid_and_ordered(tagdb, rec):
    for i in range(12):
        TagDef.create(code="rule_%02d" % i, name_zh="x", name_en="x", expr="orders >= 1", priority=200 + i)
    TagDef.create(code="quiet", name_zh="x", name_en="x", expr="orders >= 1", priority=1, shown=False)
    tag_settings.bump()
    realtime.on_sales([rec("C1", 1, T0)], NOW)
    codes = realtime.tags_for(["C1", "C2"])
    assert len(codes["C1"]) == 8 and "quiet" not in codes["C1"]
    assert codes["C1"][:2] == ["lc_new", "cls_new"] and codes["C1"][2] == "rule_00"
    assert all(re.fullmatch(r"[a-z0-9_]{1,24}", c) for c in codes["C1"])
    assert codes["C2"] == ["lc_potential", "cls_potential"]


def test_retag_reads_only_what_it_keeps_and_rescores_the_rest(tagdb, rec):
    from server.tags import context

    assert set(realtime.KEPT) | realtime.DERIVED == set(realtime.COLUMNS) and realtime.KEPT[0] == "customer"
    realtime.on_sales([rec("C1", 1, T0, 1000), rec("C1", 2, T0 + 2 * DAY, 3000)], NOW)
    assert stats("C1").orders_90d == 2
    later = NOW + timedelta(days=120)
    realtime.on_sales([rec("C1", 3, T0 + 3 * DAY, 500, kind="refund")], later)
    stored = realtime.read(realtime.STATS, ["C1"])["C1"]
    assert (stored["orders_90d"], stored["orders_prev_90d"], stored["refunded"]) == (0, 2, 500)
    # the row as written equals the whole stored row scored afresh
    again = dict(stored)
    realtime.score([again], context.load(), stored["asof_day"])
    assert again == stored


def test_windows_of_many_texts_agree_with_window_counts():
    import random

    from server.tags import window

    rnd = random.Random(7)
    today = 20300
    texts = ["", None, "20300:5", "20299:-3,20300:1"]
    for _ in range(40):
        items = [(today - rnd.randrange(-3, 500), rnd.randrange(-5000, 10 ** 9)) for _ in range(rnd.randrange(0, 30))]
        texts.append(",".join("%d:%d" % item for item in items))
    got = realtime._windows(texts, today, 200)
    for i, text in enumerate(texts):
        assert {name: got[name][i] for name in got} == window.counts(window.parse(text), today, 200)


def test_appending_to_the_window_text_is_what_dump_gives():
    from server.tags import window

    today, keep = 20300, 365
    for text, first in [("", None), ("20200:5,20100:7", 20100), ("19900:5,20290:7", 19900), ("20290:7", 19800)]:
        for day in (today, today - 1, 20100, today - keep, today + 2):
            want = window.dump(window.parse(text) + [(day, 9)], today, keep)
            assert window.parse(realtime._append(text, first, day, 9, today, keep)) == window.parse(want)
