"""agent/core/pushed.py: a pushed config is verified, taken only when newer, and kept across restarts."""

import pytest

from agent.core import pushed
from protocol import envelope, frame
from protocol.errors import ProtocolError

KEY = b"\x07" * 32
TOK = "cd" * 32
TOPIC = "pos/T1/down/config"


def config_frame(cfg, frozen=(TOK,), dev="T1", key=KEY, topic=TOPIC, card=500, term=2000):
    body = envelope.build("config", dev, [("cfg", cfg), ("ts", 1700000000), ("card", card), ("term", term),
                                          ("all", True), ("frozen", list(frozen))])
    return frame.sign(topic, body, key)


def reason(payload, dev="T1", key=KEY):
    with pytest.raises(ProtocolError) as e:
        pushed.verify(dev, key, payload)
    return e.value.reason


def test_a_signed_config_gives_its_limits_and_hot_list():
    obj = pushed.verify("T1", KEY, config_frame(3))
    assert obj["cfg"] == 3
    assert pushed.limits(obj) == {"card": 500, "terminal": 2000}
    assert pushed.hot_list(obj) == {TOK}


def test_unsigned_foreign_and_misplaced_configs_are_refused_with_a_reason():
    good = config_frame(3)
    assert reason(good[:-64] + b"0" * 64) == "bad_mac"
    assert reason(config_frame(3, key=b"\x08" * 32)) == "bad_mac"
    assert reason(good[:-65]) == "malformed"
    # signed with T1's key for T1's topic, but the body names T2: refused
    assert reason(config_frame(3, dev="T2")) == "wrong_device"
    # a status body signed for the config topic is not a config
    status = envelope.build("status", "T1", [("for", "sid"), ("id", 1), ("cust", "C"), ("pts", 1)])
    assert reason(frame.sign(TOPIC, status, KEY)) == "bad_kind"


def test_only_a_higher_version_replaces_the_applied_one():
    one, two = pushed.verify("T1", KEY, config_frame(1)), pushed.verify("T1", KEY, config_frame(2))
    assert pushed.newer(one, None)
    assert pushed.newer(two, one)
    assert not pushed.newer(one, two)
    assert not pushed.newer(two, two)


def test_save_then_load_gives_the_same_frame_and_leaves_no_scratch_file(tmp_path):
    path = str(tmp_path / "outbox.log.pushed")
    payload = config_frame(5)
    pushed.save(path, payload)
    obj, again, problems = pushed.load(path, "T1", KEY)
    assert (obj["cfg"], again, problems) == (5, payload, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox.log.pushed"]
    pushed.save(path, config_frame(6))
    assert pushed.load(path, "T1", KEY)[0]["cfg"] == 6


def test_load_without_a_file_is_nothing(tmp_path):
    assert pushed.load(str(tmp_path / "none"), "T1", KEY) == (None, None, [])


def test_load_refuses_a_tampered_file_and_one_for_another_key(tmp_path):
    path = str(tmp_path / "p")
    payload = config_frame(5)
    with open(path, "wb") as f:
        f.write(payload.replace(b'"card":500', b'"card":900'))
    assert pushed.load(path, "T1", KEY) == (None, None, [path + ": bad_mac"])
    pushed.save(path, payload)
    assert pushed.load(path, "T1", b"\x09" * 32)[0] is None  # re-enrolled with a new key: the old file is void


@pytest.mark.parametrize("cut", [0, 1, 40, -65, -1])
def test_a_save_cut_short_keeps_the_config_saved_before(tmp_path, cut):
    path = str(tmp_path / "p")
    pushed.save(path, config_frame(5))
    newer = config_frame(6)
    with open(path + ".tmp", "wb") as f:  # the crash came while writing the scratch file
        f.write(newer[:cut])
    obj, payload, problems = pushed.load(path, "T1", KEY)
    assert obj["cfg"] == 5 and len(problems) == 1


def test_a_whole_scratch_file_left_by_a_crash_before_the_rename_is_taken_if_newer(tmp_path):
    path = str(tmp_path / "p")
    pushed.save(path, config_frame(5))
    with open(path + ".tmp", "wb") as f:
        f.write(config_frame(6))
    assert pushed.load(path, "T1", KEY)[0]["cfg"] == 6
    with open(path + ".tmp", "wb") as f:
        f.write(config_frame(4))
    assert pushed.load(path, "T1", KEY)[0]["cfg"] == 5
