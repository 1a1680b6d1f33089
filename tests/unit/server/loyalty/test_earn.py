"""Earn rules: base rate, category and SKU rates, lines and remainder, tiers, campaigns, expiry."""

from datetime import datetime

import pytest

from server.loyalty.earn import add_months, base_points, expires_at, qualified, sale_points
from server.loyalty.programme import build

NOW = datetime(2025, 6, 15, 12, 0)


def prog(**changes):
    return build(changes)


def earn(p, amount, tier="basic", lines=None, cur="CNY", when=NOW, merchant=None):
    tx = {"amount": amount, "cur": cur}
    if lines is not None:
        tx["lines"] = lines
    return sale_points(p, tx, tier, when, merchant)


@pytest.mark.parametrize("amount, cur, points", [
    (1250, "CNY", 12), (99, "CNY", 0), (100, "USD", 1), (1999, "EUR", 19),
    (1500, "JPY", 1500), (30000, "KRW", 30000), (12345, "KWD", 12), (1234, "XTS", 12),
])
def test_default_base_rate_is_one_point_per_whole_unit_rounded_down(amount, cur, points):
    assert earn(prog(), amount, cur=cur) == (points, [])
    assert base_points(prog(), amount, cur) == points


def test_base_rate_is_an_integer_ratio():
    p = prog(base={"points": 3, "per": 10})  # 3 points per 10 yuan
    assert earn(p, 999) == (2, [])     # 9.99 yuan: 2.997 -> 2
    assert earn(p, 10000) == (30, [])
    assert base_points(p, 10000, "CNY") == 30


def test_category_rate_replaces_base_and_multiplier_scales_it():
    p = prog(categories={"dairy": {"points": 2, "per": 1}, "tobacco": {"points": 0, "per": 1},
                         "wine": {"mult": 1500}})
    lines = [{"sku": "A", "cat": "dairy", "amt": 1000, "qty": 1},     # 10 yuan x 2
             {"sku": "B", "cat": "tobacco", "amt": 5000, "qty": 1},   # nothing
             {"sku": "C", "cat": "wine", "amt": 3350, "qty": 1}]      # 33.5 x 1.5 = 50.25
    assert earn(p, 9350, lines=lines) == (70, [])                     # 20 + 0 + 50.25, rounded once


def test_sku_rate_beats_its_category():
    p = prog(categories={"dairy": {"points": 2, "per": 1}}, skus={"MILK1L": {"mult": 5000}})
    lines = [{"sku": "MILK1L", "cat": "dairy", "amt": 1000, "qty": 2}, {"sku": "YOG", "cat": "dairy", "amt": 1000, "qty": 1}]
    assert earn(p, 2000, lines=lines) == (50 + 20, [])


def test_lines_not_covering_the_total_leave_a_remainder_at_base_rate():
    p = prog(categories={"dairy": {"points": 2, "per": 1}})
    assert earn(p, 5000, lines=[{"sku": "A", "cat": "dairy", "amt": 1000, "qty": 1}]) == (20 + 40, [])


def test_lines_adding_up_to_more_than_the_sale_are_scaled_down_to_it():
    p = prog(categories={"dairy": {"points": 2, "per": 1}})
    lines = [{"sku": "A", "cat": "dairy", "amt": 6000, "qty": 1}, {"sku": "B", "cat": "", "amt": 2000, "qty": 1}]
    # paid 60 of 80 (a discount): each line counts 3/4 -> 45 x 2 + 15 x 1
    assert earn(p, 6000, lines=lines) == (105, [])


def test_malformed_lines_earn_on_the_total():
    p = prog(categories={"dairy": {"points": 5, "per": 1}})
    assert earn(p, 1000, lines=[{"cat": "dairy", "amt": "10"}]) == (10, [])
    assert earn(p, 1000, lines="dairy") == (10, [])


@pytest.mark.parametrize("tier, points", [("basic", 333), ("silver", 399), ("gold", 499), ("vip", 666),
                                          ("unknown", 333)])
