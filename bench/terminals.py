"""Simulated terminals for the ingest bench: the real agent, many terminals per process.

Each terminal is the agent's own parts — config check, Outbox (fsync per record),
Forwarder window and ack handling, the MQTT Session that signs up-frames and verifies
down-frames, the track parser and the display renderer — with one paho client per
terminal (each device is its own MQTT user). One select loop drives all of a worker's
clients, so a worker costs one thread however many terminals it holds. The POS's
sales (each fsynced by the outbox) are written on a small thread pool: while a terminal
is appending, the loop leaves its outbox alone and holds its acks, exactly as the real
agent's own loop would be busy, but the other terminals of the worker keep going.

The main bench process steers the workers through a shared ``phase`` value and reads
their shared counters; each worker puts one result dict on a queue when it stops.
"""

import heapq
import os
import random
import selectors
import time
from concurrent.futures import ThreadPoolExecutor

from bench.broker import parent_gone

# Phases set by the main process.
IDLE, FLOOD, DRAIN, SWIPE, SWIPE_END, STOP = range(6)
# Shared counters per worker, at worker * NCOUNT + index.
CONNECTED, APPLIED, DEPTH, STORED, SWIPES, ANSWERED, FAILED, SEEN = range(8)
NCOUNT = 8

CARDS = 2000  # card pool shared by all terminals (same seed): customers recur
LOOP_S = 0.05  # longest select wait
MISC_S = 1.0  # paho keepalive housekeeping period
STATS_S = 0.2  # how often the shared counters of depth and connections are set
RECONNECT_S = 1.0


class Terminal:
    """One simulated terminal: the agent core's objects around one MQTT session."""

    def __init__(self, cfg, worker):
        from agent.core import display
        from agent.core.forwarder import Forwarder
        from agent.core.outbox import Outbox
        from agent.linux.mqtt import Session

        self.cfg = cfg
        self.dev = cfg["device"]
        self.worker = worker
        o = cfg["outbox"]
        os.makedirs(os.path.dirname(o["path"]), mode=0o700, exist_ok=True)
        self.outbox = Outbox(o["path"], o["max_bytes"], o["max_count"])
        self.forwarder = Forwarder(self.outbox, cfg["window"], cfg["ack_timeout_s"] * 1000)
        self.session = Session(cfg, self.on_event)
        self.cache = display.StatusCache(64)
        self.rnd = random.Random(cfg["device"])
        self.busy = None  # Future of a refill running on the pool: hands off the outbox
        self.held = []  # acks that arrived while busy, as (upto, also)
        self.owed = 0  # sales to ring: one for each record acked in the throughput phase
        self.busy_n = 0
        self.appended = 0
        self.append_ms = 0.0
        self.tok_of = {}  # seq -> card token of a stored sale, to cache its status by card
        self.sid = 0
        self.swipes = {}  # sid -> monotonic time the agent was handed the swipe
        self.dirty = False  # the forwarder may have records due
        self.mask = 0  # selector events registered for this client's socket
        self.sock = None
        self.reconnect_at = None
        self.reconnects = 0

    # -- the agent's reactions to down frames (called from paho inside loop_read) --
    def on_event(self, kind, obj):
        w = self.worker
        if kind == "ack":
            if self.busy is not None:
                self.held.append((obj["upto"], obj["also"]))
            else:
                self.ack(obj["upto"], obj["also"])
        elif kind == "status":
            w.on_status(self, obj)
        elif kind == "connected":
            self.dirty = True
        elif kind == "disconnected":
            self.forwarder.on_disconnect()

    def ack(self, upto, also):
        """The server's ack: the forwarder deletes those records from the outbox."""
        w = self.worker
        n = self.forwarder.on_ack(upto, also)
        w.count(APPLIED, n)
        if w.phase == FLOOD and n:
            self.owed += n
            w.owing.add(self)
        self.dirty = True

    def append_sales(self, n):
        """The POS rings ``n`` sales carrying a card; each is fsynced by the outbox.

        Runs on a pool thread (only one per terminal at a time); returns how many were stored.
        """
        from agent.core import records, shim
        from agent.core.outbox import OutboxError

        cards = self.worker.sale_cards
        stored = 0
        t = time.perf_counter()
        for _ in range(n):
            card = self.rnd.choice(cards)
            now = int(shim.now())
            amount = self.rnd.randint(100, 50000)
            try:
                seq, _ = self.outbox.append(lambda s: records.tx(self.dev, s, now, {
                    "op": "sale", "ref": "B-%s-%d" % (self.dev, s), "amount": amount, "cur": "CNY"}, "CNY", card, self.cfg["acq"]))
            except OutboxError:
                break
            self.tok_of[seq] = card["tok"]
            stored += 1
        self.append_ms += (time.perf_counter() - t) * 1000.0
        self.appended += stored
        return stored

    def pump(self, now_ms):
        """Publish what the forwarder says is due (the agent's Runner.pump)."""
        self.dirty = False
        if not self.session.connected:
            return
        for seq, body in self.forwarder.due(now_ms):
            if not self.session.publish("up/tx", body, 1):
                self.forwarder.on_disconnect()
                return

    def swipe(self, raw, yymm):
        """A card swipe handed to the agent: parse, publish the lookup, start the clock."""
        from agent.core import records, shim
        from protocol import track

        t0 = time.monotonic()
        card = track.parse_swipe(raw, self.cfg["token_key"], yymm)
        self.sid += 1
        if self.session.publish("up/swipe", records.swipe(self.dev, self.sid, int(shim.now()), card), 1):
            self.swipes[self.sid] = t0
            return t0
        return None


