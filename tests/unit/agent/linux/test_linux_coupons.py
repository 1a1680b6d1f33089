"""Coupon codes typed at the terminal and the POS replies to coupon checks (agent/linux/coupons.py)."""

from agent.linux import coupons
from protocol import envelope
from server.campaigns.codes import new_code, printed


def test_coupon_codes_are_checked_as_the_server_issues_them():
    for _ in range(200):
        code = new_code()
        assert coupons.parse(code) == (code, None)
        assert coupons.parse(" " + printed(code).lower() + " ")[0] == code
        for i in range(12):
            for c in envelope.COUPON_ALPHABET:
                if c != code[i]:
                    assert coupons.parse(code[:i] + c + code[i + 1:])[0] is None
            if i < 11 and code[i] != code[i + 1]:
                assert "swapped" in coupons.parse(code[:i] + code[i + 1] + code[i] + code[i + 2:])[1]
    assert coupons.parse("0000-0000-0000") == ("000000000000", None)
    valid = next(c for c in iter(new_code, None) if "0" in c and "1" in c)
    assert coupons.parse(valid.replace("0", "o").replace("1", "l")) == (valid, None)
    assert coupons.parse(valid.replace("0", "O").replace("1", "I")) == (valid, None)
    assert "12 characters, this has 11" in coupons.parse("0000-0000-000")[1]
    assert "only the characters 0-9 and A-Z" in coupons.parse("0000-0000-000U")[1]
