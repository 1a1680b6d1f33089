"""Observability endpoints: /healthz for orchestrators, /metrics for Prometheus."""

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server import metrics
from server.db import db
from server.fleet.models import Device

bp = Blueprint("obs", __name__)

INGEST = "possync.ingest"


@bp.get("/healthz")
def healthz():
    """200 when the database answers and (if this process ingests) the broker is connected, else 503."""
    checks = {}
    try:
        db.execute_sql("SELECT 1").fetchone()
        checks["db"] = "ok"
    except Exception as exc:
        checks["db"] = "error: %s" % type(exc).__name__
    if current_app.config.get("INGEST", True):
        loop = current_app.extensions.get(INGEST)
        checks["ingest"] = "not started" if loop is None else ("connected" if loop.connected else "disconnected")
        ok = checks["ingest"] == "connected"
    else:
        ok = True
    ok = ok and checks["db"] == "ok"
    return jsonify(ok=ok, **checks), 200 if ok else 503


@bp.get("/metrics")
def prometheus():
    try:
        online = Device.select().where((Device.state == "online") & Device.revoked_at.is_null()).count()
        metrics.DEVICES_ONLINE.set(online)
    except Exception:
        current_app.logger.warning("cannot count online devices", exc_info=True)
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
