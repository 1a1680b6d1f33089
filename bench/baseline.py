"""The raw MQTT baseline: paho publisher processes -> Mosquitto -> one paho subscriber, QoS 1.

Payloads are the size of a signed sale frame. Publishers are added one process at a time
until the delivered rate gains less than 5%; the best delivered rate is the baseline, so
a ratio against it is a ratio against the strongest figure paho reaches on this machine.
"""

import multiprocessing
import os
import shutil
import tempfile
import time

from bench import frames
from bench.broker import SERVER_USER, BenchError, Mosquitto, parent_gone
from bench.stats import num, progress, result_line, table

INFLIGHT = 1000  # QoS 1 messages a publisher keeps unacknowledged
BURST = 200  # publishes between looks at the socket and the stop flag
GAIN = 1.05  # another publisher must add at least 5%
WARMUP_S = 1.0
CONNECT_S = 10.0


def _connect(client, port):
    client.connect("127.0.0.1", port, 60)
    deadline = time.monotonic() + CONNECT_S
    while not client.is_connected():
        if time.monotonic() > deadline:
            raise BenchError("baseline client not connected to the broker after %.0f s" % CONNECT_S)
        client.loop(0.05)


def _child():
    """In a bench child: leave Ctrl-C to the parent (it stops us); return the parent's pid."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return os.getppid()


def _publisher(port, user, password, payload, stop, ready):
    """Publish ``payload`` at QoS 1 flat out, keeping up to INFLIGHT unacknowledged."""
    import paho.mqtt.client as paho

    ppid = _child()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-" + user, clean_session=True)
    c.username_pw_set(user, password)
    c.max_inflight_messages_set(INFLIGHT)
    acked = [0]

    def on_publish(client, userdata, mid, reason_code, properties):
        acked[0] += 1

    c.on_publish = on_publish
    _connect(c, port)
    ready.release()
    topic = "pos/%s/up/tx" % user
    sent = 0
    while not stop.is_set() and not parent_gone(ppid):
        room = min(BURST, INFLIGHT - (sent - acked[0]))
        for _ in range(room):
            c.publish(topic, payload, qos=1)
        sent += max(0, room)
        c.loop(0.01)  # reads PUBACKs; waits only while the window is full
    c.disconnect()


def _subscriber(port, password, stop, ready, count):
    """Count every message on pos/+/up/tx into the shared ``count``."""
    import paho.mqtt.client as paho

    ppid = _child()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-sub", clean_session=True)
    c.username_pw_set(SERVER_USER, password)

    def on_message(client, userdata, msg):
        count.value += 1

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        ready.release()

    c.on_message = on_message
    c.on_subscribe = on_subscribe
    _connect(c, port)
    c.subscribe("pos/+/up/tx", qos=1)
    while not stop.is_set() and not parent_gone(ppid):
        c.loop(0.1)
    c.disconnect()


def publisher_users(n):
    """The broker users the baseline publishes as: device-like ids with the device ACL."""
    return [("BASE%d" % i, "base-%d-%s" % (i, os.urandom(6).hex())) for i in range(1, n + 1)]


def _wait(sem, procs, what):
    if not sem.acquire(timeout=CONNECT_S + 5):
        dead = [p.exitcode for p in procs if p.exitcode is not None]
        raise BenchError("baseline %s did not get ready (exit codes %s)" % (what, dead or "none"))


def measure(broker, seconds, max_publishers=6):
    """Run the baseline against a started ``broker``; return ``(best msg/s, publishers, steps)``.

    ``steps`` is ``[(publishers, delivered/s), ...]``. Every process it starts is stopped.
    """
    users = publisher_users(max_publishers)
    broker.add_users(users)
    payload = frames.sale_frame("BASE1", 1)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    ready = ctx.Semaphore(0)
    count = ctx.Value("q", 0, lock=False)
    procs = []
    steps = []
    try:
        sub = ctx.Process(target=_subscriber, args=(broker.port, broker.users[SERVER_USER], stop, ready, count),
                          daemon=True)
        sub.start()
        procs.append(sub)
        _wait(ready, procs, "subscriber")
        best = (0.0, 0)
        for k in range(1, max_publishers + 1):
            user, password = users[k - 1]
            p = ctx.Process(target=_publisher, args=(broker.port, user, password, payload, stop, ready), daemon=True)
            p.start()
            procs.append(p)
            _wait(ready, procs, "publisher %d" % k)
            time.sleep(WARMUP_S)
            c0, t0 = count.value, time.monotonic()
            time.sleep(seconds)
            rate = (count.value - c0) / (time.monotonic() - t0)
            steps.append((k, rate))
            progress("  baseline: %d publisher process(es) -> %s msg/s delivered" % (k, num(rate)))
            if rate < best[0] * GAIN:
                best = max(best, (rate, k))
                break
            best = (rate, k)
    finally:
        stop.set()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(5)
    return best[0], best[1], steps


def print_steps(steps, payload_len):
    """The baseline steps as a table."""
    print("baseline: paho -> Mosquitto -> paho, QoS 1, %d-byte payloads" % payload_len)
    print(table(["publishers", "delivered msg/s"], [[str(k), r] for k, r in steps]))


def main(seconds, max_publishers):
    """``possync-bench baseline``: a private broker, the baseline steps, a RESULT line."""
    tmp = tempfile.mkdtemp(prefix="possync-bench-baseline-")
    broker = None
    try:
        broker = Mosquitto(os.path.join(tmp, "broker"), os.urandom(12).hex()).start()
        best, pubs, steps = measure(broker, seconds, max_publishers)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    size = len(frames.sale_frame("BASE1", 1))
    print_steps(steps, size)
    print(result_line("baseline", [("baseline_per_s", best), ("publishers", pubs), ("bytes", size)]))
    return 0
