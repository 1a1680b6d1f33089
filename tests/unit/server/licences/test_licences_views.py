"""The licence registry JSON API through the Flask test client."""

import os
from datetime import datetime

import pytest

from server import config
from server.licences import registry
from server.licences.models import SaleVerdict, VerdictChange

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


# -- compliance page, alarms, CSV, changes --------------------------------------------------------

@pytest.fixture
def fleet(shop, judged):
    """M1 (Shanghai) with T1 (alarms) and T2 (OK); M2 (Tokyo) with T3; T9 without a merchant and sales."""
    shop("M1", "T1", "T2")
    shop("M2", "T3", tz="Asia/Tokyo")
    shop(None, "T9")
    judged("T1", 1, "EXPIRED", "2025-06-01 15:30", reason="licence expired 2025-05-31")
    judged("T1", 2, "EXPIRED", "2025-06-01 16:30", reason="licence expired 2025-05-31")
    judged("T2", 1, "OK", "2025-06-01 10:00")
    judged("T3", 1, "REVOKED", "2025-06-02 01:00", reason="licence revoked (吊销)")
    judged("T3", 2, "REVOKED", "2025-06-03 01:00", reason="licence revoked (吊销)")


def test_page_before_any_registry_says_how_to_import(client):
    html = client.get("/licences").get_data(as_text=True)
    assert "No registry imported yet" in html and "possync-server licences import FILE" in html
    assert "No terminals yet" in html and "No alarms." in html


def test_page_shows_registry_compliance_alarms_in_merchant_time(client, imported, fleet):
    html = client.get("/licences").get_data(as_text=True)
    assert "version 1" in html
    assert "SAMPLE DATA" in html and "api upload" in html
    # T1's alarm group in Shanghai time, T3's in Tokyo time; T2 is OK; T9 has no sales yet.
    assert "2025-06-01 23:30:00 +08:00" in html and "2025-06-02 00:30:00 +08:00" in html
    assert "2025-06-03 10:00:00 +09:00" in html
    assert 'title="licence revoked (吊销)">REVOKED</span>' in html
    assert "no sales yet" in html and "(no merchant)" in html
    assert 'href="/licences/alarms.csv"' in html


def test_page_filters_and_csv_link_keep_them(client, fleet):
    html = client.get("/licences?verdict=REVOKED&merchant=M2&since=2025-06-02").get_data(as_text=True)
    alarms_part = html[html.index('id="alarms"'):html.index('id="changes"')]
    assert "REVOKED" in alarms_part and "licence expired" not in alarms_part
    assert "<option selected>REVOKED</option>" in alarms_part and 'value="M2" selected' in alarms_part
    assert 'href="/licences/alarms.csv?verdict=REVOKED&amp;merchant=M2&amp;since=2025-06-02"' in alarms_part
    assert "No alarms for these filters" in client.get("/licences?dev=T2").get_data(as_text=True)


def test_page_bad_filter_is_400_naming_it(client, fleet):
    resp = client.get("/licences?since=yesterday")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "since must be a date YYYY-MM-DD" in html
    assert 'value="yesterday"' in html and "Terminals" in html


def test_api_alarms_with_filters(client, fleet):
    body = client.get("/api/licences/alarms").get_json()["alarms"]
    assert [(a["dev"], a["verdict"], a["count"]) for a in body] == [("T3", "REVOKED", 2), ("T1", "EXPIRED", 2)]
    assert body[1]["first_seen"] == "2025-06-01T15:30:00Z" and body[1]["last_seen"] == "2025-06-01T16:30:00Z"
    assert body[1]["reason"] == "licence expired 2025-05-31" and body[1]["merchant"] == "M1"
    only = client.get("/api/licences/alarms?verdict=EXPIRED&dev=T1&merchant=M1").get_json()["alarms"]
    assert [(a["dev"], a["count"]) for a in only] == [("T1", 2)]


@pytest.mark.parametrize("query, counts", [
    # A day is the merchant's day: 15:30Z is 23:30 on June 1 in Shanghai, 16:30Z already June 2.
    ("merchant=M1&until=2025-06-01", [1]),
    ("merchant=M1&since=2025-06-02", [1]),
    ("merchant=M1&since=2025-06-01&until=2025-06-02", [2]),
    # Without a merchant, days are Shanghai days.
    ("dev=T1&until=2025-06-01", [1]),
    # An ISO time with an offset is taken as given; without one, in the merchant's zone.
    ("merchant=M1&since=2025-06-01T16:00:00Z", [1]),
    ("merchant=M1&since=2025-06-02T00:00:00%2B08:00", [1]),
    ("merchant=M1&since=2025-06-02T00:00:00+08:00", [1]),  # the + arrives as a space
    ("merchant=M2&until=2025-06-03T10:00", [1]),
    ("merchant=M2&until=2025-06-03T10:00:01", [2]),
])
def test_api_alarm_dates_in_the_merchants_zone(client, fleet, query, counts):
    body = client.get("/api/licences/alarms?" + query).get_json()
    assert [a["count"] for a in body["alarms"]] == counts


