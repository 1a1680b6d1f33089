"""The compliance page and the licence registry's JSON API: the registry in force, a verdict
check, import, each terminal's and merchant's compliance, the alarm list (also as CSV) and the
verdicts re-verifications changed.

No authentication yet: the admin login comes with a later issue.
"""

import json
import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from server.fleet.models import Merchant, iso
from server.licences import alarms, registry, reverify, verdict
from server.licences.cli import FORMATS, acquirer, parse_at
from server.licences.models import RegistryVersion

bp = Blueprint("licences", __name__, template_folder="templates")

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


@bp.post("/api/licences/reverify")
def api_reverify():
    """Judge stored sales again against the registry in force (``all=1``: also those already judged
    against it); answers with the counts and the first ``show`` (default 100) changes."""
    show = request.args.get("show", "100")
    if not _NUMBER_RE.match(show) or int(show) > MAX_CHANGES:
        return _bad(FilterError("show", "show must be a whole number from 0 to %d" % MAX_CHANGES))
    try:
        outcome = reverify.reverify(everything=request.args.get("all") in ("1", "true", "yes"))
    except reverify.ReverifyError as exc:
        return jsonify(error="no_registry", message=str(exc)), 409
    rows = [alarms.change_json(alarms.change_row(c)) for c in outcome.changed[:int(show)]]
    return jsonify(registry_version=outcome.registry, checked=outcome.checked, changed=len(outcome.changed),
                   moves=[{"old": old, "new": new, "count": n} for (old, new), n in sorted(outcome.moves.items())],
                   changes=rows)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    size = "%d MiB" % (limit >> 20) if limit and limit % (1 << 20) == 0 else "%s bytes" % limit
    return jsonify(error="too_large", message="upload larger than the limit of %s (setting MAX_CONTENT_LENGTH)"
                   % size, limit=limit), 413


# -- compliance and alarms ----------------------------------------------------------------------

FILTERS = ("verdict", "dev", "merchant", "since", "until")
MAX_CHANGES = 1000
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_NUMBER_RE = re.compile(r"^[0-9]{1,9}\Z")
# An unencoded + in a query string arrives as a space: "10:00:00 08:00" meant "10:00:00+08:00".
_LOST_PLUS_RE = re.compile(r"(T[0-9:.]+) ([0-9]{2}:[0-9]{2})\Z")


class FilterError(ValueError):
    """A query parameter that cannot be used: ``param`` names it, the message gives the expected form."""

    def __init__(self, param, message):
        super().__init__(message)
        self.param = param


def alarm_filters(args):
    """``(filters for alarms.alarms(), zone)`` from query ``args``, or FilterError.

    since / until: a day (YYYY-MM-DD; until takes the whole day) or an ISO time; without an
    offset they are in the merchant's zone when a known merchant is given, else Asia/Shanghai.
    """
    out = {name: (args.get(name) or "").strip() or None for name in FILTERS}
    if out["verdict"] is not None and out["verdict"] not in alarms.ALARM_VERDICTS:
        raise FilterError("verdict", "verdict must be one of %s (alarms are the non-OK verdicts)"
                          % ", ".join(alarms.ALARM_VERDICTS))
    merchant = Merchant.get_or_none(Merchant.code == out["merchant"]) if out["merchant"] else None
    tz = alarms.zone(merchant.tz if merchant else None)
    out["since"] = _when("since", out["since"], tz, 0)
    out["until"] = _when("until", out["until"], tz, 1)
    if out["since"] and out["until"] and out["until"] <= out["since"]:
        raise FilterError("until", "until must be later than since")
    return out, tz


def _when(param, text, tz, days):
    if text is None:
        return None
    try:
        if _DATE_RE.match(text):
            day = datetime.strptime(text, "%Y-%m-%d").date() + timedelta(days=days)
            when = datetime.combine(day, time(), tz)
        else:
            when = datetime.fromisoformat(_LOST_PLUS_RE.sub(r"\1+\2", text).replace("Z", "+00:00"))
            when = when.replace(tzinfo=tz) if when.tzinfo is None else when
        return when.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise FilterError(param, "%s must be a date YYYY-MM-DD or an ISO time such as 2025-06-01T10:00:00+08:00, "
                                 "not %r" % (param, text[:40]))


