"""apply_batch(): exactly-once apply keyed by (dev, seq), contiguous acks, points in the same commit."""

from peewee import fn

from server.fleet.models import Device
from server.ingest.apply import apply_batch
from server.ingest.models import Record
from server.loyalty.models import Card, Customer, PointsEntry
from server.tags.realtime import tags_for


def ledger_matches_balances():
    sums = dict(PointsEntry.select(PointsEntry.customer, fn.SUM(PointsEntry.delta)).group_by(PointsEntry.customer).tuples())
    return all(sums.get(c.id, 0) == c.points for c in Customer.select())


def test_new_records_are_stored_and_acked(app, add, mk):
    add("T1")
    result = apply_batch([mk.record("T1", mk.sale(1)), mk.record("T1", mk.sale(2))])
    assert result.acks == {"T1": (2, [])}
    assert result.applied == [("T1", 1), ("T1", 2)]
    assert [(r.seq, r.ref, r.amount, r.cur) for r in Record.select().order_by(Record.seq)] == [(1, "R1", 1250, "CNY"), (2, "R2", 1250, "CNY")]
    assert Device.get_by_id("T1").acked_upto == 2


def test_resend_is_a_duplicate_acked_again_not_applied(app, add, mk):
    add("T1")
    first = mk.record("T1", mk.sale(1, tok=mk.tok(1)))
    apply_batch([first])
    result = apply_batch([first, first])
    assert result.applied == [] and result.duplicates == [("T1", 1), ("T1", 1)]
    assert result.acks == {"T1": (1, [])}
    assert Record.select().count() == 1
    assert PointsEntry.select().count() == 1 and Customer.get().points == 12


def test_duplicate_inside_one_batch_is_applied_once(app, add, mk):
    add("T1")
    one = mk.record("T1", mk.sale(1, tok=mk.tok(1)))
    result = apply_batch([one, one])
    assert result.applied == [("T1", 1)] and result.duplicates == [("T1", 1)]
    assert Customer.get().points == 12


def test_same_seq_other_body_is_a_conflict_neither_applied_nor_acked(app, add, mk):
    add("T1")
    apply_batch([mk.record("T1", mk.sale(1, amount=1000))])
    result = apply_batch([mk.record("T1", mk.sale(1, amount=9999))])
    assert result.conflicts == [("T1", 1)] and result.applied == []
    assert result.acks == {}
    assert Record.get().amount == 1000


def test_a_reset_terminal_is_never_told_to_delete_what_conflicted(app, add, mk):
    add("T1")
    apply_batch([mk.record("T1", mk.sale(s, amount=1000)) for s in (1, 2, 3)])
    # the terminal's outbox starts over: its new 1..3 collide with the stored ones, 4 is new
    result = apply_batch([mk.record("T1", mk.sale(s, amount=777)) for s in (1, 2, 3, 4)])
    assert result.conflicts == [("T1", 1), ("T1", 2), ("T1", 3)] and result.applied == [("T1", 4)]
    assert result.acks == {"T1": (0, [4])}  # an upto of 4 would delete the new 1..3 unapplied
    assert apply_batch([mk.record("T1", mk.sale(5, amount=777))]).acks == {"T1": (0, [5])}
    assert Device.get_by_id("T1").conflict_seq == 1 and Device.get_by_id("T1").acked_upto == 5


def test_gaps_ack_contiguous_upto_and_the_rest_as_also(app, add, mk):
    add("T1")
    result = apply_batch([mk.record("T1", mk.sale(s)) for s in (1, 2, 4, 5, 7)])
    assert result.acks == {"T1": (2, [4, 5, 7])}
    assert Device.get_by_id("T1").acked_upto == 2
    result = apply_batch([mk.record("T1", mk.sale(3))])
    assert result.acks == {"T1": (5, [])}
    result = apply_batch([mk.record("T1", mk.sale(6)), mk.record("T1", mk.sale(9))])
    assert result.acks == {"T1": (7, [9])}
    assert Device.get_by_id("T1").acked_upto == 7


def test_upto_advances_in_bounded_steps_past_a_filled_gap(app, add, mk, monkeypatch):
    from server.ingest import apply

    monkeypatch.setattr(apply, "SCAN_AHEAD", 3)
    add("T1")
    assert apply_batch([mk.record("T1", mk.sale(s)) for s in (1, 2, 4, 5, 6, 7, 8)]).acks == {"T1": (2, [4, 5, 6, 7, 8])}
    assert apply_batch([mk.record("T1", mk.sale(3))]).acks == {"T1": (5, [])}
    assert apply_batch([mk.record("T1", mk.sale(9))]).acks == {"T1": (8, [9])}
    assert Device.get_by_id("T1").acked_upto == 8


def test_acks_are_per_device(app, add, mk):
    add("T1"), add("T2")
    result = apply_batch([mk.record("T1", mk.sale(1)), mk.record("T2", mk.sale(1)), mk.record("T2", mk.sale(3))])
    assert result.acks == {"T1": (1, []), "T2": (1, [3])}


