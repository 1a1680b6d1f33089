"""`possync-server demo`: embedded broker, server and web UI, and simulated terminals, on SQLite.

The terminals are separate `possync-agent simulate` processes: the server meets the
agent only on the wire (DESIGN.md §1), so it starts them by command, not by import.
"""

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from protocol import mac
from server import keys, runtime
from server.embedded_broker import EmbeddedBroker
from server.fleet import devices, merchants
from server.licences import registry

# Demo merchants and, per terminal in turn, who acquires its sales: SAMPLE registry codes
# (server/licences/sample_registry.json), chosen so the licences page has OK sales and alarms.
MERCHANTS = (("DEMO-GZ", "广州示例店", "广东"), ("DEMO-HZ", "杭州示例店", "浙江"))
ACQUIRERS = (
    ("DEMO-GZ", {"inst": "48992440", "settle": "48992440"}),  # regional acquirer at home: OK
    ("DEMO-HZ", {"inst": "48991310", "settle": "48991310"}),  # national acquirer: OK
    ("DEMO-HZ", {"inst": "48991310", "settle": "40001234"}),  # settled by a middle party: INDIRECT_SETTLEMENT
    ("DEMO-HZ", {"inst": "48992440", "settle": "48992440"}),  # regional acquirer out of its provinces: OUT_OF_SCOPE
    ("DEMO-GZ", {"inst": "48994110", "settle": "48994110"}),  # licence revoked: REVOKED
)
# The card pool of `possync-agent simulate` (agent/linux/simulate.py card_pool), redone here because the
# server never imports the agent; tests/unit/server/test_demo.py checks both give the same cards.
SIM_CARDS = 12
SIM_BINS = ("622202", "621700", "625807", "436742")
# Stored value each demo card starts with, in turn (minor units): the last is below the low-balance
# reminder and soon declines a spend as INSUFFICIENT.
SIM_FUNDS = (50000, 20000, 3000)


def free_port(preferred):
    """Return ``preferred`` if it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free TCP port on 127.0.0.1")


def agent_command():
    """The possync-agent console script installed next to this interpreter."""
    exe = os.path.join(os.path.dirname(sys.executable), "possync-agent")
    return [exe] if os.path.exists(exe) else [shutil.which("possync-agent") or "possync-agent"]


def seed(app):
    """The SAMPLE licence registry and the demo merchants, unless already there."""
    with app.app_context():
        if registry.load().version is None:
            registry.import_file(registry.SAMPLE)
        known = {m.code for m in merchants.list_merchants()}
        for code, name, province in MERCHANTS:
            if code not in known:
                merchants.add_merchant(code, name, province)


def provision(app, workdir, count, mqtt_port):
    """Register ``count`` demo terminals; write each one's agent config; return the config paths."""
    master = keys.master_key(app.config["SECRET_KEY_FILE"])
    token_key = keys.load_key_file(os.path.join(workdir, "token.key"))
    paths = []
    seed(app)
    with app.app_context():
        known = {d.id for d in devices.list_devices()}
        for i in range(1, count + 1):
            dev = "DEMO-%02d" % i
            path = os.path.join(workdir, dev + ".json")
            if dev in known and os.path.exists(path):
                paths.append(path)
                continue
            if dev in known:
                devices.forget_device(dev)
            _, key, password = devices.add_device(dev, master)
            merchant, acq = ACQUIRERS[(i - 1) % len(ACQUIRERS)]
            merchants.set_merchant(dev, merchant)
            cfg = devices.agent_config(dev, key, token_key, password, "127.0.0.1", mqtt_port)
            cfg["acq"] = dict(acq, mid="89844015399%04d" % i, tid="DEMO%04d" % i)
            cfg["outbox"]["path"] = os.path.join(workdir, dev + ".outbox")
            cfg["pos"]["port"] = free_port(0)
            devices.write_secret_file(path, json.dumps(cfg, indent=2) + "\n")
            paths.append(path)
        seed_wallets(token_key, range(1, count + 1))
    for path in paths:  # the broker port may differ from the last run's
        with open(path) as f:
            cfg = json.load(f)
        cfg["mqtt"]["port"] = mqtt_port
        cfg["pos"]["port"] = free_port(cfg["pos"]["port"])
        devices.write_secret_file(path, json.dumps(cfg, indent=2) + "\n")
    return paths


