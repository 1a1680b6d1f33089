"""The outbox on real files: round trips, torn and bit-flipped logs, crashes, bounds, a model, kill -9."""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.core import outbox as outbox_mod
from agent.core import shim
from agent.core.outbox import Outbox, OutboxError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
OVERHEAD = 23  # frame (magic, type, len, crc) + seq + ts per stored record


def sale(seq):
    return b'{"seq":%d,"kind":"sale"}' % seq


def reopen(box, **kw):
    box.close()
    return Outbox(box.path, **kw)


def build_log(path):
    """A log of appends and acks; return [(file size, pending, next_seq)] after each frame, starting with the header."""
    box = Outbox(path)
    states = [(os.path.getsize(path), [], 1)]

    def note():
        states.append((os.path.getsize(path), box.pending(), box.next_seq))

    for _ in range(5):
        box.append(sale)
        note()
    box.ack(2)
    note()
    box.append(lambda s: b"longer body " * 5 + sale(s))
    note()
    box.ack(3, also=[5])
    note()
    box.append(sale)
    note()
    box.close()
    return states


def state_before(states, offset):
    """The state of the longest prefix of whole frames that fits in `offset` bytes."""
    return [s for s in states if s[0] <= offset][-1]


# --- round trips --------------------------------------------------------------------------------

def test_append_pending_get_ack_and_reopen_round_trip(tmp_path):
    box = Outbox(str(tmp_path / "o.log"))
    assert (box.depth, box.next_seq, box.pending(), box.oldest_ts) == (0, 1, [], None)
    assert [box.append(sale)[0] for _ in range(4)] == [1, 2, 3, 4]
    assert box.append(lambda s: b"") == (5, b"")
    assert box.get(3) == sale(3) and box.get(99) is None
    assert box.ack(2) == 2
    assert box.get(2) is None
    box = reopen(box)
    assert box.pending() == [(3, sale(3)), (4, sale(4)), (5, b"")]
    assert box.next_seq == 6 and box.depth == 3
    assert box.bytes_used == 3 * OVERHEAD + 2 * len(sale(3))
    assert box.append(sale)[0] == 6


def test_oldest_ts_is_append_time_of_oldest_pending(tmp_path, monkeypatch):
    box = Outbox(str(tmp_path / "o.log"))
    clock = iter([1700000000.7, 1700000050.2])
    monkeypatch.setattr(shim, "now", lambda: next(clock))
    box.append(sale)
    box.append(sale)
    assert box.oldest_ts == 1700000000
    box.ack(1)
    assert reopen(box).oldest_ts == 1700000050


