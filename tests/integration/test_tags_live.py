"""Tags end to end: a real agent, Mosquitto and server. A sale re-tags its customer inside ingest; the
status the terminal gets carries the tag codes to the POS (the cashier's view), never to the display."""

import pytest

pytestmark = pytest.mark.integration

CARD = b";6228480000000015=28121010000000000000?\r\n"


def swipe(agent, pos):
    """Swipe the card and return its own status event at the POS."""
    before = max([e["id"] for e in pos.events if e.get("for") == "sid"] or [0])
    agent.swipe(CARD, answered=None)
    return pos.wait_event(lambda e: e.get("for") == "sid" and e["id"] > before)


def test_a_sale_tags_its_customer_and_the_pos_sees_the_tags(system):
    t1 = system.agent("T1")
    pos = t1.pos()
    first = swipe(t1, pos)
    assert "tags" not in first  # an unknown card: no customer yet, nothing to tag
    assert pos.request(op="sale", ref="R1", amount=88_00)["stored"]
    sale = pos.wait_event(lambda e: e.get("for") == "seq" and e.get("cust"))
    assert "lc_new" in sale["tags"] and len(sale["tags"]) <= 8
    stats = system.server.query("SELECT customer, orders, spend, lifecycle FROM customerstats")
    assert stats == [(sale["cust"], 1, 88_00, "new")]  # kept by ingest in the sale's own transaction
    again = swipe(t1, pos)
    assert again["tags"] == sale["tags"]
    assert b"lc_new" not in t1.display_bytes
    pos.close()
