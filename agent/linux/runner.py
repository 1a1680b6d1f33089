"""The running agent: one main loop thread (selectors) plus the MQTT network thread.

The main loop owns the outbox, forwarder, POS clients, reader, display and pending
authorisations; the network thread only queues events (ack, status, authr, config, connected,
disconnected) and wakes it.
"""

import collections
import functools
import logging
import os
import selectors
import socket
import time

from agent.core import records, shim
from agent.core.forwarder import Forwarder
from agent.core.layout import DisplayError
from agent.core.outbox import Outbox
from agent.linux import dropdir, posops, pushconfig
from agent.linux.authorise import Authoriser
from agent.linux.mqtt import Session
from agent.linux.pos import PosServer
from agent.linux.statuses import Statuses, pos_event
from protocol import track
from protocol.errors import ProtocolError

log = logging.getLogger("possync.agent")

TICK_S = 0.2
DROP_SCAN_S = 1.0


def version():
    """The installed possync version, sent in heartbeats."""
    try:
        from importlib.metadata import version as v
        return v("possync")
    except Exception:  # not installed as a distribution (e.g. run from a source tree)
        return "0.0.0+src"


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
        self.statuses = Statuses()
        self.handle_pos = functools.partial(posops.answer, self)
        self.sid = 0
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
        self.pushed, self.pushed_at = pushconfig.restore(self.cfg)
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
        self.statuses.sent("sid", self.sid, card["tok"])
        if self.session.connected and self.session.publish(
                "up/swipe", records.swipe(self.dev, self.sid, now, card), 1):
            self.show("text", "...")
            return
        cached = self.statuses.cache.get(card["tok"])
        if cached is not None:
            self.show("status", cached, True)
        else:
            self.show("message", "offline")

    def on_status(self, st):
        """A signed status from the server: cache it, show it if it is about now, tell the POS."""
        self.stats["statuses"] += 1
        if self.statuses.received(st):
            self.show("status", st, False)
        self.pos.push(pos_event(st))

    def on_config(self, obj, payload):
        """A verified config from the server: applied at once if newer than the one applied, then kept."""
        at = pushconfig.receive(self.cfg, obj, payload, self.pushed, self.stats)
        if at is not None:
            self.pushed, self.pushed_at = obj, at

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
        except DisplayError as exc:
            log.warning("display: cannot show a %s: %s", what, exc.reason)
