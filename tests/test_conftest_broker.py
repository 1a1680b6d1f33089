"""The broker fixture itself: password file and ACL are really enforced."""

import threading
import time

import paho.mqtt.client as mqtt


def connect(broker, user, password):
    got = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user + "-t")
    c.username_pw_set(user, password)
    c.on_connect = lambda cl, u, f, rc, p: (got.append(rc), done.set())
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    done.wait(5)
    return c, got


def test_wrong_password_is_refused(mosquitto):
    c, got = connect(mosquitto, mosquitto.server_user, "wrong")
    c.loop_stop()
    assert got and got[0] != 0


def test_acl_lets_device_publish_only_its_own_topics(mosquitto):
    mosquitto.add_user("T1", "pw1")
    received = []
    ready = threading.Event()
    srv, got = connect(mosquitto, mosquitto.server_user, mosquitto.server_password)
    assert got == [0]
    srv.on_message = lambda cl, u, m: received.append(m.topic)
    srv.on_subscribe = lambda *a: ready.set()
    srv.subscribe("pos/+/up/#", qos=1)
    assert ready.wait(5)
    dev, got = connect(mosquitto, "T1", "pw1")
    assert got == [0]
    dev.publish("pos/T2/up/tx", b"forged", qos=1).wait_for_publish(5)
    dev.publish("pos/T1/up/tx", b"mine", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while "pos/T1/up/tx" not in received and time.monotonic() < deadline:
        time.sleep(0.05)
    dev.loop_stop(); srv.loop_stop()
    assert received == ["pos/T1/up/tx"]
