"""The server side of the ingest bench: register terminals, run `possync-server`, read its verdicts.

Terminals are registered with the functions behind `possync-server device add` in this
process (one process start per terminal would take minutes at 200); the server itself
runs as its own `possync-server run` process, as in production.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict

from bench.broker import SERVER_USER, BenchError, die_with_parent, free_port

START_S = 60.0


def setup_server(run, n, broker):
    """Register ``n`` terminals (the code behind `possync-server device add`), write their
    agent configs, add their MQTT users, start `possync-server run`.

    Returns ``(agent config paths, database path, server URL)``.
    """
    from server import create_app, keys
    from server.db import db
    from server.demo import ACQUIRERS, seed
    from server.fleet import devices, merchants

    sdir = os.path.join(run.tmp, "server")
    os.makedirs(sdir)
    db_path = os.path.join(sdir, "possync.db")
    http_port = free_port()
    settings = {"DATABASE_URL": "sqlite:///" + db_path, "SECRET_KEY_FILE": os.path.join(sdir, "master.key"),
                "MQTT_HOST": "127.0.0.1", "MQTT_PORT": broker.port, "MQTT_USERNAME": SERVER_USER,
                "MQTT_PASSWORD": broker.users[SERVER_USER], "MQTT_SHARED": True,
                "MQTT_CLIENT_ID": "possync-bench-ingest", "HTTP_HOST": "127.0.0.1", "HTTP_PORT": http_port}
    cfg_path = os.path.join(sdir, "server.json")
    with open(cfg_path, "w") as f:
        json.dump(settings, f)
    # One process registers all terminals: `device add` per terminal would cost a
    # process start each. The server binds its database in this process; close it after.
    app = create_app(dict(settings, INSTANCE_PATH=os.path.join(sdir, "instance")))
    master = keys.master_key(settings["SECRET_KEY_FILE"], environ={})
    token_key = keys.load_key_file(os.path.join(sdir, "token.key"))
    paths, users = [], []
    seed(app)  # sales are judged against the sample registry, by a licensed acquirer at home: OK
    merchant, acq = ACQUIRERS[0]
    with app.app_context():
        for i in range(1, n + 1):
            dev = "T%04d" % i
            _, key, password = devices.add_device(dev, master)
            merchants.set_merchant(dev, merchant)
            agent = devices.agent_config(dev, key, token_key, password, "127.0.0.1", broker.port)
            agent["acq"] = dict(acq, mid="898440153%06d" % i, tid="B%07d" % i)
            agent["outbox"]["path"] = os.path.join(run.tmp, "terminals", dev, "outbox.log")
            path = os.path.join(run.tmp, "agents", dev + ".json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            devices.write_secret_file(path, json.dumps(agent))
            paths.append(path)
            users.append((dev, password))
    db.close()
    broker.add_users(users)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSSYNC_")}
    script = os.path.join(os.path.dirname(sys.executable), "possync-server")
    cmd = [script] if os.path.exists(script) else [sys.executable, "-m", "server.cli"]
    run.server_log = open(os.path.join(sdir, "server.log"), "wb")
    run.server = subprocess.Popen(cmd + ["run", "--config", cfg_path, "--log-level", "WARNING"], env=env,
                                  stdout=run.server_log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    wait_healthy(run, "http://127.0.0.1:%d" % http_port)
    return paths, db_path, "http://127.0.0.1:%d" % http_port


def wait_healthy(run, url):
    """Wait for the server's /healthz to say ok (database up, ingest connected to the broker)."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if run.server.poll() is not None:
            raise BenchError("possync-server exited with %s at start:\n%s" % (run.server.returncode, server_log(run)))
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError("possync-server not healthy after %.0f s:\n%s" % (START_S, server_log(run)))


def server_log(run, lines=30):
    """The last lines the server logged, for error messages."""
    try:
        with open(os.path.join(run.tmp, "server", "server.log"), errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def rejects(url):
    """possync_ingest_rejects_total by reason, from the server's /metrics."""
    out = {}
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("possync_ingest_rejects_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = int(float(line.rsplit(" ", 1)[1]))
    return out


def check_db(db_path, stored):
    """(lost, dup, phantom, applied, unjudged, not_ok): told-stored seqs missing from the Record
    table, (dev, seq) applied more than once (records, or ledger entries of one reason), applied seqs never
    stored, records applied, sales without exactly one acquirer verdict, verdicts other than OK."""
    from server.ingest.models import Record
    from server.licences.models import SaleVerdict
    from server.loyalty.models import PointsEntry

    con = sqlite3.connect(db_path)
    try:
        applied = defaultdict(set)
        dup = 0
        for dev, seq, n in con.execute("SELECT dev, seq, COUNT(*) FROM %s GROUP BY dev, seq"
                                       % Record._meta.table_name):
            applied[dev].add(seq)
            dup += n - 1
        # A record books one entry per reason (its earn; bonuses would need a campaign, which the bench has not).
        for (n,) in con.execute("SELECT COUNT(*) FROM %s WHERE seq IS NOT NULL GROUP BY dev, seq, reason"
                                " HAVING COUNT(*) > 1" % PointsEntry._meta.table_name):
            dup += n - 1
        (unjudged,), = con.execute(
            "SELECT COUNT(*) FROM %s AS r WHERE r.kind = 'sale' AND (SELECT COUNT(*) FROM %s AS v"
            " WHERE v.dev = r.dev AND v.seq = r.seq) != 1" % (Record._meta.table_name, SaleVerdict._meta.table_name))
        (not_ok,), = con.execute("SELECT COUNT(*) FROM %s WHERE verdict != 'OK'" % SaleVerdict._meta.table_name)
    finally:
        con.close()
    lost = sum(1 for dev, (last, depth) in stored.items() for s in range(1, last + 1) if s not in applied[dev])
    phantom = sum(1 for dev, seqs in applied.items() for s in seqs if dev not in stored or s > stored[dev][0])
    return lost, dup, phantom, sum(len(s) for s in applied.values()), unjudged, not_ok
