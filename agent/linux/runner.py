"""The running agent: one main loop thread (selectors) plus the MQTT network thread.

The main loop owns the outbox, forwarder, POS clients, reader, display and pending
authorisations; the network thread only queues events (ack, status, authr, config, connected,
disconnected) and wakes it.
"""

import collections
import logging
import os
import selectors
import socket
import time

from agent.core import display as core_display
from agent.core import pushed, records, shim
from agent.core.forwarder import Forwarder
from agent.core.outbox import Outbox, OutboxError
from agent.linux import dropdir
from agent.linux.authorise import Authoriser
from agent.linux.mqtt import Session
from agent.linux.pos import PosServer, error
from protocol import envelope, money, track
from protocol.errors import ProtocolError

log = logging.getLogger("possync.agent")

TICK_S = 0.2
DROP_SCAN_S = 1.0
RECENT = 256  # sid/seq -> tok kept for matching statuses to cards
# Status fields passed to the POS (the cashier's view): tags go there, never onto the customer display.
STATUS_EVENT = ("for", "id", "cust", "pts", "earned", "tier", "new", "lic", "sv", "svcur", "cpn", "low", "tags")


def version():
    """The installed possync version, sent in heartbeats."""
    try:
        from importlib.metadata import version as v
        return v("possync")
    except Exception:  # not installed as a distribution (e.g. run from a source tree)
        return "0.0.0+src"


def kept_at(path, payload):
    """When the kept config ``payload`` was received: the modification time of the file holding it
    (``path``, or ``path.tmp`` after a save cut short), as Unix seconds."""
    for name in (path, path + ".tmp"):
        try:
            with open(name, "rb") as f:
                if f.read() == payload:
                    return int(os.fstat(f.fileno()).st_mtime)
        except OSError:
            continue
    return int(shim.now())  # removed since it was loaded: the nearest known time


def yymm(now_s):
    """Today as the int YYMM that card expiry dates are compared with (UTC)."""
    t = time.gmtime(now_s)
    return (t.tm_year % 100) * 100 + t.tm_mon


