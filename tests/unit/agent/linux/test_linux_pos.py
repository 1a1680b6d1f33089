"""The POS JSON-lines API through a real socket against a real runner and a real outbox file."""

import json

import pytest

from agent.core import display as core_display
from agent.linux import config
from agent.linux.display import SerialDisplay
from agent.linux.runner import Runner
from agent_testkit import Pty, PosClient, RunnerThread, make_config, stored_bodies, swipe, wait_for
from realparts import free_port


@pytest.fixture
def agent(tmp_path):
    """A runner (no broker reachable) with a display on a pty; yields (runner, pos client, pty, cfg)."""
    started = []

    def start(**over):
        pty = Pty()
        over.setdefault("display", {"port": pty.path, "lang": "en", "charset": "ascii"})
        _, raw = make_config(tmp_path, free_port(), **over)
        cfg = config.check(raw)
        d = cfg["display"]
        rt = RunnerThread(Runner(cfg, display=SerialDisplay(d["port"], d["baud"], d["lang"], d["charset"])))
        pos = PosClient(rt.runner.pos.port)
        started.append((rt, pos, pty))
        pty.read_until(core_display.show_message("welcome", "en", "ascii"))
        return rt.runner, pos, pty, cfg

    yield start
    for rt, pos, pty in started:
        pos.close()
        rt.stop()
        pty.close()


def test_sale_is_stored_in_the_outbox_file_before_the_reply(agent):
    runner, pos, _, cfg = agent()
    assert pos.call(op="sale", ref="R1", amount=1250, cur="CNY") == {"ok": True, "stored": True, "seq": 1}
    assert pos.call(op="refund", ref="R2", amount=1250, orig="R1") == {"ok": True, "stored": True, "seq": 2}
    # A second reader of the file (as after a crash) sees both records, fsynced.
    bodies = stored_bodies(cfg)
    assert [(b["kind"], b["seq"], b["ref"], b["amount"], b["cur"]) for b in bodies] == [
        ("sale", 1, "R1", 1250, "CNY"), ("refund", 2, "R2", 1250, "CNY")]
    assert bodies[1]["orig"] == "R1" and "tok" not in bodies[0]


def test_bad_fields_are_refused_with_the_field_named(agent):
    runner, pos, _, cfg = agent()
    assert pos.call(op="sale", ref="R1", amount=12.5, cur="CNY") == {
        "ok": False, "error": "bad_field",
        "message": "amount: must be an integer number of minor units (e.g. 1250 for 12.50)"}
    r = pos.call(op="void", ref="R1", amount=1)
    assert r["ok"] is False and r["message"].startswith("orig: ")
    r = pos.call(op="teleport")
    assert r["error"] == "bad_field" and r["message"].startswith("op: ")
    assert pos.send_raw(b"{not json\n")["error"] == "malformed"
    assert pos.send_raw(b"[1,2]\n")["error"] == "malformed"
    # The connection survives bad lines; nothing was stored.
    assert pos.call(op="status")["depth"] == 0
    assert stored_bodies(cfg) == []


def test_status_op_reports_depth_oldest_connection(agent):
    runner, pos, _, _ = agent()
    pos.call(op="sale", ref="R1", amount=1, cur="CNY")
    st = pos.call(op="status")
    assert st["ok"] is True and st["device"] == "T1" and st["connected"] is False
    assert (st["depth"], st["full"], st["next_seq"]) == (1, False, 2)
    assert 0 <= st["oldest_s"] < 60


def test_last_swipe_is_attached_to_the_next_sale_only(agent):
    runner, pos, _, cfg = agent()
    pan = swipe(runner)
    pos.call(op="sale", ref="R1", amount=100)
    pos.call(op="sale", ref="R2", amount=200)
    first, second = stored_bodies(cfg)
    assert first["bin"] == pan[:6] and first["last4"] == pan[-4:] and len(first["tok"]) == 64
    assert "tok" not in second
    # Neither the PAN nor any part of the track is in the outbox file.
    with open(cfg["outbox"]["path"], "rb") as f:
        data = f.read()
    assert pan.encode() not in data and pan[6:-4].encode() not in data


def test_offline_swipe_shows_offline_then_cached_status(agent):
    runner, pos, pty, _ = agent()
    swipe(runner)
    pty.read_until(core_display.show_message("offline", "en", "ascii"))
    # A signed status that arrives (as the MQTT thread delivers it) for that swipe is shown,
    # pushed to the POS, and cached for the next offline swipe of the same card.
    status = {"v": 1, "dev": "T1", "kind": "status", "for": "sid", "id": 1, "cust": "C9", "pts": 120,
              "earned": 12, "tier": "gold", "new": False}
    runner._on_mqtt("status", status)
    pty.read_until(core_display.show(status, "en", "ascii"))
    assert pos.next_event() == {"event": "status", "for": "sid", "id": 1, "cust": "C9", "pts": 120,
                                "earned": 12, "tier": "gold", "new": False}
    swipe(runner)
    pty.read_until(core_display.show(status, "en", "ascii", offline=True))


