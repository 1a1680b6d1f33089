"""/healthz and /metrics."""

from server.fleet import devices
from server.ingest.apply import apply_batch
from server.obs import INGEST


class FakeIngest:
    connected = False


def test_healthz_without_ingest_is_ok_when_the_db_answers(app):
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "db": "ok"}


def test_healthz_reports_the_broker_connection(app):
    app.config["INGEST"] = True
    client = app.test_client()
    assert client.get("/healthz").get_json()["ingest"] == "not started"
    loop = app.extensions[INGEST] = FakeIngest()
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["ingest"] == "disconnected"
    loop.connected = True
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "db": "ok", "ingest": "connected"}


def test_metrics(app, master):
    devices.add_device("T1", master)
    devices.add_device("T2", master)
    apply_batch([], states=[("T1", "online"), ("T2", "online")])
    devices.revoke_device("T2")
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    assert "possync_devices_online 1.0" in text
    for name in ("possync_ingest_frames_total", "possync_ingest_rejects_total", "possync_ingest_batch_size_bucket",
                 "possync_ack_latency_seconds_bucket"):
        assert "# TYPE " + name.rsplit("_bucket", 1)[0].replace("_total", "") in text