@pytest.mark.parametrize("query, param, hint", [
    ("verdict=NOPE", "verdict", "verdict must be one of UNKNOWN_ACQUIRER"),
    ("verdict=OK", "verdict", "non-OK"),
    ("since=2025-13-01", "since", "YYYY-MM-DD"),
    ("until=soon", "until", "2025-06-01T10:00:00+08:00"),
    ("since=2025-06-02&until=2025-06-01", "until", "later than since"),
    ("until=9999-12-31", "until", "YYYY-MM-DD"),
])
def test_bad_alarm_filters_are_400(client, fleet, query, param, hint):
    for path in ("/api/licences/alarms?", "/licences/alarms.csv?"):
        resp = client.get(path + query)
        body = resp.get_json()
        assert resp.status_code == 400 and body["param"] == param and body["error"] == "bad_" + param
        assert hint in body["message"] and param in body["message"]


def test_csv_export(client, fleet):
    resp = client.get("/licences/alarms.csv?merchant=M1")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == "attachment; filename=licence-alarms.csv"
    text = resp.data.decode("utf-8-sig")
    assert text.splitlines() == [
        "dev,merchant,verdict,inst,lic,settle,count,first_seen,last_seen,reason",
        "T1,M1,EXPIRED,48991310,,,2,2025-06-01T23:30:00+08:00,2025-06-02T00:30:00+08:00,licence expired 2025-05-31",
    ]
    tokyo = client.get("/licences/alarms.csv?merchant=M2").data.decode("utf-8-sig").splitlines()
    assert "2025-06-02T10:00:00+09:00,2025-06-03T10:00:00+09:00" in tokyo[1]
    utc = client.get("/licences/alarms.csv?merchant=M2&tz=UTC").data.decode("utf-8-sig").splitlines()
    assert "2025-06-02T01:00:00+00:00,2025-06-03T01:00:00+00:00" in utc[1]
    bad = client.get("/licences/alarms.csv?tz=Mars/Olympus")
    assert bad.status_code == 400 and bad.get_json()["param"] == "tz"


def test_api_compliance(client, fleet):
    body = client.get("/api/licences/compliance").get_json()
    terminals = {t["dev"]: t for t in body["terminals"]}
    assert terminals["T1"]["verdict"] == "EXPIRED" and terminals["T1"]["seq"] == 2
    assert terminals["T1"]["sold_at"] == "2025-06-01T16:30:00Z" and terminals["T9"]["verdict"] is None
    merchants = {m["merchant"]: m for m in body["merchants"]}
    assert merchants["M1"]["state"] == "EXPIRED" and merchants["M1"]["counts"] == {"EXPIRED": 1, "OK": 1}
    assert merchants["M2"]["state"] == "REVOKED" and merchants[None]["no_sales"] == 1


def test_changes_api_and_page(client, fleet):
    sale = SaleVerdict.get((SaleVerdict.dev == "T2") & (SaleVerdict.seq == 1))
    VerdictChange.create(sale=sale, old="OK", old_reason="fine", old_registry=1, new="OUT_OF_SCOPE",
                         new_reason="not in scope for 广东省", registry=2, changed_at=datetime(2025, 7, 1, 4))
    body = client.get("/api/licences/changes?registry=2").get_json()["changes"]
    assert [(c["dev"], c["seq"], c["old"], c["new"], c["registry"]) for c in body] == [("T2", 1, "OK", "OUT_OF_SCOPE", 2)]
    assert body[0]["changed_at"] == "2025-07-01T04:00:00Z" and body[0]["sold_at"] == "2025-06-01T10:00:00Z"
    assert client.get("/api/licences/changes?registry=3").get_json()["changes"] == []
    html = client.get("/licences").get_data(as_text=True)
    assert "not in scope for 广东省" in html and "1 → 2" in html and "2025-07-01 12:00:00 +08:00" in html
    for query, param in (("registry=two", "registry"), ("registry=99999999999999999999", "registry"),
                         ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=²", "limit")):
        resp = client.get("/api/licences/changes?" + query)
        assert resp.status_code == 400 and resp.get_json()["param"] == param


def test_import_larger_than_the_limit_is_413(client):
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    assert limit == config.DEFAULTS["MAX_CONTENT_LENGTH"] == 8 * 1024 * 1024
    resp = client.post("/api/licences/import?format=json", data=b" " * (limit + 1))
    body = resp.get_json()
    assert resp.status_code == 413 and body["error"] == "too_large" and body["limit"] == limit
    assert "8 MiB" in body["message"] and "MAX_CONTENT_LENGTH" in body["message"]
    # Up to the limit the body is read and judged as a registry file.
    assert client.post("/api/licences/import?format=json", data=b" " * limit).status_code == 400