def test_seq_survives_reopen_and_compaction_with_everything_acked(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    for _ in range(3):
        box.append(sale)
    box.ack(3)
    box.compact()
    box = reopen(box)
    assert box.pending() == [] and box.next_seq == 4
    # enough bytes that the ack compacts by itself
    for _ in range(100):
        box.append(lambda s: sale(s) + b"x" * 1000)
    assert box.ack(103) == 100
    assert os.path.getsize(path) < 100
    box = reopen(box)
    assert box.next_seq == 104
    assert box.append(sale)[0] == 104


def test_compaction_keeps_survivors_and_drops_dead_bytes(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    for _ in range(10):
        box.append(sale)
    box.ack(4, also=[9, 6])
    size = os.path.getsize(path)
    box.compact()
    assert os.path.getsize(path) < size
    assert not os.path.exists(path + ".tmp")
    want = [(s, sale(s)) for s in (5, 7, 8, 10)]
    assert box.pending() == want
    box.append(sale)
    assert reopen(box).pending() == want + [(11, sale(11))]


def test_ack_also_out_of_order_and_duplicate_acks(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    for _ in range(8):
        box.append(sale)
    assert box.ack(1, also=[7, 3, 5, 3, 42]) == 4
    assert [s for s, _ in box.pending()] == [2, 4, 6, 8]
    size = os.path.getsize(path)
    assert box.ack(1, also=[7, 3, 5]) == 0
    assert box.ack(-5) == 0
    assert os.path.getsize(path) == size  # nothing removed, nothing written
    assert box.ack(4, also=[8]) == 3
    box = reopen(box)
    assert box.pending() == [(6, sale(6))]
    assert box.ack(1000) == 1 and box.next_seq == 9
    assert reopen(box).append(sale)[0] == 9


# --- torn and damaged logs -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def log_image(tmp_path_factory):
    """The bytes of a log built by build_log, and its states."""
    src = str(tmp_path_factory.mktemp("image") / "src.log")
    states = build_log(src)
    with open(src, "rb") as f:
        return f.read(), states


def test_log_cut_at_every_byte_of_its_last_three_frames(tmp_path, log_image):
    data, states = log_image
    path = str(tmp_path / "o.log")
    for cut in range(states[-4][0], len(data) + 1):
        with open(path, "wb") as f:
            f.write(data[:cut])
        _, pending, next_seq = state_before(states, cut)
        box = Outbox(path)
        assert box.pending() == pending, cut
        assert box.next_seq == next_seq, cut
        assert box.append(lambda s: b"after") == (next_seq, b"after")
        box = reopen(box)
        assert box.pending() == pending + [(next_seq, b"after")], cut
        box.close()


def test_every_flipped_bit_in_the_last_three_frames(tmp_path, log_image):
    data, states = log_image
    path = str(tmp_path / "o.log")
    for pos in range(states[-4][0], len(data)):
        _, pending, next_seq = state_before(states, pos)
        for bit in range(8):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with open(path, "wb") as f:
                f.write(bad)
            box = Outbox(path)
            assert box.pending() == pending, (pos, bit)
            assert box.next_seq == next_seq, (pos, bit)
            box.append(lambda s: b"after")
            assert reopen(box).pending() == pending + [(next_seq, b"after")], (pos, bit)
            box.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damage_anywhere_after_the_header_keeps_exactly_the_frames_before_it(tmp_path, log_image, data):
    raw, states = log_image
    pos = data.draw(st.integers(states[0][0], len(raw) - 1), label="pos")
    bad = bytearray(raw)
    bad[pos] ^= data.draw(st.integers(1, 255), label="xor")
    path = str(tmp_path / "o.log")
    with open(path, "wb") as f:
        f.write(bad)
    box = Outbox(path)
    assert box.pending() == state_before(states, pos)[1]
    box.close()


@pytest.mark.parametrize("frame", [
    outbox_mod._record(2, 0, b"same seq again"),
    outbox_mod._record(1, 0, b"older seq"),
    outbox_mod._frame(outbox_mod.T_ACK, b"\x00" * 5),
    outbox_mod._frame(outbox_mod.T_ACK, b""),
    outbox_mod._frame(outbox_mod.T_RECORD, b"\x00" * 11),
    outbox_mod._frame(outbox_mod.T_HEADER, b"\x00" * 8),
    outbox_mod._frame(ord("Z"), b"\x00" * 8),
], ids=["dup_seq", "older_seq", "short_ack", "empty_ack", "short_record", "second_header", "unknown_type"])
def test_a_well_formed_frame_with_impossible_content_is_damage(tmp_path, frame):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    box.append(sale)
    box.append(sale)
    box.close()
    with open(path, "ab") as f:
        f.write(frame + outbox_mod._record(9, 0, b"after the damage"))
    box = Outbox(path)
    assert box.pending() == [(1, sale(1)), (2, sale(2))]
    assert box.append(sale)[0] == 3
    assert [s for s, _ in reopen(box).pending()] == [1, 2, 3]


def test_damaged_header_is_refused_and_the_file_kept(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    box.append(sale)
    box.close()
    data = bytearray(open(path, "rb").read())
    data[12] ^= 0x10  # inside the header's next_seq
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(OutboxError) as e:
        Outbox(path)
    assert e.value.reason == "corrupt_header"
    assert "move the file aside" in str(e.value)
    assert open(path, "rb").read() == data


# --- crash mid-compaction ------------------------------------------------------------------------

class Died(BaseException):
    """Stands for the process dying at this point (nothing catches it)."""


def test_crash_between_tmp_write_and_rename_keeps_the_original_log(tmp_path, monkeypatch):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    for _ in range(6):
        box.append(sale)
    box.ack(3)
    before = open(path, "rb").read()

    def die(src, dst):
        raise Died()

    monkeypatch.setattr(shim, "rename", die)
    with pytest.raises(Died):
        box.compact()
    monkeypatch.undo()
    assert os.path.exists(path + ".tmp")
    assert open(path, "rb").read() == before
    box = Outbox(path)
    assert box.pending() == [(s, sale(s)) for s in (4, 5, 6)]
    assert not os.path.exists(path + ".tmp")
    box.append(sale)
    assert reopen(box).pending()[-1] == (7, sale(7))


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.0])
def test_leftover_tmp_whole_or_partial_is_ignored(tmp_path, keep):
    path = str(tmp_path / "o.log")
    other = Outbox(str(tmp_path / "other.log"))
    for _ in range(9):
        other.append(lambda s: b"other")
    other.close()
    tmp = open(str(tmp_path / "other.log"), "rb").read()
    box = Outbox(path)
    box.append(sale)
    box.close()
    with open(path + ".tmp", "wb") as f:
        f.write(tmp[:int(len(tmp) * keep)])
    box = Outbox(path)
    assert box.pending() == [(1, sale(1))] and box.next_seq == 2
    assert not os.path.exists(path + ".tmp")


def test_whole_tmp_without_log_is_taken_and_a_torn_one_dropped(tmp_path):
    # Where rename cannot replace (MicroPython FAT) the log is removed before the rename.
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    for _ in range(3):
        box.append(sale)
    box.close()
    os.rename(path, path + ".tmp")
    box = Outbox(path)
    assert [s for s, _ in box.pending()] == [1, 2, 3]
    box.close()
    # a first start that died while writing the new log's header: nothing was ever stored
    os.remove(path)
    with open(path + ".tmp", "wb") as f:
        f.write(b"PO")
    box = Outbox(path)
    assert box.pending() == [] and box.next_seq == 1
    assert not os.path.exists(path + ".tmp")


# --- bounds and errors ---------------------------------------------------------------------------

def test_full_by_count(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path, max_count=3)
    for _ in range(3):
        box.append(sale)
    size = os.path.getsize(path)
    with pytest.raises(OutboxError) as e:
        box.append(sale)
    assert e.value.reason == "full" and "NOT stored" in str(e.value)
    assert box.full and box.next_seq == 4 and box.depth == 3
    assert os.path.getsize(path) == size
    box = reopen(box, max_count=3)
    assert box.pending() == [(s, sale(s)) for s in (1, 2, 3)]
    with pytest.raises(OutboxError):
        box.append(sale)
    assert box.ack(1) == 1 and not box.full
    box.compact()
    assert box.append(sale)[0] == 4


def test_full_by_bytes(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path, max_bytes=2 * (OVERHEAD + 100) + 50)
    assert box.append(lambda s: b"a" * 100)[0] == 1
    assert box.append(lambda s: b"b" * 100)[0] == 2
    with pytest.raises(OutboxError) as e:
        box.append(lambda s: b"c" * 100)
    assert e.value.reason == "full"
    assert box.append(lambda s: b"d" * (50 - OVERHEAD)) == (3, b"d" * (50 - OVERHEAD))  # exactly fits
    with pytest.raises(OutboxError):
        box.append(lambda s: b"")
    assert box.bytes_used == box.max_bytes
    assert box.ack(1) == 1
    box.compact()
    assert box.append(lambda s: b"e" * 100)[0] == 4
    assert [s for s, _ in reopen(box, max_bytes=box.max_bytes).pending()] == [2, 3, 4]


def test_failed_write_stores_nothing_and_the_next_append_works(tmp_path, monkeypatch):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    box.append(sale)
    real = shim.fsync

    def broken(f):
        real(f)  # the bytes reached the file, but the disk reported an error
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(shim, "fsync", broken)
    with pytest.raises(OutboxError) as e:
        box.append(lambda s: b"lost")
    assert e.value.reason == "io" and "NOT stored" in str(e.value)
    assert box.next_seq == 2 and box.pending() == [(1, sale(1))]
    monkeypatch.setattr(shim, "fsync", real)
    assert box.append(sale) == (2, sale(2))
    assert reopen(box).pending() == [(1, sale(1)), (2, sale(2))]


def test_an_outbox_reopened_at_its_bound_says_full_at_once(tmp_path):
    path = str(tmp_path / "o.log")
    box = Outbox(path, max_count=3)
    for _ in range(3):
        box.append(sale)
    box.close()
    box = Outbox(path, max_count=3)
    assert box.full
    box.ack(1)
    assert not box.full
    assert not Outbox(str(tmp_path / "other.log"), max_count=3).full


def test_a_record_whose_fsync_failed_is_not_replayed_after_a_crash(tmp_path, monkeypatch):
    path = str(tmp_path / "o.log")
    box = Outbox(path)
    box.append(sale)
    real = shim.fsync
    calls = []

    def fails_once(f):
        real(f)  # the bytes reached the file, but the disk reported an error this once
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(shim, "fsync", fails_once)
    with pytest.raises(OutboxError):
        box.append(lambda s: b"told NOT stored")
    # crash now: nothing else is written; a restart must not send what the POS was told is not stored
    assert Outbox(path).pending() == [(1, sale(1))]


# --- against a model -----------------------------------------------------------------------------

class OutboxModel(RuleBasedStateMachine):
    """Random appends, acks, reopens and compactions agree with a dict of seq -> body."""

    MAX_COUNT = 6
    MAX_BYTES = 6 * OVERHEAD + 120

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "o.log")
        self.saved_min = outbox_mod.COMPACT_MIN
        outbox_mod.COMPACT_MIN = 200  # let acks compact by themselves too
        self.box = self.open()
        self.model = {}
        self.next_seq = 1
        self.full = False

    def open(self):
        return Outbox(self.path, max_bytes=self.MAX_BYTES, max_count=self.MAX_COUNT)

    def teardown(self):
        self.box.close()
        outbox_mod.COMPACT_MIN = self.saved_min
        shutil.rmtree(self.dir)

    @rule(body=st.binary(max_size=40))
    def append(self, body):
        used = sum(OVERHEAD + len(b) for b in self.model.values())
        if len(self.model) >= self.MAX_COUNT or used + OVERHEAD + len(body) > self.MAX_BYTES:
            with pytest.raises(OutboxError) as e:
                self.box.append(lambda s: body)
            assert e.value.reason == "full"
            self.full = True
        else:
            assert self.box.append(lambda s: body) == (self.next_seq, body)
            self.model[self.next_seq] = body
            self.next_seq += 1

    @rule(data=st.data())
    def ack(self, data):
        upto = data.draw(st.integers(-1, self.next_seq + 1), label="upto")
        also = data.draw(st.lists(st.integers(0, self.next_seq + 2), max_size=5), label="also")
        gone = set(s for s in self.model if s <= upto or s in also)
        assert self.box.ack(upto, also) == len(gone)
        for s in gone:
            del self.model[s]
        if gone:
            self.full = False

    def at_bound(self):
        """Whether not even an empty record fits: a reopened outbox reports that as full."""
        used = sum(OVERHEAD + len(b) for b in self.model.values())
        return len(self.model) >= self.MAX_COUNT or used + OVERHEAD > self.MAX_BYTES

    @rule()
    def reopen(self):
        self.box.close()
        self.box = self.open()
        self.full = self.at_bound()

    @precondition(lambda self: self.model)
    @rule()
    def crash(self):
        """Drop the object without close(): what a kill -9 leaves behind is on disk already."""
        self.box = self.open()
        self.full = self.at_bound()

    @rule()
    def compact(self):
        self.box.compact()

    @invariant()
    def agrees(self):
        assert self.box.pending() == sorted(self.model.items())
        assert self.box.next_seq == self.next_seq
        assert self.box.depth == len(self.model)
        assert self.box.bytes_used == sum(OVERHEAD + len(b) for b in self.model.values())
        assert self.box.full == self.full
        for s in range(1, self.next_seq + 1):
            assert self.box.get(s) == self.model.get(s)


OutboxModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_outbox_agrees_with_model = OutboxModel.TestCase


# --- a real kill -9 ------------------------------------------------------------------------------

CHILD = """
import sys
from agent.core.outbox import Outbox
box = Outbox(sys.argv[1])
print("ready", box.next_seq, flush=True)
while True:
    seq, _ = box.append(lambda s: b"sale-%d-" % s + b"x" * 900)
    print("stored", seq, flush=True)
    if seq % 40 == 0:
        box.ack(seq - 20)
"""


def test_every_record_reported_stored_survives_sigkill(tmp_path):
    path = str(tmp_path / "o.log")
    rng = random.Random()
    env = dict(os.environ, PYTHONPATH=ROOT)
    last = 0
    for round_ in range(6):
        delay = rng.uniform(0.02, 0.5)
        child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE, env=env, cwd=ROOT)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(child.stdout))
        reader.start()
        try:
            first = None
            while first is None:  # wait for "ready" so the kill lands in the append loop
                if lines:
                    first = lines[0]
                elif child.poll() is not None:
                    pytest.fail("child exited early with %s" % child.returncode)
                time.sleep(0.005)
            time.sleep(delay)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            reader.join()
        assert child.returncode == -signal.SIGKILL
        assert first.split()[0] == b"ready" and int(first.split()[1]) > last
        stored = [int(l.split()[1]) for l in lines[1:] if l.startswith(b"stored ") and l.endswith(b"\n")]
        assert stored, "child stored nothing in %.3fs" % delay
        last = stored[-1]
        # an ack after "stored N" may have run unseen: only seqs above the last possible ack must remain
        maybe_acked = last // 40 * 40 - 20
        box = Outbox(path)
        have = dict(box.pending())
        seqs = [s for s, _ in box.pending()]
        assert seqs == sorted(set(seqs))
        for s in stored:
            if s > maybe_acked:
                assert have.get(s) == b"sale-%d-" % s + b"x" * 900, (round_, delay, s)
        assert box.next_seq > last
        box.close()
        assert not os.path.exists(path + ".tmp")


# --- the shim ------------------------------------------------------------------------------------

def test_shim_files_and_clocks(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with open(a, "wb") as f:
        f.write(b"new")
        shim.fsync(f)
    with open(b, "wb") as f:
        f.write(b"old")
    shim.rename(a, b)
    shim.fsync_dir(str(tmp_path))
    assert not shim.exists(a) and open(b, "rb").read() == b"new"
    shim.remove(b)
    shim.remove(b)  # already gone: not an error
    assert not shim.exists(b)
    t = shim.monotonic_ms()
    assert isinstance(t, int) and shim.monotonic_ms() >= t
    assert isinstance(shim.now(), float)
