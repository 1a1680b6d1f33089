"""JSON API of the licence registry: the registry in force, a verdict check, and import.

No authentication yet: the admin login comes with a later issue.
"""

import json

from flask import Blueprint, jsonify, request

from server.licences import registry, verdict
from server.licences.cli import FORMATS, acquirer, parse_at
from server.licences.models import RegistryVersion

bp = Blueprint("licences", __name__)

_CONTENT_TYPES = {"text/csv": "csv", "application/json": "json"}


def _no_registry():
    return jsonify(error="no_registry", message="no licence registry imported yet (POST /api/licences/import)"), 409


@bp.get("/api/licences")
def api_registry():
    current = registry.load()
    if current.version is None:
        return _no_registry()
    version = RegistryVersion.get(RegistryVersion.number == current.version)
    rows = json.loads(registry.export_data("json", current))["rows"]
    return jsonify(version=current.version, imported_at=version.imported_at.isoformat() + "Z",
                   source=version.source, sha256=version.sha256, note=current.note, rows=rows)


@bp.get("/api/licences/check")
def api_check():
    a = request.args
    if not a.get("inst") and not a.get("lic"):
        return jsonify(error="no_acquirer", message="give the acquirer as inst=CODE and/or lic=Z..."), 400
    if not a.get("province"):
        return jsonify(error="no_province", message="give the merchant province as province=..."), 400
    try:
        when = parse_at(a.get("at"))
    except ValueError:
        return jsonify(error="bad_time", message="at must be an ISO time, e.g. 2025-06-01T10:00:00+08:00"), 400
    current = registry.load()
    if current.version is None:
        return _no_registry()
    acq = acquirer(a.get("inst"), a.get("lic"), a.get("settle"), a.get("mid"), a.get("tid"))
    result, reason = verdict.judge(acq, a["province"], when, current)
    return jsonify(verdict=result, reason=reason, registry_version=current.version)


@bp.post("/api/licences/import")
def api_import():
    fmt = request.args.get("format") or _CONTENT_TYPES.get(request.mimetype)
    if fmt not in FORMATS:
        return jsonify(error="bad_format", message="give format=csv or format=json"), 400
    source = request.args.get("source") or "api upload"
    try:
        version = registry.import_data(request.get_data(), fmt, source)
    except registry.RegistryError as exc:
        problems = [{"row": row, "field": field, "message": message} for row, field, message in exc.problems]
        return jsonify(error="refused", message="registry refused, nothing imported; the previous version stays in force",
                       registry_version=registry.load().version, problems=problems), 400
    return jsonify(version=version.number, rows=version.rows), 201