class Runner:
    """Wires config, outbox, forwarder, MQTT session, POS server, reader and display.

    ``start()`` opens everything (the POS port is bound when it returns), ``run()`` is the
    main loop until ``stop()`` (callable from any thread or a signal handler).
    """

    def __init__(self, cfg, reader=None, display=None):
        self.cfg = cfg
        self.dev = cfg["device"]
        self.reader = reader
        self.display = display
        self.ver = version()
        self.started = shim.now()
        self.outbox = None
        self.forwarder = None
        self.session = None
        self.pos = None
        self.last_swipe = records.LastSwipe(cfg["swipe_ttl_s"])
        self.auth = Authoriser(self)
        self.cache = core_display.StatusCache(RECENT)
        self.sid = 0
        self.tok_of = {"sid": collections.OrderedDict(), "seq": collections.OrderedDict()}
        self.latest = {"sid": None, "seq": None}  # the statuses worth showing to the customer now
        self.pushed = None  # the server's config applied over the file's offline limits and hot list
        self.pushed_at = None  # when that config was received (Unix seconds, terminal clock)
        self.stats = collections.Counter()
        self.events = collections.deque()
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._next_hb = 0.0
        self._next_drop = 0.0

    # -- lifecycle ---------------------------------------------------------------
    def start(self):
        """Open the outbox, bind the POS port, start the MQTT session."""
        o = self.cfg["outbox"]
        os.makedirs(os.path.dirname(os.path.abspath(o["path"])), mode=0o700, exist_ok=True)
        self.outbox = Outbox(o["path"], o["max_bytes"], o["max_count"])
        self.load_config()
        self.forwarder = Forwarder(self.outbox, self.cfg["window"], self.cfg["ack_timeout_s"] * 1000)
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        p = self.cfg["pos"]
        self.pos = PosServer(p["host"], p["port"], self.handle_pos, self.sel)
        if self.reader is not None:
            self.sel.register(self.reader, selectors.EVENT_READ, self._read_reader)
        self.session = Session(self.cfg, self._on_mqtt)
        self.session.start()
        if self.display is not None:
            self.display.message("welcome")
        log.info("agent %s started: outbox depth %d, next seq %d, POS on %s:%d",
                 self.dev, self.outbox.depth, self.outbox.next_seq, p["host"], self.pos.port)
        return self

    def stop(self):
        """Ask the main loop to end; safe from signal handlers and other threads."""
        self._stopping = True
        self._wake()

    def run(self):
        """The main loop; closes everything (outbox last) when it ends."""
        try:
            while not self._stopping:
                for key, mask in self.sel.select(self._timeout()):
                    key.data(key.fileobj, mask)
                self.tick()
        finally:
            self.close()

    def close(self):
        if self.session is not None:
            self.session.stop()
        if self.pos is not None:
            self.pos.close()
        if self.reader is not None:
            self.reader.close()
        if self.display is not None:
            self.display.close()
        if self.outbox is not None:
            self.outbox.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("agent %s stopped", self.dev)

    def _timeout(self):
        if self.reader is not None:
            wait = self.reader.asm.pending_ms(shim.monotonic_ms())
            if wait is not None:
                return min(TICK_S, wait / 1000.0)
        return TICK_S

    # -- cross-thread events -----------------------------------------------------
    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:  # buffer full (already awake) or closed
            pass

    def _drain_wake(self, sock, mask):
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass

    def _on_mqtt(self, kind, obj):
        self.events.append((kind, obj))
        self._wake()

    def inject_swipe(self, raw, done=None):
        """Hand raw reader bytes to the main loop (simulated readers); ``done.set()`` after."""
        self.events.append(("swipe", (raw, done)))
        self._wake()

    def tick(self):
        """One pass after select: queued events, reader gap, drop folder, heartbeat, publishing."""
        while self.events:
            kind, obj = self.events.popleft()
            if kind == "ack":
                self.stats["acked"] += self.forwarder.on_ack(obj["upto"], obj["also"])
            elif kind == "status":
                self.on_status(obj)
            elif kind == "authr":
                self.auth.on_answer(obj)
            elif kind == "config":
                self.on_config(*obj)
            elif kind == "connected":
                self._next_hb = 0.0
            elif kind == "disconnected":
                self.forwarder.on_disconnect()
                self.auth.expire(shim.monotonic_ms(), everything=True)
            elif kind == "swipe":
                raw, done = obj
                self.on_swipe(raw)
                if done is not None:
                    done.set()
        now_ms = shim.monotonic_ms()
        self.auth.expire(now_ms)
        if self.reader is not None:
            raw = self.reader.asm.poll(now_ms)
            if raw is not None:
                self.on_swipe(raw)
        now = time.monotonic()
        if self.cfg["drop_dir"] and now >= self._next_drop:
            self._next_drop = now + DROP_SCAN_S
            dropdir.scan(self.cfg["drop_dir"], self.handle_pos)
        if now >= self._next_hb and self.session.connected:
            self.heartbeat()
        self.pump(now_ms)

    # -- outgoing ----------------------------------------------------------------
    def pump(self, now_ms=None):
        """Publish what the forwarder says is due (only while connected)."""
        if not self.session.connected:
            return
        for seq, body in self.forwarder.due(shim.monotonic_ms() if now_ms is None else now_ms):
            if not self.session.publish("up/tx", body, 1):
                self.forwarder.on_disconnect()
                return
            self.stats["published"] += 1

    def heartbeat(self):
        """Publish an up/hb (QoS 0) now and schedule the next."""
        self._next_hb = time.monotonic() + self.cfg["heartbeat_s"]
        now = int(shim.now())
        body = records.hb(self.dev, now, self.ver, self.outbox.depth, self.outbox.oldest_ts,
                          int(now - self.started), self.outbox.full)
        self.session.publish("up/hb", body, 0)

    def _remember(self, kind, ident, tok):
        m = self.tok_of[kind]
        m[ident] = tok
        if len(m) > RECENT:
            m.popitem(last=False)
        self.latest[kind] = ident

    # -- inputs ------------------------------------------------------------------
    def _read_reader(self, reader, mask):
        for raw in reader.read(shim.monotonic_ms()):
            self.on_swipe(raw)
        if getattr(reader, "eof", False):
            self.sel.unregister(reader)
            log.info("reader: end of input")

    def on_swipe(self, raw):
        """Parse a swipe, publish it as a lookup at once (ahead of the backlog), show "..."."""
        now = int(shim.now())
        try:
            card = track.parse_swipe(raw, self.cfg["token_key"], yymm(now))
        except ProtocolError as exc:
            self.stats["bad_swipes"] += 1
            log.info("reader: swipe rejected: %s", exc.reason)
            self.show("message", "card_error")
            return
        self.stats["swipes"] += 1
        self.last_swipe.put(card, now)
        self.sid += 1
        self._remember("sid", self.sid, card["tok"])
        if self.session.connected and self.session.publish(
                "up/swipe", records.swipe(self.dev, self.sid, now, card), 1):
            self.show("text", "...")
            return
        cached = self.cache.get(card["tok"])
        if cached is not None:
            self.show("status", cached, True)
        else:
            self.show("message", "offline")

    def on_status(self, st):
        """A signed status from the server: cache it, show it if it is about now, tell the POS."""
        self.stats["statuses"] += 1
        kind = st["for"] if st["for"] in ("sid", "seq") else None
        if kind is not None:
            tok = self.tok_of[kind].get(st["id"])
            if tok is not None:
                self.cache.put(tok, st)
            # A card-less sale's status (an acquirer warning) has no token but is shown all the same.
            if st["id"] == self.latest[kind]:
                self.show("status", st, False)
        event = {"event": "status"}
        for k in STATUS_EVENT:
            if k in st:
                event[k] = st[k]
        self.pos.push(event)

    def load_config(self):
        """Apply the config the server pushed before a restart, verified again, if one was kept."""
        obj, payload, problems = pushed.load(self.cfg["pushed_path"], self.dev, self.cfg["key"])
        for problem in problems:
            log.warning("config: a kept config was refused: %s", problem)
        if obj is not None:
            self._apply(obj, "restored from " + self.cfg["pushed_path"], kept_at(self.cfg["pushed_path"], payload))

    def on_config(self, obj, payload):
        """A verified config from the server: applied at once if newer than the one applied, then kept."""
        if not pushed.newer(obj, self.pushed):
            if obj["cfg"] < self.pushed["cfg"]:
                self.stats["old_configs"] += 1
                log.warning("config: version %d ignored: version %d is applied already", obj["cfg"], self.pushed["cfg"])
            return
        self._apply(obj, "pushed by the server", int(shim.now()))
        try:
            pushed.save(self.cfg["pushed_path"], payload)
        except OSError as exc:
            log.error("config: version %d is applied but could not be kept in %s (%s): after a restart the "
                      "last kept one applies until the server's is received again", obj["cfg"],
                      self.cfg["pushed_path"], exc.strerror or exc)

    def _apply(self, obj, how, at):
        self.pushed, self.pushed_at = obj, at
        self.cfg["offline"] = pushed.limits(obj)
        self.cfg["frozen"] = frozenset(pushed.hot_list(obj))
        cur = self.cfg["currency"]
        log.info("config: version %d %s: offline limits %s per card, %s per terminal (%s); %d frozen cards%s",
                 obj["cfg"], how, money.text(obj["card"], cur), money.text(obj["term"], cur), cur,
                 len(obj["frozen"]), "" if obj["all"] else " (the most recent only: the full list does not fit)")

    def show(self, what, arg, offline=False):
        """Put a status, authr, message or plain text on the customer display, if there is one."""
        if self.display is None:
            return
        try:
            if what == "status":
                self.display.status(arg, offline)
            elif what == "authr":
                self.display.authr(arg)
            elif what == "message":
                self.display.message(arg)
            else:
                self.display.text(arg)
        except core_display.DisplayError as exc:
            log.warning("display: cannot show a %s: %s", what, exc.reason)

    def handle_pos(self, req, client=None):
        """Answer one POS request; a tx is "stored" only after the outbox fsync. ``client`` is the POS
        connection (None for the drop folder); svspend, redeem and coupon answer it later (None here)."""
        op = req.get("op")
        if op == "status":
            return self.status()
        if op in envelope.AUTH_OPS:
            return self.auth.start(op, req, client)
        cur, acq = self.cfg["currency"], self.cfg["acq"]
        try:
            records.check_tx(req, cur, acq)
        except ProtocolError as exc:
            return error(exc.reason, exc.detail)
        now = int(shim.now())
        card = self.last_swipe.peek(now)
        if "redeem" in req:
            approval, refused = self.auth.redemption(req, card)
            if refused is not None:
                return refused
            card = approval["card"]
        if card is None and op in envelope.SV_KINDS:
            return error("no_card", "swipe the member card first: a %s needs the card's token" % op)
        seq, failed = self.store(op, lambda s: records.tx(self.dev, s, now, req, cur, card, acq), card)
        if failed is not None:
            return failed
        if "redeem" in req:
            self.auth.redeemed(req["auth"])
        return {"ok": True, "stored": True, "seq": seq}

    def store(self, op, build, card):
        """Append ``build(seq)`` to the outbox for a record of ``card`` (or None); return ``(seq, None)``,
        or ``(None, reply)`` saying why it was not stored."""
        try:
            seq, _ = self.outbox.append(build)
        except OutboxError as exc:
            self.stats["not_stored"] += 1
            log.error("outbox: a %s was NOT stored: %s", op, exc.reason)
            if exc.reason == "full":
                self.show("message", "outbox_full")
                if self.session.connected:
                    self.heartbeat()
            return None, {"ok": True, "stored": False, "error": "outbox_" + exc.reason, "message": exc.detail}
        except ProtocolError as exc:  # a field the envelope refuses that check_tx let through
            return None, error(exc.reason, exc.detail)
        self.stats["stored"] += 1
        if card is not None:
            self.last_swipe.consume()
            self._remember("seq", seq, card["tok"])
        else:
            self.latest["seq"] = seq
        self.pump()
        return seq, None

    def status(self):
        """The agent's state as the POS `status` op and `possync-agent status` report it."""
        oldest = self.outbox.oldest_ts
        return {"ok": True, "device": self.dev, "connected": bool(self.session and self.session.connected),
                "depth": self.outbox.depth,
                "oldest_s": 0 if oldest is None else max(0, int(shim.now()) - oldest),
                "full": self.outbox.full, "next_seq": self.outbox.next_seq,
                "in_flight": len(self.forwarder.in_flight()), "version": self.ver,
                "protocol": envelope.VERSION, "dropped_down": sum(self.session.dropped.values()),
                "config": self.pushed["cfg"] if self.pushed is not None else 0, "config_at": self.pushed_at,
                "frozen": len(self.cfg["frozen"]), "offline": self.cfg["offline"], "currency": self.cfg["currency"]}
