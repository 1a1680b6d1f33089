"""The MQTT side of ingest: receive, batch, commit, then answer and acknowledge to the broker.

paho's network thread only enqueues; one worker thread verifies, commits a batch in
one transaction and only then publishes acks/statuses and PUBACKs the broker
(``manual_ack``), so a crash before the commit means the broker redelivers. Between batches
the worker also polls the pushed config's version and publishes a new one (server.fleet.pushconfig).
"""

import logging
import os
import queue
import signal
import threading
import time
import traceback
from collections import namedtuple

from paho.mqtt.client import MQTT_ERR_SUCCESS
from peewee import InterfaceError, OperationalError

from protocol.errors import ProtocolError
from server import metrics
from server.db import db
from server.fleet import pushconfig
from server.ingest import authorise, extras
from server.ingest.answers import ack_frame, authr_frame, status_frame
from server.ingest.apply import Batch, apply_batch
from server.ingest.client import make_client
from server.ingest.verify import body_of, verify, verify_state
from server.loyalty.service import statuses_for

log = logging.getLogger("possync.ingest")

Inbound = namedtuple("Inbound", "t gen topic payload mid qos")
UP_TOPIC = "pos/+/up/#"
SHARED_UP_TOPIC = "$share/possync/" + UP_TOPIC
STATE_TOPIC = "pos/+/state"
TRANSIENT = (OperationalError, InterfaceError)
# last_seen of devices heard only through swipes is written with the next commit, or
# after this long: a swipe needs no write transaction of its own.
SEEN_FLUSH_S = 5.0


