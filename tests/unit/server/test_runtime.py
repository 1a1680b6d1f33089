"""runtime.start(): the whole server in this process, for the demo and benchmarks."""

import json
import socket
import urllib.error
import urllib.request

import pytest

from server import runtime


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_serves_http_and_stops(tmp_path):
    server = runtime.start({"INSTANCE_PATH": str(tmp_path), "HTTP_PORT": 0, "INGEST": False})
    try:
        assert server.port > 0 and server.ingest is None
        assert get(server.url + "/api/devices") == (200, [])
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url + "/healthz", timeout=2)


def test_healthz_is_503_while_the_broker_is_unreachable(tmp_path):
    server = runtime.start({"INSTANCE_PATH": str(tmp_path), "HTTP_PORT": 0, "MQTT_PORT": closed_port(),
                            "MQTT_CLIENT_ID": "possync-unit-test"})
    try:
        assert server.ingest is not None and not server.ingest.connected
        status, body = get(server.url + "/healthz")
        assert status == 503 and body == {"ok": False, "db": "ok", "ingest": "disconnected"}
    finally:
        server.stop()