def test_pos_acq_or_the_terminal_default_is_stored_with_the_sale(agent):
    default = {"mid": "102100058120001", "tid": "10000001"}
    runner, pos, _, cfg = agent(acq=default)
    own = {"lic": "Z2000133000019", "settle": "Z2000133000019"}
    assert pos.call(op="sale", ref="R1", amount=100, acq=own)["stored"] is True
    assert pos.call(op="sale", ref="R2", amount=100)["stored"] is True
    assert pos.call(op="sale", ref="R3", amount=100, acq={"mid": 5}) == {
        "ok": False, "error": "bad_field",
        "message": "acq.mid: must be a string of at most 40 characters without control characters"}
    assert [(b["ref"], b["acq"]) for b in stored_bodies(cfg)] == [("R1", own), ("R2", default)]


def test_cardless_sale_warning_reaches_the_display_and_the_pos(agent):
    runner, pos, pty, _ = agent()
    assert pos.call(op="sale", ref="R1", amount=100)["seq"] == 1
    status = {"v": 1, "dev": "T1", "kind": "status", "for": "seq", "id": 1, "cust": "", "pts": 0,
              "tier": "basic", "new": False, "lic": "INDIRECT_SETTLEMENT"}
    runner._on_mqtt("status", status)
    pty.read_until(core_display.frame_cd5220("ACQUIRER CHECK!", "INDIRECT_SETTLEMENT", "ascii"))
    assert pos.next_event() == {"event": "status", "for": "seq", "id": 1, "cust": "", "pts": 0,
                                "tier": "basic", "new": False, "lic": "INDIRECT_SETTLEMENT"}


def test_bad_swipe_shows_card_error_and_stores_nothing(agent):
    runner, pos, pty, cfg = agent()
    runner.inject_swipe(b";4111111111111112=29121010000?")  # Luhn fails
    pty.read_until(core_display.show_message("card_error", "en", "ascii"))
    pos.call(op="sale", ref="R1", amount=1)
    assert "tok" not in stored_bodies(cfg)[0]


def test_outbox_full_is_said_clearly_and_never_blocks(agent):
    runner, pos, pty, cfg = agent(outbox={"max_count": 2})
    assert pos.call(op="sale", ref="R1", amount=1)["stored"] is True
    assert pos.call(op="sale", ref="R2", amount=1)["stored"] is True
    r = pos.call(op="sale", ref="R3", amount=1)
    assert r["ok"] is True and r["stored"] is False and r["error"] == "outbox_full"
    assert r["message"].startswith("outbox full (2 records") and "NOT stored" in r["message"]
    pty.read_until(core_display.show_message("outbox_full", "en", "ascii"))
    assert pos.call(op="status")["full"] is True
    assert [b["ref"] for b in stored_bodies(cfg)] == ["R1", "R2"]
    # An ack frees room: the alarm clears and sales are stored again.
    runner._on_mqtt("ack", {"v": 1, "dev": "T1", "kind": "ack", "upto": 1, "also": []})
    wait_for(lambda: pos.call(op="status")["full"] is False, what="full to clear")
    assert pos.call(op="sale", ref="R3", amount=1) == {"ok": True, "stored": True, "seq": 3}


def test_heartbeat_body_carries_the_full_alarm(agent):
    runner, pos, _, _ = agent(outbox={"max_count": 1})
    pos.call(op="sale", ref="R1", amount=1)
    pos.call(op="sale", ref="R2", amount=1)
    sent = []
    runner.session.connected = True  # capture what would be published
    runner.session.publish = lambda suffix, body, qos: sent.append((suffix, json.loads(body), qos)) or True
    runner.heartbeat()
    suffix, hb, qos = sent[-1]
    assert (suffix, qos) == ("up/hb", 0)
    assert hb["full"] is True and hb["depth"] == 1 and hb["kind"] == "hb"


def test_seq_continues_after_a_restart(tmp_path):
    _, raw = make_config(tmp_path, free_port())
    for ref, seq in (("R1", 1), ("R2", 2)):
        rt = RunnerThread(Runner(config.check(raw)))
        pos = PosClient(rt.runner.pos.port)
        assert pos.call(op="sale", ref=ref, amount=1)["seq"] == seq
        pos.close()
        rt.stop()
    assert [b["ref"] for b in stored_bodies(config.check(raw))] == ["R1", "R2"]


def test_drop_dir_sale_files(tmp_path, agent):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.json").write_text(json.dumps({"ref": "D1", "amount": 500}))
    (drop / "b.json").write_text(json.dumps({"ref": "D2", "amount": "5.00"}))
    runner, pos, _, cfg = agent(drop_dir=str(drop))
    wait_for(lambda: (drop / "a.done").exists() and (drop / "b.bad").exists(), what="drop files handled")
    assert [b["ref"] for b in stored_bodies(cfg)] == ["D1"]
    assert (drop / "b.err").read_text().startswith("amount: ")