def test_tier_multipliers_in_permille(tier, points):
    assert earn(prog(), 33333, tier=tier) == (points, [])


def test_campaign_multiplier_and_fixed_bonus_within_their_window():
    p = prog(campaigns=[{"id": "double", "mult": 2000, "from": "2025-06-01T00:00:00Z", "until": "2025-07-01T00:00:00Z"},
                        {"id": "welcome", "bonus": 50, "from": "2025-06-15T12:00:00", "until": "2025-06-16T00:00:00"}])
    assert earn(p, 12345) == (123, [("double", 123), ("welcome", 50)])
    assert earn(p, 12345, tier="gold") == (185, [("double", 185), ("welcome", 50)])
    assert earn(p, 12345, when=datetime(2025, 6, 15, 11, 59, 59)) == (123, [("double", 123)])   # before from
    assert earn(p, 12345, when=datetime(2025, 7, 1)) == (123, [])                                # until is exclusive
    assert earn(p, 0) == (0, [])                                                                  # nothing bought


def test_campaign_offsets_are_converted_to_utc():
    p = prog(campaigns=[{"id": "cn", "bonus": 5, "from": "2025-06-16T00:00:00+08:00",
                         "until": "2025-06-17T00:00:00+08:00"}])
    assert earn(p, 100, when=datetime(2025, 6, 15, 16, 0)) == (1, [("cn", 5)])
    assert earn(p, 100, when=datetime(2025, 6, 15, 15, 59)) == (1, [])


def test_campaign_limited_to_a_merchant_and_a_category():
    p = prog(campaigns=[{"id": "m1dairy", "mult": 3000, "from": "2025-01-01", "until": "2026-01-01",
                         "merchant": "M1", "cat": "dairy"}])
    lines = [{"sku": "A", "cat": "dairy", "amt": 1050, "qty": 1}, {"sku": "B", "cat": "bread", "amt": 4000, "qty": 1}]
    assert earn(p, 5050, lines=lines, merchant="M1") == (50, [("m1dairy", 21)])   # 2 x 10.5 on dairy only
    assert earn(p, 5050, lines=lines, merchant="M2") == (50, [])
    assert earn(p, 5050, merchant="M1") == (50, [])                               # no lines: no dairy


def test_rolling_expiry():
    p = prog(expiry={"mode": "rolling", "months": 12})
    assert expires_at(p, datetime(2025, 6, 15, 12, 0)) == datetime(2026, 6, 15, 12, 0)
    assert expires_at(p, datetime(2024, 2, 29, 8, 0)) == datetime(2025, 2, 28, 8, 0)


def test_fixed_expiry_is_through_a_day_of_the_next_year():
    assert expires_at(prog(), datetime(2025, 1, 1)) == datetime(2027, 1, 1)        # default: through 31.12.2026
    assert expires_at(prog(), datetime(2025, 12, 31, 23, 59)) == datetime(2027, 1, 1)
    p = prog(expiry={"mode": "fixed", "month": 2, "day": 29})
    assert expires_at(p, datetime(2025, 5, 1)) == datetime(2026, 3, 1)            # 2026 has no 29 February
    assert expires_at(p, datetime(2027, 5, 1)) == datetime(2028, 3, 1)            # 2028 has


def test_never_expiring_points():
    assert expires_at(prog(expiry={"mode": "never"}), NOW) is None


@pytest.mark.parametrize("spend, tier", [(-5, "basic"), (0, "basic"), (99999, "basic"), (100000, "silver"),
                                         (499999, "silver"), (500000, "gold"), (2000000, "vip"), (10 ** 12, "vip")])
def test_qualified_tier_by_spend(spend, tier):
    assert qualified(prog(), spend) == tier


def test_add_months_clamps_the_day():
    assert add_months(datetime(2025, 1, 31, 9), 1) == datetime(2025, 2, 28, 9)
    assert add_months(datetime(2025, 3, 31), -12) == datetime(2024, 3, 31)
    assert add_months(datetime(2025, 1, 15), -1) == datetime(2024, 12, 15)
