"""protocol/money.py: minor units as text with the currency's ISO 4217 decimals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import money


@pytest.mark.parametrize("amount, cur, text", [
    (123450, "CNY", "1234.50"), (0, "CNY", "0.00"), (5, "CNY", "0.05"), (-5, "CNY", "-0.05"),
    (-123450, "USD", "-1234.50"), (5000, "JPY", "5000"), (-1, "KRW", "-1"), (1, "KWD", "0.001"),
    (12345, "CLF", "1.2345"), (100, "XXX", "1.00"),
])
def test_text(amount, cur, text):
    assert money.text(amount, cur) == text


@given(amount=st.integers(-10 ** 20, 10 ** 20), cur=st.sampled_from(["CNY", "JPY", "KWD", "CLF"]))
def test_text_reads_back_as_the_same_minor_units(amount, cur):
    text = money.text(amount, cur)
    exp = money.exponent(cur)
    assert int(text.replace(".", "")) == amount
    assert (len(text.split(".")[1]) if "." in text else 0) == exp
