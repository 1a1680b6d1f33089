"""possync-server as a real process: init-db and device add/list/revoke."""

import json
import os
import stat
import subprocess
import sys

import pytest

from protocol import frame
from server import create_app, keys
from server.fleet.models import Device

EXE = os.path.join(os.path.dirname(sys.executable), "possync-server")


def stored_key(tmp_path, dev):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst"), "DATABASE_URL": "sqlite:///" + str(tmp_path / "p.db"),
                      "SECRET_KEY_FILE": str(tmp_path / "master.key")})
    with app.app_context():
        device = Device.get_by_id(dev)
        return keys.unseal(keys.load_key_file(str(tmp_path / "master.key")), dev, device.key_enc), device


def test_help_has_examples():
    out = subprocess.run([EXE, "--help"], capture_output=True, text=True).stdout
    assert "possync-server device add T1" in out and "POSSYNC_DATABASE_URL" in out
    out = subprocess.run([EXE, "device", "add", "--help"], capture_output=True, text=True).stdout
    assert "SIGHUP" in out


def test_init_db(cli, tmp_path):
    run = cli("init-db")
    assert run.returncode == 0, run.stderr
    assert "database ready" in run.stdout and os.path.exists(tmp_path / "p.db")


def test_device_add_writes_secrets_to_the_agent_config_not_to_stdout(cli, tmp_path):
    run = cli("device", "add", "T1", "--agent-config", "t1.json", "--token-key-file", "token.key", "--mqtt-port", "8883")
    assert run.returncode == 0, run.stderr
    key, device = stored_key(tmp_path, "T1")
    assert key.hex() not in run.stdout and "t1.json" in run.stdout
    agent = json.loads((tmp_path / "t1.json").read_text())
    assert stat.S_IMODE(os.stat(tmp_path / "t1.json").st_mode) == 0o600
    assert agent["device"] == "T1" and agent["key_hex"] == key.hex()
    assert agent["token_key_hex"] == (tmp_path / "token.key").read_bytes().hex()
    assert agent["mqtt"]["host"] == "10.0.0.5" and agent["mqtt"]["port"] == 8883 and agent["mqtt"]["username"] == "T1"
    assert agent["mqtt"]["password"] not in run.stdout
    # a frame signed with the written key verifies with the stored one
    assert frame.verify("pos/T1/up/hb", frame.sign("pos/T1/up/hb", b"{}", bytes.fromhex(agent["key_hex"])), key) == b"{}"


def test_device_add_gives_the_terminal_the_servers_offline_limits_and_frozen_cards(cli, tmp_path):
    limits = '{"card": 5000, "terminal": 30000}'
    run = cli("device", "add", "T1", "--agent-config", "t1.json", "--token-key-file", "token.key",
              env_extra={"POSSYNC_WALLET_OFFLINE_LIMITS": limits})
    assert run.returncode == 0, run.stderr
    agent = json.loads((tmp_path / "t1.json").read_text())
    assert agent["offline"] == {"card": 5000, "terminal": 30000} and agent["frozen"] == []


def test_device_add_json_and_mosquitto_password_file(cli, tmp_path):
    run = cli("device", "add", "T2", "--json", "--mosquitto-passwd", str(tmp_path / "passwd"))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["device"] == "T2" and out["key_hex"] == stored_key(tmp_path, "T2")[0].hex()
    assert (tmp_path / "passwd").read_text().startswith("T2:")


def test_device_add_errors(cli, tmp_path):
    assert cli("device", "add", "T1").returncode == 0
    run = cli("device", "add", "T1")
    assert run.returncode == 1
    assert run.stderr.strip() == "possync-server: device add: device T1 already exists (device ids are never reused: pick another id)"
    run = cli("device", "add", "T3", "--agent-config", "t3.json")
    assert run.returncode == 1 and "device add: --agent-config needs --token-key-file" in run.stderr
    run = cli("device", "add", "bad id")
    assert run.returncode == 1 and run.stderr.startswith("possync-server: device add: ")


def test_failed_enrolment_leaves_no_device(cli, tmp_path):
    run = cli("device", "add", "T4", "--mosquitto-passwd", str(tmp_path / "missing" / "passwd"))
    assert run.returncode == 1 and "device T4 not added" in run.stderr
    assert json.loads(cli("device", "list", "--json").stdout) == []


def test_list_and_revoke(cli):
    cli("device", "add", "T1")
    cli("device", "add", "T2")
    run = cli("device", "revoke", "T2")
    assert run.returncode == 0 and "T2 revoked" in run.stdout
    rows = json.loads(cli("device", "list", "--json").stdout)
    assert [(d["id"], d["revoked"]) for d in rows] == [("T1", False), ("T2", True)]
    table = cli("device", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["DEVICE", "MERCHANT", "STATE"] and table[2].split()[:3] == ["T2", "-", "revoked"]
    run = cli("device", "revoke", "T9")
    assert run.returncode == 1 and "possync-server: device revoke: no device T9" in run.stderr


def test_environment_overrides_the_config_file(cli, tmp_path):
    other = "sqlite:///" + str(tmp_path / "other.db")
    assert cli("device", "add", "T7", env_extra={"POSSYNC_DATABASE_URL": other}).returncode == 0
    assert json.loads(cli("device", "list", "--json").stdout) == []
    rows = json.loads(cli("device", "list", "--json", env_extra={"POSSYNC_DATABASE_URL": other}).stdout)
    assert [d["id"] for d in rows] == ["T7"]


def test_bad_config_file(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    run = subprocess.run([EXE, "device", "list", "--config", str(tmp_path / "bad.json")], capture_output=True, text=True)
    assert run.returncode == 1 and run.stderr.startswith("possync-server: device list: config file")


def test_merchants_and_a_terminal_set_to_one(cli, tmp_path):
    assert cli("merchant", "list").stdout.startswith("no merchants")
    run = cli("merchant", "add", "M001", "--name", "西湖店", "--province", "33")
    assert run.returncode == 0 and "M001 added (浙江省, Asia/Shanghai)" in run.stdout, run.stderr
    run = cli("device", "add", "T1", "--merchant", "M001")
    assert run.returncode == 0, run.stderr
    assert cli("device", "list").stdout.splitlines()[1].split()[:2] == ["T1", "M001"]
    run = cli("device", "add", "T2", "--merchant", "NOPE")
    assert run.returncode == 1 and "no merchant NOPE (add it first" in run.stderr and "T2 not added" in run.stderr
    assert [d["id"] for d in json.loads(cli("device", "list", "--json").stdout)] == ["T1"]
    assert cli("merchant", "add", "M2", "--name", "x", "--province", "97").returncode == 1
    cli("merchant", "add", "M2", "--name", "Harbour", "--province", "广东", "--tz", "Asia/Hong_Kong")
    assert cli("device", "set", "T1", "--merchant", "M2").returncode == 0
    assert json.loads(cli("device", "list", "--json").stdout)[0]["merchant"] == "M2"
    rows = json.loads(cli("merchant", "list", "--json").stdout)
    assert rows == [{"code": "M001", "name": "西湖店", "province": "浙江省", "tz": "Asia/Shanghai"},
                    {"code": "M2", "name": "Harbour", "province": "广东省", "tz": "Asia/Hong_Kong"}]
    run = cli("device", "set", "T9", "--merchant", "M2")
    assert run.returncode == 1 and "no device T9" in run.stderr
