"""Earn rule, tiers and money formatting."""

import pytest

from server.loyalty.rules import money, points_for, tier_for


@pytest.mark.parametrize("amount, cur, points", [
    (1250, "CNY", 12), (99, "CNY", 0), (100, "USD", 1), (1999, "EUR", 19),
    (1500, "JPY", 1500), (30000, "KRW", 30000), (12345, "KWD", 12), (1234, "XTS", 12),
])
def test_one_point_per_whole_currency_unit(amount, cur, points):
    assert points_for(amount, cur) == points


@pytest.mark.parametrize("points, tier", [
    (-5, "basic"), (0, "basic"), (999, "basic"), (1000, "silver"), (4999, "silver"),
    (5000, "gold"), (19999, "gold"), (20000, "vip"), (10 ** 9, "vip"),
])
def test_tier_thresholds(points, tier):
    assert tier_for(points) == tier


def test_money():
    assert money(1250, "CNY") == "12.50"
    assert money(-5, "USD") == "-0.05"
    assert money(1500, "JPY") == "1500"
    assert money(12345, "BHD") == "12.345"
