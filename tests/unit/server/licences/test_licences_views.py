"""The licence registry JSON API through the Flask test client."""

import os

import pytest

from server.licences import registry

SAMPLE = os.path.join(os.path.dirname(registry.__file__), "sample_registry.json")
HEADER = "licence,institution,codes,business_type,scope,provinces,issued,expires,status,status_date\n"


def sample_bytes():
    with open(SAMPLE, "rb") as f:
        return f.read()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def imported(client):
    resp = client.post("/api/licences/import?format=json", data=sample_bytes())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_import_then_get_the_registry(client, imported):
    assert imported == {"version": 1, "rows": 11}
    body = client.get("/api/licences").get_json()
    assert body["version"] == 1 and "SAMPLE DATA" in body["note"] and len(body["rows"]) == 11
    first = body["rows"][0]
    assert first["licence"] == "Z2099131000011" and first["codes"] == ["48991310", "48991311"]
    csv = registry.export_data("csv", registry.load())
    resp = client.post("/api/licences/import", data=csv, content_type="text/csv")
    assert resp.status_code == 201 and resp.get_json()["version"] == 2
    assert client.get("/api/licences").get_json()["rows"] == body["rows"]


def test_bad_import_lists_problems_and_keeps_the_version(client, imported):
    bad = (HEADER + "Z1000000000001,甲,10000001,银行卡收单,national,,2020-01-10,2019-01-09,valid,\n"
           + "Z1000000000001,甲,10000001,银行卡收单,national,,2020-01-10,2025-01-09,valid,\n").encode("utf-8")
    resp = client.post("/api/licences/import?format=csv", data=bad)
    body = resp.get_json()
    assert resp.status_code == 400 and body["error"] == "refused" and body["registry_version"] == 1
    assert {"row": 2, "field": "expires"} in [{"row": p["row"], "field": p["field"]} for p in body["problems"]]
    assert all(p["message"] for p in body["problems"])
    assert client.get("/api/licences").get_json()["version"] == 1
    resp = client.post("/api/licences/import?format=json", data=b"{")
    assert resp.status_code == 400 and resp.get_json()["problems"][0]["row"] == 0


def test_import_needs_a_format(client):
    resp = client.post("/api/licences/import", data=sample_bytes(), content_type="application/octet-stream")
    assert resp.status_code == 400 and resp.get_json()["error"] == "bad_format"


def test_before_any_import(client):
    assert client.get("/api/licences").status_code == 409
    resp = client.get("/api/licences/check?inst=48991310&province=广东")
    assert resp.status_code == 409 and resp.get_json()["error"] == "no_registry"


@pytest.mark.parametrize("query, verdict", [
    ("inst=48991310&province=广东&at=2025-06-01T10:00:00%2B08:00", "OK"),
    ("lic=Z2099244000028&province=44&at=2025-06-01", "OK"),
    ("inst=48992440&province=上海&at=2025-06-01", "OUT_OF_SCOPE"),
    ("inst=48994110&province=广东&at=2024-08-09T16:00:00Z", "REVOKED"),
    ("inst=48992440&settle=48991310&province=海南&at=2025-06-01", "INDIRECT_SETTLEMENT"),
    ("inst=48991310&province=广东&mid=short&at=2025-06-01", "MALFORMED"),
])
def test_check(client, imported, query, verdict):
    resp = client.get("/api/licences/check?" + query)
    body = resp.get_json()
    assert resp.status_code == 200 and body["verdict"] == verdict and body["registry_version"] == 1
    assert body["reason"]


@pytest.mark.parametrize("query, error", [
    ("province=广东", "no_acquirer"),
    ("inst=48991310", "no_province"),
    ("inst=48991310&province=广东&at=soon", "bad_time"),
])
def test_check_bad_query(client, imported, query, error):
    resp = client.get("/api/licences/check?" + query)
    assert resp.status_code == 400 and resp.get_json()["error"] == error
