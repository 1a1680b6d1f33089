import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import display, layout, texts
from agent.core.display import StatusCache
from agent.core.layout import DisplayError
from realparts import ROOT

VECTORS = os.path.join(ROOT, "tests", "vectors", "display.json")
GOLD = {"pts": 1234, "earned": 12, "tier": "gold"}


def cd5220(line1, line2):
    """The expected frame, lines given as display bytes, padded with spaces to 20."""
    assert len(line1) <= 20 and len(line2) <= 20
    return (b"\x1b@\x0c\x1bQA" + line1 + b" " * (20 - len(line1)) + b"\r"
            + b"\x1bQB" + line2 + b" " * (20 - len(line2)) + b"\r")


def test_english_status_exact_bytes():
    assert display.show(GOLD, "en", "gb18030") == (
        b"\x1b@\x0c\x1bQAPoints:         1234\r\x1bQB+12 earned      GOLD\r")
    assert layout.render(GOLD, "en") == ("Points:         1234", "+12 earned      GOLD")


def test_chinese_status_exact_bytes():
    # 积 BBFD 分 B7D6 本 B1BE 次 B4CE 金 BDF0 卡 BFA8
    assert layout.render(GOLD, "zh-CN") == ("积分:1234", "本次+12  金卡")
    assert display.show(GOLD, "zh-CN", "gb18030") == cd5220(
        b"\xbb\xfd\xb7\xd6:1234", b"\xb1\xbe\xb4\xce+12  \xbd\xf0\xbf\xa8")


@pytest.mark.parametrize("status, lang, offline, line1, line2", [
    ({"pts": 0, "tier": "basic", "new": True}, "en", False, b"Points:            0", b"New member     BASIC"),
    ({"pts": 0, "tier": "basic", "new": True}, "zh-CN", False,
     b"\xbb\xfd\xb7\xd6:0", b"\xd0\xc2\xbb\xe1\xd4\xb1  \xc6\xd5\xcd\xa8"),            # 新会员  普通
    ({"pts": 880, "earned": 5, "tier": "vip"}, "en", True, b"*Points:         880", b"OFFLINE, cached"),
    ({"pts": 880, "earned": 5, "tier": "vip"}, "zh-CN", True,
     b"*\xbb\xfd\xb7\xd6:880", b"\xc0\xeb\xcf\xdf \xbb\xba\xb4\xe6"),                     # 离线 缓存
    ({"pts": 50, "earned": 3, "tier": "silver", "lic": "CANCELLED"}, "en", False,
     b"Points:           50", b"ACQUIRER CHECK!"),
    ({"pts": 50, "earned": 3, "tier": "silver", "lic": "CANCELLED"}, "zh-CN", True,
     b"*\xbb\xfd\xb7\xd6:50", b"\xca\xd5\xb5\xa5\xbb\xfa\xb9\xb9\xd2\xec\xb3\xa3"),      # 收单机构异常
    ({"pts": 50, "earned": 3, "tier": "silver", "lic": "OK"}, "zh-CN", False,
     b"\xbb\xfd\xb7\xd6:50", b"\xb1\xbe\xb4\xce+3  \xd2\xf8\xbf\xa8"),                    # 本次+3  银卡
    ({"pts": 100, "earned": -30, "tier": "gold"}, "en", False, b"Points:          100", b"-30 points      GOLD"),
    ({"pts": 7, "tier": "platinum"}, "en", False, b"Points:            7", b""),
])
def test_status_exact_bytes(status, lang, offline, line1, line2):
    assert display.show(status, lang, "gb18030", offline) == cd5220(line1, line2)


CARDLESS = {"for": "seq", "id": 3, "cust": "", "pts": 0, "tier": "basic", "new": False}


