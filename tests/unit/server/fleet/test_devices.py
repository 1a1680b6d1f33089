"""Fleet logic: enrolment, revocation, agent config, Mosquitto password file."""

import json
import os
import stat

import pytest

from server import keys
from server.fleet import devices
from server.fleet.models import Device


def test_add_stores_the_key_sealed_and_returns_it_once(app, master):
    device, key, password = devices.add_device("T1", master)
    assert len(key) == 32 and len(password) >= 24
    stored = Device.get_by_id("T1")
    assert bytes(stored.key_enc) != key
    assert keys.unseal(master, "T1", stored.key_enc) == key
    assert stored.revoked_at is None and stored.acked_upto == 0


@pytest.mark.parametrize("dev", ["", "T 1", "x" * 33, "T/1", "T+1"])
def test_add_refuses_bad_ids(app, master, dev):
    with pytest.raises(devices.FleetError, match="A-Z a-z 0-9"):
        devices.add_device(dev, master)


def test_ids_are_never_reused(app, master):
    devices.add_device("T1", master)
    devices.revoke_device("T1")
    with pytest.raises(devices.FleetError, match="already exists"):
        devices.add_device("T1", master)


def test_revoke(app, master):
    devices.add_device("T1", master)
    first = devices.revoke_device("T1").revoked_at
    assert first is not None
    assert devices.revoke_device("T1").revoked_at == first
    with pytest.raises(devices.FleetError, match="no device T9"):
        devices.revoke_device("T9")


def test_agent_config_follows_the_spine_format(tmp_path):
    cfg = devices.agent_config("T1", b"\x01" * 32, b"\x02" * 32, "pw", "broker", 8883, tls_ca="/ca.pem")
    assert cfg["device"] == "T1" and cfg["key_hex"] == "01" * 32 and cfg["token_key_hex"] == "02" * 32
    assert cfg["mqtt"] == {"host": "broker", "port": 8883, "username": "T1", "password": "pw",
                           "tls": {"ca": "/ca.pem"}, "keepalive": 30}
    assert cfg["outbox"]["max_count"] == 20000 and cfg["window"] == 32 and cfg["currency"] == "CNY"
    path = str(tmp_path / "t1.json")
    devices.write_secret_file(path, json.dumps(cfg))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.load(open(path)) == cfg


def test_mosquitto_password_file(tmp_path):
    passwd = str(tmp_path / "passwd")
    devices.mosquitto_users(passwd, {"T1": "secret"})
    devices.mosquitto_users(passwd, {"T2": "other"})
    text = open(passwd).read()
    assert text.startswith("T1:") and "\nT2:" in text and "secret" not in text
    devices.mosquitto_users(passwd, {"T1": None})
    assert not open(passwd).read().startswith("T1:") and open(passwd).read().startswith("T2:")
    with pytest.raises(devices.FleetError, match="no MQTT user T1"):
        devices.mosquitto_users(passwd, {"T1": None})


def test_mosquitto_passwords_never_go_on_a_command_line(tmp_path, monkeypatch):
    import subprocess

    seen = []
    real = subprocess.run

    def run(args, **kw):
        seen.append(" ".join(args))
        return real(args, **kw)

    monkeypatch.setattr(subprocess, "run", run)
    passwd = str(tmp_path / "passwd")
    devices.mosquitto_users(passwd, {"T1": "pw-on-argv?"})
    assert seen and not any("pw-on-argv?" in cmd for cmd in seen)
    assert open(passwd).read().startswith("T1:$")
