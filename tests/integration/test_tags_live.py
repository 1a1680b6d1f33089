"""Tags end to end: a real agent, Mosquitto and server. A sale re-tags its customer inside ingest; the
status the terminal gets carries the tag codes to the POS (the cashier's view), never to the display."""

import pytest

pytestmark = pytest.mark.integration

CARD = b";6228480000000015=28121010000000000000?\r\n"


def test_a_sale_tags_its_customer_and_the_pos_sees_the_tags(system):
    t1 = system.agent("T1")
    pos = t1.pos()
    first = t1.swipe_status(CARD, pos)
    assert "tags" not in first  # an unknown card: no customer yet, nothing to tag
    assert pos.request(op="sale", ref="R1", amount=88_00)["stored"]
    sale = pos.wait_event(lambda e: e.get("for") == "seq" and e.get("cust"))
    assert "lc_new" in sale["tags"] and len(sale["tags"]) <= 8
    stats = system.server.query("SELECT customer, orders, spend, lifecycle FROM customerstats")
    assert stats == [(sale["cust"], 1, 88_00, "new")]  # kept by ingest in the sale's own transaction
    again = t1.swipe_status(CARD, pos)
    assert again["tags"] == sale["tags"]
    assert b"lc_new" not in t1.display_bytes
    pos.close()
