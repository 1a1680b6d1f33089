"""Compliance queries on a real SQLite file: current verdicts, worst-of per merchant, grouped alarms, CSV, changes."""

import csv
import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from server.fleet.models import Device
from server.licences import alarms
from server.licences.models import VerdictChange


def test_terminal_verdict_is_its_highest_seq_not_its_latest_clock(shop, judged):
    shop("M1", "T1", "T2")
    judged("T1", 4, "OK", "2025-06-02 10:00")
    judged("T1", 5, "EXPIRED", "2025-06-01 09:00", reason="licence expired", registry=3)
    judged("T1", 3, "REVOKED", "2025-06-03 10:00")
    by_dev = {t["dev"]: t for t in alarms.terminal_compliance()}
    t1 = by_dev["T1"]
    assert (t1["verdict"], t1["reason"], t1["seq"], t1["registry"]) == ("EXPIRED", "licence expired", 5, 3)
    assert t1["sold_at"] == datetime(2025, 6, 1, 9, 0) and t1["merchant"] == "M1"
    assert by_dev["T2"]["verdict"] is None and by_dev["T2"]["sold_at"] is None


def test_terminal_merchant_is_the_current_one(shop, judged):
    shop("M1", "T1")
    shop("M2")
    judged("T1", 1, "OK", "2025-06-01 10:00")
    Device.update(merchant="M2").where(Device.id == "T1").execute()
    assert [(t["dev"], t["merchant"]) for t in alarms.terminal_compliance()] == [("T1", "M2")]


def test_merchant_is_ok_only_when_every_terminal_with_sales_is(shop, judged):
    shop("M1", "A1", "A2", "A3", "A4")
    shop("M2", "B1", "B2")
    shop("M3")
    shop(None, "X1")
    judged("A1", 1, "OK", "2025-06-01 10:00")
    judged("A2", 1, "EXPIRED", "2025-06-01 10:00")
    judged("A3", 1, "REVOKED", "2025-06-01 10:00")
    judged("A3", 2, "OK", "2025-06-01 11:00")  # a later OK sale clears the terminal's alarm
    judged("B1", 1, "OK", "2025-06-01 10:00")
    judged("X1", 1, "MALFORMED", "2025-06-01 10:00")
    rows = {m["merchant"]: m for m in alarms.merchant_compliance()}
    assert list(rows) == ["M1", "M2", "M3", None]
    assert (rows["M1"]["state"], rows["M1"]["counts"], rows["M1"]["no_sales"], rows["M1"]["terminals"]) == (
        "EXPIRED", {"OK": 2, "EXPIRED": 1}, 1, 4)
    assert (rows["M2"]["state"], rows["M2"]["counts"], rows["M2"]["no_sales"]) == ("OK", {"OK": 1}, 1)
    assert (rows["M3"]["state"], rows["M3"]["terminals"]) == (None, 0)
    assert (rows[None]["state"], rows[None]["counts"]) == ("MALFORMED", {"MALFORMED": 1})
    assert rows["M1"]["name"] == "Shop M1" and rows["M1"]["tz"] == "Asia/Shanghai"


@pytest.mark.parametrize("verdicts, state", [
    (["OK", "OK"], "OK"),
    (["OK", "MALFORMED", "EXPIRED"], "EXPIRED"),
    (["EXPIRED", "REVOKED", "OUT_OF_SCOPE"], "REVOKED"),
    (["OUT_OF_SCOPE", "INDIRECT_SETTLEMENT"], "INDIRECT_SETTLEMENT"),
    ([None, None], None),
])
def test_worst(verdicts, state):
    assert alarms.worst(verdicts) == state


def test_every_verdict_has_a_severity():
    assert sorted(alarms.SEVERITY) == sorted(alarms.VERDICTS)


