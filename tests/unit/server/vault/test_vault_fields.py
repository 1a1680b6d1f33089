"""Vault field checks: what each field takes, errors that name the field and never echo the value."""

from datetime import timedelta

import pytest

from server.db import utcnow
from server.vault import fields
from server.vault.crypto import VaultError

CONSENT = {"sms": {"granted": True, "at": "2025-06-01T10:00:00Z", "source": "pos"},
           "wechat": {"granted": False, "at": "2025-06-01T10:00:00+00:00", "source": "web form"}}


@pytest.mark.parametrize("field, value", [
    ("name", "张三"), ("name", "x" * 100), ("phone", "+8613800138000"), ("phone", "138001"),
    ("email", "li.si@mail.example.cn"), ("birthday", "1990-02-28"), ("birthday", "2000-02-29"),
    ("address", "浙江省杭州市西湖区文三路 1 号"), ("gender", "undisclosed"), ("age_band", "25-34"),
    ("age_band", "65+"), ("income_band", "10k-20k CNY/month"), ("region", "华东"), ("note.0", "n" * 2000),
    ("note.17", "保修: 屏幕更换"),
])
def test_good_text_values_are_sealed_as_given(field, value):
    assert fields.encode(field, value) == value
    assert fields.decode(field, value) == value


@pytest.mark.parametrize("field, value", [
    ("preferences", {"brands": ["李宁", "Anta"], "newsletter": True, "size": 42, "x": None, "ratio": 0.5}),
    ("consent", CONSENT), ("consent", {}),
])
def test_dict_fields_round_trip_through_json(field, value):
    assert fields.decode(field, fields.encode(field, value)) == value


@pytest.mark.parametrize("field, value, words", [
    ("name", "", "vault field name is empty: give None to delete it"),
    ("name", "   ", "name is empty"),
    ("name", "x" * 101, "name is 101 characters long, at most 100"),
    ("name", 12345, "name must be text, not int"),
    ("address", "a" * 201, "address is 201 characters long, at most 200"),
    ("region", "r" * 65, "region is 65 characters long, at most 64"),
    ("income_band", "i" * 33, "income_band is 33 characters long, at most 32"),
    ("note.3", "n" * 2001, "note.3 is 2001 characters long, at most 2000"),
    ("phone", "138 0013 8000", "phone must be an optional \\+ and 6-15 digits"),
    ("phone", "12345", "phone must be"),
    ("phone", "+1234567890123456", "phone must be"),
    ("phone", "١٣٨٠٠١٣٨٠٠٠", "phone must be"),
    ("email", "lisi.example.cn", "email must look like name@example.com"),
    ("email", "li si@example.cn", "email must look like"),
    ("email", "lisi@example", "email must look like"),
    ("birthday", "1990-02-30", "birthday must be a real date as YYYY-MM-DD"),
    ("birthday", "19900101", "birthday must be a real date"),
    ("birthday", "1990-1-01", "birthday must be a real date"),
    ("birthday", (utcnow() + timedelta(days=2)).strftime("%Y-%m-%d"), "birthday lies in the future"),
    ("gender", "f", "gender must be one of female, male, other, undisclosed"),
    ("age_band", "34-25", "age_band must be a range like 25-34 or an open band like 65\\+"),
    ("age_band", "young", "age_band must be"),
    ("preferences", ["a"], "preferences must be a dict, not list"),
    ("preferences", {1: "a"}, "preferences must survive JSON unchanged"),
    ("preferences", {"x": float("nan")}, "preferences must survive JSON unchanged"),
    ("preferences", {"x": {1, 2}}, "preferences must survive JSON unchanged"),
    ("consent", "yes", "consent must be a dict"),
    ("consent", {"fax": CONSENT["sms"]}, "consent: unknown channel 'fax' \\(use sms, email, wechat, phone, post\\)"),
    ("consent", {"sms": True}, "consent.sms must be"),
    ("consent", {"sms": dict(CONSENT["sms"], extra=1)}, "consent.sms must be"),
    ("consent", {"sms": dict(CONSENT["sms"], granted="yes")}, "consent.sms: granted must be true or false"),
    ("consent", {"sms": dict(CONSENT["sms"], at="2025-06-01T18:00:00+08:00")}, "consent.sms: at must be an ISO "
                                                                              "time in UTC"),
    ("consent", {"sms": dict(CONSENT["sms"], at="2025-06-01T10:00:00")}, "at must be an ISO time in UTC"),
    ("consent", {"sms": dict(CONSENT["sms"], at="2025-06-01")}, "at must be an ISO time in UTC"),
    ("consent", {"post": dict(CONSENT["sms"], source="")}, "consent.post: source must be text of 1-64"),
])
def test_bad_values_are_refused_naming_the_field_not_the_value(field, value, words):
    with pytest.raises(VaultError, match=words) as err:
        fields.encode(field, value)
    if isinstance(value, str) and len(value.strip()) > 3:
        assert value not in str(err.value)


@pytest.mark.parametrize("field", ["nickname", "note", "note.", "note.01", "note.-1", "note.x", "Name", 3])
def test_unknown_field_names_are_refused(field):
    with pytest.raises(VaultError, match="unknown vault field .*: use one of name, phone, .*note.<n>"):
        fields.check_name(field)


def test_dict_fields_are_stored_with_sorted_keys_and_real_characters():
    assert fields.encode("preferences", {"b": 1, "a": "绿色"}) == '{"a": "绿色", "b": 1}'
