"""The hot list pushed to a running terminal: a real Mosquitto, a real `possync-server run`, a real agent.
`wallet freeze` on the CLI (no broker connection of its own) reaches the agent within seconds; with the server
gone the agent refuses an offline spend of that card, and after a restart (broker down too) it still does."""

import pytest

from realparts import wait_for

pytestmark = pytest.mark.integration

CARD = b";6228480000000015=28121010000000000000?\r\n"


def agent_status(agent):
    pos = agent.pos()
    try:
        return pos.request(op="status")
    finally:
        pos.close()


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