@pytest.mark.parametrize("lic, lang, offline, lines", [
    ("INDIRECT_SETTLEMENT", "en", False, ("ACQUIRER CHECK!", "INDIRECT_SETTLEMENT")),
    ("INDIRECT_SETTLEMENT", "zh-CN", False, ("收单机构异常", "INDIRECT_SETTLEMENT")),
    ("OUT_OF_SCOPE", "zh-CN", True, ("*收单机构异常", "OUT_OF_SCOPE")),
    ("MALFORMED", "en", True, ("*ACQUIRER CHECK!", "MALFORMED")),
    ("A_VERDICT_CODE_LONGER_THAN_20", "en", False, ("ACQUIRER CHECK!", "A_VERDICT_CODE_LONGE")),
    ("BAD\x1b收", "zh-CN", False, ("收单机构异常", "BAD??")),   # never a byte the VFD takes as a command
])
def test_cardless_sale_warning_shows_the_verdict_code(lic, lang, offline, lines):
    assert layout.render(dict(CARDLESS, lic=lic), lang, offline) == lines


def test_cardless_warning_needs_no_customer_and_a_bad_verdict():
    # A card-less status with an OK verdict, or a new member's status, is an ordinary status.
    assert layout.render(dict(CARDLESS, lic="OK"), "en") == ("Points:            0", "               BASIC")
    assert layout.render(dict(CARDLESS, new=True, lic="REVOKED"), "en") == ("Points:            0", "ACQUIRER CHECK!")
    assert layout.render(dict(CARDLESS, cust="C1", lic="EXPIRED"), "zh-CN") == ("积分:0", "收单机构异常")
    assert layout.render({"pts": 0, "tier": "basic", "lic": "EXPIRED"}, "en")[0] == "Points:            0"
    # The English fallback (ASCII display) still names the verdict.
    assert display.show(dict(CARDLESS, lic="EXPIRED"), "zh-CN", "ascii") == cd5220(b"ACQUIRER CHECK!", b"EXPIRED")


def test_large_numbers_are_abbreviated_not_overflowing():
    status = {"pts": 12345678901234, "earned": 1234567, "tier": "silver"}
    assert layout.render(status, "en") == ("Points: 12345678901K", "+1234K earned SILVER")
    assert layout.render(status, "zh-CN") == ("积分:12345678901234", "本次+1234567  银卡")
    status["earned"] = 123456789012
    assert layout.render(status, "zh-CN")[1] == "本次+1234亿  银卡"
    status["pts"] = 123456789012345
    assert layout.render(status, "zh-CN")[0] == "积分:123456789012345"
    assert layout.render(status, "zh-CN", offline=True)[0] == "*积分:12345678901万"
    assert layout.render(status, "en")[0] == "Points:   123456789M"


def test_message_exact_bytes_and_tables_complete():
    # 存储已满 请联系技术
    assert display.show_message("outbox_full", "zh-CN", "gb18030") == cd5220(
        b"\xb4\xe6\xb4\xa2\xd2\xd1\xc2\xfa \xc7\xeb\xc1\xaa\xcf\xb5\xbc\xbc\xca\xf5", b"")
    assert display.show_message("outbox_full", "en", "gb18030") == cd5220(b"STORE FULL-CALL IT", b"")
    assert layout.render_message("welcome", "zh-CN") == ("欢迎光临", "")
    assert layout.render_message("card_error", "en") == ("Card read error", "")
    assert set(texts.MESSAGES["en"]) == set(texts.MESSAGES["zh-CN"])
    for lang in texts.MESSAGES:
        for key in texts.MESSAGES[lang]:
            for line in layout.render_message(key, lang):
                assert layout.width(line) <= 20, (lang, key)
    with pytest.raises(DisplayError) as e:
        layout.render_message("nope", "en")
    assert e.value.reason == "message"


