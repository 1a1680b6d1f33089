"""The fleet page and its JSON API: terminals, liveness, acquirer compliance, recent sales."""

from flask import Blueprint, jsonify, render_template, request

from server.fleet.models import Device
from server.ingest.models import Record
from server.licences import alarms
from protocol.money import text as money

bp = Blueprint("fleet", __name__, template_folder="templates")

MAX_LIMIT = 1000


@bp.app_template_filter("money")
def money_filter(amount, cur):
    return money(amount, cur)


def recent_sales(limit):
    """The ``limit`` most recently received sale, refund and void records, newest first."""
    return list(Record.select().order_by(Record.received_at.desc(), Record.id.desc()).limit(limit))


@bp.get("/")
def index():
    devices = list(Device.select().order_by(Device.id))
    online = sum(1 for d in devices if d.state == "online" and d.revoked_at is None)
    compliance = {t["dev"]: t for t in alarms.terminal_compliance()}
    return render_template("fleet_index.html", devices=devices, online=online, sales=recent_sales(50),
                           compliance=compliance, alarm_counts=alarms.alarm_counts())


@bp.get("/api/devices")
def api_devices():
    return jsonify([d.as_dict() for d in Device.select().order_by(Device.id)])


@bp.get("/api/sales")
def api_sales():
    limit = request.args.get("limit", "50")
    if not limit.isdigit() or not 0 < int(limit) <= MAX_LIMIT:
        return jsonify(error="bad_limit", message="limit must be a whole number from 1 to %d" % MAX_LIMIT), 400
    return jsonify([r.as_dict() for r in recent_sales(int(limit))])