def sim_pans(n, seed):
    """The card numbers `possync-agent simulate --cards n --seed seed` swipes, in its order."""
    rnd = random.Random(seed)
    pans = []
    for _ in range(n):
        pans.append(_luhn(rnd.choice(SIM_BINS) + "".join(rnd.choice("0123456789") for _ in range(9))))
        rnd.randint(1, 12)  # the card's expiry month: drawn to stay in step with the simulator
    return pans


def seed_wallets(token_key, seeds, cards=SIM_CARDS):
    """A customer and a funded stored-value account for every card the simulated terminals swipe, so
    their stored-value spends are approved; cards that have an account already are left as they are."""
    from server.customers import identity
    from server.loyalty.models import Card
    from server.wallet import service as wallet
    from server.wallet.models import WalletAccount

    opened = 0
    for seed in seeds:
        for n, pan in enumerate(sim_pans(cards, seed)):
            tok = mac.hexmac(token_key, pan.encode()).decode()
            if WalletAccount.get_or_none(WalletAccount.tok == tok) is not None:
                continue
            card = Card.get_or_none(Card.tok == tok)
            customer = card.customer_id if card is not None else identity.create_customer("demo")
            if card is None:
                identity.link_card(customer, tok, pan[:6], pan[-4:], "demo")
            account = wallet.open_account(tok, customer, "CNY", actor="demo", bin=pan[:6], last4=pan[-4:])
            wallet.topup(account["id"], SIM_FUNDS[n % len(SIM_FUNDS)], "demo:fund:" + tok[:32], actor="demo",
                         tiers=[])
            opened += 1
    return opened


def _luhn(digits):
    """``digits`` with their Luhn check digit appended."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def run(workdir=None, terminals=3, http_port=5000, mqtt_port=1883, rate=0.5, seconds=None, out=sys.stdout):
    """Run the whole demo until SIGINT/SIGTERM (or ``seconds``); everything started is stopped."""
    workdir = workdir or os.path.join(tempfile.gettempdir(), "possync-demo")
    os.makedirs(workdir, exist_ok=True)
    mqtt_port = free_port(mqtt_port)
    settings = {
        "DATABASE_URL": "sqlite:///" + os.path.join(workdir, "possync.db"),
        "SECRET_KEY_FILE": os.path.join(workdir, "secret.key"),
        "MQTT_HOST": "127.0.0.1", "MQTT_PORT": mqtt_port, "MQTT_USERNAME": "server",
        "MQTT_PASSWORD": secrets.token_hex(8), "MQTT_SHARED": False,
        "HTTP_HOST": "127.0.0.1", "HTTP_PORT": free_port(http_port),
    }
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    broker = EmbeddedBroker(mqtt_port).start()
    server = agents = None
    try:
        server = runtime.start(settings)
        paths = provision(server.app, workdir, terminals, mqtt_port)
        # a different seed per terminal: its own shoppers and sales
        agents = [subprocess.Popen(agent_command() + ["simulate", "--config", p, "--rate", str(rate),
                                                      "--cards", str(SIM_CARDS), "--seed", str(i)])
                  for i, p in enumerate(paths, 1)]
        print("possync demo: web UI at %s  (broker 127.0.0.1:%d, data in %s; Ctrl-C stops it)"
              % (server.url, mqtt_port, workdir), file=out, flush=True)
        deadline = time.monotonic() + seconds if seconds else None
        while not stop.wait(0.5):
            if deadline and time.monotonic() > deadline:
                break
            if all(a.poll() is not None for a in agents):
                print("possync demo: every simulated terminal has stopped; see the messages above", file=out)
                break
    finally:
        for a in agents or ():
            if a.poll() is None:
                a.send_signal(signal.SIGTERM)
        for a in agents or ():
            try:
                a.wait(10)
            except subprocess.TimeoutExpired:
                a.kill()
        if server is not None:
            server.stop()
        broker.stop()
    return 0