@settings(max_examples=400, deadline=None)
@given(pts=st.one_of(st.integers(-10 ** 6, 10 ** 6), st.integers(-10 ** 40, 10 ** 40)),
       earned=st.one_of(st.none(), st.integers(-10 ** 5, 10 ** 5), st.integers(-10 ** 40, 10 ** 40)),
       tier=st.sampled_from([None, "basic", "silver", "gold", "vip", "platinum"]),
       new=st.booleans(), lic=st.sampled_from([None, "OK", "REVOKED", "INDIRECT_SETTLEMENT" * 3]),
       cust=st.sampled_from([None, "", "C1"]),
       lang=st.sampled_from(["en", "zh-CN"]), charset=st.sampled_from(["gb18030", "ascii"]),
       offline=st.booleans())
def test_lines_never_exceed_20_columns(pts, earned, tier, new, lic, cust, lang, charset, offline):
    status = {"pts": pts, "earned": earned, "tier": tier, "new": new, "lic": lic, "cust": cust}
    line1, line2 = layout.render(status, lang, offline)
    assert layout.width(line1) <= 20 and layout.width(line2) <= 20
    warning = lic not in (None, "OK")
    if warning and cust == "" and not new:
        assert line2 == lic[:20]
    elif abs(pts) < 10 ** 10:
        assert line1.endswith(":" + str(pts)) or line1.endswith(" " + str(pts))
    if earned and abs(earned) < 10 ** 4 and not offline and not warning:
        assert "%+d" % earned in line2
    frame = display.show(status, lang, charset, offline)
    assert len(frame) == 51 and frame[:6] == b"\x1b@\x0c\x1bQA" and frame[26:30] == b"\r\x1bQB"


def test_falls_back_to_english_when_a_glyph_is_missing(monkeypatch):
    english = display.show(GOLD, "en", "gb18030")
    assert display.show(GOLD, "zh-CN", "ascii") == english
    assert display.show_message("welcome", "zh-CN", "ascii") == cd5220(b"Welcome", b"")
    table = dict(texts.GB18030)
    del table["金"]
    monkeypatch.setattr(texts, "GB18030", table)
    with pytest.raises(DisplayError) as e:
        display.encode_line("金卡", "gb18030")
    assert e.value.reason == "glyph"
    assert display.show(GOLD, "zh-CN", "gb18030") == english
    # A status that needs no missing glyph still shows in Chinese.
    assert display.show({"pts": 5}, "zh-CN", "gb18030") == cd5220(b"\xbb\xfd\xb7\xd6:5", b"")


def test_encode_line_rejects_what_the_display_cannot_show():
    assert display.encode_line("Points: 5", "ascii") == b"Points: 5"
    for text, charset, reason in (("积分", "ascii", "glyph"), ("a\x1bb", "gb18030", "glyph"),
                                  ("\u00e9", "gb18030", "glyph"), ("abc", "utf-8", "charset")):
        with pytest.raises(DisplayError) as e:
            display.encode_line(text, charset)
        assert e.value.reason == reason
    with pytest.raises(DisplayError) as e:
        display.frame_cd5220("x" * 21, "", "ascii")
    assert e.value.reason == "width"


@pytest.mark.parametrize("status, lang, reason", [
    ({}, "en", "status"), ({"pts": None}, "en", "status"), ({"pts": True}, "en", "status"),
    ({"pts": "12"}, "zh-CN", "status"), ({"pts": 1, "earned": 1.5}, "en", "status"),
    ([1], "en", "status"), ({"pts": 1}, "fr", "lang"),
])
def test_bad_status_or_language_raises(status, lang, reason):
    with pytest.raises(DisplayError) as e:
        display.show(status, lang, "gb18030")
    assert e.value.reason == reason


def shown(v):
    if "authr" in v:
        return display.show_authr(v["authr"], v["lang"], v["charset"])
    if "message" in v:
        return display.show_message(v["message"], v["lang"], v["charset"])
    return display.show(v["status"], v["lang"], v["charset"], v["offline"])


