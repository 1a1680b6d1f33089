"""Config pushed on down/config through a real runner (agent/linux/runner.py, mqtt.py, config.py): verified by
the session, applied at once to the offline limiter and hot list, kept beside the outbox for a restart; and
status tags passed to the POS but never to the customer display."""

import logging
import os
import time

import pytest

from agent.core import display as core_display
from agent.linux import config
from agent.linux.display import SerialDisplay
from agent.linux.runner import Runner
from agent_testkit import Pty, PosClient, RunnerThread, deliver, make_config, swipe, wait_for
from realparts import free_port

OTHER = "ef" * 32


class Agent:
    """A started runner with no broker (offline), a POS client and a display pty; ``deliver`` signs down frames."""

    def __init__(self, tmp_path, **over):
        self.pty = Pty()
        over.setdefault("display", {"port": self.pty.path, "lang": "en", "charset": "ascii"})
        self.path, raw = make_config(tmp_path, free_port(), **over)
        self.cfg = config.check(raw, self.path)
        d = self.cfg["display"]
        self.runner = Runner(self.cfg, display=SerialDisplay(d["port"], d["baud"], d["lang"], d["charset"]))
        self.rt = RunnerThread(self.runner)
        self.pos = PosClient(self.runner.pos.port)

    def deliver(self, kind, pairs, **kw):
        deliver(self.runner, kind, pairs, **kw)

    def push(self, version, frozen=(), card=20000, term=100000, **kw):
        self.deliver("config", [("cfg", version), ("ts", 1700000000), ("card", card), ("term", term),
                                ("all", True), ("frozen", list(frozen))], **kw)

    def applied(self):
        return self.pos.call(op="status")["config"]

    def card(self, n=0):
        swipe(self.runner, n)
        return self.runner.last_swipe.peek(int(time.time()))["tok"]

    def close(self):
        self.pos.close()
        self.rt.stop()
        self.pty.close()


@pytest.fixture
def agents(tmp_path):
    made = []

    def make(**over):
        made.append(Agent(tmp_path, **over))
        return made[-1]
    yield make
    for a in made:
        a.close()


def test_a_pushed_hot_list_refuses_an_offline_spend_at_once(agents):
    a = agents()
    tok = a.card()
    a.push(1, frozen=[OTHER, tok])
    wait_for(lambda: a.applied() == 1, what="config 1 applied")
    r = a.pos.call(op="svspend", ref="S1", amount=100)
    assert (r["ok"], r["error"]) == (False, "frozen_card"), r
    a.card()
    a.push(2, frozen=[OTHER])  # unfrozen on the server
    wait_for(lambda: a.applied() == 2, what="config 2 applied")
    assert a.pos.call(op="svspend", ref="S2", amount=100)["offline"] is True


def test_pushed_limits_replace_the_file_ones(agents):
    a = agents(offline={"card": 100000, "terminal": 100000})
    a.push(3, card=500, term=800)
    wait_for(lambda: a.applied() == 3, what="config 3 applied")
    a.card()
    r = a.pos.call(op="svspend", ref="S1", amount=501)
    assert (r["ok"], r["error"]) == (False, "offline_limit") and "5.00 CNY" in r["message"], r


def test_an_older_config_is_ignored_and_logged(agents, caplog):
    a = agents()
    a.push(5, frozen=[OTHER])
    wait_for(lambda: a.applied() == 5, what="config 5 applied")
    with caplog.at_level(logging.INFO, logger="possync.agent"):
        a.push(4)
        a.push(5)  # the retained copy again after a reconnect: nothing to say
        wait_for(lambda: a.runner.stats["old_configs"] == 1, what="the old config counted")
    assert a.pos.call(op="status")["frozen"] == 1
    said = [r.getMessage() for r in caplog.records if "config" in r.getMessage()]
    assert said == ["config: version 4 ignored: version 5 is applied already"]


@pytest.mark.parametrize("how, reason", [
    ({"key": b"\x33" * 32}, "bad_mac"),                             # unsigned or signed by someone else
    ({"dev": "T2"}, "wrong_device"),                                 # another terminal's config
    ({"topic": "pos/T2/down/config"}, "bad_topic"),                  # not our topic
])
def test_a_config_not_signed_for_this_terminal_is_refused_with_its_reason(agents, caplog, how, reason):
    a = agents()
    with caplog.at_level(logging.WARNING, logger="possync.agent"):
        a.push(9, frozen=[OTHER], **how)
    assert a.runner.session.dropped == {reason: 1}
    assert any(reason in r.getMessage() for r in caplog.records)
    assert a.pos.call(op="status")["config"] == 0 and a.pos.call(op="status")["frozen"] == 0
    assert not os.path.exists(a.cfg["pushed_path"])


def test_a_restart_keeps_the_pushed_config_and_the_file_stays_the_technicians(tmp_path, agents):
    a = agents()
    with open(a.path, "rb") as f:
        technician = f.read()
    tok = a.card()
    a.push(7, frozen=[tok], card=300)
    wait_for(lambda: os.path.exists(a.cfg["pushed_path"]), what="the config kept")
    assert os.path.dirname(a.cfg["pushed_path"]) == os.path.dirname(a.cfg["outbox"]["path"])
    a.close()
    with open(a.path, "rb") as f:
        assert f.read() == technician
    assert not os.path.exists(a.cfg["pushed_path"] + ".tmp")
    b = agents()  # the same outbox folder: a restart
    assert b.pos.call(op="status")["config"] == 7
    assert b.card() == tok
    r = b.pos.call(op="svspend", ref="S1", amount=100)
    assert (r["ok"], r["error"]) == (False, "frozen_card"), r


def test_a_tampered_kept_config_is_refused_at_start(tmp_path, agents, caplog):
    a = agents()
    a.push(7, frozen=[OTHER])
    wait_for(lambda: os.path.exists(a.cfg["pushed_path"]), what="the config kept")
    a.close()
    with open(a.cfg["pushed_path"], "rb") as f:
        data = f.read()
    with open(a.cfg["pushed_path"], "wb") as f:
        f.write(data.replace(b'"frozen":["' + OTHER.encode(), b'"frozen":["' + b"0" * 64))
    with caplog.at_level(logging.WARNING, logger="possync.agent"):
        b = agents()
    assert b.pos.call(op="status")["config"] == 0
    assert any("refused" in r.getMessage() and "bad_mac" in r.getMessage() for r in caplog.records)


def test_status_tags_reach_the_pos_but_not_the_display(agents):
    a = agents()
    a.pty.read_until(core_display.show_message("welcome", "en", "ascii"))
    swipe(a.runner)
    sid = a.runner.sid
    pairs = [("for", "sid"), ("id", sid), ("cust", "C1"), ("pts", 120), ("tier", "gold"), ("new", False),
             ("tags", ["vip", "high_risk"])]
    a.deliver("status", pairs)
    event = a.pos.next_event()
    while event.get("event") != "status":
        event = a.pos.next_event()
    assert event["tags"] == ["vip", "high_risk"]
    shown = a.pty.read_until(b"120")
    assert b"vip" not in shown.lower() and b"high_risk" not in shown.lower()
    untagged = core_display.show({k: v for k, v in pairs if k != "tags"}, "en", "ascii")
    assert core_display.show(dict(pairs), "en", "ascii") == untagged