class Worker:
    """Drives ``cfgs`` terminals in one process until the phase says STOP."""

    def __init__(self, index, cfgs, control, counters, opts):
        self.index = index
        self.control = control
        self.counters = counters
        self.opts = opts
        self.rnd = random.Random(opts["seed"] * 1000 + index)
        self.sel = selectors.DefaultSelector()
        self.pool = ThreadPoolExecutor(16)
        self.touched = set()  # terminals to pump and flush after this pass of the loop
        self.owing = set()  # terminals with sales to ring or a refill running
        self.latencies = []  # ms, swipe handed -> verified status rendered
        self.lags = []  # ms, swipe due -> handed (simulator lateness, not the system's)
        self.render_errors = 0
        self.phase = IDLE
        self.ppid = os.getppid()
        self._cards(cfgs[0]["token_key"])
        self.terms = [Terminal(cfg, self) for cfg in cfgs]

    def _cards(self, token_key):
        from agent.linux.runner import yymm
        from agent.linux.simulate import card_pool, track_bytes
        from protocol import track

        self.yymm = yymm(time.time())
        self.swipe_raw = [track_bytes(pan, name, exp) for pan, name, exp in card_pool(CARDS, self.opts["seed"])]
        # Sales carry the card of a swipe: parsed once here by the real parser.
        self.sale_cards = []
        for raw in self.swipe_raw[::4]:
            c = track.parse_swipe(raw, token_key, self.yymm)
            self.sale_cards.append({"tok": c["tok"], "bin": c["bin"], "last4": c["last4"]})

    def count(self, which, n):
        self.counters[self.index * NCOUNT + which] += n

    # -- setup ------------------------------------------------------------------
    def prefill(self, n):
        """Give every terminal a backlog of ``n`` stored sales (on the pool: fsyncs overlap)."""
        stored = sum(self.pool.map(lambda t: t.append_sales(n), self.terms))
        self.count(STORED, stored)
        self.count(FAILED, len(self.terms) * n - stored)

    def refills(self):
        """Finish refills that are done (then apply the acks held meanwhile); start owed ones."""
        for term in list(self.owing):
            if term.busy is not None:
                if not term.busy.done():
                    continue
                n = term.busy.result()
                self.count(STORED, n)
                self.count(FAILED, term.busy_n - n)
                term.busy = None
                self.touched.add(term)
                held, term.held = term.held, []
                for upto, also in held:
                    term.ack(upto, also)
            if term.owed and self.phase == FLOOD:
                term.busy_n, term.owed = term.owed, 0
                term.busy = self.pool.submit(term.append_sales, term.busy_n)
            elif term.busy is None:
                self.owing.discard(term)

    def connect(self, term):
        c = term.session.client
        m = term.cfg["mqtt"]
        try:
            if term.reconnects:
                c.reconnect()
            else:
                c.connect(m["host"], m["port"], m["keepalive"])
        except OSError:
            term.reconnect_at = time.monotonic() + RECONNECT_S
            return
        term.reconnect_at = None
        term.sock = c.socket()
        term.mask = selectors.EVENT_READ
        self.sel.register(term.sock, term.mask, term)
        self._flush(term)

    def _lost(self, term):
        """The connection dropped: paho told the Session; reconnect after a pause."""
        if term.sock is not None:
            try:
                self.sel.unregister(term.sock)
            except (KeyError, ValueError):
                pass
        term.sock = None
        term.mask = 0
        term.reconnects += 1
        term.reconnect_at = time.monotonic() + RECONNECT_S

    def _flush(self, term):
        """Write what paho queued; watch for writability only while something is left."""
        c = term.session.client
        if c.want_write():
            c.loop_write()
        if term.sock is None or c.socket() is None:
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.want_write() else 0)
        if want != term.mask:
            term.mask = want
            self.sel.modify(term.sock, want, term)

    # -- statuses ---------------------------------------------------------------
    def on_status(self, term, st):
        from agent.core import display

        if st["for"] == "sid":
            t0 = term.swipes.pop(st["id"], None)
            if t0 is None:
                return
            try:
                display.show(st, "zh-CN", "gb18030")
            except display.DisplayError:
                self.render_errors += 1
            self.latencies.append((time.monotonic() - t0) * 1000.0)
            self.count(ANSWERED, 1)
        else:  # a sale's status: cached by card for offline display, as the agent does
            tok = term.tok_of.pop(st["id"], None)
            if tok is not None:
                term.cache.put(tok, st)

    # -- the loop ---------------------------------------------------------------
    def run(self):
        from agent.core import shim

        for term in self.terms:
            self.connect(term)
        swipes = []  # heap of (due, n, terminal index)
        period = 1.0 / self.opts["rate"]
        next_misc = next_stats = time.monotonic()
        while True:
            phase = self.control.value
            if parent_gone(self.ppid):
                break
            if phase != self.phase:
                self.phase = phase
                self.counters[self.index * NCOUNT + SEEN] = phase
                if phase == FLOOD:
                    for term in self.terms:
                        term.dirty = True
                    self.touched.update(self.terms)
                elif phase == SWIPE:
                    t = time.monotonic()
                    swipes = [(t + self.rnd.uniform(0, period), 0, i) for i in range(len(self.terms))]
                    heapq.heapify(swipes)
                elif phase == SWIPE_END:
                    swipes = []
                elif phase == STOP:
                    break
            now = time.monotonic()
            wait = LOOP_S if not swipes else max(0.0, min(LOOP_S, swipes[0][0] - now))
            for key, mask in self.sel.select(wait):
                term = key.data
                c = term.session.client
                rc = 0
                if mask & selectors.EVENT_READ:
                    rc = c.loop_read()
                if rc == 0 and mask & selectors.EVENT_WRITE:
                    rc = c.loop_write()
                if rc != 0 or c.socket() is None:
                    self._lost(term)
                self.touched.add(term)
            if self.owing:
                self.refills()
            now = time.monotonic()
            while swipes and swipes[0][0] <= now:
                due, n, i = heapq.heappop(swipes)
                term = self.terms[i]
                if term.session.connected:
                    t0 = term.swipe(self.swipe_raw[self.rnd.randrange(len(self.swipe_raw))], self.yymm)
                    if t0 is not None:
                        self.lags.append((t0 - due) * 1000.0)
                        self.count(SWIPES, 1)
                        self.touched.add(term)
                heapq.heappush(swipes, (due + period, n + 1, i))
            pumping = self.phase in (FLOOD, DRAIN, SWIPE, SWIPE_END)
            now_ms = shim.monotonic_ms()
            for term in self.touched:
                if term.dirty and pumping and term.busy is None:
                    term.pump(now_ms)
                if term.sock is not None:
                    self._flush(term)
            self.touched.clear()
            if now >= next_stats:
                next_stats = now + STATS_S
                misc = now >= next_misc
                if misc:
                    next_misc = now + MISC_S
                connected = depth = 0
                for term in self.terms:
                    if misc:
                        self._housekeeping(term, now)
                    connected += term.session.connected
                    depth += term.outbox.depth
                base = self.index * NCOUNT
                self.counters[base + CONNECTED] = connected
                self.counters[base + DEPTH] = depth
        return self.result()

    def _housekeeping(self, term, now):
        """paho keepalive, reconnects, and a pump so ack timeouts cause resends."""
        if term.sock is not None:
            if term.session.client.loop_misc() != 0:
                self._lost(term)
        elif term.reconnect_at is not None and now >= term.reconnect_at:
            self.connect(term)
        if term.forwarder.in_flight() or term.dirty:
            term.dirty = True
            self.touched.add(term)

    def result(self):
        """Disconnect, close every outbox, and say what was stored and measured."""
        self.pool.shutdown(wait=True)
        self.refills()
        stored = {}
        for term in self.terms:
            try:
                term.session.client.disconnect()
            except OSError:
                pass
            stored[term.dev] = (term.outbox.next_seq - 1, term.outbox.depth)
            term.outbox.close()
        dropped = sum(sum(t.session.dropped.values()) for t in self.terms)
        return {"worker": self.index, "stored": stored, "latencies": self.latencies, "lags": self.lags,
                "dropped_down": dropped, "render_errors": self.render_errors,
                "append_ms": sum(t.append_ms for t in self.terms), "appended": sum(t.appended for t in self.terms),
                "reconnects": sum(t.reconnects for t in self.terms),
                "unanswered": sum(len(t.swipes) for t in self.terms)}


def worker_main(index, paths, control, counters, results, opts):
    """Process entry: load the agent configs at ``paths``, prefill, run, report."""
    import signal

    from agent.linux import config

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it sets STOP
    try:
        cfgs = [config.load(p) for p in paths]
        w = Worker(index, cfgs, control, counters, opts)
        w.prefill(opts["backlog"])
        results.put({"worker": index, "ready": True})
        results.put(w.run())
    except Exception as exc:
        import traceback

        results.put({"worker": index, "error": "%s\n%s" % (exc, traceback.format_exc())})
