"""agent/core/texts.py: the display texts per language and the GB18030 table of their glyphs."""

from agent.core import display, layout, texts


def test_glyph_table_agrees_with_cpython_gb18030():
    assert texts.GB18030
    for glyph, code in texts.GB18030.items():
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


def test_every_glyph_the_texts_use_is_in_the_table_and_no_other():
    tables = [v for k, v in vars(texts).items()
              if not k.startswith("__") and k != "GB18030" and isinstance(v, (dict, tuple, list))]
    used = set(c for table in tables for s in _strings(table) for c in s if ord(c) >= 0x80)
    assert "积" in used and "万" in used and "存" in used and "余" in used and "券" in used
    assert used == set(texts.GB18030)
    # Literals outside the tables count too: every non-ASCII character of the source, and the
    # layout code holds none of its own.
    with open(texts.__file__, encoding="utf-8") as f:
        assert set(c for c in f.read() if ord(c) >= 0x80) == used
    for module in (layout, display):
        with open(module.__file__, encoding="utf-8") as f:
            assert not [c for c in f.read() if ord(c) >= 0x80], module.__name__


def test_language_tables_have_the_same_keys():
    for table in (texts.TEXTS, texts.TIERS, texts.MESSAGES, texts.AUTHR, texts.CODES, texts.UNITS, texts.LAYOUT):
        assert set(table) == {"en", "zh-CN"}
    for table in (texts.TEXTS, texts.TIERS, texts.MESSAGES, texts.AUTHR, texts.CODES):
        assert set(table["en"]) == set(table["zh-CN"])


def test_coupon_texts_cover_every_outcome_in_both_languages():
    outcomes = {"VALID", "USED", "EXPIRED", "VOID", "UNKNOWN", "NOT_YET_VALID", "NOT_YOURS", "CARD_NEEDED", "OFFLINE"}
    assert set(texts.COUPON) == {"en", "zh-CN"}
    for lang in texts.COUPON:
        assert set(texts.COUPON[lang]) == outcomes | {"no", "off", "gift", "check", "offline"}
        assert all(layout.width(t) <= 20 for t in texts.COUPON[lang].values())
