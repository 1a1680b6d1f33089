"""The birthday job: reads only who may be due (audited), gives the gift once a year, stays off unless configured."""

from datetime import datetime

import pytest

from server.campaigns.models import Coupon
from server.jobs import JobError, birthday
from server.loyalty.models import Customer, new_customer_id
from server.notify.models import Notification
from server.vault import store

NOW = datetime(2026, 6, 10, 1, 0)
GIFT = {"kind": "amount_off", "value": 2000, "cur": "CNY"}


def person(day=None, state="active"):
    cid = Customer.create(id=new_customer_id(), state=state).id
    if day:
        store.put(cid, {"birthday": day}, "cli:test", "test")
    return cid


def reads():
    return sorted(a["customer"] for a in store.audit(limit=1000) if a["actor"] == "job:birthday")


def test_gives_this_months_birthdays_their_gift_once_and_reads_only_who_may_be_due(app):
    june, july, none = person("1990-06-28"), person("1985-07-01"), person()
    merged = person("1990-06-02", state="merged")
    app.config["BIRTHDAY_GIFT"] = GIFT
    out = birthday.run(NOW)
    assert (out["issued"], out["read"], out["greeted"]) == (1, 2, 1)
    greeting = Notification.get()
    assert (greeting.customer_id, greeting.key, greeting.template, greeting.channel) == (
        june, "birthday:2026:%s" % june, "birthday", "sms")
    assert reads() == sorted([june, july])
    assert all(a["purpose"] == "birthday gift" and a["fields"] == ["birthday"] for a in store.audit(limit=1000)
               if a["actor"] == "job:birthday")
    coupon = Coupon.get(Coupon.customer == june)
    assert (coupon.key, coupon.value, coupon.kind) == ("birthday:2026:%s" % june, 2000, "amount_off")
    assert birthday.run(NOW)["issued"] == 0  # again: nothing twice, and june is not read again
    assert Notification.select().count() == 1
    assert reads() == sorted([june, july, july])
    assert none not in reads() and merged not in reads()


def test_the_local_day_decides(app):
    eve = person("1990-07-01")
    app.config["BIRTHDAY_GIFT"] = dict(GIFT, window="day")
    assert birthday.run(datetime(2026, 6, 30, 15, 59))["issued"] == 0  # 23:59 on 30 June in Shanghai
    assert birthday.run(datetime(2026, 6, 30, 16, 0))["issued"] == 1   # 00:00 on 1 July in Shanghai
    assert Coupon.get().customer_id == eve


def test_off_unless_configured_and_a_bad_setting_is_named(app):
    person("1990-06-28")
    assert birthday.run(NOW) == {"off": 1} and reads() == []
    app.config["BIRTHDAY_GIFT"] = '{"kind": "amount_off"}'
    with pytest.raises(JobError, match="BIRTHDAY_GIFT must be a JSON object with kind, value, cur"):
        birthday.run(NOW)
