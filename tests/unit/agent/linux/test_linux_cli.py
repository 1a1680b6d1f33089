"""agent/linux/cli.py: commands, help, and errors that say what to do next."""

import json
import os

import pytest

from agent.core.outbox import Outbox
from agent.linux import cli, config
from agent.linux.runner import Runner
from agent_testkit import RunnerThread, deliver, make_config, wait_for
from realparts import free_port
from protocol import envelope, frame


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "possync-agent run --config /etc/possync/agent.json" in out and "simulate" in out


def test_run_with_a_bad_config_says_which_key(tmp_path, capsys):
    path, raw = make_config(tmp_path, 1883)
    raw["mqtt"]["port"] = 0
    (tmp_path / "agent.json").write_text(json.dumps(raw))
    assert cli.main(["run", "--config", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("possync-agent: run: config %s: mqtt.port: must be an integer from 1 to 65535" % path)
    assert "(fix the file and try again)" in err


def test_run_with_a_missing_serial_port(tmp_path, capsys):
    path, _ = make_config(tmp_path, 1883, reader={"port": str(tmp_path / "no-such-tty")})
    assert cli.main(["run", "--config", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("possync-agent: run: cannot open a serial port") and "reader.port" in err


def test_run_when_the_pos_port_is_taken(tmp_path, capsys):
    _, raw = make_config(tmp_path, free_port())
    rt = RunnerThread(Runner(config.check(raw)))
    try:
        path, _ = make_config(tmp_path / "second", free_port(), pos={"port": rt.runner.pos.port})
        assert cli.main(["run", "--config", path]) == 1
        assert "cannot listen for the POS" in capsys.readouterr().err
    finally:
        rt.stop()


def test_status_asks_the_running_agent(tmp_path, capsys):
    path, raw = make_config(tmp_path, free_port())
    rt = RunnerThread(Runner(config.check(raw)))
    try:
        raw["pos"]["port"] = rt.runner.pos.port
        (tmp_path / "agent.json").write_text(json.dumps(raw))
        assert cli.main(["status", "--config", path]) == 0
        out = capsys.readouterr().out
        assert "device     T1" in out and "connected  NO" in out and "depth      0 records" in out
        assert "full       no" in out and "next_seq   1" in out
        assert ("config     none from the server yet (not connected: see the connected line above and `journalctl "
                "-u possync-agent`); in force from the config file: 0 frozen card(s) on the hot list, offline limits "
                "200.00 CNY per card and 1000.00 CNY per terminal\n") in out
        assert cli.main(["status", "--config", path, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["next_seq"] == 1
    finally:
        rt.stop()


def test_status_shows_the_pushed_config_and_when_it_came_also_after_a_restart(tmp_path, capsys):
    path, raw = make_config(tmp_path, free_port(), pos={"port": free_port()})
    toks = ["ab" * 32, "cd" * 32]
    rt = RunnerThread(Runner(config.check(raw)))
    try:
        deliver(rt.runner, "config", [("cfg", 7), ("ts", 1700000000), ("card", 500), ("term", 800), ("all", True),
                                      ("frozen", toks)])
        wait_for(lambda: rt.runner.pushed is not None, what="config 7 applied")
    finally:
        rt.stop()
    kept = raw["outbox"]["path"] + ".pushed"
    os.utime(kept, (1700000000, 1700000000))  # received then, as far as the restarted agent can tell
    rt = RunnerThread(Runner(config.check(raw)))
    try:
        assert cli.main(["status", "--config", path]) == 0
    finally:
        rt.stop()
    out = capsys.readouterr().out
    assert ("config     version 7 applied 2023-11-14 22:13:20 UTC: 2 frozen card(s) on the hot list, offline limits "
            "5.00 CNY per card and 8.00 CNY per terminal\n") in out
    assert not any(tok in out for tok in toks)


def test_status_without_a_config_while_connected_points_at_the_server():
    reply = {"config": 0, "config_at": None, "connected": True, "frozen": 1, "currency": "JPY",
             "offline": {"card": 500, "terminal": 800}}
    assert cli.config_line(reply) == (
        "none from the server yet (connected, yet none came: check that `possync-server run` is up, and "
        "`journalctl -u possync-agent` for refused config frames); in force from the config file: 1 frozen card(s) "
        "on the hot list, offline limits 500 JPY per card and 800 JPY per terminal")


def test_status_with_no_agent_running(tmp_path, capsys):
    path, _ = make_config(tmp_path, 1883, pos={"port": free_port()})
    assert cli.main(["status", "--config", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("possync-agent: status: no agent answers on 127.0.0.1:") and "systemctl" in err


def test_simulate_stores_carded_sales_without_a_broker(tmp_path, capsys):
    path, raw = make_config(tmp_path, free_port())
    assert cli.main(["simulate", "--config", path, "--rate", "20", "--cards", "3", "--seconds", "0.5"]) == 0
    out = capsys.readouterr().out
    # One customer in ten (two with this seed) pays from stored value: offline here, within the limits.
    assert out.startswith("simulate: T1: 8 sales, 8 stored, 0 not stored, 0 rejected; 2 stored-value spends, "
                          "2 paid, 0 refused")
    o = Outbox(raw["outbox"]["path"])
    bodies = [envelope.validate(frame.loads(b), "T1") for _, b in o.pending()]
    o.close()
    assert len(bodies) == 10
    assert sorted(b["kind"] for b in bodies) == ["sale"] * 8 + ["svspend"] * 2
    assert all("auth" not in b for b in bodies if b["kind"] == "svspend")
    assert all(len(b["tok"]) == 64 for b in bodies)
    assert len({b["tok"] for b in bodies}) <= 3


def test_simulate_checks_its_arguments(tmp_path, capsys):
    path, _ = make_config(tmp_path, 1883)
    assert cli.main(["simulate", "--config", path, "--rate", "0"]) == 1
    assert capsys.readouterr().err.startswith("possync-agent: simulate: --rate must be > 0")
