"""The cached tagging context: one version read per batch, shown codes remembered per tag set."""

from server.tags import context
from server.tags import settings as tag_settings
from server.tags.models import TagDef


def test_load_is_cached_until_the_version_moves(tagdb):
    first = context.load()
    assert context.load() is first
    TagDef.create(code="big", name_zh="大", name_en="big", expr="orders_90d >= 5", priority=5)
    tag_settings.bump()
    again = context.load()
    assert again is not first and [code for code, *rest in again.rules] == ["big"]


def test_shown_agrees_with_ordered_and_hands_out_copies(tagdb):
    ctx = context.load()
    codes = {"lc_active", "cls_vip", "v_region_east", "value_high", "loyal"}
    want = context.ordered(ctx, codes, 3, shown_only=True)
    assert want == ["cls_vip", "loyal", "value_high"]
    got = context.shown(ctx, codes, 3)
    assert got == want
    got.append("x")
    assert context.shown(ctx, set(codes), 3) == want and context.shown(ctx, codes, None) == [
        "cls_vip", "loyal", "value_high", "lc_active"]
