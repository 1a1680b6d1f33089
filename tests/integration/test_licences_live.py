"""Acquirer verdicts end to end: a real agent's sales judged by a real server, the warning on a real display."""

import pytest

from agent.core import display
from realparts import wait_for
from server.licences import registry

pytestmark = pytest.mark.integration

CARD = b";4111111111111111=28121010000000000000?\r\n"
NATIONAL = "48991310"  # SAMPLE: 支付交易处理Ⅰ类 nationwide from 2026-05-03, no expiry
MIDDLEMAN = "40001234"  # no licence in the registry


def test_verdicts_reach_the_display_the_pos_and_the_database(system):
    server = system.server
    server.cli("licences", "import", registry.SAMPLE)
    server.cli("merchant", "add", "HZ1", "--name", "杭州店", "--province", "浙江")
    indirect = {"inst": NATIONAL, "mid": "898330153990001", "tid": "HZ000001", "settle": MIDDLEMAN}
    t1 = system.agent("T1", start=False, acq=indirect)  # the terminal's configured acquirer
    server.cli("device", "set", "T1", "--merchant", "HZ1")
    t1.start()
    pos = t1.pos()

    t1.swipe(CARD)
    assert pos.request(op="sale", ref="R1", amount=12_50, cur="CNY")["stored"]
    status = pos.wait_event(lambda e: e.get("for") == "seq" and e.get("id") == 1)
    assert status["lic"] == "INDIRECT_SETTLEMENT" and status["earned"] == 12  # warned, never blocked
    assert b"ACQUIRER CHECK!" in t1.read_display(b"ACQUIRER CHECK!")

    # the POS names a directly settling acquirer for this sale: OK, and no card means no answer at all
    direct = dict(indirect, settle=NATIONAL)
    assert pos.request(op="sale", ref="R2", amount=500, acq=direct)["stored"]
    # a card-less sale through the middle party: the warning alone fills the display
    t1.display_bytes = b""
    assert pos.request(op="sale", ref="R3", amount=700)["stored"]
    status = pos.wait_event(lambda e: e.get("for") == "seq" and e.get("id") == 3)
    assert status["lic"] == "INDIRECT_SETTLEMENT" and status["cust"] == ""
    shown = display.show({"cust": "", "pts": 0, "new": False, "lic": "INDIRECT_SETTLEMENT"}, "en", "ascii")
    assert shown in t1.read_display(shown)

    def verdicts():
        rows = server.query("SELECT seq, verdict, registry, settle FROM saleverdict WHERE dev = 'T1' ORDER BY seq")
        return rows if len(rows) == 3 else None
    rows = wait_for(verdicts, what="the 3 sales' verdicts")
    assert rows == [(1, "INDIRECT_SETTLEMENT", 1, MIDDLEMAN), (2, "OK", 1, NATIONAL), (3, "INDIRECT_SETTLEMENT", 1, MIDDLEMAN)]
    pos.close()
