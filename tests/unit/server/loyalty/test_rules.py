"""Currency exponents and money formatting."""

import pytest

from server.loyalty.rules import exponent, money


@pytest.mark.parametrize("cur, exp", [("CNY", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("CLF", 4),
                                      ("XTS", 2)])
def test_exponent(cur, exp):
    assert exponent(cur) == exp


def test_money():
    assert money(1250, "CNY") == "12.50"
    assert money(-5, "USD") == "-0.05"
    assert money(1500, "JPY") == "1500"
    assert money(12345, "BHD") == "12.345"
