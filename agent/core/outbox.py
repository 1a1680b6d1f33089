"""The terminal's durable outbox: an append-only log of CRC-checked records on local flash.

append() fsyncs its record before returning, so the POS may be told "stored". Acks append a
marker; acked records are compacted away by writing the survivors to path+".tmp" and renaming
it over the log. On open the log is replayed up to its first torn or damaged frame, which is
dropped with everything after it (the SQLite way), and the log rewritten without them.

Frame: b"PO" + type(1) + len(4) + crc32(4, over type+len+payload) + payload, big-endian.
  H (first frame only): next_seq u64.   R: seq u64 + ts u32 + body.   A: upto u64 + also u64*.
max_bytes bounds pending records; the file stays under about 2 * max_bytes + 64 KiB.
"""

import binascii
import struct

from agent.core import shim

MAGIC = b"PO"
T_HEADER = 72  # "H"
T_RECORD = 82  # "R"
T_ACK = 65  # "A"
FRAME = 11  # magic + type + len + crc
REC_HEAD = 12  # seq + ts
HEADER_LEN = FRAME + 8
COMPACT_MIN = 64 * 1024


class OutboxError(Exception):
    """The outbox cannot do what was asked; ``reason`` is ``full``, ``io`` or ``corrupt_header``."""

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self):
        return self.reason + ": " + self.detail if self.detail else self.reason


def _frame(typ, payload):
    tl = struct.pack(">BI", typ, len(payload))
    crc = binascii.crc32(payload, binascii.crc32(tl)) & 0xFFFFFFFF
    return MAGIC + tl + struct.pack(">I", crc) + payload


def _record(seq, ts, body):
    return _frame(T_RECORD, struct.pack(">QI", seq, ts) + body)


def _read_frame(data, off):
    """Return (type, payload, end) of the whole, CRC-correct frame at `off`, else None."""
    if off + FRAME > len(data) or data[off:off + 2] != MAGIC:
        return None
    typ, ln, crc = struct.unpack_from(">BII", data, off + 2)
    end = off + FRAME + ln
    if end > len(data):
        return None
    payload = data[off + FRAME:end]
    if binascii.crc32(payload, binascii.crc32(data[off + 2:off + 7])) & 0xFFFFFFFF != crc:
        return None
    return typ, payload, end


