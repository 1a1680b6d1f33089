"""The agent's one MQTT session (paho-mqtt 2.x): persistent, signed frames, core Backoff.

Runs its own network thread that calls ``client.loop()`` and reconnects after a backoff
delay, so the retry policy is the core one (full jitter) and not paho's built-in one.
Every down frame is verified with the device key; bad ones are dropped and counted.
"""

import logging
import threading

import paho.mqtt.client as paho

from agent.core.forwarder import Backoff
from protocol import envelope, frame, topics
from protocol.errors import ProtocolError

log = logging.getLogger("possync.agent")


class Session:
    """MQTT session of device ``cfg["device"]``; ``on_event(kind, obj)`` runs on the network thread.

    Events: ("connected", None), ("disconnected", None), ("ack", body dict), ("status", body dict),
    ("authr", body dict), ("config", (body dict, frame bytes as received: kept to be verified again)).
    """

    def __init__(self, cfg, on_event, backoff=None):
        self.dev = cfg["device"]
        self.key = cfg["key"]
        self.mqtt = cfg["mqtt"]
        self.on_event = on_event
        self.backoff = backoff or Backoff()
        self.dropped = {}  # reason -> count of bad down frames
        self.connected = False
        self.connects = 0
        self.state_topic = topics.topic(self.dev, "state")
        self.config_topic = topics.topic(self.dev, "down/config")
        self._stop = threading.Event()
        self._thread = None
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.dev, clean_session=False)
        c.username_pw_set(self.mqtt["username"], self.mqtt["password"])
        if self.mqtt["tls"] is not None:
            c.tls_set(ca_certs=self.mqtt["tls"].get("ca"))
        c.will_set(self.state_topic, b"offline", qos=1, retain=True)
        c.max_inflight_messages_set(max(20, cfg.get("window", 32) + 8))
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        # paho writes to the socket from whichever thread calls publish() unless a
        # write-interest callback is registered; with this no-op one, publish() only
        # queues and wakes our network thread, the one thread that ever writes.
        c.on_socket_register_write = lambda client, userdata, sock: None
        self.client = c

    def start(self):
        """Start the network thread; it connects, and reconnects until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="possync-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout=5.0):
        """Say "offline" (retained), disconnect cleanly and end the network thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def publish(self, suffix, body, qos):
        """Sign ``body`` for pos/{dev}/{suffix} and queue it; False when not connected."""
        if not self.connected:
            return False
        t = topics.topic(self.dev, suffix)
        info = self.client.publish(t, frame.sign(t, body, self.key), qos=qos)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def _run(self):
        while not self._stop.is_set():
            try:
                self.client.connect(self.mqtt["host"], self.mqtt["port"], self.mqtt["keepalive"])
            except (OSError, ValueError) as exc:
                log.info("mqtt: cannot connect to %s:%d (%s)", self.mqtt["host"], self.mqtt["port"], exc)
                self._stop.wait(self.backoff.next_ms() / 1000.0)
                continue
            rc = paho.MQTT_ERR_SUCCESS
            while rc == paho.MQTT_ERR_SUCCESS and not self._stop.is_set():
                rc = self.client.loop(0.2)
            if self._stop.is_set():
                self._goodbye()
                return
            self._stop.wait(self.backoff.next_ms() / 1000.0)

    def _goodbye(self):
        if self.connected:
            info = self.client.publish(self.state_topic, b"offline", qos=1, retain=True)
            for _ in range(25):
                if info.is_published():
                    break
                self.client.loop(0.1)
        self.client.disconnect()
        for _ in range(3):
            if self.client.loop(0.05) != paho.MQTT_ERR_SUCCESS:
                break
        self.connected = False

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("mqtt: broker refused the connection: %s (check mqtt.username/password)", reason_code)
            return
        self.backoff.reset()
        self.connects += 1
        client.subscribe("pos/" + self.dev + "/down/#", qos=1)
        client.publish(self.state_topic, b"online", qos=1, retain=True)
        self.connected = True
        log.info("mqtt: connected to %s:%d", self.mqtt["host"], self.mqtt["port"])
        self.on_event("connected", None)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        was = self.connected
        self.connected = False
        if was:
            log.info("mqtt: disconnected (%s)", reason_code)
            self.on_event("disconnected", None)

    def _on_message(self, client, userdata, msg):
        if not msg.payload and msg.topic == self.config_topic:
            # The server clears a revoked terminal's retained config; unsigned, so it changes nothing here.
            log.warning("mqtt: the server removed this terminal's config from the broker, as it does when a terminal "
                        "is revoked (ask the fleet admin); the applied one stays in force")
            return
        try:
            obj = self.verify(msg.topic, msg.payload)
        except ProtocolError as exc:
            self.dropped[exc.reason] = self.dropped.get(exc.reason, 0) + 1
            log.warning("mqtt: dropped a down frame on %s: %s", msg.topic[:80], exc.reason)
            return
        if obj["kind"] == "config":
            self.on_event("config", (obj, bytes(msg.payload)))
            return
        self.on_event(obj["kind"], obj)

    def verify(self, topic, payload):
        """Check a down frame: our topic, the device key's MAC, a valid body of the kind that topic carries."""
        dev, suffix = topics.parse(topic)
        if dev != self.dev or not suffix.startswith("down/"):
            raise ProtocolError("bad_topic", "not one of this device's down topics")
        obj = frame.loads(frame.verify(topic, payload, self.key))
        envelope.validate(obj, self.dev)
        if envelope.TOPIC_OF.get(obj["kind"]) != suffix:
            raise ProtocolError("bad_kind", "a %s body on %s" % (obj["kind"], suffix))
        return obj
