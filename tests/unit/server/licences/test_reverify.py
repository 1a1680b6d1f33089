"""Re-verification after a registry update: each sale judged again at its own time, changes listed, resumable."""

import json

import pytest

from server import create_app
from server.fleet.merchants import add_merchant, set_merchant
from server.ingest.apply import apply_batch
from server.licences import registry
from server.licences.models import SaleVerdict, VerdictChange
from server.licences.reverify import ReverifyError, reverify

from test_checks import SAMPLE, SOUTH, WEST, acq, ts

NEW_CODE = "48990000"


def updated_registry():
    """The sample as a later version: SOUTH revoked from 2025-01-01, the national acquirer given NEW_CODE."""
    with open(SAMPLE, encoding="utf-8") as f:
        data = json.load(f)
    for row in data["rows"]:
        if SOUTH in row["codes"]:
            row["status"], row["status_date"] = "revoked", "2025-01-01"
        if row["licence"] == "Z2099131000011":
            row["codes"].append(NEW_CODE)
    return json.dumps(data, ensure_ascii=False).encode()


def sell(mk, dev="T1"):
    """Four sales: SOUTH before and after its (later) revocation, an unknown code, WEST while valid."""
    apply_batch([mk.record(dev, mk.sale(1, ts=ts("2024-12-31 23:59"), acq=acq())),
                 mk.record(dev, mk.sale(2, ts=ts("2025-06-01 10:00"), acq=acq())),
                 mk.record(dev, mk.sale(3, ts=ts("2025-06-01 10:00"), acq=acq(NEW_CODE))),
                 mk.record(dev, mk.sale(4, ts=ts("2024-06-01 10:00"), acq=acq(WEST)))])


def state():
    return [(v.seq, v.verdict, v.registry) for v in SaleVerdict.select().order_by(SaleVerdict.seq)]




def test_reverify_judges_again_and_lists_what_changed(gd_shop, mk):
    sell(mk)
    assert state() == [(1, "OK", 1), (2, "OK", 1), (3, "UNKNOWN_ACQUIRER", 1), (4, "OK", 1)]
    registry.import_data(updated_registry(), "json", "v2.json")
    seen = []
    outcome = reverify(progress=lambda done, total: seen.append((done, total)))
    assert state() == [(1, "OK", 2), (2, "REVOKED", 2), (3, "OK", 2), (4, "OK", 2)]
    assert (outcome.registry, outcome.checked) == (2, 4) and seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert dict(outcome.moves) == {("OK", "REVOKED"): 1, ("UNKNOWN_ACQUIRER", "OK"): 1}
    changes = [(c.sale.seq, c.old, c.new, c.old_registry, c.registry) for c in VerdictChange.select().order_by(VerdictChange.id)]
    assert changes == [(2, "OK", "REVOKED", 1, 2), (3, "UNKNOWN_ACQUIRER", "OK", 1, 2)]
    assert "吊销" in VerdictChange.get(VerdictChange.new == "REVOKED").new_reason
    assert reverify().checked == 0  # nothing left to judge against version 2


def test_an_interrupted_run_continues_where_it_stopped(gd_shop, mk):
    sell(mk)
    registry.import_data(updated_registry(), "json", "v2.json")

    def stop_after_first_chunk(done, total):
        if done >= 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        reverify(progress=stop_after_first_chunk, chunk=2)
    assert [r for s, v, r in state()] == [2, 2, 1, 1]  # the first chunk is committed, the rest waits
    outcome = reverify(chunk=2)
    assert outcome.checked == 2 and state() == [(1, "OK", 2), (2, "REVOKED", 2), (3, "OK", 2), (4, "OK", 2)]
    assert VerdictChange.select().count() == 2


def test_everything_judges_again_after_a_terminal_gets_its_merchant(app, add, mk):
    add("T1")
    registry.import_file(SAMPLE)
    sell(mk)
    assert {v for s, v, r in state()} == {"MALFORMED"}
    add_merchant("GD1", "广州店", "广东")
    set_merchant("T1", "GD1")
    assert reverify().checked == 0
    outcome = reverify(everything=True)
    assert outcome.checked == 4 and state() == [(1, "OK", 1), (2, "OK", 1), (3, "UNKNOWN_ACQUIRER", 1), (4, "OK", 1)]
    assert SaleVerdict.get(SaleVerdict.seq == 1).province == "广东省"