def test_golden_vectors_match():
    with open(VECTORS) as f:
        vectors = json.load(f)
    for v in vectors:
        assert shown(v).hex() == v["bytes_hex"], v
    statuses = [v for v in vectors if "status" in v]
    seen = set((v["lang"], v["charset"], v["offline"], "lic" in v["status"]) for v in statuses)
    assert ("zh-CN", "gb18030", True, True) in seen and ("zh-CN", "ascii", True, False) in seen
    assert ("en", "gb18030", False, False) in seen and any(b"\xbb\xfd" in bytes.fromhex(v["bytes_hex"])
                                                       for v in vectors)
    cardless = set((v["lang"], v["charset"]) for v in statuses
                   if v["status"].get("cust") == "" and v["status"].get("lic") not in (None, "OK"))
    assert ("en", "gb18030") in cardless and ("zh-CN", "gb18030") in cardless and ("zh-CN", "ascii") in cardless
    # Stored value, coupons and every authorisation outcome are covered in both languages.
    rich = set((v["lang"], v["charset"]) for v in statuses if "sv" in v["status"] and v["status"].get("low"))
    assert ("en", "gb18030") in rich and ("zh-CN", "gb18030") in rich
    codes = set((v["authr"]["code"], "cur" in v["authr"], v["lang"]) for v in vectors if "authr" in v)
    for code in ("APPROVED", "INSUFFICIENT"):
        for lang in ("en", "zh-CN"):
            assert (code, True, lang) in codes and (code, False, lang) in codes
    assert set(c for c, m, lang in codes) >= {"BAD_PIN", "LOCKED", "FROZEN", "UNKNOWN_CARD"}


def test_status_cache_is_bounded_and_evicts_oldest():
    cache = StatusCache(3)
    for i in range(3):
        cache.put("t%d" % i, {"pts": i})
    cache.put("t0", {"pts": 10})          # re-put makes t0 the newest
    cache.put("t3", {"pts": 3})           # evicts t1, the oldest
    assert cache.get("t1") is None
    assert cache.get("t0") == {"pts": 10} and cache.get("t2") == {"pts": 2} and cache.get("t3") == {"pts": 3}
    assert len(cache) == 3
    for i in range(100):
        cache.put("u%d" % i, {"pts": i})
    assert len(cache) == 3 and len(cache._status) == 3
    assert [cache.get("u%d" % i) for i in (96, 97, 98, 99)] == [None, {"pts": 97}, {"pts": 98}, {"pts": 99}]
    assert StatusCache().size == 256
    with pytest.raises(DisplayError) as e:
        StatusCache(0)
    assert e.value.reason == "size"


SV = {"pts": 1234, "earned": 12, "tier": "gold", "sv": 123450, "svcur": "CNY", "cpn": 2}


@pytest.mark.parametrize("status, lang, offline, lines", [
    (SV, "en", False, ("Pts 1234 +12    GOLD", "Bal 1234.50    Cpn 2")),
    (SV, "zh-CN", False, ("积分1234 +12    金卡", "余额1234.50      券2")),
    # Cached: no stale balance and no old "earned", only the points and the offline note.
    (SV, "en", True, ("*Pts 1234       GOLD", "OFFLINE, cached")),
    (SV, "zh-CN", True, ("*积分1234       金卡", "离线 缓存")),
    (dict(SV, sv=450, low=True, earned=0), "en", False, ("Pts 1234        GOLD", "Bal 4.50 LOW   Cpn 2")),
    (dict(SV, sv=450, low=True, earned=0), "zh-CN", False, ("积分1234        金卡", "余额4.50 偏低    券2")),
    (dict(SV, sv=-5, low=True, cpn=0), "en", False, ("Pts 1234 +12    GOLD", "Bal -0.05 LOW")),
    (dict(SV, sv=5000, svcur="JPY"), "en", False, ("Pts 1234 +12    GOLD", "Bal 5000       Cpn 2")),
    (dict(SV, sv=5000, svcur="KWD"), "en", False, ("Pts 1234 +12    GOLD", "Bal 5.000      Cpn 2")),
    ({"pts": 80, "tier": "basic", "cpn": 1}, "en", False, ("Pts 80         BASIC", "               Cpn 1")),
    (dict(SV, lic="REVOKED"), "en", False, ("Pts 1234        GOLD", "ACQUIRER CHECK!")),
    # Too wide: whole units, then units of thousands / 万, never past column 20.
    (dict(SV, sv=12345678901, low=True, cpn=12345, tier="vip"), "en", False,
     ("Pts 1234 +12     VIP", "Bal 123M LOW Cpn 12K")),
    (dict(SV, sv=12345678901, low=True, cpn=12345, tier="vip"), "zh-CN", False,
     ("积分1234 +12     VIP", "余额1亿 偏低   券1万")),
    (dict(SV, pts=12345678901234, earned=1234567, tier="silver"), "en", False,
     ("Pts 12345678M SILVER", "Bal 1234.50    Cpn 2")),
])
def test_stored_value_status_lines(status, lang, offline, lines):
    assert layout.render(status, lang, offline) == lines