def test_sale_with_new_card_enrols_a_customer_and_earns_points(app, add, mk):
    add("T1")
    result = apply_batch([mk.record("T1", mk.sale(1, amount=12345, tok=mk.tok(1))),
                          mk.record("T1", mk.sale(2, amount=100000, tok=mk.tok(1)))])
    cust = Customer.get()
    assert cust.id.startswith("C") and len(cust.id) == 17 and cust.points == 123 + 1000
    assert Card.get().customer_id == cust.id and Card.get().last4 == "1234"
    first, second = result.statuses
    tags = tags_for([cust.id])[cust.id]  # re-tagged in the batch's own transaction: a buyer has a lifecycle
    assert any(code.startswith("lc_") for code in tags)
    assert first == ("T1", "seq", 1, {"cust": cust.id, "pts": 123, "earned": 123, "tier": "basic", "new": True,
                                       "lic": "MALFORMED", "tags": tags})
    assert second == ("T1", "seq", 2, {"cust": cust.id, "pts": 1123, "earned": 1000, "tier": "silver", "new": False,
                                       "lic": "MALFORMED", "tags": tags})
    assert Record.get(Record.seq == 2).customer_id == cust.id
    assert ledger_matches_balances()


def test_sale_without_card_earns_no_points_and_its_only_status_is_the_acquirer_warning(app, add, mk):
    add("T1")
    result = apply_batch([mk.record("T1", mk.sale(1))])  # no acq, no merchant: MALFORMED
    assert result.statuses == [("T1", "seq", 1, {"cust": "", "pts": 0, "tier": "basic", "new": False,
                                                 "lic": "MALFORMED"})]
    assert Customer.select().count() == 0


def test_refund_reverses_points_of_its_amount_from_the_original_customer(app, add, mk):
    add("T1")
    apply_batch([mk.record("T1", mk.sale(1, ref="S1", amount=50000, tok=mk.tok(1)))])
    # no card at the refund: the original sale names the customer
    apply_batch([mk.record("T1", mk.sale(2, ref="F1", amount=20000, orig="S1"), kind="refund")])
    cust = Customer.get()
    assert cust.points == 300
    assert [(e.seq, e.delta, e.reason) for e in PointsEntry.select().order_by(PointsEntry.seq)] == [(1, 500, "sale"), (2, -200, "refund")]
    assert ledger_matches_balances()


def test_void_in_the_same_batch_as_its_sale(app, add, mk):
    add("T1")
    result = apply_batch([mk.record("T1", mk.sale(1, ref="S1", amount=7000, tok=mk.tok(2))),
                          mk.record("T1", mk.sale(2, ref="V1", amount=7000, orig="S1", tok=mk.tok(2)), kind="void")])
    assert Customer.get().points == 0
    assert [s[3]["pts"] for s in result.statuses] == [70, 0]
    assert result.statuses[1][3]["earned"] == -70
    assert ledger_matches_balances()


def test_ledger_equals_cached_points_over_many_batches(app, add, mk):
    add("T1"), add("T2")
    seq = {"T1": 0, "T2": 0}
    for n in range(40):
        dev = "T1" if n % 3 else "T2"
        seq[dev] += 1
        kind = "refund" if n % 7 == 6 else "sale"
        orig = "R1" if kind == "refund" else None
        apply_batch([mk.record(dev, mk.sale(seq[dev], amount=1000 + 37 * n, tok=mk.tok(n % 4), orig=orig), kind=kind)])
    assert Customer.select().count() == 4
    assert ledger_matches_balances()


def test_heartbeat_and_state_update_the_device(app, add, mk):
    add("T1")
    hb = mk.record("T1", [("ts", 1), ("ver", "0.1.0"), ("depth", 12), ("oldest", 30), ("up", 99), ("full", True)], kind="hb")
    apply_batch([hb])
    d = Device.get_by_id("T1")
    assert (d.version, d.depth, d.oldest, d.uptime, d.full, d.state) == ("0.1.0", 12, 30, 99, True, "online")
    assert d.last_seen is not None
    apply_batch([], states=[("T1", "online"), ("T1", "offline")])
    assert Device.get_by_id("T1").state == "offline"


def test_currency_exponent_decides_points(app, add, mk):
    add("T1")
    apply_batch([mk.record("T1", mk.sale(1, amount=1500, cur="JPY", tok=mk.tok(1))),
                 mk.record("T1", mk.sale(2, amount=1999, cur="USD", tok=mk.tok(2)))])
    assert sorted(c.points for c in Customer.select()) == [19, 1500]


def test_frames_of_a_device_revoked_in_the_database_are_not_applied(app, add, master, mk):
    from server.fleet import devices
    add("T1"), add("T2")
    devices.revoke_device("T2")  # as another process would, after verify() still had the key cached
    result = apply_batch([mk.record("T1", mk.sale(1)), mk.record("T2", mk.sale(1))], states=[("T2", "online")])
    assert result.revoked == [("T2", 1)] and result.acks == {"T1": (1, [])}
    assert [r.dev for r in Record.select()] == ["T1"]
    assert Device.get_by_id("T2").state == "offline"
