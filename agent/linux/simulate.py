"""`possync-agent simulate`: the real runner with a simulated card reader and POS.

Cards are valid Luhn PANs from a seeded pool, written as real ISO/IEC 7813 track 1 and
track 2 strings (with LRC) and parsed by the real parser; the POS is a real client of the
JSON-lines socket that rings a sale after each swipe, or now and then a stored-value spend.
"""

import json
import logging
import random
import socket
import threading
import time

from agent.linux import pos

log = logging.getLogger("possync.agent")

BINS = ("622202", "621700", "625807", "436742")
SV_SHARE = 0.1  # of the simulated customers pay from their stored-value card


def luhn_complete(digits):
    """Append the Luhn check digit to a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def _lrc(track, low):
    x = 0
    for ch in track:
        x ^= ord(ch) - low
    return chr(x + low)


def track_bytes(pan, name, exp, svc="101"):
    """What a two-track reader sends for a card: track 1, CR, track 2, with their LRCs."""
    t1 = "%B" + pan + "^" + name + "^" + exp + svc + "0000000000?"
    t2 = ";" + pan + "=" + exp + svc + "00000?"
    return (t1 + _lrc(t1, 0x20) + "\r" + t2 + _lrc(t2, 0x30)).encode("ascii")


def card_pool(n, seed):
    """``n`` simulated cards as (pan, name, exp YYMM), the same for the same seed."""
    rnd = random.Random(seed)
    year = time.gmtime().tm_year % 100
    cards = []
    for i in range(n):
        pan = luhn_complete(rnd.choice(BINS) + "".join(rnd.choice("0123456789") for _ in range(9)))
        cards.append((pan, "SIM/CARD %04d" % (i + 1), "%02d%02d" % ((year + 3) % 100, rnd.randint(1, 12))))
    return cards


class SimPos(threading.Thread):
    """Swipes a pool card through ``runner.inject_swipe`` then sends a sale (or, one time in ten, a
    stored-value spend), ``rate`` times a second."""

    def __init__(self, runner, rate, cards, seconds, seed, currency, drain_s=10.0):
        threading.Thread.__init__(self, name="possync-sim-pos", daemon=True)
        self.runner = runner
        self.rate = rate
        self.cards = card_pool(cards, seed)
        self.seconds = seconds
        self.rnd = random.Random(seed + 1)
        self.currency = currency
        self.drain_s = drain_s
        self.stats = {"sales": 0, "stored": 0, "not_stored": 0, "errors": 0, "svspends": 0, "sv_paid": 0,
                      "sv_refused": 0}
        self.halt = threading.Event()

    def run(self):
        try:
            self._run()
        except OSError as exc:
            log.error("simulate: POS connection failed: %s", exc)
        finally:
            self.runner.stop()

    def _run(self):
        sock = socket.create_connection(("127.0.0.1", self.runner.pos.port), timeout=30)
        lines = sock.makefile("rb")
        start = time.monotonic()
        n = 0
        while not self.halt.is_set():
            due = start + n / self.rate
            if self.seconds and due - start >= self.seconds:
                break
            if self.halt.wait(max(0.0, due - time.monotonic())):
                break
            n += 1
            pan, name, exp = self.rnd.choice(self.cards)
            done = threading.Event()
            self.runner.inject_swipe(track_bytes(pan, name, exp), done)
            done.wait(10)
            ref = "SIM-%d-%d" % (int(start), n)
            if self.rnd.random() < SV_SHARE:
                self._spend(sock, lines, ref)
                continue
            req = {"op": "sale", "ref": ref, "amount": self.rnd.randint(100, 50000), "cur": self.currency}
            sock.sendall(json.dumps(req).encode() + b"\n")
            self.stats["sales"] += 1
            reply = pos.read_reply(lines)
            if reply.get("stored"):
                self.stats["stored"] += 1
            elif reply.get("ok"):
                self.stats["not_stored"] += 1
            else:
                self.stats["errors"] += 1
        sock.close()
        self._drain()

    def _spend(self, sock, lines, ref):
        """Pay from the card's stored value instead of a sale (approved, declined or offline)."""
        req = {"op": "svspend", "ref": ref, "amount": self.rnd.randint(100, 5000), "cur": self.currency}
        sock.sendall(json.dumps(req).encode() + b"\n")
        self.stats["svspends"] += 1
        reply = pos.read_reply(lines)
        self.stats["sv_paid" if reply.get("stored") else "sv_refused"] += 1

    def _drain(self):
        deadline = time.monotonic() + self.drain_s  # give the last sales time to be acked
        while (self.runner.outbox.depth and self.runner.session.connected and time.monotonic() < deadline
               and not self.halt.wait(0.1)):
            pass