def test_alarms_group_count_first_last_and_latest_reason(shop, judged):
    shop("M1", "T1", "T2")
    judged("T1", 1, "EXPIRED", "2025-06-03 10:00", reason="old wording")
    judged("T1", 2, "EXPIRED", "2025-06-01 08:00", reason="old wording")
    judged("T1", 3, "EXPIRED", "2025-06-02 10:00", reason="latest wording")  # highest seq, not latest clock
    judged("T1", 4, "OK", "2025-06-04 10:00")
    judged("T1", 5, "EXPIRED", "2025-06-01 09:00", inst="48990000")
    judged("T1", 6, "MALFORMED", "2025-06-05 10:00", inst=None)
    judged("T1", 7, "MALFORMED", "2025-06-05 11:00", inst=None)
    judged("T2", 1, "INDIRECT_SETTLEMENT", "2025-06-02 12:00", settle="48992440")
    rows = alarms.alarms()
    assert [(r["dev"], r["verdict"], r["inst"], r["count"]) for r in rows] == [
        ("T1", "MALFORMED", None, 2),
        ("T1", "EXPIRED", "48991310", 3),
        ("T2", "INDIRECT_SETTLEMENT", "48991310", 1),
        ("T1", "EXPIRED", "48990000", 1),
    ]
    expired = rows[1]
    assert expired["first_seen"] == datetime(2025, 6, 1, 8, 0) and expired["last_seen"] == datetime(2025, 6, 3, 10, 0)
    assert expired["reason"] == "latest wording" and expired["last_seq"] == 3 and expired["merchant"] == "M1"
    assert rows[2]["settle"] == "48992440"


def test_a_terminal_moved_to_another_merchant_starts_new_groups(shop, judged):
    shop("M1", "T1")
    shop("M2")
    judged("T1", 1, "EXPIRED", "2025-06-01 10:00")
    judged("T1", 2, "EXPIRED", "2025-06-02 10:00", merchant="M2")
    assert [(r["merchant"], r["count"]) for r in alarms.alarms()] == [("M2", 1), ("M1", 1)]


@pytest.fixture
def spread(shop, judged):
    shop("M1", "T1", "T2")
    shop("M2", "T3")
    judged("T1", 1, "EXPIRED", "2025-06-01 00:00")
    judged("T1", 2, "EXPIRED", "2025-06-02 00:00")
    judged("T1", 3, "REVOKED", "2025-06-03 00:00")
    judged("T2", 1, "EXPIRED", "2025-06-04 00:00")
    judged("T3", 1, "EXPIRED", "2025-06-05 00:00")
    judged("T3", 2, "OK", "2025-06-06 00:00")


def _keys(rows):
    return sorted((r["dev"], r["verdict"], r["count"]) for r in rows)


@pytest.mark.parametrize("filters, expected", [
    ({}, [("T1", "EXPIRED", 2), ("T1", "REVOKED", 1), ("T2", "EXPIRED", 1), ("T3", "EXPIRED", 1)]),
    ({"verdict": "REVOKED"}, [("T1", "REVOKED", 1)]),
    ({"dev": "T1"}, [("T1", "EXPIRED", 2), ("T1", "REVOKED", 1)]),
    ({"merchant": "M2"}, [("T3", "EXPIRED", 1)]),
    ({"since": datetime(2025, 6, 2)}, [("T1", "EXPIRED", 1), ("T1", "REVOKED", 1), ("T2", "EXPIRED", 1),
                                       ("T3", "EXPIRED", 1)]),
    ({"until": datetime(2025, 6, 2)}, [("T1", "EXPIRED", 1)]),
    ({"since": datetime(2025, 6, 2, 8, tzinfo=timezone(timedelta(hours=8))),
      "until": datetime(2025, 6, 4, tzinfo=timezone.utc)}, [("T1", "EXPIRED", 1), ("T1", "REVOKED", 1)]),
    ({"verdict": "EXPIRED", "merchant": "M1", "since": datetime(2025, 6, 2)}, [("T1", "EXPIRED", 1), ("T2", "EXPIRED", 1)]),
    ({"dev": "T3", "merchant": "M1"}, []),
])
def test_alarm_filters_combine(spread, filters, expected):
    assert _keys(alarms.alarms(**filters)) == expected


def test_alarm_counts(spread):
    assert alarms.alarm_counts() == {"T1": 3, "T2": 1, "T3": 1}