class IngestLoop:
    """One ingest process's MQTT client and worker; ``start()``, ``stop()``, ``connected``."""

    def __init__(self, config, keys, client=None):
        self.config = config
        self.keys = keys
        self.max_batch = int(config.get("INGEST_MAX_BATCH", 500))
        self.window_s = float(config.get("INGEST_BATCH_WINDOW_S", 0.005))
        self.queue = queue.SimpleQueue()
        self.client = client or make_client(config, self._on_connect, self._on_disconnect, self._on_message)
        self.connected = False
        self._gen = 0
        self._stop = threading.Event()
        self._worker = None
        self._seen_errors = set()
        self._unsaved = set()
        self._saved_at = time.monotonic()
        self._frames = {}  # kind -> its FRAMES counter
        self.pusher = pushconfig.Pusher(keys, self._publish_retained, pushconfig.configured_limits(config),
                                        every_s=float(config["INGEST_CONFIG_POLL_S"]))

    # --- MQTT client (paho's thread) -------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s (check MQTT_USERNAME/MQTT_PASSWORD)", reason_code)
            return
        self._gen += 1
        up = SHARED_UP_TOPIC if self.config.get("MQTT_SHARED", True) else UP_TOPIC
        client.subscribe([(up, 1), (STATE_TOPIC, 1)])
        self.pusher.forget()  # a broker that lost its retained configs gets them again
        self.connected = True
        log.info("connected to the broker, subscribed to %s and %s", up, STATE_TOPIC)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self.connected:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)
        self.connected = False

    def _on_message(self, client, userdata, msg):
        self.queue.put(Inbound(time.monotonic(), self._gen, msg.topic, msg.payload, msg.mid, msg.qos))

    # --- lifecycle --------------------------------------------------------------------

    def start(self):
        """Connect (retrying in the background) and start the worker thread."""
        self._worker = threading.Thread(target=self._run, name="possync-ingest", daemon=True)
        self._worker.start()
        self.client.connect_async(self.config.get("MQTT_HOST", "127.0.0.1"), int(self.config.get("MQTT_PORT", 1883)),
                                  keepalive=int(self.config.get("MQTT_KEEPALIVE", 30)))
        self.client.loop_start()
        return self

    def stop(self, timeout=10.0):
        """Finish the batch in hand, then disconnect; unacknowledged frames stay with the broker."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    def _run(self):
        db.connect(reuse_if_open=True)
        try:
            while not self._stop.is_set():
                batch = self._collect()
                try:
                    self.keys.tick()
                except Exception as exc:
                    log.warning("cannot re-read device keys (%s); using the ones in memory", exc)
                self._push_config()
                if not batch:
                    self._flush_seen()
                    continue
                try:
                    self.process(batch)
                except Exception:
                    # The terminals resend what they did not see acked; PUBACK so the
                    # broker's in-flight window does not fill with frames we gave up on.
                    self._internal("batch", "%d frames" % len(batch))
                    self._puback(batch)
            self._flush_seen(0.0)
        finally:
            if not db.is_closed():
                db.close()

    def _collect(self):
        """Block for one frame, then take what is already queued: up to max_batch, or window_s."""
        try:
            batch = [self.queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch and time.monotonic() < deadline:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    # --- one batch (worker thread) ----------------------------------------------------

    def process(self, batch):
        """Verify, answer swipes, commit records, then publish answers and PUBACK the broker."""
        metrics.BATCH_SIZE.observe(len(batch))
        swipes, auths, records, states, seen, done = [], [], [], [], set(), []
        for item in batch:
            try:
                if item.topic.endswith("/state"):
                    states.append((item,) + verify_state(item.topic, item.payload, self.keys))
                    self._count("state")
                    continue
                dev, obj = verify(item.topic, item.payload, self.keys)
                self._count(obj["kind"])
                seen.add(dev)
                if obj["kind"] == "swipe":
                    swipes.append((item, dev, obj))
                elif obj["kind"] == "auth":
                    auths.append((item, dev, obj))
                else:
                    records.append((item, dev, obj))
            except ProtocolError as exc:
                self._reject(exc.reason, _topic_dev(item.topic), exc.detail)
                done.append(item)
            except Exception:
                self._internal("verify", item.topic)
                done.append(item)
        if swipes:
            self._answer_swipes(swipes)
            done.extend(item for item, dev, obj in swipes)
        for item, dev, obj in auths:
            self._answer_auth(dev, obj)
            done.append(item)
        self._unsaved |= seen
        if records or states or (self._unsaved and time.monotonic() - self._saved_at >= SEEN_FLUSH_S):
            result = self._commit(records, states, self._unsaved)
            if result is None:
                return
            self._saved()
            if result.applied and self.config.get("FAULT") == "kill_after_commit":
                os.kill(os.getpid(), signal.SIGKILL)
            self._answer_records(result)
            done.extend(item for item, dev, obj in records)
            done.extend(item for item, dev, state in states)
            now = time.monotonic()
            for item, dev, obj in records:
                if obj["kind"] != "hb":
                    metrics.ACK_LATENCY.observe(now - item.t)
        self._puback(done)

    def _count(self, kind):
        counter = self._frames.get(kind)
        if counter is None:
            counter = self._frames[kind] = metrics.FRAMES.labels(kind)
        counter.inc()

    def _flush_seen(self, after=SEEN_FLUSH_S):
        """Write the last_seen held back for swipe-only batches, once ``after`` seconds passed."""
        if self._unsaved and time.monotonic() - self._saved_at >= after:
            if self._commit([], [], self._unsaved) is not None:
                self._saved()

    def _saved(self):
        self._unsaved = set()
        self._saved_at = time.monotonic()

    def _push_config(self):
        """Publish the fleet config to the devices that lack its current version (about once a second)."""
        if not self.connected:
            return
        try:
            self.pusher.tick()
        except TRANSIENT as exc:
            log.error("database unavailable (%s): the terminals' config is pushed when it is back", exc)
            _reset_connection()
        except Exception:
            self._internal("config push", "the fleet config")

    def _publish_retained(self, topic, payload):
        info = self.client.publish(topic, payload, qos=1, retain=True)
        return info.rc == MQTT_ERR_SUCCESS

    def _answer_swipes(self, swipes):
        try:
            found = statuses_for(obj["tok"] for item, dev, obj in swipes)
        except Exception:
            self._internal("swipe lookup", "%d swipes" % len(swipes))
            return
        shown = [(obj["tok"], dict(found[obj["tok"]])) for item, dev, obj in swipes]
        try:
            extras.enrich(shown)
        except Exception:
            self._internal("swipe extras", "%d swipes" % len(swipes))
        for (item, dev, obj), (tok, status) in zip(swipes, shown):
            self._publish(dev, status_frame, "sid", obj["sid"], status)

    def _answer_auth(self, dev, obj):
        """Decide one authorisation and answer it; on a failure the terminal times out and goes offline."""
        key = self.keys.get(dev)
        if key is None:
            return
        try:
            answer = authorise.answer(dev, obj, key)
        except TRANSIENT:
            log.error("database unavailable: authorisation %s of %s not answered", obj["aid"], dev)
            _reset_connection()
            return
        except Exception:
            self._internal("authorise", "%s aid %s" % (dev, obj["aid"]))
            return
        self._publish(dev, authr_frame, answer)

    def _commit(self, records, states, seen, split=True):
        """apply_batch, retried while the database is unreachable; None when stopping.

        Any other failure is a bug: the batch is split into single frames so only the
        frame at fault is lost (counted as "internal"; its terminal will resend it).
        """
        items = [(dev, obj, body_of(item.payload)) for item, dev, obj in records]
        pairs = [(dev, state) for item, dev, state in states]
        delay = 0.1
        while True:
            try:
                return apply_batch(items, pairs, seen)
            except TRANSIENT as exc:
                log.error("database unavailable (%s); retrying in %.1fs, nothing acked meanwhile", exc, delay)
                _reset_connection()
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, 5.0)
            except Exception:
                if split and len(records) + bool(states or seen) > 1:
                    return self._commit_one_by_one(records, states, seen)
                self._internal("apply", " ".join("%s/%s" % (dev, obj.get("seq", obj["kind"])) for dev, obj, body in items))
                return Batch({}, [], [], [], [], [])

    def _commit_one_by_one(self, records, states, seen):
        total = Batch({}, [], [], [], [], [])
        for one in [([r], [], ()) for r in records] + [([], states, seen)]:
            result = self._commit(*one, split=False)
            if result is None:
                return None
            for dev, (upto, also) in result.acks.items():
                before = total.acks.get(dev, (0, []))[1]
                total.acks[dev] = (upto, sorted({s for s in before + also if s > upto}))
            for name in ("statuses", "applied", "duplicates", "conflicts", "revoked"):
                getattr(total, name).extend(getattr(result, name))
        return total

    def _answer_records(self, result):
        if result.revoked:
            self.keys.refresh()
        for dev, seq in result.revoked:
            self._reject("revoked_device", dev, "device %s is revoked (seq %s not applied)" % (dev, seq))
        for dev, seq in result.duplicates:
            self._reject("duplicate", dev, "seq %d already applied; acked again" % seq)
        for dev, seq in result.conflicts:
            self._reject("seq_conflict", dev, "seq %d was applied with another body; not acked" % seq)
        for dev, (upto, also) in result.acks.items():
            self._publish(dev, ack_frame, upto, also)
        for dev, for_, id_, status in result.statuses:
            self._publish(dev, status_frame, for_, id_, status)

    def _publish(self, dev, build, *args):
        key = self.keys.get(dev)
        if key is None:
            return
        topic, payload = build(dev, key, *args)
        self.client.publish(topic, payload, qos=1)

    def _puback(self, items):
        """PUBACK the broker; frames from an earlier connection are redelivered, so skip those."""
        for item in items:
            if item.qos and item.gen == self._gen:
                self.client.ack(item.mid, item.qos)

    def _reject(self, reason, dev, detail):
        metrics.REJECTS.labels(reason).inc()
        # A duplicate is at-least-once delivery working as designed, not a problem.
        log.log(logging.INFO if reason == "duplicate" else logging.WARNING, "reject %s dev=%s: %s", reason, dev, detail)

    def _internal(self, where, what):
        """Count and log a bug; its traceback is logged the first time it is seen."""
        metrics.REJECTS.labels("internal").inc()
        tb = traceback.format_exc()
        sig = (where, tb.strip().splitlines()[-1][:200])
        if sig in self._seen_errors:
            log.error("internal error in %s (%s): %s", where, what, sig[1])
        else:
            self._seen_errors.add(sig)
            log.error("internal error in %s (%s)\n%s", where, what, tb)


def _topic_dev(topic):
    parts = topic.split("/")
    return parts[1][:32] if len(parts) > 2 else "?"


def _reset_connection():
    try:
        if not db.is_closed():
            db.close()
    except Exception:
        log.debug("closing a broken connection failed", exc_info=True)