def test_stored_value_status_exact_bytes():
    # 余 D3E0 额 B6EE 券 C8AF
    assert display.show(SV, "zh-CN", "gb18030") == cd5220(
        b"\xbb\xfd\xb7\xd61234 +12    \xbd\xf0\xbf\xa8", b"\xd3\xe0\xb6\xee1234.50      \xc8\xaf2")
    assert display.show(SV, "zh-CN", "ascii") == display.show(SV, "en", "ascii")


@pytest.mark.parametrize("answer, lang, lines", [
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": 87650, "cur": "CNY"}, "en", ("Approved", "Bal 876.50")),
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": 87650, "cur": "CNY"}, "zh-CN", ("交易成功", "余额876.50")),
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": 880}, "en", ("Approved", "Pts 880")),
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": 880}, "zh-CN", ("交易成功", "积分880")),
    ({"aid": 7, "ok": False, "code": "INSUFFICIENT", "bal": 1250, "cur": "CNY"}, "en", ("Insufficient funds", "Bal 12.50")),
    ({"aid": 7, "ok": False, "code": "INSUFFICIENT", "bal": 1250, "cur": "CNY"}, "zh-CN", ("余额不足", "余额12.50")),
    ({"aid": 7, "ok": False, "code": "INSUFFICIENT", "bal": 50}, "en", ("Not enough points", "Pts 50")),
    ({"aid": 7, "ok": False, "code": "INSUFFICIENT", "bal": 50}, "zh-CN", ("积分不足", "积分50")),
    ({"aid": 7, "ok": False, "code": "BAD_PIN", "bal": 0, "cur": "CNY"}, "en", ("Declined", "Wrong PIN")),
    ({"aid": 7, "ok": False, "code": "BAD_PIN", "bal": 0, "cur": "CNY"}, "zh-CN", ("交易拒绝", "密码错误")),
    ({"aid": 7, "ok": False, "code": "LOCKED", "bal": 0}, "zh-CN", ("交易拒绝", "密码已锁定")),
    ({"aid": 7, "ok": False, "code": "FROZEN", "bal": 0}, "en", ("Declined", "Card frozen")),
    ({"aid": 7, "ok": False, "code": "UNKNOWN_CARD", "bal": 0}, "zh-CN", ("交易拒绝", "非会员卡")),
    # A code this terminal does not know yet is shown as it is (ASCII only).
    ({"aid": 7, "ok": False, "code": "VELOCITY_LIMIT", "bal": 0}, "zh-CN", ("交易拒绝", "VELOCITY_LIMIT")),
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": 123456789012345, "cur": "CNY"}, "en",
     ("Approved", "Bal 1234567890123.45")),
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": 12345678901234567, "cur": "CNY"}, "en",
     ("Approved", "Bal 123456789012345")),
    ({"aid": 7, "ok": True, "code": "APPROVED", "bal": -10 ** 30, "cur": "CNY"}, "en",
     ("Approved", "Bal -99999999999999T")),
])
def test_authorisation_answer_lines(answer, lang, lines):
    assert layout.render_authr(answer, lang) == lines