def test_csv_header_rows_and_zone(shop, judged):
    shop("M1", "T1")
    judged("T1", 1, "EXPIRED", "2025-06-01 16:30", lic="Z2099131000011", reason="过期 expired, \"quoted\"")
    judged("T1", 2, "EXPIRED", "2025-06-02 01:00", lic="Z2099131000011", reason="过期 expired, \"quoted\"")
    judged("T1", 3, "UNKNOWN_ACQUIRER", "2025-06-03 01:00", inst="=HYPERLINK(\"x\")", settle=None)
    text = alarms.alarms_csv(alarms.alarms(), ZoneInfo("Asia/Shanghai"))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(alarms.CSV_COLUMNS)
    assert rows[1] == ["T1", "M1", "UNKNOWN_ACQUIRER", "'=HYPERLINK(\"x\")", "", "", "1",
                       "2025-06-03T09:00:00+08:00", "2025-06-03T09:00:00+08:00", "UNKNOWN_ACQUIRER at seq 3"]
    assert rows[2] == ["T1", "M1", "EXPIRED", "48991310", "Z2099131000011", "", "2",
                       "2025-06-02T00:30:00+08:00", "2025-06-02T09:00:00+08:00", "过期 expired, \"quoted\""]
    assert len(rows) == 3
    utc = list(csv.reader(io.StringIO(alarms.alarms_csv(alarms.alarms(), ZoneInfo("UTC")))))
    assert utc[2][7:9] == ["2025-06-01T16:30:00+00:00", "2025-06-02T01:00:00+00:00"]


def test_csv_of_no_alarms_is_the_header():
    assert alarms.alarms_csv([], ZoneInfo("UTC")) == ",".join(alarms.CSV_COLUMNS) + "\r\n"


def test_changes_newest_first_with_sale_filter_and_limit(shop, judged):
    shop("M1", "T1")
    first = judged("T1", 1, "OK", "2025-06-01 10:00")
    second = judged("T1", 2, "OK", "2025-06-02 10:00")
    VerdictChange.create(sale=first, old="OK", old_reason="fine", old_registry=1, new="REVOKED", new_reason="revoked",
                         registry=2, changed_at=datetime(2025, 7, 1))
    VerdictChange.create(sale=second, old="OK", old_reason="fine", old_registry=2, new="EXPIRED", new_reason="expired",
                         registry=3, changed_at=datetime(2025, 8, 1))
    rows = alarms.changes()
    assert [(r["seq"], r["old"], r["new"], r["old_registry"], r["registry"]) for r in rows] == [
        (2, "OK", "EXPIRED", 2, 3), (1, "OK", "REVOKED", 1, 2)]
    assert rows[0]["dev"] == "T1" and rows[0]["merchant"] == "M1" and rows[0]["sold_at"] == datetime(2025, 6, 2, 10)
    assert [r["seq"] for r in alarms.changes(registry=2)] == [1]
    assert [r["seq"] for r in alarms.changes(limit=1)] == [2]


def test_zone_falls_back_to_shanghai():
    assert alarms.zone(None) == alarms.zone("Not/AZone") == ZoneInfo("Asia/Shanghai")
    assert alarms.local(datetime(2025, 1, 1, 20, 0), ZoneInfo("Asia/Shanghai")).isoformat() == "2025-01-02T04:00:00+08:00"
    assert alarms.local(None, ZoneInfo("UTC")) is None


def test_a_group_of_sales_without_a_calendar_time_exports_with_empty_times(shop):
    from server.licences.models import SaleVerdict

    shop("GD1", "T1")
    SaleVerdict.create(dev="T1", seq=1, merchant="GD1", sold_at=None, verdict="MALFORMED",
                       reason="the terminal's clock gave a sale time outside any calendar")
    (row,) = list(csv.DictReader(io.StringIO(alarms.alarms_csv(alarms.alarms(), ZoneInfo("UTC")))))
    assert (row["verdict"], row["first_seen"], row["last_seen"], row["count"]) == ("MALFORMED", "", "", "1")
