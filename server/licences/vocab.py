"""The registry's vocabulary: licence number format, business types, scopes, statuses, provinces."""

import re

LICENCE_RE = re.compile(r"^Z[0-9]{13}\Z")
CODE_RE = re.compile(r"^[0-9]{1,11}\Z")

# Business types as written on licences, each with its class after the 2024 reform
# (非银行支付机构监督管理条例, in force 2024-05-01; 实施细则 2024-07-26).
REFORM = {
    "银行卡收单": "支付交易处理Ⅰ类",
    "互联网支付": "储值账户运营Ⅰ类",
    "预付卡发行与受理": "储值账户运营Ⅱ类",
    "移动电话支付": "支付交易处理Ⅱ类",
    "固定电话支付": "支付交易处理Ⅱ类",
    "数字电视支付": "支付交易处理Ⅱ类",
    "储值账户运营Ⅰ类": "储值账户运营Ⅰ类",
    "储值账户运营Ⅱ类": "储值账户运营Ⅱ类",
    "支付交易处理Ⅰ类": "支付交易处理Ⅰ类",
    "支付交易处理Ⅱ类": "支付交易处理Ⅱ类",
}
BUSINESS_TYPES = tuple(REFORM)
# Acquiring a card-present sale needs one of these (both map to 支付交易处理Ⅰ类).
ACQUIRING = "支付交易处理Ⅰ类"

SCOPES = ("national", "provinces", "all_except")

STATUSES = ("valid", "renewed", "renewal_pending", "lapsed", "voluntary_exit", "cancelled", "revoked")
# Statuses that end a grant from their status_date on (lapsed defaults to the day after expiry).
ENDING = ("lapsed", "voluntary_exit", "cancelled", "revoked")

PROVINCES = (
    "北京市", "天津市", "河北省", "山西省", "内蒙古自治区", "辽宁省", "吉林省", "黑龙江省",
    "上海市", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省",
    "湖南省", "广东省", "广西壮族自治区", "海南省", "重庆市", "四川省", "贵州省", "云南省",
    "西藏自治区", "陕西省", "甘肃省", "青海省", "宁夏回族自治区", "新疆维吾尔自治区",
)
# GB/T 2260 two-digit codes, in PROVINCES order.
_CODES = (
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
)
_SUFFIXES = ("维吾尔自治区", "回族自治区", "壮族自治区", "自治区", "省", "市")


def _aliases():
    table = {}
    for name, code in zip(PROVINCES, _CODES):
        table[name] = table[code] = name
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                table[name[: -len(suffix)]] = name
                break
    return table


_PROVINCE_ALIASES = _aliases()


def province(text):
    """The full name of a province given its full name, short name (上海) or GB/T 2260 code; else None."""
    if not isinstance(text, str):
        return None
    return _PROVINCE_ALIASES.get(text.strip())


def business_type(text):
    """The business type as registered, accepting ASCII I/II for Ⅰ/Ⅱ; else None."""
    if not isinstance(text, str):
        return None
    text = text.strip().replace("II类", "Ⅱ类").replace("I类", "Ⅰ类")
    return text if text in REFORM else None


def is_acquiring(btype):
    """True for 银行卡收单 and 支付交易处理Ⅰ类: the grants that allow acquiring bank-card sales."""
    return REFORM.get(btype) == ACQUIRING
