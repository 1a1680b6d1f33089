"""The agent's MQTT session writes to its socket from one thread only.

paho's publish() would write from the caller's thread when the client is driven by
a manual loop; interleaved partial writes from two threads would corrupt the stream.
"""

import threading
import time

import pytest

from agent.linux.mqtt import Session

pytestmark = pytest.mark.integration


def test_publishes_from_other_threads_are_written_by_the_network_thread(mosquitto):
    mosquitto.add_user("T1", "pw1")
    cfg = {"device": "T1", "key": b"k" * 32, "window": 32,
           "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "username": "T1", "password": "pw1",
                    "tls": None, "keepalive": 30}}
    session = Session(cfg, lambda kind, obj: None)
    writers = set()
    real_send = session.client._sock_send

    def send(buf):
        writers.add(threading.current_thread().name)
        return real_send(buf)

    session.client._sock_send = send
    session.start()
    try:
        deadline = time.monotonic() + 10
        while not session.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert session.connected
        body = b'{"v":1}' * 100

        def burst():
            for _ in range(200):
                assert session.publish("up/tx", body, 1)

        others = [threading.Thread(target=burst, name="pos-%d" % i) for i in range(3)]
        for t in others:
            t.start()
        burst()
        for t in others:
            t.join()
        time.sleep(0.5)
    finally:
        session.stop()
    assert writers == {"possync-mqtt"}
