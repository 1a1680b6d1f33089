"""`possync-server tags ...` run in-process through its argparse builder (server/cli.py registers it)."""

import json
import time

import pytest

from server.commands import CommandError
from server.db import bulk_insert, db, utcnow
from server.ingest.apply import RECORD_FIELDS
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags.models import RiskFlag, TagDef

NOW = int(time.time()) - 3600


@pytest.fixture
def sales(tagdb):
    Customer.insert_many([{"id": "C%02d" % i} for i in range(30)]).execute()
    rows = [("D1", i * 10 + k, "sale", NOW - (k * 7 + i) * 86400, utcnow(), "R", None, 1000 + 100 * i, "CNY", None,
             "C%02d" % i, "h") for i in range(30) for k in range(1 + i % 4)]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)


def test_recompute_status_list_show_history(run, sales):
    code, out = run("recompute")
    assert code == 0 and "30 customers" in out and "lc_active" in out
    code, out = run("status")
    assert "tags in force: run 1" in out and "UNFINISHED" not in out and "none fitted" in out
    code, out = run("list")
    assert "忠诚顾客" in out and "loyal" in out
    code, out = run("list", "--features", "--json")
    assert json.loads(out)["spend_90d"]["type"] == "int"
    code, out = run("show", "C03")
    assert "lifecycle" in out and "tags " in out
    code, out = run("history", "C03")
    assert "run 1" in out and "+" in out


def test_status_says_a_run_is_unfinished(run, sales):
    from server.tags import recompute

    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop)
    code, out = run("status")
    assert "UNFINISHED run 1" in out and "tags recompute --resume" in out
    code, out = run("recompute", "--resume")
    assert code == 0 and "run 1: 30 customers" in out


def test_recompute_in_worker_processes_tags_the_same(run, sales):
    from server.tags.models import CustomerStats, CustomerTag

    def state():
        stats = [{k: v for k, v in row.items() if k not in ("run", "updated_ts")}
                 for row in CustomerStats.select().order_by(CustomerStats.customer).dicts()]
        return stats, sorted(CustomerTag.select(CustomerTag.customer, CustomerTag.tag).tuples())
    run("recompute", "--workers", "1")
    alone = state()
    code, out = run("recompute", "--workers", "3")
    assert code == 0 and "run 2: 30 customers, 0 with changed tags" in out and "scanned in 3 processes" in out
    assert state() == alone
    with pytest.raises(CommandError, match="--workers must be 1 or more"):
        run("recompute", "--workers", "0")


def test_resume_without_unfinished_run_says_what_to_do(run, tagdb):
    with pytest.raises(CommandError, match="no unfinished run"):
        run("recompute", "--resume")


def test_define_preview_and_save(run, sales):
    run("recompute")
    code, out = run("define", "big", "--rule", "spend >= 3000", "--preview")
    big = sum(1 for i in range(30) if (1 + i % 4) * (1000 + 100 * i) >= 3000)
    assert out.startswith("%d of 30 customers" % big) and TagDef.select().count() == 0
    code, out = run("define", "big", "--rule", "spend >= 3000", "--name-zh", "大客户", "--priority", "5",
                    "--until", "2030-01-01")
    assert TagDef.get().name_zh == "大客户"
    code, out = run("recompute")
    assert "big" in out


def test_bad_rule_shows_the_column(run, tagdb):
    with pytest.raises(CommandError) as err:
        run("define", "big", "--rule", "spend_9d >= 3000")
    text = str(err.value)
    assert "column 1" in text and "spend_90d" in text and "\n  ^" in text


def test_bad_code_and_builtin_code_are_refused(run, tagdb):
    with pytest.raises(CommandError, match="1-24 of a-z"):
        run("define", "Big!", "--rule", "orders > 1")
    with pytest.raises(CommandError, match="built-in"):
        run("define", "loyal", "--rule", "orders > 1")


def test_refit_on_too_few_buyers_says_why(run, sales):
    Record.delete().where(Record.customer > "C05").execute()
    run("recompute")
    with pytest.raises(CommandError, match="no model could be fitted") as err:
        run("refit")
    assert "wait for more repeat buyers" in str(err.value) and "too_few_repeat" in str(err.value)
    code, out = run("status")
    assert "bgnbd      none fitted" in out


def test_risk_list_and_review(run, tagdb):
    RiskFlag.create(customer="C01", dev="D1", seq=3, ts=NOW, amount=90000, cur="CNY", reason="large", detail="x")
    code, out = run("risk")
    assert "large" in out and "1 open flag" in out
    with pytest.raises(CommandError, match="--verdict"):
        run("risk", "review", "1")
    code, out = run("risk", "review", "1", "--verdict", "ok")
    assert "reviewed: ok" in out
    with pytest.raises(CommandError, match="already reviewed"):
        run("risk", "review", "1", "--verdict", "fraud")
