import hashlib
import hmac
import json
import pathlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.track import parse_swipe

VECTORS = json.loads((pathlib.Path(__file__).parents[2] / "vectors" / "tracks.json").read_text())
KEY = bytes.fromhex(VECTORS["token_key_hex"])
NOW = VECTORS["now_yymm"]
CASES = VECTORS["cases"]
REASONS = {"empty", "garbage", "bad_sentinel", "bad_separator", "bad_lrc", "bad_luhn", "non_numeric", "too_long",
           "too_short", "bad_expiry", "expired", "bad_service_code", "track_mismatch"}


def stdlib_tok(pan):
    return hmac.new(KEY, pan.encode(), hashlib.sha256).hexdigest()


def luhn_digit(body):
    """Check digit computed here, independently of the module."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def reject(raw, now=NOW):
    with pytest.raises(ProtocolError) as e:
        parse_swipe(raw, KEY, now)
    return e.value


def test_vectors_cover_every_reason_and_both_tracks():
    assert len(CASES) >= 30
    assert {c["reject"] for c in CASES if "reject" in c} == REASONS
    assert {c["expect"]["track"] for c in CASES if "expect" in c} == {1, 2}
    assert {len(c["pan"]) for c in CASES if "expect" in c} >= {13, 15, 16, 19}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_vector(case, as_bytes):
    raw = case["raw"].encode("latin-1") if as_bytes else case["raw"]
    if "reject" in case:
        assert reject(raw).reason == case["reject"]
        return
    want = case["expect"]
    pan = case["pan"]
    # The vector itself is cross-checked: tok from stdlib hmac, bin/last4 from the PAN.
    assert pan in case["raw"]
    assert want["tok"] == stdlib_tok(pan)
    assert (want["bin"], want["last4"]) == (pan[:6], pan[-4:])
    assert parse_swipe(raw, KEY, NOW) == want


def test_expiry_month_is_valid_through_its_end():
    raw = ";4111111111111111=2611101?"
    assert parse_swipe(raw, KEY, 2611)["exp"] == "2611"
    assert reject(raw, now=2612).reason == "expired"


def test_lrc_detail_names_both_values():
    e = reject(";4111111111111111=2812101?:")
    assert e.reason == "bad_lrc"
    assert re.fullmatch(r"track 2: LRC 0x3a does not match computed 0x3[0-9a-f]", e.detail)


def test_other_input_types_are_protocol_errors():
    for raw in (None, 12, ["%B"], memoryview(b";4111111111111111=2812101?")):
        assert reject(raw).reason == "garbage"


def check_result(out):
    assert re.fullmatch(r"[0-9a-f]{64}", out["tok"])
    assert re.fullmatch(r"[0-9]{6}", out["bin"]) and re.fullmatch(r"[0-9]{4}", out["last4"])
    assert int(out["exp"]) >= NOW and re.fullmatch(r"[0-9]{3}", out["svc"])
    assert out["track"] in (1, 2)


def run_fuzz(raw):
    try:
        out = parse_swipe(raw, KEY, NOW)
    except ProtocolError as e:
        assert e.reason in REASONS
        return
    check_result(out)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_fuzz_bytes_only_protocol_error_escapes(raw):
    run_fuzz(raw)


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_fuzz_text_only_protocol_error_escapes(raw):
    run_fuzz(raw)


TRACK_ALPHABET = st.sampled_from("%;?^=B0123456789 /:<>AZ\r\n\x00\xff")


@settings(max_examples=1000)
@given(st.sampled_from([c["raw"] for c in CASES]), st.lists(
    st.tuples(st.integers(0, 120), st.integers(0, 2), TRACK_ALPHABET), max_size=4))
def test_fuzz_mutated_vectors_only_protocol_error_escapes(raw, edits):
    # Single-character inserts, deletes and replaces near real swipes reach the deep branches.
    for pos, op, ch in edits:
        pos = min(pos, len(raw))
        if op == 0:
            raw = raw[:pos] + ch + raw[pos:]
        elif op == 1:
            raw = raw[:pos] + raw[pos + 1:]
        else:
            raw = raw[:pos] + ch + raw[pos + 1:]
    run_fuzz(raw)
    run_fuzz(raw.encode("latin-1", "replace"))


def valid_pan(body):
    return body + luhn_digit(body)


pan_bodies = st.text("0123456789", min_size=11, max_size=18)


@settings(max_examples=300)
@given(pan_bodies, st.data())
def test_rejected_swipe_never_shows_the_pan(body, data):
    pan = valid_pan(body)
    broken = data.draw(st.sampled_from([
        ";" + pan + "=2812101",                       # bad_sentinel
        ";" + pan + "2812101?",                       # bad_separator
        ";" + pan + "=2812101?" + "=",                # bad_lrc (or not, then accepted)
        ";" + pan + "=2813101?",                      # bad_expiry
        ";" + pan + "=2812301?",                      # bad_service_code
        ";" + pan + "=2001101?",                      # expired
        "%B" + pan + "^DOE/JOHN^2812101?;" + pan + "=2811101?",  # track_mismatch
        "%B" + pan + "^doe^2812101?",                 # garbage
        ";" + pan + "=2812101" + "0" * 30 + "?",      # too_long
        "x;" + pan + "=2812101?",                     # garbage
    ]))
    try:
        parse_swipe(broken, KEY, NOW)
    except ProtocolError as e:
        assert pan not in str(e) and pan not in repr(e) and pan not in repr(e.args)
        assert not re.search(r"[0-9]{6}", str(e))


def test_vector_rejects_never_show_card_digits():
    for case in CASES:
        if "reject" in case:
            text = str(reject(case["raw"]))
            for run in re.findall(r"[0-9]{6,}", case["raw"]):
                assert run not in text, case["name"]


@settings(max_examples=300)
@given(pan_bodies)
def test_luhn_valid_pan_is_accepted_with_its_bin_last4_and_tok(body):
    pan = valid_pan(body)
    out = parse_swipe(";" + pan + "=2812101?", KEY, NOW)
    assert (out["bin"], out["last4"], out["tok"]) == (pan[:6], pan[-4:], stdlib_tok(pan))


@settings(max_examples=300)
@given(pan_bodies, st.data())
def test_luhn_any_single_digit_change_is_rejected(body, data):
    pan = valid_pan(body)
    pos = data.draw(st.integers(0, len(pan) - 1))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != pan[pos]]))
    bad = pan[:pos] + new + pan[pos + 1:]
    assert reject(";" + bad + "=2812101?").reason == "bad_luhn"
    assert reject("%B" + bad + "^DOE/JOHN^2812101?").reason == "bad_luhn"
