import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import display
from agent.core.display import DisplayError, StatusCache
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
    assert display.render(GOLD, "en") == ("Points:         1234", "+12 earned      GOLD")


def test_chinese_status_exact_bytes():
    # 积 BBFD 分 B7D6 本 B1BE 次 B4CE 金 BDF0 卡 BFA8
    assert display.render(GOLD, "zh-CN") == ("积分:1234", "本次+12  金卡")
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
    assert display.render(dict(CARDLESS, lic=lic), lang, offline) == lines


def test_cardless_warning_needs_no_customer_and_a_bad_verdict():
    # A card-less status with an OK verdict, or a new member's status, is an ordinary status.
    assert display.render(dict(CARDLESS, lic="OK"), "en") == ("Points:            0", "               BASIC")
    assert display.render(dict(CARDLESS, new=True, lic="REVOKED"), "en") == ("Points:            0", "ACQUIRER CHECK!")
    assert display.render(dict(CARDLESS, cust="C1", lic="EXPIRED"), "zh-CN") == ("积分:0", "收单机构异常")
    assert display.render({"pts": 0, "tier": "basic", "lic": "EXPIRED"}, "en")[0] == "Points:            0"
    # The English fallback (ASCII display) still names the verdict.
    assert display.show(dict(CARDLESS, lic="EXPIRED"), "zh-CN", "ascii") == cd5220(b"ACQUIRER CHECK!", b"EXPIRED")


def test_large_numbers_are_abbreviated_not_overflowing():
    status = {"pts": 12345678901234, "earned": 1234567, "tier": "silver"}
    assert display.render(status, "en") == ("Points: 12345678901K", "+1234K earned SILVER")
    assert display.render(status, "zh-CN") == ("积分:12345678901234", "本次+1234567  银卡")
    status["earned"] = 123456789012
    assert display.render(status, "zh-CN")[1] == "本次+1234亿  银卡"
    status["pts"] = 123456789012345
    assert display.render(status, "zh-CN")[0] == "积分:123456789012345"
    assert display.render(status, "zh-CN", offline=True)[0] == "*积分:12345678901万"
    assert display.render(status, "en")[0] == "Points:   123456789M"


def test_message_exact_bytes_and_tables_complete():
    # 存储已满 请联系技术
    assert display.show_message("outbox_full", "zh-CN", "gb18030") == cd5220(
        b"\xb4\xe6\xb4\xa2\xd2\xd1\xc2\xfa \xc7\xeb\xc1\xaa\xcf\xb5\xbc\xbc\xca\xf5", b"")
    assert display.show_message("outbox_full", "en", "gb18030") == cd5220(b"STORE FULL-CALL IT", b"")
    assert display.render_message("welcome", "zh-CN") == ("欢迎光临", "")
    assert display.render_message("card_error", "en") == ("Card read error", "")
    assert set(display._MESSAGES["en"]) == set(display._MESSAGES["zh-CN"])
    for lang in display._MESSAGES:
        for key in display._MESSAGES[lang]:
            for line in display.render_message(key, lang):
                assert display.width(line) <= 20, (lang, key)
    with pytest.raises(DisplayError) as e:
        display.render_message("nope", "en")
    assert e.value.reason == "message"


def test_glyph_table_agrees_with_cpython_gb18030():
    assert display.GB18030
    for glyph, code in display.GB18030.items():
        assert len(glyph) == 1 and ord(glyph) >= 0x80
        assert glyph.encode("gb18030") == bytes([code >> 8, code & 0xFF]), glyph
        assert display.encode_line(glyph, "gb18030") == glyph.encode("gb18030")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _strings(v)


def test_every_glyph_the_module_uses_is_in_the_table_and_no_other():
    tables = [v for k, v in vars(display).items()
              if not k.startswith("__") and k != "GB18030" and isinstance(v, (dict, tuple, list))]
    used = set(c for table in tables for s in _strings(table) for c in s if ord(c) >= 0x80)
    assert "积" in used and "万" in used and "存" in used
    assert used == set(display.GB18030)
    # Literals outside the tables count too: every non-ASCII character of the source.
    with open(display.__file__, encoding="utf-8") as f:
        assert set(c for c in f.read() if ord(c) >= 0x80) == used


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
    line1, line2 = display.render(status, lang, offline)
    assert display.width(line1) <= 20 and display.width(line2) <= 20
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
    table = dict(display.GB18030)
    del table["金"]
    monkeypatch.setattr(display, "GB18030", table)
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


def test_golden_vectors_match():
    with open(VECTORS) as f:
        vectors = json.load(f)
    for v in vectors:
        got = display.show(v["status"], v["lang"], v["charset"], v["offline"])
        assert got.hex() == v["bytes_hex"], v
    seen = set((v["lang"], v["charset"], v["offline"], "lic" in v["status"]) for v in vectors)
    assert ("zh-CN", "gb18030", True, True) in seen and ("zh-CN", "ascii", True, False) in seen
    assert ("en", "gb18030", False, False) in seen and any(b"\xbb\xfd" in bytes.fromhex(v["bytes_hex"])
                                                       for v in vectors)
    cardless = set((v["lang"], v["charset"]) for v in vectors
                   if v["status"].get("cust") == "" and v["status"].get("lic") not in (None, "OK"))
    assert ("en", "gb18030") in cardless and ("zh-CN", "gb18030") in cardless and ("zh-CN", "ascii") in cardless


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
