"""Which outbox records to publish when: a window of in-flight records, resend on ack timeout,
and the reconnect backoff. Pure logic (no I/O, no clock of its own), so a bench can run
thousands of these in one process and MicroPython can run it unchanged.
"""

import os
import time


class Forwarder:
    """Drains an Outbox oldest first with at most ``window`` records awaiting the server's ack.

    A record leaves the outbox only through ``on_ack`` (the application-level ack),
    never because the broker PUBACKed it.
    """

    def __init__(self, outbox, window=32, ack_timeout_ms=10000):
        self.outbox = outbox
        self.window = window
        self.ack_timeout_ms = ack_timeout_ms
        self._sent = {}  # seq -> ms it was last published
        self._cursor = None  # highest seq handed out since the (re)connect; None: start from the oldest

    def in_flight(self):
        """Seqs published and not yet acked, oldest first."""
        return sorted(self._sent)

    def due(self, now_ms):
        """Return ``[(seq, body), ...]`` to publish now, oldest first, and mark them in flight.

        Timed-out records are resent; new ones fill the window from the oldest pending.
        """
        out = []
        for seq in sorted(self._sent):
            if now_ms - self._sent[seq] >= self.ack_timeout_ms:
                body = self.outbox.get(seq)
                if body is None:  # gone from the outbox (acked by an earlier answer)
                    del self._sent[seq]
                    continue
                self._sent[seq] = now_ms
                out.append((seq, body))
        room = self.window - len(self._sent)
        if room > 0 and self.outbox.depth > len(self._sent):
            for seq, body in self._fresh(room):
                self._sent[seq] = now_ms
                out.append((seq, body))
        if len(out) > 1:
            out.sort(key=lambda r: r[0])
        return out

    def _fresh(self, room):
        """Pending records never handed out since the (re)connect, at most ``room``."""
        if self._cursor is None:
            found = [r for r in self.outbox.pending() if r[0] not in self._sent][:room]
        else:
            found = []
            seq = self._cursor + 1
            last = self.outbox.next_seq - 1
            while seq <= last and len(found) < room:
                if seq not in self._sent:
                    body = self.outbox.get(seq)
                    if body is not None:
                        found.append((seq, body))
                seq += 1
        if found:
            top = found[-1][0]
            if self._cursor is None or top > self._cursor:
                self._cursor = top
        elif self._cursor is None:
            self._cursor = self.outbox.next_seq - 1
        return found

    def on_ack(self, upto, also=()):
        """Apply the server's ack: delete those records from the outbox; return how many went."""
        for seq in list(self._sent):
            if seq <= upto or seq in also:
                del self._sent[seq]
        return self.outbox.ack(upto, also)

    def on_disconnect(self):
        """Forget what is in flight: after the reconnect everything pending is due again, oldest first."""
        self._sent = {}
        self._cursor = None


_state = [0]


def urandom_unit():
    """A float in [0, 1) from os.urandom, or a time-seeded xorshift where a port lacks it
    (jitter only needs terminals to spread out, not secrecy)."""
    if hasattr(os, "urandom"):
        b = os.urandom(4)
        return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) / 4294967296.0
    x = _state[0] or (int(time.time() * 1000003) ^ id(_state)) & 0xFFFFFFFF or 1
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    _state[0] = x
    return x / 4294967296.0


class Backoff:
    """Exponential reconnect delay with full jitter: uniform in [0, min(cap, base * 2**n)).

    ``reset()`` after a successful connect; ``random`` returns a float in [0, 1).
    """

    def __init__(self, base_ms=500, cap_ms=60000, random=urandom_unit):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.random = random
        self.attempt = 0

    def ceiling_ms(self):
        """The upper bound of the next delay."""
        if self.attempt >= 30:
            return self.cap_ms
        return min(self.cap_ms, self.base_ms << self.attempt)

    def next_ms(self):
        """Return the next delay in ms and double the ceiling for the one after."""
        delay = int(self.random() * self.ceiling_ms())
        self.attempt += 1
        return delay

    def reset(self):
        self.attempt = 0