def test_metadata_the_columns_cannot_hold_stays_malformed(gd_shop, mk):
    when = ts("2025-06-01 10:00")
    too_long = acq(lic="Z" + "1" * 40)  # otherwise a good acquirer
    as_number = dict(acq(), inst=48992440)
    apply_batch([mk.record("T1", mk.sale(1, ts=when, acq=too_long)), mk.record("T1", mk.sale(2, ts=when, acq=as_number))])
    before = [(v.verdict, v.reason, v.acq_whole) for v in SaleVerdict.select().order_by(SaleVerdict.seq)]
    assert [(verdict, whole) for verdict, reason, whole in before] == [("MALFORMED", False), ("MALFORMED", False)]
    assert reverify(everything=True).changed == []
    assert [(v.verdict, v.reason, v.acq_whole) for v in SaleVerdict.select().order_by(SaleVerdict.seq)] == before


def test_reverify_without_a_registry_says_to_import_one(app):
    with pytest.raises(ReverifyError, match="licences import FILE"):
        reverify()


def test_cli_import_with_reverify_and_reverify_json(cli, tmp_path, mk):
    assert cli("init-db").returncode == 0
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst"), "DATABASE_URL": "sqlite:///" + str(tmp_path / "p.db"),
                      "SECRET_KEY_FILE": str(tmp_path / "master.key"), "INGEST": False})
    assert cli("merchant", "add", "GD1", "--name", "广州店", "--province", "广东").returncode == 0
    assert cli("device", "add", "T1", "--merchant", "GD1").returncode == 0
    assert cli("licences", "import", SAMPLE).returncode == 0
    with app.app_context():
        sell(mk)
    (tmp_path / "v2.json").write_bytes(updated_registry())
    run = cli("licences", "import", "v2.json", "--reverify", "--show", "1")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("registry version 2 in force")
    assert lines[1] == "registry version 2: 4 sale(s) judged again, 2 verdict(s) changed"
    assert lines[2].split() == ["OK", "->", "REVOKED", "1"] and lines[3].split() == ["UNKNOWN_ACQUIRER", "->", "OK", "1"]
    assert lines[4].startswith("  T1 seq 2, sold 2025-06-01T10:00:00+08:00: OK -> REVOKED: ")
    assert "and 1 more" in lines[5]
    assert "re-verifying sales: 4/4" in run.stderr
    (tmp_path / "v1.json").write_bytes(open(SAMPLE, "rb").read())
    run = cli("licences", "import", "v1.json")
    assert "4 stored sale(s) were judged against an older registry" in run.stdout
    out = json.loads(cli("licences", "reverify", "--json").stdout)
    assert (out["registry_version"], out["checked"], out["changed"]) == (3, 4, 2)
    assert {(c["seq"], c["old"], c["new"]) for c in out["changes"]} == {(2, "REVOKED", "OK"), (3, "OK", "UNKNOWN_ACQUIRER")}


def test_api_reverify_and_the_page_note(gd_shop, mk, app):
    client = app.test_client()
    sell(mk)
    registry.import_data(updated_registry(), "json", "v2.json")
    assert "4 stored sales were judged against an" in client.get("/licences").get_data(as_text=True)
    assert client.post("/api/licences/reverify?show=x").status_code == 400
    out = client.post("/api/licences/reverify?show=1").get_json()
    assert (out["registry_version"], out["checked"], out["changed"], len(out["changes"])) == (2, 4, 2, 1)
    assert {(m["old"], m["new"], m["count"]) for m in out["moves"]} == {("OK", "REVOKED", 1), ("UNKNOWN_ACQUIRER", "OK", 1)}
    assert out["changes"][0]["sold_at"].endswith("Z")
    assert "judged against an" not in client.get("/licences").get_data(as_text=True)
    assert client.post("/api/licences/reverify?all=1").get_json()["checked"] == 4


def test_api_reverify_without_a_registry(app):
    resp = app.test_client().post("/api/licences/reverify")
    assert resp.status_code == 409 and "licences import FILE" in resp.get_json()["message"]
