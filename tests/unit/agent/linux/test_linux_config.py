"""agent/linux/config.py (named test_linux_* so it cannot collide with server test modules)."""

import json

import pytest

from agent.linux import config
from agent_testkit import KEY_HEX, make_config


def write(tmp_path, obj):
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(path)


def minimal():
    return {"device": "T1", "key_hex": KEY_HEX, "token_key_hex": "ab" * 32, "mqtt": {"password": "pw"}}


def test_minimal_config_gets_spine_defaults(tmp_path):
    cfg = config.load(write(tmp_path, minimal()))
    assert cfg["key"] == bytes([0x11]) * 32 and cfg["token_key"] == bytes([0xAB]) * 32
    assert cfg["mqtt"] == {"host": "127.0.0.1", "port": 1883, "username": "T1", "password": "pw",
                           "keepalive": 30, "tls": None}
    assert cfg["outbox"]["path"] == "/var/lib/possync/outbox.log"
    assert cfg["pos"] == {"host": "127.0.0.1", "port": 9100}
    assert (cfg["window"], cfg["ack_timeout_s"], cfg["heartbeat_s"], cfg["swipe_ttl_s"]) == (32, 10, 30, 120)
    assert cfg["reader"] is None and cfg["display"] is None and cfg["currency"] == "CNY"
    assert cfg["acq"] is None
    assert cfg["offline"] == {"card": 20000, "terminal": 100000}
    assert cfg["auth_timeout_ms"] == 3000 and cfg["frozen"] == frozenset()


def test_full_config_from_the_test_kit_loads(tmp_path):
    path, raw = make_config(tmp_path, 1883, reader={"stdin": True},
                            display={"port": "/dev/ttyS1", "baud": 9600, "lang": "en", "charset": "ascii"})
    cfg = config.load(path)
    assert cfg["reader"] == {"stdin": True}
    assert cfg["display"]["lang"] == "en"


@pytest.mark.parametrize("change,key", [
    (lambda c: c.pop("device"), "device: missing"),
    (lambda c: c.update(device="T 1"), "device: "),
    (lambda c: c.update(key_hex="abc"), "key_hex: must be 64 hex digits"),
    (lambda c: c.update(token_key_hex="zz" * 32), "token_key_hex: must be 64 hex digits"),
    (lambda c: c["mqtt"].update(port=70000), "mqtt.port: must be an integer from 1 to 65535"),
    (lambda c: c["mqtt"].update(port="1883"), "mqtt.port: must be an integer"),
    (lambda c: c["mqtt"].pop("password"), "mqtt.password: missing"),
    (lambda c: c["mqtt"].update(tls={"ca": "/nonexistent/ca.pem"}), "mqtt.tls.ca: must name a readable"),
    (lambda c: c.update(outbox={"max_count": 0}), "outbox.max_count: must be an integer"),
    (lambda c: c.update(reader={"baud": 9600}), "reader.port: missing"),
    (lambda c: c.update(display={"port": "/dev/ttyS1", "lang": "fr"}), "display.lang: must be"),
    (lambda c: c.update(pos=[]), "pos: must be a JSON object"),
    (lambda c: c.update(currency="yuan"), "currency: must be an ISO 4217 code"),
    (lambda c: c.update(window=0), "window: must be an integer from 1"),
    (lambda c: c.update(drop_dir=""), "drop_dir: must be null or a folder path"),
    (lambda c: c.update(acq="Z2000133000019"), "acq: must be an object with string fields among inst, lic"),
    (lambda c: c.update(acq={"mid": "M", "merchant": "X"}), "acq.merchant: unknown field"),
    (lambda c: c.update(acq={"tid": 10000001}), "acq.tid: must be a string of at most 40 characters"),
    (lambda c: c.update(offline=20000), "offline: must be {\"card\": N, \"terminal\": M} in minor units"),
    (lambda c: c.update(offline={"card": -1}), "offline.card: must be an integer from 0 to"),
    (lambda c: c.update(offline={"terminal": 1.5}), "offline.terminal: must be an integer from 0 to"),
    (lambda c: c.update(auth_timeout_ms=50), "auth_timeout_ms: must be an integer from 100 to 60000"),
    (lambda c: c.update(frozen="a" * 64), "frozen: must be a list of at most 100000 card tokens"),
    (lambda c: c.update(frozen=["a" * 64, "A" * 64]), "frozen[1]: must be a card token (64 lowercase hex digits)"),
])
def test_errors_name_the_file_and_the_key(tmp_path, change, key):
    raw = minimal()
    change(raw)
    path = write(tmp_path, raw)
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert str(e.value).startswith("config %s: %s" % (path, key))


def test_unreadable_and_non_json_files(tmp_path):
    with pytest.raises(config.ConfigError) as e:
        config.load(str(tmp_path / "missing.json"))
    assert "no such file" in str(e.value) and "--agent-config" in str(e.value)
    with pytest.raises(config.ConfigError) as e:
        config.load(write(tmp_path, "{not json"))
    assert "not valid JSON" in str(e.value)
    with pytest.raises(config.ConfigError) as e:
        config.load(write(tmp_path, "[1]"))
    assert "(top level): must be a JSON object" in str(e.value)


def test_unknown_keys_are_ignored_for_newer_servers(tmp_path, caplog):
    raw = minimal()
    raw["later_feature"] = 1
    cfg = config.load(write(tmp_path, raw))
    assert "later_feature" not in cfg
    assert "later_feature" in caplog.text


def test_terminal_default_acq_is_loaded(tmp_path):
    raw = minimal()
    raw["acq"] = {"inst": "48021000", "mid": "102100058120001", "tid": "10000001"}
    assert config.load(write(tmp_path, raw))["acq"] == raw["acq"]


def test_offline_limits_and_hot_list_are_loaded(tmp_path):
    raw = minimal()
    raw.update(offline={"card": 0}, auth_timeout_ms=1500, frozen=["ab" * 32, "cd" * 32])
    cfg = config.load(write(tmp_path, raw))
    assert cfg["offline"] == {"card": 0, "terminal": 100000}  # 0: no offline spends per card
    assert cfg["auth_timeout_ms"] == 1500
    assert cfg["frozen"] == frozenset(["ab" * 32, "cd" * 32])
