"""The fleet page and its JSON API, through Flask's test client."""

from datetime import datetime

from server.fleet import devices
from server.ingest.apply import apply_batch
from server.licences.models import SaleVerdict


def test_empty_fleet_page(app):
    page = app.test_client().get("/")
    assert page.status_code == 200
    assert b"No terminals yet" in page.data and b"No sales received yet" in page.data


def test_fleet_page_shows_terminals_and_sales(app, master, mk):
    devices.add_device("T1", master)
    devices.add_device("T2", master)
    devices.revoke_device("T2")
    apply_batch([mk.record("T1", mk.sale(1, ref="POS-0001", amount=1250, tok=mk.tok(1)))], states=[("T1", "online")])
    html = app.test_client().get("/").get_data(as_text=True)
    assert "1 online of 2" in html
    assert '<span class="badge online">online</span>' in html and '<span class="badge revoked">revoked</span>' in html
    assert "POS-0001" in html and "12.50 CNY" in html
    assert mk.tok(1) not in html and "master.key" not in html


def test_api_devices(app, master):
    devices.add_device("T1", master)
    body = app.test_client().get("/api/devices").get_json()
    assert [d["id"] for d in body] == ["T1"]
    d = body[0]
    assert d["state"] == "offline" and d["revoked"] is False and d["last_seen"] is None
    assert d["created_at"].endswith("Z")
    assert not any("key" in name for name in d)


def test_api_sales_newest_first_with_limit(app, master, mk):
    devices.add_device("T1", master)
    for seq in range(1, 6):
        apply_batch([mk.record("T1", mk.sale(seq, tok=mk.tok(1)))])
    client = app.test_client()
    sales = client.get("/api/sales?limit=3").get_json()
    assert [s["seq"] for s in sales] == [5, 4, 3]
    assert sales[0]["amount"] == 1250 and sales[0]["cur"] == "CNY" and sales[0]["customer"].startswith("C")
    assert "tok" not in sales[0]
    for bad in ("0", "-1", "abc", "1001"):
        answer = client.get("/api/sales?limit=" + bad)
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_limit"


def test_fleet_page_shows_each_terminals_acquirer_verdict_and_alarms(app, master):
    for dev in ("T1", "T2", "T3"):
        devices.add_device(dev, master)
    rows = [("T1", 1, "EXPIRED", "licence expired"), ("T1", 2, "EXPIRED", "licence expired"),
            ("T2", 1, "EXPIRED", "licence expired"), ("T2", 2, "OK", "licensed, direct settlement")]
    for dev, seq, verdict, reason in rows:
        SaleVerdict.create(dev=dev, seq=seq, verdict=verdict, reason=reason, sold_at=datetime(2025, 6, 1, seq))
    html = app.test_client().get("/").get_data(as_text=True)
    row = {dev: html[html.index("<td>%s</td>" % dev):] for dev in ("T1", "T2", "T3")}
    assert row["T1"].split("</tr>")[0].count('title="licence expired">EXPIRED</span>') == 1
    assert '<a href="/licences?dev=T1#alarms">2</a>' in row["T1"].split("</tr>")[0]
    assert 'title="licensed, direct settlement">OK</span>' in row["T2"].split("</tr>")[0]
    assert '<a href="/licences?dev=T2#alarms">1</a>' in row["T2"].split("</tr>")[0]
    assert "no sales yet" in row["T3"].split("</tr>")[0]
    assert "3 sales with acquirer alarms" in html and 'href="/licences"' in html
