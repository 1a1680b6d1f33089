"""The hot list pushed to a running terminal: a real Mosquitto, a real `possync-server run`, a real agent.
`wallet freeze` on the CLI (no broker connection of its own) reaches the agent within seconds; with the server
gone the agent refuses an offline spend of that card, and after a restart (broker down too) it still does.
A revoked terminal's retained config is removed from the broker, once, and the others' stay."""

import itertools
import json
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from protocol import envelope, frame
from realparts import console, wait_for

pytestmark = pytest.mark.integration

CARD = b";6228480000000015=28121010000000000000?\r\n"
MARKER = "pos/_probe/marker"  # under pos/ for the server user's ACL; nobody else subscribes to it
PROBES = itertools.count()


def agent_status(agent):
    pos = agent.pos()
    try:
        return pos.request(op="status")
    finally:
        pos.close()


def retained_configs(broker):
    """The retained down/config payloads a fresh subscriber gets, by device: those sent before the marker it
    publishes once subscribed (the broker delivers the retained messages of a subscription first)."""
    got, done = {}, threading.Event()

    def on_message(client, userdata, msg):
        if msg.topic == MARKER:
            done.set()
        elif msg.retain:
            got[msg.topic.split("/")[1]] = msg.payload

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe-%d" % next(PROBES))
    client.username_pw_set(broker.server_user, broker.server_password)
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([("pos/+/down/config", 1), (MARKER, 1)])
    client.on_subscribe = lambda c, u, mid, rc, p: c.publish(MARKER, b"-", qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert done.wait(10), "the probe's marker never came back from the broker"
    finally:
        client.disconnect()
        client.loop_stop()
    return got


def retained_only(broker, devs):
    """The retained configs by device if they are those of exactly ``devs``, else None."""
    got = retained_configs(broker)
    return got if set(got) == set(devs) else None


def offline_spend(agent, pos, ref):
    """Swipe, then ask for a spend once the agent has read the card (an offline swipe sends the POS no event)."""
    agent.swipe(CARD, answered=None)

    def answer():
        reply = pos.request(op="svspend", ref=ref, amount=10_00)
        return reply.get("error") != "no_card" and reply

    return wait_for(answer, what="the agent reading the swiped card")


def test_a_freeze_on_the_cli_reaches_the_running_agent_and_survives_its_restart(system):
    server = system.server
    t1 = system.agent("T1", auth_timeout_ms=1500)
    first = wait_for(lambda: agent_status(t1)["config"], timeout=20, what="the first pushed config")
    pos = t1.pos()
    t1.swipe(CARD)
    assert pos.request(op="svtopup", ref="TOP1", amount=100_00, cur="CNY")["stored"]
    (tok,) = wait_for(lambda: server.query("SELECT tok FROM walletaccount"), what="the wallet account")[0]
    assert agent_status(t1)["frozen"] == 0

    server.cli("wallet", "freeze", tok, "--reason", "lost")
    pushed = wait_for(lambda: agent_status(t1)["config"] > first and agent_status(t1), timeout=15,
                      what="the freeze pushed to the agent")
    assert pushed["frozen"] == 1 and pushed["connected"]
    assert "config: version %d pushed by the server" % pushed["config"] in t1.output()

    server.stop()  # no one answers the authorisation: the agent decides alone, from the hot list
    refused = offline_spend(t1, pos, "S1")
    assert (refused["ok"], refused["error"]) == (False, "frozen_card"), refused
    pos.close()

    t1.stop()
    system.broker.stop()  # the retained config cannot come again: only what the agent kept counts
    t1.start(connected=False)
    assert agent_status(t1)["config"] == pushed["config"]
    pos = t1.pos()
    refused = offline_spend(t1, pos, "S2")
    assert (refused["ok"], refused["error"]) == (False, "frozen_card"), refused
    pos.close()
    assert "restored from" in t1.output()
    status = subprocess.run([console("possync-agent"), "status", "--config", t1.config], capture_output=True,
                            text=True, timeout=30, check=True).stdout
    line = "config     version %d applied " % pushed["config"]
    assert line in status and "UTC: 1 frozen card(s) on the hot list" in status and tok not in status, status


def test_revoking_a_terminal_removes_its_retained_config_once_and_keeps_the_others(system, tmp_path):
    server = system.server
    paths = {dev: server.add_device(dev, str(tmp_path / dev)) for dev in ("T1", "T2")}
    wait_for(lambda: retained_only(system.broker, ["T1", "T2"]), timeout=20, what="both configs retained")

    server.cli("device", "revoke", "T1", "--mosquitto-passwd", system.broker.passwd)
    kept = wait_for(lambda: retained_only(system.broker, ["T2"]), timeout=20, what="T1's retained config removed")
    with open(paths["T2"]) as f:
        key = bytes.fromhex(json.load(f)["key_hex"])
    assert envelope.validate(frame.loads(frame.verify("pos/T2/down/config", kept["T2"], key)), "T2")["kind"] == "config"
    assert server.query("SELECT id FROM device WHERE config_cleared_at IS NOT NULL") == [("T1",)]

    pushes = server.output().count(" published to ")
    server.stop()
    server.start()  # a fresh ingest pushes T2's config again, clearing first in the same tick: never T1 again
    wait_for(lambda: server.output().count(" published to ") > pushes, timeout=20, what="T2's config pushed again")
    assert server.output().count("retained config removed from the broker") == 1
    assert retained_only(system.broker, ["T2"])
