"""The reports blueprint through the Flask test client: CSV that parses back, SVG that parses as XML."""

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from reports_shop import build
from server.analytics import views


@pytest.fixture
def client(app, add, mk):
    if "reports" not in app.blueprints:  # until create_app registers it
        app.register_blueprint(views.bp)
    build(add, mk)
    return app.test_client()


def rows(response):
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_kpis_csv_agrees_with_the_hand_computed_values(client):
    got = rows(client.get("/reports/kpis.csv?from=2025-02-01&to=2025-02-28"))
    assert got == [["kpi", "cur", "value", "numerator", "denominator"],
                   ["repeat_purchase_rate", "", "0.3333", "1", "3"],
                   ["churn_rate", "", "0.6667", "2", "3"],
                   ["average_basket", "CNY", "6200", "31001", "5"],
                   ["points_liability", "", "480", "", ""],
                   ["points_liability_value", "CNY", "480", "", ""],
                   ["stored_value_float", "CNY", "53000", "", ""]]


def test_every_csv_parses_back_with_a_row_width_of_its_header(client):
    index = client.get("/reports/").get_json()
    assert set(index["csv"]) == {"kpis", "basket", "frequency", "cohorts", "points", "float", "segments", "tagcounts"}
    for name, url in index["csv"].items():
        table = rows(client.get(url + "?from=2025-01-01&to=2025-03-31"))
        assert all(len(r) == len(table[0]) for r in table), name
    assert rows(client.get("/reports/frequency.csv?from=2025-02-01&to=2025-02-28"))[1:3] == [["1", "2"], ["2", "1"]]
    assert rows(client.get("/reports/float.csv?from=2025-01-01&to=2025-03-31&merchant=M1")) == [
        ["month", "cur", "float_minor"], ["2025-01", "CNY", "50000"], ["2025-02", "CNY", "50000"],
        ["2025-03", "CNY", "51000"]]
    assert rows(client.get("/reports/segments.csv?from=2025-01-01&to=2025-02-28")) == [
        ["month", "growth", "lc_active", "lc_silent", "loyal"], ["2025-01", "0", "2", "0", "1"],
        ["2025-02", "1", "1", "1", "1"]]


def test_every_chart_is_svg_that_parses(client):
    for name, url in client.get("/reports/").get_json()["svg"].items():
        response = client.get(url + "?from=2025-01-01&to=2025-03-31")
        assert response.status_code == 200 and response.mimetype == "image/svg+xml", name
        assert ET.fromstring(response.get_data()).tag == "{http://www.w3.org/2000/svg}svg"
    svg = client.get("/reports/cohorts.svg?from=2025-01-01&to=2025-03-31").get_data(as_text=True)
    assert "2025-01 (3)" in svg and "33.3%" in svg


def test_bad_queries_are_refused_with_a_reason(client):
    response = client.get("/reports/kpis.csv?merchant=M9")
    assert response.status_code == 400 and "unknown merchant 'M9'" in response.get_json()["message"]
    assert client.get("/reports/kpis.csv?from=yesterday").status_code == 400
    assert client.get("/reports/kpis.csv?from=2025-03-01&to=2025-02-01").status_code == 400
    assert client.get("/reports/nope.csv").status_code == 404
    assert client.get("/reports/basket.svg").status_code == 404