def test_authorisation_answer_bytes_fall_back_to_english_on_ascii():
    answer = {"aid": 7, "ok": False, "code": "FROZEN", "bal": 0}
    # 交 BDBB 易 D2D7 拒 BEDC 绝 BEF8 / 卡 BFA8 已 D2D1 冻 B6B3 结 BDE1
    assert display.show_authr(answer, "zh-CN", "gb18030") == cd5220(
        b"\xbd\xbb\xd2\xd7\xbe\xdc\xbe\xf8", b"\xbf\xa8\xd2\xd1\xb6\xb3\xbd\xe1")
    assert display.show_authr(answer, "zh-CN", "ascii") == cd5220(b"Declined", b"Card frozen")


@pytest.mark.parametrize("thing, reason", [
    ([1], "status"), ({"ok": True, "code": "APPROVED"}, "status"), ({"ok": True, "code": "APPROVED", "bal": 1.5}, "status"),
    ({"ok": True, "code": "APPROVED", "bal": 1, "cur": None}, "status"),
])
def test_bad_authorisation_answer_raises(thing, reason):
    with pytest.raises(DisplayError) as e:
        layout.render_authr(thing, "en")
    assert e.value.reason == reason


def test_balance_without_a_currency_is_refused():
    with pytest.raises(DisplayError) as e:
        layout.render({"pts": 1, "sv": 100}, "en")
    assert e.value.reason == "status"


big = st.one_of(st.integers(-10 ** 6, 10 ** 6), st.integers(-10 ** 40, 10 ** 40))


@settings(max_examples=400, deadline=None)
@given(pts=big, earned=st.one_of(st.none(), big), tier=st.sampled_from([None, "basic", "silver", "gold", "vip"]),
       sv=st.one_of(st.none(), big), svcur=st.sampled_from(["CNY", "JPY", "KWD", "CLF"]),
       cpn=st.one_of(st.none(), st.integers(0, 10 ** 9)), low=st.booleans(),
       lic=st.sampled_from([None, "OK", "REVOKED"]), lang=st.sampled_from(["en", "zh-CN"]),
       charset=st.sampled_from(["gb18030", "ascii"]), offline=st.booleans())
def test_stored_value_lines_never_exceed_20_columns(pts, earned, tier, sv, svcur, cpn, low, lic, lang, charset,
                                                    offline):
    status = {"pts": pts, "earned": earned, "tier": tier, "svcur": svcur, "low": low, "lic": lic, "cust": "C1",
              "cpn": cpn if cpn is not None else 0}
    if sv is not None:
        status["sv"] = sv
    line1, line2 = layout.render(status, lang, offline)
    assert layout.width(line1) <= 20 and layout.width(line2) <= 20
    if sv is not None and abs(sv) < 10 ** 6 and not offline and lic in (None, "OK") and not cpn:
        from protocol import money
        assert money.text(sv, svcur) in line2
    if cpn and cpn < 100 and not offline and lic in (None, "OK"):
        assert line2.endswith(str(cpn))
    assert len(display.show(status, lang, charset, offline)) == 51


@settings(max_examples=200, deadline=None)
@given(ok=st.booleans(), code=st.sampled_from(["INSUFFICIENT", "BAD_PIN", "LOCKED", "FROZEN", "UNKNOWN_CARD", "X" * 16]),
       bal=big, cur=st.sampled_from([None, "CNY", "JPY", "KWD"]), lang=st.sampled_from(["en", "zh-CN"]))
def test_authorisation_lines_never_exceed_20_columns(ok, code, bal, cur, lang):
    answer = {"aid": 1, "ok": ok, "code": "APPROVED" if ok else code, "bal": bal}
    if cur is not None:
        answer["cur"] = cur
    line1, line2 = layout.render_authr(answer, lang)
    assert layout.width(line1) <= 20 and layout.width(line2) <= 20
    assert len(display.show_authr(answer, lang, "gb18030")) == 51


