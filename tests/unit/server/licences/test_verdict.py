"""Acquirer verdicts: every verdict and the date edges, judged in Asia/Shanghai, on an imported registry."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from server.licences import registry
from server.licences.verdict import VERDICTS, judge


def grant(lic, name, code, btype="银行卡收单", scope="national", provinces=(), issued="2020-01-10",
          expires="2025-01-09", status="valid", status_date=None):
    return {"licence": lic, "institution": name, "codes": [code], "business_type": btype, "scope": scope,
            "provinces": list(provinces), "issued": issued, "expires": expires, "status": status,
            "status_date": status_date}


ROWS = [
    grant("Z1000000000001", "甲", "10000001", status="renewed"),
    grant("Z1000000000001", "甲", "10000001", btype="支付交易处理Ⅰ类", issued="2025-01-10", expires=None),
    grant("Z1000000000002", "乙", "10000002", scope="provinces", provinces=["广东省", "海南省"]),
    grant("Z1000000000003", "丙", "10000003", btype="互联网支付"),
    grant("Z1000000000004", "丁", "10000004", expires="2030-01-09", status="revoked", status_date="2023-06-01"),
    grant("Z1000000000005", "戊", "10000005", issued="2015-01-10", expires="2020-01-09", status="lapsed"),
    grant("Z1000000000006", "己", "10000006", status="cancelled", status_date="2022-03-01"),
    grant("Z1000000000007", "庚", "10000007", status="voluntary_exit", status_date="2022-03-01"),
    grant("Z1000000000008", "辛", "10000008", scope="all_except", provinces=["西藏自治区"], expires=None),
    grant("Z1000000000009", "壬", "10000009", expires="2024-06-30", status="renewal_pending"),
]


@pytest.fixture
def reg(app):
    doc = {"format": registry.FORMAT, "rows": ROWS}
    registry.import_data(json.dumps(doc, ensure_ascii=False).encode("utf-8"), "json", "verdict-test.json")
    return registry.load()


def acq(code="10000002", **changes):
    meta = {"inst": code, "mid": "898440154110001", "tid": "10000001", "settle": code}
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


def cst(text):
    """A wall-clock time in Asia/Shanghai (UTC+8, no DST) as the naive UTC datetime the server stores."""
    return datetime.fromisoformat(text) - timedelta(hours=8)


CASES = [
    # date edges on 乙: issued 2020-01-10, expires 2025-01-09, both days valid, in Shanghai dates
    ("day before issue", acq(), "广东", cst("2020-01-09 12:00"), "NOT_YET_VALID", "starts 2020-01-10"),
    ("last second before issue", acq(), "广东", cst("2020-01-09 23:59:59"), "NOT_YET_VALID", "2020-01-09"),
    ("UTC still the day before, Shanghai already issue day", acq(), "广东",
     datetime(2020, 1, 9, 16, 0), "OK", "2020-01-10"),
    ("day of issue", acq(), "广东", cst("2020-01-10 09:00"), "OK", "settles directly"),
    ("day of expiry, last second", acq(), "广东", cst("2025-01-09 23:59:59"), "OK", "2025-01-09"),
    ("UTC still expiry day, Shanghai the day after", acq(), "广东", datetime(2025, 1, 9, 16, 0), "EXPIRED",
     "expired 2025-01-09"),
    ("day after expiry", acq(), "广东", cst("2025-01-10 12:00"), "EXPIRED", "2025-01-10"),
    ("aware datetime in another zone", acq(), "广东",
     datetime(2020, 1, 9, 11, 0, tzinfo=timezone(timedelta(hours=-5))), "OK", "2020-01-10"),
    ("Unix seconds", acq(), "广东", 1578672000, "OK", "2020-01-11"),
    ("renewal pending, after expiry", acq("10000009"), "上海", cst("2024-07-01 10:00"), "EXPIRED",
     "renewal pending"),
    # 甲: 银行卡收单 then, seamlessly, 支付交易处理Ⅰ类 without expiry
    ("old acquiring grant", acq("10000001"), "上海", cst("2025-01-09 20:00"), "OK", "银行卡收单"),
    ("new acquiring grant", acq("10000001"), "上海", cst("2025-01-10 08:00"), "OK", "支付交易处理Ⅰ类"),
    ("long-term grant years later", acq("10000001"), "西藏", cst("2040-01-01 08:00"), "OK", "支付交易处理Ⅰ类"),
    ("licence number only", acq(None, lic="Z1000000000001", settle="Z1000000000001"), "上海",
     cst("2022-01-01 08:00"), "OK", "甲"),
    ("code and matching licence", acq("10000001", lic="Z1000000000001"), "上海", cst("2022-01-01 08:00"), "OK", "甲"),
    ("settled by own licence number", acq("10000001", settle="Z1000000000001"), "上海",
     cst("2022-01-01 08:00"), "OK", "甲"),
    # ended grants: sales before the end stay OK
    ("revoked, day before", acq("10000004"), "上海", cst("2023-05-31 23:59:59"), "OK", "丁"),
    ("revoked, from its day", acq("10000004"), "上海", cst("2023-06-01 00:00"), "REVOKED", "revoked (吊销) on 2023-06-01"),
    ("cancelled", acq("10000006"), "上海", cst("2022-03-01 10:00"), "CANCELLED", "cancelled (注销) on 2022-03-01"),
    ("voluntary exit", acq("10000007"), "上海", cst("2023-01-01 10:00"), "CANCELLED", "voluntary exit"),
    ("lapsed, day of expiry", acq("10000005"), "上海", cst("2020-01-09 23:00"), "OK", "戊"),
    ("lapsed, day after expiry", acq("10000005"), "上海", cst("2020-01-10 00:00"), "LAPSED", "lapsed (not renewed) on 2020-01-10"),
    ("unknown code", acq("99999999"), "广东", cst("2022-01-01 10:00"), "UNKNOWN_ACQUIRER", "version 1"),
    ("unknown licence", acq(None, lic="Z9999999999999", settle="Z9999999999999"), "广东",
     cst("2022-01-01 10:00"), "UNKNOWN_ACQUIRER", "Z9999999999999"),
    ("no acquiring grant", acq("10000003"), "上海", cst("2022-01-01 10:00"), "NO_ACQUIRING_GRANT", "互联网支付"),
    ("province outside the list", acq(), "上海", cst("2022-01-01 10:00"), "OUT_OF_SCOPE", "上海市"),
    ("province by code in the list", acq(), "46", cst("2022-01-01 10:00"), "OK", "海南省"),
    ("all except: the excluded one", acq("10000008"), "54", cst("2022-01-01 10:00"), "OUT_OF_SCOPE", "all except"),
    ("all except: another", acq("10000008"), "青海", cst("2022-01-01 10:00"), "OK", "青海省"),
    ("settled by another licensed institution", acq(settle="10000001"), "广东", cst("2022-01-01 10:00"),
     "INDIRECT_SETTLEMENT", "二清"),
    ("settled by an unregistered party", acq(settle="12345678"), "广东", cst("2022-01-01 10:00"),
     "INDIRECT_SETTLEMENT", "12345678"),
    ("settled by another licence", acq(settle="Z1000000000001"), "广东", cst("2022-01-01 10:00"),
     "INDIRECT_SETTLEMENT", "Z1000000000001"),
    ("no metadata", None, "广东", cst("2022-01-01 10:00"), "MALFORMED", "missing"),
    ("neither code nor licence", acq(None), "广东", cst("2022-01-01 10:00"), "MALFORMED", "neither"),
    ("code with letters", acq("1000000A"), "广东", cst("2022-01-01 10:00"), "MALFORMED", "inst"),
    ("code of 12 digits", acq("100000000002"), "广东", cst("2022-01-01 10:00"), "MALFORMED", "1-11 digits"),
    ("bad licence", acq(lic="Z12"), "广东", cst("2022-01-01 10:00"), "MALFORMED", "lic"),
    ("code and licence disagree", acq("10000002", lic="Z1000000000001"), "广东", cst("2022-01-01 10:00"),
     "MALFORMED", "belongs to licence Z1000000000002"),
    ("merchant id of 14", acq(mid="89844015411000"), "广东", cst("2022-01-01 10:00"), "MALFORMED", "mid"),
    ("terminal id missing", acq(tid=None), "广东", cst("2022-01-01 10:00"), "MALFORMED", "tid"),
    ("settlement party missing", acq(settle=None), "广东", cst("2022-01-01 10:00"), "MALFORMED", "settle"),
    ("unknown province", acq(), "火星", cst("2022-01-01 10:00"), "MALFORMED", "province"),
    ("no province", acq(), None, cst("2022-01-01 10:00"), "MALFORMED", "province"),
    ("time as text", acq(), "广东", "2022-01-01", "MALFORMED", "sale time"),
]


@pytest.mark.parametrize("meta, province, when, verdict, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict_table(reg, meta, province, when, verdict, words):
    got, reason = judge(meta, province, when, reg)
    assert (got, words in reason) == (verdict, True), reason


def test_the_table_covers_every_verdict():
    assert {c[4] for c in CASES} == set(VERDICTS)


def test_an_empty_registry_knows_no_acquirer(app):
    got, reason = judge(acq(), "广东", cst("2022-01-01 10:00"), registry.load())
    assert got == "UNKNOWN_ACQUIRER" and "no licence registry has been imported" in reason


def test_verdict_of_a_past_sale_does_not_depend_on_today(reg):
    # 乙 expired 2025-01-09; a sale of 2024 is judged on its own date, whatever the clock says.
    assert judge(acq(), "广东", cst("2024-12-31 18:00"), reg)[0] == "OK"
