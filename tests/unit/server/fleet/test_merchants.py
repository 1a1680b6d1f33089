"""Merchants: checked codes, provinces and zones; a terminal's merchant."""

import pytest

from server.fleet.devices import FleetError
from server.fleet.merchants import add_merchant, list_merchants, set_merchant
from server.fleet.models import Device


@pytest.mark.parametrize("code, name, province, tz, words", [
    ("M 1", "x", "浙江", "Asia/Shanghai", "merchant code 'M 1'"),
    ("M1", " ", "浙江", "Asia/Shanghai", "give its name with --name"),
    ("M1", "x", "Zhejiang", "Asia/Shanghai", "province 'Zhejiang' is unknown"),
    ("M1", "x", "浙江", "Mars/Olympus", "time zone 'Mars/Olympus' is unknown"),
])
def test_bad_merchants_are_refused_with_what_to_fix(app, code, name, province, tz, words):
    with pytest.raises(FleetError) as err:
        add_merchant(code, name, province, tz)
    assert words in str(err.value)
    assert list_merchants() == []


def test_province_is_stored_by_its_full_name_and_codes_are_unique(app):
    assert add_merchant("M1", "店", "上海").province == "上海市"
    with pytest.raises(FleetError, match="already exists"):
        add_merchant("M1", "again", "浙江")
    assert [m.name for m in list_merchants()] == ["店"]


def test_set_merchant(app, add):
    add("T1")
    add_merchant("M1", "店", "上海")
    set_merchant("T1", "M1")
    assert Device.get_by_id("T1").merchant_id == "M1"
    with pytest.raises(FleetError, match="no merchant M9"):
        set_merchant("T1", "M9")
    with pytest.raises(FleetError, match="no device T9"):
        set_merchant("T9", "M1")
