"""Birthday and holiday gifts: who gets one, when it is valid, and never twice."""

from datetime import date, datetime

import pytest

from server.campaigns import CampaignError
from server.campaigns.gifts import birthday_gifts, holiday_gifts
from server.campaigns.models import Coupon
from server.loyalty import ledger
from server.loyalty.models import Customer

NOW = datetime(2026, 3, 10, 1, 0)


@pytest.fixture
def crowd(app):
    ids = ["C%016d" % i for i in range(6)]
    for i, cid in enumerate(ids):
        Customer.create(id=cid, state="erased" if i == 5 else "active")
    return ids


def birthday(crowd, today, window, **kw):
    days = [(crowd[0], "03-10"), (crowd[1], "1990-03-28"), (crowd[2], "04-10"), (crowd[3], "02-29"),
            (crowd[4], "13-01"), (crowd[5], "03-10")]
    return birthday_gifts(today, days, "amount_off", 2000, "CNY", "job:birthday", window=window, now=NOW, **kw)


def test_birthday_month_window_once_a_year(crowd):
    seen = []
    assert birthday(crowd, date(2026, 3, 10), "month", progress=lambda d, t: seen.append((d, t))) == {
        "issued": 2, "existing": 0, "skipped": 1, "invalid": 1}
    assert seen == [(3, 3)]
    assert birthday(crowd, date(2026, 3, 11), "month") == {"issued": 0, "existing": 2, "skipped": 1, "invalid": 1}
    row = Coupon.get(Coupon.key == "birthday:2026:" + crowd[1])
    # 生日当月: valid through 31 March, Beijing time
    assert (row.customer_id, row.expires_at, row.campaign) == (crowd[1], datetime(2026, 3, 31, 16, 0), "birthday 2026")
    assert Coupon.select().count() == 2
    assert birthday(crowd, date(2027, 3, 1), "month")["issued"] == 2  # a new year, a new gift


def test_birthday_day_window(crowd):
    assert birthday(crowd, date(2026, 3, 10), "day")["issued"] == 1
    row = Coupon.get(Coupon.key == "birthday:2026:" + crowd[0])
    assert row.expires_at == datetime(2026, 3, 16, 16, 0)  # 7 days: 10..16 March
    # 29 February is celebrated on 28 February in a common year, on the 29th in a leap year
    assert birthday(crowd, date(2027, 2, 28), "day", valid_days=1)["issued"] == 1
    assert Coupon.get(Coupon.key == "birthday:2027:" + crowd[3]).expires_at == datetime(2027, 2, 28, 16, 0)
    assert birthday(crowd, date(2028, 2, 28), "day")["issued"] == 0
    assert birthday(crowd, date(2028, 2, 29), "day")["issued"] == 1
    with pytest.raises(CampaignError, match="window 'week' unknown"):
        birthday(crowd, date(2026, 3, 10), "week")


def test_holiday_points_once_per_year(crowd):
    counts = holiday_gifts("春节", date(2026, 2, 17), crowd + ["CNOBODY0000000000"], "job:h", points=100, now=NOW)
    assert counts == {"issued": 5, "existing": 0, "skipped": 2}
    again = holiday_gifts("春节", date(2026, 2, 17), crowd, "job:h", points=100, now=NOW)
    assert again == {"issued": 0, "existing": 5, "skipped": 1}
    assert ledger.balance(crowd[0]) == 100 == Customer.get_by_id(crowd[0]).points
    assert ledger.booked(["holiday:春节:2026:" + crowd[0]]) == {"holiday:春节:2026:" + crowd[0]: (crowd[0], 100)}
    assert ledger.balance(crowd[5]) == 0
    assert holiday_gifts("中秋", date(2026, 9, 25), crowd[:1], "job:h", points=50, now=NOW)["issued"] == 1
    assert ledger.balance(crowd[0]) == 150


def test_holiday_coupon_valid_from_the_day(crowd):
    gift = {"kind": "percent_off", "value": 100, "cur": "CNY", "valid_days": 3}
    assert holiday_gifts("双十一", date(2026, 11, 11), crowd[:2], "job:h", coupon=gift, now=NOW)["issued"] == 2
    assert holiday_gifts("双十一", date(2026, 11, 11), crowd[:2], "job:h", coupon=gift, now=NOW)["existing"] == 2
    row = Coupon.get(Coupon.key == "holiday:双十一:2026:" + crowd[0])
    assert (row.valid_from, row.expires_at) == (datetime(2026, 11, 10, 16, 0), datetime(2026, 11, 13, 16, 0))


def test_holiday_refusals(crowd):
    with pytest.raises(CampaignError, match="without ':'"):
        holiday_gifts("a:b", date(2026, 1, 1), crowd, "job:h", points=1)
    with pytest.raises(CampaignError, match="either points or a coupon"):
        holiday_gifts("春节", date(2026, 1, 1), crowd, "job:h")
    with pytest.raises(CampaignError, match="give a whole number above 0"):
        holiday_gifts("春节", date(2026, 1, 1), crowd, "job:h", points=0)
