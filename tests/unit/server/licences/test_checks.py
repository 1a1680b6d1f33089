"""Ingest judges every new sale once, stores the verdict with the registry version, and answers with it."""

from datetime import datetime, timezone, timedelta

import pytest

from server.fleet.merchants import add_merchant, set_merchant
from server.ingest.apply import apply_batch
from server.licences import registry
from server.licences.models import SaleVerdict

SAMPLE = registry.SAMPLE
SOUTH = "48992440"  # 样例华南支付: 银行卡收单 in 广东/广西/海南, valid to 2028-07-05
WEST = "48995370"  # 模拟西部支付: lapsed, its grant expired 2024-12-21
MID, TID = "898440153990001", "12345678"
CST = timezone(timedelta(hours=8))


def ts(text):
    """Unix seconds of a Shanghai wall-clock time."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CST).timestamp())


def acq(inst=SOUTH, settle=None, **more):
    return dict({"inst": inst, "mid": MID, "tid": TID, "settle": settle or inst}, **more)




def verdicts():
    return [(v.seq, v.verdict) for v in SaleVerdict.select().order_by(SaleVerdict.seq)]


def test_a_sale_gets_its_verdict_stored_and_in_its_status(gd_shop, mk):
    result = apply_batch([mk.record("T1", mk.sale(1, tok=mk.tok(1), ts=ts("2025-06-01 10:00"), acq=acq()))])
    assert result.statuses[0][3]["lic"] == "OK"
    v = SaleVerdict.get()
    assert (v.dev, v.seq, v.merchant, v.province, v.registry) == ("T1", 1, "GD1", "广东省", 1)
    assert (v.inst, v.lic, v.mid, v.tid, v.settle) == (SOUTH, None, MID, TID, SOUTH)
    assert v.sold_at == datetime(2025, 6, 1, 2, 0) and "样例华南支付" in v.reason


def test_card_less_sales_get_a_status_only_when_the_acquirer_is_not_ok(gd_shop, mk):
    when = ts("2025-06-01 10:00")
    result = apply_batch([mk.record("T1", mk.sale(1, ts=when, acq=acq())),
                          mk.record("T1", mk.sale(2, ts=when, acq=acq(settle="40001234")))])
    assert result.statuses == [("T1", "seq", 2, {"cust": "", "pts": 0, "tier": "basic", "new": False,
                                                 "lic": "INDIRECT_SETTLEMENT"})]
    assert verdicts() == [(1, "OK"), (2, "INDIRECT_SETTLEMENT")]
    assert "二清" in SaleVerdict.get(SaleVerdict.seq == 2).reason


def test_only_sales_are_judged_and_each_only_once(gd_shop, mk):
    when = ts("2025-06-01 10:00")
    sale = mk.record("T1", mk.sale(1, ref="S1", ts=when, acq=acq()))
    apply_batch([sale, sale])
    result = apply_batch([sale, mk.record("T1", mk.sale(2, ref="F1", orig="S1", ts=when, acq=acq()), kind="refund"),
                          mk.record("T1", mk.sale(3, ref="V1", orig="S1", ts=when), kind="void")])
    assert result.duplicates == [("T1", 1)] and result.statuses == []
    assert verdicts() == [(1, "OK")]


def test_a_sale_is_judged_on_its_own_shanghai_date(gd_shop, mk):
    # The grant's last day is 2024-12-21 in Shanghai: 23:30 that night is still in it, 00:30 is not.
    apply_batch([mk.record("T1", mk.sale(1, ts=ts("2024-12-21 23:30"), acq=acq(WEST))),
                 mk.record("T1", mk.sale(2, ts=ts("2024-12-22 00:30"), acq=acq(WEST)))])
    assert verdicts() == [(1, "OK"), (2, "LAPSED")]


@pytest.mark.parametrize("sale_acq, words", [
    (None, "acquirer metadata missing"),
    ({"inst": SOUTH, "mid": "short", "tid": TID, "settle": SOUTH}, "mid 'short'"),
    ({"inst": 48992440, "mid": MID, "tid": TID, "settle": SOUTH}, "inst 48992440"),
])
def test_missing_or_ill_formed_metadata_is_malformed(gd_shop, mk, sale_acq, words):
    apply_batch([mk.record("T1", mk.sale(1, ts=ts("2025-06-01 10:00"), acq=sale_acq))])
    v = SaleVerdict.get()
    assert v.verdict == "MALFORMED" and words in v.reason
    assert v.inst == (SOUTH if sale_acq and isinstance(sale_acq["inst"], str) else None)


def test_a_terminal_without_merchant_or_clock_says_what_to_fix(app, add, mk):
    add("T1")
    registry.import_file(SAMPLE)
    # 253402300000 is in 9999 in UTC but past it in Shanghai, where the sale is judged
    result = apply_batch([mk.record("T1", mk.sale(1, ts=ts("2025-06-01 10:00"), acq=acq())),
                          mk.record("T1", mk.sale(2, ts=(1 << 53) - 1, acq=acq())),
                          mk.record("T1", mk.sale(3, ts=253402300000, acq=acq()))])
    assert result.applied == [("T1", 1), ("T1", 2), ("T1", 3)] and result.acks == {"T1": (3, [])}
    first, *clockless = SaleVerdict.select().order_by(SaleVerdict.seq)
    assert first.verdict == "MALFORMED" and "device set DEVICE --merchant" in first.reason
    for v in clockless:
        assert v.verdict == "MALFORMED" and "set the terminal's clock" in v.reason and v.sold_at is None


def test_ingest_picks_up_a_newly_imported_registry(app, add, mk):
    add("T1")
    add_merchant("GD1", "广州店", "广东")
    set_merchant("T1", "GD1")
    when = ts("2025-06-01 10:00")
    apply_batch([mk.record("T1", mk.sale(1, ts=when, acq=acq()))])
    registry.import_file(SAMPLE)
    apply_batch([mk.record("T1", mk.sale(2, ts=when, acq=acq()))])
    rows = [(v.verdict, v.registry) for v in SaleVerdict.select().order_by(SaleVerdict.seq)]
    assert rows == [("UNKNOWN_ACQUIRER", None), ("OK", 1)]
    assert "no licence registry has been imported" in SaleVerdict.get(SaleVerdict.seq == 1).reason
