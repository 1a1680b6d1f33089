"""A pure-Python MQTT broker (amqtt) in a thread, for the zero-setup demo only.

amqtt has no ``%u`` ACL patterns and no shared subscriptions (TOOLCHAIN.md), so
production and the tests use Mosquitto. Here a client needs only a username, and
the listener is bound to loopback; frames stay HMAC-signed per device, so the
server still rejects anything a device did not sign.
"""

import asyncio
import logging
import threading

from amqtt.broker import Broker


class EmbeddedBroker:
    """amqtt on its own event loop thread, listening on 127.0.0.1:port."""

    def __init__(self, port):
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error = None
        self._broker = None
        self._thread = threading.Thread(target=self._run, name="amqtt", daemon=True)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:%d" % self.port}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except Exception as exc:  # reported to the caller of start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self):
        """Start listening; raise RuntimeError naming the port if the broker cannot start."""
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None or self._broker is None:
            raise RuntimeError("embedded broker could not listen on 127.0.0.1:%d (%s); pick another port with --mqtt-port"
                               % (self.port, self._error))
        return self

    def stop(self):
        """Shut the broker down and end its thread."""
        if self._broker is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