def _bad(exc):
    return jsonify(error="bad_" + exc.param, param=exc.param, message=str(exc)), 400


def _query_args(filters_text):
    """The non-empty filter parameters as given, for links that keep the filters."""
    return {name: filters_text[name].strip() for name in FILTERS if (filters_text.get(name) or "").strip()}


@bp.app_template_filter("localtime")
def localtime_filter(when, tz):
    """A stored UTC time in zone ``tz`` as "YYYY-MM-DD HH:MM:SS +08:00"; a dash for None."""
    if when is None:
        return "–"
    at = alarms.local(when, tz)
    offset = at.isoformat()[-6:]
    return at.strftime("%Y-%m-%d %H:%M:%S ") + ("UTC" if offset == "+00:00" else offset)


@bp.get("/licences")
def page():
    error, rows = None, []
    try:
        filters = alarm_filters(request.args)[0]
        rows = alarms.alarms(**filters)
    except FilterError as exc:
        error = exc
    terminals = alarms.terminal_compliance()
    given = _query_args(request.args)
    html = render_template(
        "licences_index.html", version=RegistryVersion.select().order_by(RegistryVersion.number.desc()).first(),
        merchants=alarms.merchant_compliance(terminals), terminals=terminals, alarms=rows, error=error,
        changes=alarms.changes(limit=50), zones=alarms.merchant_zones(), default_tz=alarms.zone(None),
        pending=reverify.pending_count(), verdicts=alarms.ALARM_VERDICTS, args=request.args, devices=[t["dev"] for t in terminals],
        filtered=bool(given), csv_url=url_for("licences.alarms_csv", **given))
    return html, 400 if error else 200


@bp.get("/licences/alarms.csv")
def alarms_csv():
    try:
        filters, tz = alarm_filters(request.args)
        if request.args.get("tz"):
            tz = _zone_param(request.args["tz"])
    except FilterError as exc:
        return _bad(exc)
    # The BOM lets spreadsheet programs read the UTF-8 (Chinese reasons) correctly.
    body = "\ufeff" + alarms.alarms_csv(alarms.alarms(**filters), tz)
    return current_app.response_class(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=licence-alarms.csv"})


def _zone_param(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FilterError("tz", "tz must be an IANA time zone such as Asia/Shanghai, not %r" % name[:40])


@bp.get("/api/licences/alarms")
def api_alarms():
    try:
        filters = alarm_filters(request.args)[0]
    except FilterError as exc:
        return _bad(exc)
    rows = alarms.alarms(**filters)
    for row in rows:
        row["first_seen"], row["last_seen"] = iso(row["first_seen"]), iso(row["last_seen"])
    return jsonify(alarms=rows)


@bp.get("/api/licences/compliance")
def api_compliance():
    terminals = alarms.terminal_compliance()
    merchants = alarms.merchant_compliance(terminals)
    for t in terminals:
        t["sold_at"] = iso(t["sold_at"])
    return jsonify(terminals=terminals, merchants=merchants)


@bp.get("/api/licences/changes")
def api_changes():
    a = request.args
    if a.get("registry") and not _NUMBER_RE.match(a["registry"]):
        return _bad(FilterError("registry", "registry must be a registry version number, e.g. registry=2"))
    limit = a.get("limit", "100")
    if not _NUMBER_RE.match(limit) or not 0 < int(limit) <= MAX_CHANGES:
        return _bad(FilterError("limit", "limit must be a whole number from 1 to %d" % MAX_CHANGES))
    rows = alarms.changes(int(a["registry"]) if a.get("registry") else None, int(limit))
    return jsonify(changes=[alarms.change_json(row) for row in rows])