def _header_seq(data):
    """next_seq from a log's header frame, or None if the header is missing or damaged."""
    f = _read_frame(data, 0)
    if f is None or f[0] != T_HEADER or len(f[1]) != 8:
        return None
    return struct.unpack(">Q", f[1])[0]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class Outbox:
    """A bounded, durable queue of (seq, body) records waiting for the server's ack."""

    def __init__(self, path, max_bytes=4 * 1024 * 1024, max_count=20000):
        self.path = path
        self.tmp = path + ".tmp"
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.full = False
        self._f = None
        self._seqs = []  # pending seqs, ascending
        self._recs = {}  # seq -> (ts, body)
        self.bytes_used = 0  # frame bytes of pending records
        self._size = 0  # bytes in the log file
        self._dirty = False  # rewrite before the next write: a write failed or the file is closed
        self.next_seq = 1
        try:
            if shim.exists(self.tmp):
                # A compaction died before its rename (path is whole), or between a
                # non-atomic rename's remove and rename (tmp is whole and fsynced).
                if not shim.exists(path) and _header_seq(_read(self.tmp)) is not None:
                    shim.rename(self.tmp, path)
                else:
                    shim.remove(self.tmp)
            data = _read(path) if shim.exists(path) else None
        except OSError as e:
            raise self._io("cannot open", e)
        if data is None or self._load(data) != len(data):
            self.compact()  # a new log, or drop the damaged tail
        else:
            self._size = len(data)
            self._open()
        # reopened at its bounds: say so at once, not only when the next sale is refused
        self.full = len(self._seqs) >= max_count or self.bytes_used + FRAME + REC_HEAD > max_bytes

    def _load(self, data):
        """Replay the log into memory; return the offset where the good frames end."""
        seq0 = _header_seq(data)
        if seq0 is None:
            raise OutboxError("corrupt_header", "the header of outbox %s is damaged, so its records cannot be "
                              "trusted; stop the agent, move the file aside (it may hold unsent sales) and "
                              "restart to begin a new outbox, then call support" % self.path)
        prev = 0
        off = HEADER_LEN
        while True:
            f = _read_frame(data, off)
            if f is None:
                break
            typ, payload, end = f
            if typ == T_RECORD and len(payload) >= REC_HEAD:
                seq, ts = struct.unpack_from(">QI", payload, 0)
                if seq <= prev:
                    break
                self._add(seq, ts, payload[REC_HEAD:])
                prev = seq
            elif typ == T_ACK and len(payload) % 8 == 0 and payload:
                also = [struct.unpack_from(">Q", payload, i)[0] for i in range(8, len(payload), 8)]
                self._remove(struct.unpack_from(">Q", payload, 0)[0], also)
            else:
                break
            off = end
        self.next_seq = max(seq0, prev + 1)
        return off

    def _add(self, seq, ts, body):
        self._seqs.append(seq)
        self._recs[seq] = (ts, body)
        self.bytes_used += FRAME + REC_HEAD + len(body)
        self.next_seq = seq + 1

    def _remove(self, upto, also):
        """Drop pending seqs <= upto and those in `also`; return (how many <= upto, [seqs above upto])."""
        i = 0
        seqs = self._seqs
        while i < len(seqs) and seqs[i] <= upto:
            self._drop(seqs[i])
            i += 1
        del seqs[:i]
        above = []
        for s in also:
            if s in self._recs:
                self._drop(s)
                seqs.remove(s)
                above.append(s)
        return i, above

    def _drop(self, seq):
        self.bytes_used -= FRAME + REC_HEAD + len(self._recs.pop(seq)[1])

    def _open(self):
        self._f = open(self.path, "ab")

    def _io(self, what, e):
        return OutboxError("io", "%s outbox %s (%s); a record being appended is NOT stored: check that "
                           "the disk is present, writable and not full" % (what, self.path, e))

    def append(self, build):
        """Store build(seq) under the next seq, durably; return (seq, body). Raises OutboxError."""
        seq = self.next_seq
        body = build(seq)
        if len(self._seqs) >= self.max_count or self.bytes_used + FRAME + REC_HEAD + len(body) > self.max_bytes:
            self.full = True
            raise OutboxError("full", "outbox full (%d records, %d bytes): the sale is NOT stored by possync; "
                              "keep it in the POS and resend later; call support" % (len(self._seqs), self.bytes_used))
        if self._dirty:
            self.compact()
        ts = int(shim.now())
        data = _record(seq, ts, body)
        try:
            self._f.write(data)
            shim.fsync(self._f)
        except OSError as e:
            self._dirty = True
            try:  # take the unconfirmed record back out before a restart could replay it
                self.compact()
            except (OSError, OutboxError):
                pass  # still dirty: the next append rewrites the log first
            raise self._io("cannot write to", e)
        self._size += len(data)
        self._add(seq, ts, body)
        return seq, body

    def pending(self):
        """Records not yet acked, oldest first, as (seq, body)."""
        return [(s, self._recs[s][1]) for s in self._seqs]

    def get(self, seq):
        """The body stored under `seq`, or None if it is not pending."""
        r = self._recs.get(seq)
        return None if r is None else r[1]

    def ack(self, upto, also=()):
        """Remove every pending seq <= upto and every seq in `also`; return how many were removed.

        The marker is written without fsync: a lost ack only causes a resend, which the
        server dedupes. A failed compaction is left for later; the log stays whole.
        """
        upto = max(0, min(upto, self.next_seq - 1))
        n, above = self._remove(upto, also)
        if not n and not above:
            return 0
        self.full = False
        data = _frame(T_ACK, struct.pack(">Q", upto) + b"".join([struct.pack(">Q", s) for s in above]))
        if not self._dirty:
            try:
                self._f.write(data)
                self._f.flush()
                self._size += len(data)
            except OSError:
                self._dirty = True
        dead = self._size - HEADER_LEN - self.bytes_used
        if self._dirty or (dead > self._size // 2 and dead > COMPACT_MIN) or (
                not self._seqs and self._size > COMPACT_MIN):
            try:
                self.compact()
            except OutboxError:
                pass
        return n + len(above)

    def compact(self):
        """Rewrite the log as header + pending records via path+".tmp" and an atomic rename."""
        parts = [_frame(T_HEADER, struct.pack(">Q", self.next_seq))]
        for s in self._seqs:
            ts, body = self._recs[s]
            parts.append(_record(s, ts, body))
        data = b"".join(parts)
        try:
            with open(self.tmp, "wb") as f:
                f.write(data)
                shim.fsync(f)
            self.close()
            shim.rename(self.tmp, self.path)
            shim.fsync_dir(self.path.rsplit("/", 1)[0] if "/" in self.path else ".")
            self._open()
        except OSError as e:
            try:
                shim.remove(self.tmp)
            except OSError:
                pass
            self._dirty = self._dirty or self._f is None  # retried before the next write
            raise self._io("cannot compact", e)
        self._size = len(data)
        self._dirty = False

    @property
    def depth(self):
        """How many records wait for an ack."""
        return len(self._seqs)

    @property
    def oldest_ts(self):
        """Append time (whole seconds) of the oldest pending record, or None when empty."""
        return self._recs[self._seqs[0]][0] if self._seqs else None

    def close(self):
        """Close the log file; pending records stay on disk."""
        if self._f is not None:
            self._f.close()
            self._f = None
