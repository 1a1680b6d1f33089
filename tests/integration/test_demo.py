"""`possync-server demo` really runs the whole system: embedded broker, server, simulated terminals."""

import json
import os
import signal
import subprocess
import time

import pytest

from realparts import console, free_port, stop_process, wait_port

pytestmark = pytest.mark.integration


def get_json(port, path):
    import urllib.request

    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return json.loads(r.read())


def test_demo_serves_sales_from_simulated_terminals(tmp_path):
    port = free_port()
    proc = subprocess.Popen([console("possync-server"), "demo", "--dir", str(tmp_path), "--http-port", str(port),
                             "--mqtt-port", str(free_port()), "--terminals", "3", "--rate", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, timeout=30, proc=proc)
        deadline = time.monotonic() + 60
        sales = []
        while time.monotonic() < deadline and len({s["dev"] for s in sales}) < 3:
            sales = get_json(port, "/api/sales?limit=50")
            time.sleep(0.5)
        assert {s["dev"] for s in sales} == {"DEMO-01", "DEMO-02", "DEMO-03"}
        assert all(isinstance(s["amount"], int) and s["cur"] == "CNY" for s in sales)
        devices = {d["id"]: d for d in get_json(port, "/api/devices")}
        assert devices["DEMO-01"]["state"] == "online"
        # the sample registry is in force and the third terminal's sales settle through a middle party
        terminals = {t["dev"]: t["verdict"] for t in get_json(port, "/api/licences/compliance")["terminals"]}
        assert terminals == {"DEMO-01": "OK", "DEMO-02": "OK", "DEMO-03": "INDIRECT_SETTLEMENT"}
        assert [a["verdict"] for a in get_json(port, "/api/licences/alarms")["alarms"]] == ["INDIRECT_SETTLEMENT"]
    finally:
        stop_process(proc, signal.SIGINT, timeout=30)
    out = proc.stdout.read()
    assert "web UI at http://127.0.0.1:%d" % port in out
    assert proc.returncode == 0, out
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
