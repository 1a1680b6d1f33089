"""Registry vocabulary: provinces, business types and the 2024 reform mapping."""

import pytest

from server.licences import vocab


@pytest.mark.parametrize("text, name", [
    ("广东省", "广东省"), ("广东", "广东省"), ("44", "广东省"), (" 上海 ", "上海市"),
    ("内蒙古", "内蒙古自治区"), ("新疆", "新疆维吾尔自治区"), ("宁夏", "宁夏回族自治区"), ("54", "西藏自治区"),
    ("火星", None), ("", None), (44, None), ("广东省省", None),
])
def test_province_aliases(text, name):
    assert vocab.province(text) == name


def test_there_are_31_provinces_with_distinct_names():
    assert len(set(vocab.PROVINCES)) == 31


@pytest.mark.parametrize("old, new", [
    ("银行卡收单", "支付交易处理Ⅰ类"), ("互联网支付", "储值账户运营Ⅰ类"), ("预付卡发行与受理", "储值账户运营Ⅱ类"),
    ("移动电话支付", "支付交易处理Ⅱ类"), ("固定电话支付", "支付交易处理Ⅱ类"), ("数字电视支付", "支付交易处理Ⅱ类"),
])
def test_reform_mapping(old, new):
    assert vocab.REFORM[old] == new


@pytest.mark.parametrize("btype, acquiring", [
    ("银行卡收单", True), ("支付交易处理Ⅰ类", True), ("支付交易处理Ⅱ类", False),
    ("互联网支付", False), ("储值账户运营Ⅰ类", False), ("预付卡发行与受理", False),
])
def test_acquiring_is_either_the_old_or_the_new_name(btype, acquiring):
    assert vocab.is_acquiring(btype) is acquiring


def test_business_type_reads_ascii_roman_numerals():
    assert vocab.business_type("支付交易处理I类") == "支付交易处理Ⅰ类"
    assert vocab.business_type("储值账户运营II类") == "储值账户运营Ⅱ类"
    assert vocab.business_type("收单") is None


@pytest.mark.parametrize("number, ok", [
    ("Z2000133000019", True), ("Z200013300001", False), ("Z20001330000190", False),
    ("z2000133000019", False), ("Y2000133000019", False), ("Z200013300001A", False),
])
def test_licence_number_format(number, ok):
    assert bool(vocab.LICENCE_RE.match(number)) is ok
