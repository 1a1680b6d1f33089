"""protocol/pinblock.py: PIN blocks sealed under the device key, checked against the stdlib hmac."""

import binascii
import hashlib
import hmac
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import pinblock
from protocol.errors import ProtocolError
from realparts import ROOT

KEY = bytes(range(32))
NONCE = "0011223344556677"

with open(os.path.join(ROOT, "tests", "vectors", "pinblock.json")) as f:
    VECTORS = json.load(f)
KEYS = {name: binascii.unhexlify(h) for name, h in VECTORS["keys"].items()}


def reference(key, dev, aid, nonce, pin):
    """The block as the design states it, written with the stdlib hmac."""
    pad = hmac.new(key, b"possync-pin\0" + dev.encode() + b"\0" + str(aid).encode() + b"\0" + nonce.encode(),
                   hashlib.sha256).digest()[:16]
    plain = bytes([len(pin)]) + pin.encode() + b"\xff" * (15 - len(pin))
    return bytes(a ^ b for a, b in zip(plain, pad)).hex()


@pytest.mark.parametrize("case", VECTORS["seal"], ids=lambda c: c["name"])
def test_golden_blocks_are_the_stdlib_hmac_construction(case):
    key = KEYS[case["key"]]
    assert reference(key, case["dev"], case["aid"], case["nonce"], case["pin"]) == case["block"]
    assert pinblock.seal_pin(key, case["dev"], case["aid"], case["nonce"], case["pin"]) == case["block"]
    assert pinblock.open_pin(key, case["dev"], case["aid"], case["nonce"], case["block"]) == case["pin"]


@pytest.mark.parametrize("case", VECTORS["open_rejects"], ids=lambda c: c["name"])
def test_blocks_that_do_not_open_are_refused(case):
    with pytest.raises(ProtocolError) as e:
        pinblock.open_pin(KEYS[case["key"]], case["dev"], case["aid"], case["nonce"], case["block"])
    assert e.value.reason == case["reason"] == "bad_pin_block"


@pytest.mark.parametrize("case", VECTORS["seal_rejects"], ids=lambda c: c["name"])
def test_bad_pins_and_inputs_are_refused_without_echoing_the_pin(case):
    with pytest.raises(ProtocolError) as e:
        pinblock.seal_pin(KEYS[case["key"]], case["dev"], case["aid"], case["nonce"], case["pin"])
    assert e.value.reason == case["reason"]
    assert str(case["pin"]) not in str(e.value)


@settings(max_examples=200, deadline=None)
@given(pin=st.text("0123456789", min_size=4, max_size=12), aid=st.integers(0, (1 << 53) - 1),
       nonce=st.binary(min_size=8, max_size=8))
def test_any_pin_round_trips_and_matches_the_reference(pin, aid, nonce):
    n = nonce.hex()
    block = pinblock.seal_pin(KEY, "T1", aid, n, pin)
    assert block == reference(KEY, "T1", aid, n, pin)
    assert len(block) == 32 and block == block.lower()
    assert pinblock.open_pin(KEY, "T1", aid, n, block) == pin


def test_the_same_pin_gives_unrelated_blocks_per_nonce_aid_device_and_key():
    blocks = {pinblock.seal_pin(KEY, "T1", 1, NONCE, "1234"),
              pinblock.seal_pin(KEY, "T1", 1, "0011223344556678", "1234"),
              pinblock.seal_pin(KEY, "T1", 2, NONCE, "1234"),
              pinblock.seal_pin(KEY, "T2", 1, NONCE, "1234"),
              pinblock.seal_pin(b"other", "T1", 1, NONCE, "1234")}
    assert len(blocks) == 5


def test_a_wrong_key_or_context_never_opens_to_some_other_pin():
    block = pinblock.seal_pin(KEY, "T1", 1, NONCE, "1234")
    for args in ((b"other", "T1", 1, NONCE), (KEY, "T2", 1, NONCE), (KEY, "T1", 2, NONCE),
                 (KEY, "T1", 1, "0011223344556678")):
        with pytest.raises(ProtocolError) as e:
            pinblock.open_pin(*(args + (block,)))
        assert e.value.reason == "bad_pin_block"
        assert "1234" not in str(e.value)


def test_the_pad_input_is_kept_apart_from_frame_macs():
    # Frame MACs are over "pos/..." topics; the PIN pad input starts "possync-pin\0".
    assert not b"possync-pin\0".startswith(b"pos/")