@pytest.mark.parametrize("code, en, zh", [("PIN_REQUIRED", "PIN required", "请输入密码"),
                                          ("WRONG_CURRENCY", "Wrong currency", "币种不符")])
def test_more_decline_reasons(code, en, zh):
    answer = {"aid": 1, "ok": False, "code": code, "bal": 0, "cur": "CNY"}
    assert layout.render_authr(answer, "en") == ("Declined", en)
    assert layout.render_authr(answer, "zh-CN") == ("交易拒绝", zh)
    assert display.show_authr(answer, "zh-CN", "gb18030")[-21:] == zh.encode("gb18030").ljust(20) + b"\r"


def coupon(**kw):
    return dict({"op": "coupon", "aid": 1, "ok": False, "bal": 0}, **kw)


VALID = {"ok": True, "code": "APPROVED", "cur": "CNY", "value": 1000, "exp": 1, "min": 0}


@pytest.mark.parametrize("answer, en, zh", [
    (coupon(ckind="amount_off", **VALID), ("Coupon valid", "10.00 off"), ("优惠券有效", "立减10.00")),
    (coupon(**dict(VALID, ckind="percent_off", value=150)), ("Coupon valid", "15% off"), ("优惠券有效", "立减15%")),
    (coupon(**dict(VALID, ckind="percent_off", value=125)), ("Coupon valid", "12.5% off"), ("优惠券有效", "立减12.5%")),
    (coupon(ckind="gift", **VALID), ("Coupon valid", "Gift"), ("优惠券有效", "赠品")),
    (coupon(code="USED"), ("Coupon used", ""), ("优惠券已使用", "")),
    (coupon(code="EXPIRED"), ("Coupon expired", ""), ("优惠券已过期", "")),
    (coupon(code="VOID"), ("Coupon void", ""), ("优惠券已作废", "")),
    (coupon(code="NOT_YET_VALID"), ("Coupon not yet valid", ""), ("优惠券未生效", "")),
    (coupon(code="NOT_YOURS"), ("Not this card's", ""), ("非本卡优惠券", "")),
    (coupon(code="CARD_NEEDED"), ("Swipe card first", ""), ("请先刷会员卡", "")),
    (coupon(code="UNKNOWN"), ("Coupon unknown", "Check the code"), ("优惠券无效", "请核对券号")),
    (coupon(code="OFFLINE"), ("Coupon not checked", "Network offline"), ("优惠券未验证", "网络离线")),
    # a refusal this terminal does not know yet is shown as its code
    (coupon(code="WRONG_STORE"), ("Coupon refused", "WRONG_STORE"), ("优惠券不可用", "WRONG_STORE")),
    (coupon(code="off"), ("Coupon refused", "off"), ("优惠券不可用", "off")),
])
def test_coupon_check_lines(answer, en, zh):
    assert layout.render_authr(answer, "en") == en
    assert layout.render_authr(answer, "zh-CN") == zh
    assert display.show_authr(answer, "zh-CN", "gb18030") == cd5220(zh[0].encode("gb18030"), zh[1].encode("gb18030"))
    assert display.show_authr(answer, "zh-CN", "ascii") == cd5220(en[0].encode(), en[1].encode())


@settings(max_examples=200, deadline=None)
@given(value=big.filter(lambda v: v >= 0), kind=st.sampled_from(["amount_off", "percent_off", "gift", "new_kind"]),
       cur=st.sampled_from(["CNY", "JPY", "KWD"]), lang=st.sampled_from(["en", "zh-CN"]))
def test_coupon_lines_never_exceed_20_columns(value, kind, cur, lang):
    line1, line2 = layout.render_coupon(coupon(**dict(VALID, ckind=kind, value=value, cur=cur)), lang)
    assert layout.width(line1) <= 20 and layout.width(line2) <= 20
