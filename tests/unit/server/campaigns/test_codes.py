"""Coupon codes: alphabet, print grouping, and the check character catching typos."""

import pytest

from server.campaigns import CampaignError
from server.campaigns.codes import ALPHABET, LENGTH, new_code, normalise, printed


def test_new_codes_are_well_formed_and_read_back():
    codes = {new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == LENGTH and set(code) <= set(ALPHABET)
        assert normalise(code) == code
        assert normalise(" " + printed(code).lower() + " ") == code


def test_printed_groups_by_four():
    assert printed("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"


def test_lookalike_letters_are_read_as_digits():
    code = new_code()
    typed = code.replace("0", "O").replace("1", "l")
    assert normalise(typed) == code


@pytest.mark.parametrize("sample", range(20))
def test_every_single_wrong_character_is_caught(sample):
    code = new_code()
    for i in range(LENGTH):
        for c in ALPHABET:
            if c != code[i]:
                with pytest.raises(CampaignError, match="check character wrong: re-read the code"):
                    normalise(code[:i] + c + code[i + 1:])


@pytest.mark.parametrize("sample", range(20))
def test_every_swap_of_two_different_characters_is_caught(sample):
    code = new_code()
    for i in range(LENGTH):
        for j in range(i + 1, LENGTH):
            if code[i] != code[j]:
                swapped = list(code)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                with pytest.raises(CampaignError, match="check character wrong"):
                    normalise("".join(swapped))


def test_wrong_length_and_foreign_characters_say_what_is_wrong():
    code = new_code()
    with pytest.raises(CampaignError, match="it has 11 characters, a code has 12; re-read the code"):
        normalise(code[:-1])
    with pytest.raises(CampaignError, match="never contain U"):
        normalise("U" + code[1:])
    with pytest.raises(CampaignError, match="has 0 characters"):
        normalise("")
