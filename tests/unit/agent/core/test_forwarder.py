import pytest

from agent.core import forwarder
from agent.core.forwarder import Backoff, Forwarder, urandom_unit
from agent.core.outbox import Outbox


@pytest.fixture
def outbox(tmp_path):
    o = Outbox(str(tmp_path / "outbox.log"), max_bytes=1 << 20, max_count=1000)
    yield o
    o.close()


def fill(outbox, n):
    for _ in range(n):
        outbox.append(lambda seq: b'{"seq":%d}' % seq)


def seqs(records):
    return [s for s, _ in records]


def test_due_sends_oldest_first_and_at_most_window(outbox):
    fill(outbox, 10)
    fw = Forwarder(outbox, window=4, ack_timeout_ms=1000)
    first = fw.due(0)
    assert seqs(first) == [1, 2, 3, 4]
    assert first[0][1] == b'{"seq":1}'
    assert fw.due(10) == []  # window full, nothing timed out
    assert fw.in_flight() == [1, 2, 3, 4]


def test_ack_frees_the_window_and_deletes_from_outbox(outbox):
    fill(outbox, 10)
    fw = Forwarder(outbox, window=4, ack_timeout_ms=1000)
    fw.due(0)
    assert fw.on_ack(2, []) == 2
    assert outbox.depth == 8 and outbox.get(1) is None
    assert seqs(fw.due(5)) == [5, 6]
    assert fw.in_flight() == [3, 4, 5, 6]


def test_ack_also_removes_out_of_order_seqs(outbox):
    fill(outbox, 6)
    fw = Forwarder(outbox, window=6, ack_timeout_ms=1000)
    fw.due(0)
    assert fw.on_ack(1, [3, 5]) == 3
    assert fw.in_flight() == [2, 4, 6]
    assert seqs(outbox.pending()) == [2, 4, 6]


def test_timed_out_records_are_resent_without_growing_the_window(outbox):
    fill(outbox, 5)
    fw = Forwarder(outbox, window=3, ack_timeout_ms=1000)
    assert seqs(fw.due(0)) == [1, 2, 3]
    fw.on_ack(1, [])
    assert seqs(fw.due(500)) == [4]
    assert fw.due(999) == []
    # 2 and 3 were sent at 0: due again at 1000; 4 (sent at 500) not yet.
    assert seqs(fw.due(1000)) == [2, 3]
    assert seqs(fw.due(1500)) == [4]
    assert fw.due(1600) == []


def test_a_record_acked_meanwhile_is_not_resent(outbox):
    fill(outbox, 2)
    fw = Forwarder(outbox, window=2, ack_timeout_ms=100)
    fw.due(0)
    outbox.ack(1, [])  # removed behind the forwarder's back
    assert seqs(fw.due(100)) == [2]
    assert fw.in_flight() == [2]


def test_new_records_join_behind_the_backlog(outbox):
    fill(outbox, 2)
    fw = Forwarder(outbox, window=8, ack_timeout_ms=1000)
    assert seqs(fw.due(0)) == [1, 2]
    fill(outbox, 2)
    assert seqs(fw.due(1)) == [3, 4]
    assert fw.due(2) == []


def test_disconnect_makes_everything_in_flight_due_again_oldest_first(outbox):
    fill(outbox, 5)
    fw = Forwarder(outbox, window=3, ack_timeout_ms=60000)
    fw.due(0)
    fw.on_ack(0, [2])
    fw.on_disconnect()
    assert fw.in_flight() == []
    assert seqs(fw.due(10)) == [1, 3, 4]


def test_empty_outbox_and_gaps(outbox):
    fw = Forwarder(outbox, window=4, ack_timeout_ms=1000)
    assert fw.due(0) == []
    fill(outbox, 3)
    outbox.ack(0, [2])
    assert seqs(fw.due(1)) == [1, 3]


def test_backoff_doubles_to_the_cap_with_full_jitter():
    top = Backoff(base_ms=500, cap_ms=60000, random=lambda: 0.999999)
    ceilings = [top.next_ms() for _ in range(12)]
    assert ceilings[:8] == [499, 999, 1999, 3999, 7999, 15999, 31999, 59999]
    assert max(ceilings) < 60000 and ceilings[-1] == 59999
    low = Backoff(random=lambda: 0.0)
    assert [low.next_ms() for _ in range(5)] == [0] * 5


def test_backoff_reset_starts_over_and_uses_the_injected_random():
    draws = iter([0.5, 0.5, 0.5, 0.5])
    b = Backoff(base_ms=500, cap_ms=60000, random=lambda: next(draws))
    assert b.next_ms() == 250
    assert b.next_ms() == 500
    b.reset()
    assert b.next_ms() == 250
    b.attempt = 1000  # a very long outage does not overflow
    assert b.next_ms() == 30000


@pytest.mark.parametrize("has_urandom", [True, False])
def test_urandom_unit_is_in_unit_interval(monkeypatch, has_urandom):
    if not has_urandom:  # like MicroPython ports without os.urandom
        monkeypatch.delattr(forwarder.os, "urandom")
    values = [urandom_unit() for _ in range(200)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert len(set(values)) > 150
