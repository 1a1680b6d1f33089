"""Vault field sealing: round trip, binding to customer, field and key version, clear errors."""

import pytest

from server.vault.crypto import VaultError, open_field, seal, version_of

K1, K2 = b"\x01" * 32, b"\x02" * 32
RING = {1: K1, 2: K2}


@pytest.mark.parametrize("value", ["", "张三", "13800138000", "a@b.example", "x" * 5000, "🙂 emoji"])
def test_round_trip_and_no_plaintext_in_the_bytes(value):
    blob = seal(K2, 2, "CABC", "name", value)
    assert version_of(blob) == 2 and open_field(RING, "CABC", "name", blob) == value
    if value:
        assert value.encode() not in blob


def test_same_value_seals_differently_each_time():
    assert seal(K1, 1, "C1", "phone", "13800138000") != seal(K1, 1, "C1", "phone", "13800138000")


@pytest.mark.parametrize("customer, field, words", [
    ("C2", "phone", "belongs to another customer or field"),
    ("C1", "email", "belongs to another customer or field"),
])
def test_a_field_moved_to_another_customer_or_field_does_not_open(customer, field, words):
    blob = seal(K1, 1, "C1", "phone", "13800138000")
    with pytest.raises(VaultError, match=words):
        open_field(RING, customer, field, blob)


def test_tampered_or_relabelled_fields_do_not_open():
    blob = bytearray(seal(K1, 1, "C1", "phone", "13800138000"))
    flipped = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
    with pytest.raises(VaultError, match="altered"):
        open_field(RING, "C1", "phone", flipped)
    relabelled = bytes(blob[:1]) + b"\x00\x02" + bytes(blob[3:])  # claims key version 2
    with pytest.raises(VaultError, match="key version 2"):
        open_field(RING, "C1", "phone", relabelled)


def test_missing_key_version_and_bad_input_say_what_to_do():
    blob = seal(K2, 2, "C1", "name", "李四")
    with pytest.raises(VaultError, match="key version 2 is not loaded \\(have 1\\): restore that key"):
        open_field({1: K1}, "C1", "name", blob)
    with pytest.raises(VaultError, match="not a sealed vault field"):
        version_of(b"\x02" + blob[1:])
    with pytest.raises(VaultError, match="must be text"):
        seal(K1, 1, "C1", "birthday", 19900101)
    with pytest.raises(VaultError, match="out of range"):
        seal(K1, 0, "C1", "name", "x")
    with pytest.raises(VaultError, match="16 bytes, expected 32"):
        seal(K1[:16], 1, "C1", "name", "x")
