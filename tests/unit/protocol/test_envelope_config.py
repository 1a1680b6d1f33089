"""protocol/envelope.py: the pushed `config` kind (version, offline limits, hot list) and `tags` on a status."""

import json

import pytest

from protocol import envelope, frame, topics
from protocol.errors import ProtocolError

from envelope_bodies import detail, w

TOK = "ab" * 32
CONFIG = {"v": 1, "dev": "T1", "kind": "config", "cfg": 7, "ts": 1700000000, "card": 20000, "term": 100000,
          "all": True, "frozen": [TOK, "0" * 64]}
STATUS = {"v": 1, "dev": "T1", "kind": "status", "for": "sid", "id": 1, "cust": "C1", "pts": 5}


def test_config_travels_retained_on_down_config():
    assert envelope.TOPIC_OF["config"] == "down/config"
    assert topics.DOWN["down/config"] == 1


@pytest.mark.parametrize("body", [CONFIG, w(CONFIG, frozen=[]), w(CONFIG, all=False, card=0, term=0)])
def test_good_config_bodies_pass(body):
    assert envelope.validate(json.loads(json.dumps(body)), "T1") == body


@pytest.mark.parametrize("changes, want", [
    ({"cfg": None}, "config.cfg: missing"),
    ({"cfg": -1}, "config.cfg: must be an integer >= 0"),
    ({"card": None}, "config.card: missing"),
    ({"term": "100"}, "config.term: must be an integer >= 0"),
    ({"all": None}, "config.all: missing"),
    ({"frozen": None}, "config.frozen: missing"),
    ({"frozen": TOK}, "config.frozen: must be a list of card tokens (64 lowercase hex digits each)"),
    ({"frozen": [TOK.upper()]}, "config.frozen: must be a list of card tokens (64 lowercase hex digits each)"),
    ({"frozen": [TOK[:-1]]}, "config.frozen: must be a list of card tokens (64 lowercase hex digits each)"),
])
def test_bad_config_bodies_are_refused_naming_the_field(changes, want):
    assert detail(w(CONFIG, **changes)) == want


def test_config_for_another_device_is_refused():
    with pytest.raises(ProtocolError) as e:
        envelope.validate(dict(CONFIG), "T2")
    assert e.value.reason == "wrong_device"


def test_build_writes_the_hot_list_last_and_refuses_an_oversize_one():
    pairs = [("cfg", 1), ("ts", 2), ("card", 3), ("term", 4), ("all", True), ("frozen", [TOK])]
    body = envelope.build("config", "T1", pairs)
    assert body.endswith(b'"frozen":["' + TOK.encode() + b'"]}')
    too_many = [("frozen", [TOK] * 80)] + pairs[:-1]
    with pytest.raises(ProtocolError) as e:
        envelope.build("config", "T1", too_many)
    assert e.value.reason == "oversize"
    assert len(frame.sign("pos/T1/down/config", body, b"k" * 32)) <= frame.MAX_FRAME


@pytest.mark.parametrize("tags", [[], ["vip"], ["a" * 24, "high_risk", "birthday_month", "rfm_555", "x", "y", "z", "0"]])
def test_status_tags_are_optional_short_codes(tags):
    assert envelope.validate(w(STATUS, tags=tags), "T1")["tags"] == tags
    assert "tags" not in envelope.validate(dict(STATUS), "T1")


@pytest.mark.parametrize("tags", [["a"] * 9, ["VIP"], [""], ["a" * 25], ["vip-gold"], ["中"], "vip", [1], [None]])
def test_bad_status_tags_are_refused(tags):
    assert detail(w(STATUS, tags=tags)) == "status.tags: must be a list of at most 8 tag codes of 1-24 characters a-z 0-9 _"
