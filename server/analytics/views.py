"""KPI reports over HTTP: CSV exports and SVG charts under /reports/ (a later admin UI shows them).

Every report takes ``from`` and ``to`` (local days YYYY-MM-DD, both whole; default the last 365
days) and ``merchant`` (one store, whose zone the days and months are in).
No authentication yet, like the other admin routes: the admin login comes with a later issue.
"""

from flask import Blueprint, current_app, jsonify, request, url_for

from server.analytics import charts, cohorts, kpis

bp = Blueprint("reports", __name__)

CHARTS = ("cohorts", "frequency", "segments", "points")


def _window():
    a = request.args
    return kpis.window(a.get("from") or None, a.get("to") or None, a.get("merchant") or None)


@bp.errorhandler(kpis.ReportError)
def _bad(exc):
    return jsonify(error="bad_request", message=str(exc)), 400


@bp.get("/reports/")
def index():
    """The reports there are, as links."""
    return jsonify(csv={name: url_for("reports.csv_export", name=name) for name in sorted(kpis.TABLES)},
                   svg={name: url_for("reports.chart", name=name) for name in CHARTS})


@bp.get("/reports/<name>.csv")
def csv_export(name):
    if name not in kpis.TABLES:
        known = ", ".join(sorted(kpis.TABLES))
        return jsonify(error="not_found", message="no report %r (one of %s)" % (name, known)), 404
    header, rows = kpis.table(name, _window())
    # The BOM lets spreadsheet programs read UTF-8 (Chinese tag names) correctly.
    body = "\ufeff" + kpis.csv_text(header, rows)
    return current_app.response_class(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=%s.csv" % name})


@bp.get("/reports/<name>.svg")
def chart(name):
    if name not in CHARTS:
        return jsonify(error="not_found", message="no chart %r (one of %s)" % (name, ", ".join(CHARTS))), 404
    return current_app.response_class(svg(name, _window()), mimetype="image/svg+xml")


def svg(name, w):
    """Chart ``name`` (one of CHARTS) over window ``w`` as SVG text."""
    if name == "cohorts":
        return charts.heat_table(cohorts.cohort_table(w))
    if name == "frequency":
        dist = kpis.frequency_distribution(w)
        return charts.bar_chart([label for label, _ in dist], [n for _, n in dist], "Customers by number of purchases")
    if name == "segments":
        tags, months = kpis.segment_sizes(w)
        return charts.line_chart([m for m, _ in months], [(t, [sizes.get(t, 0) for _, sizes in months]) for t in tags],
                                 "Segment sizes at month end")
    header, rows = kpis.points_rows(w)
    return charts.line_chart([r[0] for r in rows], [("points", [r[1] for r in rows])], "Points liability at month end")
