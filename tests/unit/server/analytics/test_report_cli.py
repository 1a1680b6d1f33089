"""`possync-server report ...` run in-process (argparse_report/do_report) on the shop of reports_shop."""

import argparse
import csv
import json

import pytest

from reports_shop import build
from server.analytics import cli
from server.commands import CommandError, config_parent


@pytest.fixture
def run(app, add, mk, tmp_path):
    build(add, mk)
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"DATABASE_URL": app.config["DATABASE_URL"], "INSTANCE_PATH": app.instance_path,
                                  "SECRET_KEY_FILE": app.config["SECRET_KEY_FILE"]}))
    parser = argparse.ArgumentParser(prog="possync-server")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.argparse_report(sub, config_parent())

    def run(*argv):
        return cli.do_report(parser.parse_args(["report"] + list(argv) + ["--config", str(config)]))
    return run


def test_kpis_print_one_aligned_line_each(run, capsys):
    assert run("kpis", "--from", "2025-02-01", "--to", "2025-02-28") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kpi", "cur", "value", "numerator", "denominator"]
    assert lines[1].split() == ["repeat_purchase_rate", "0.3333", "1", "3"]
    assert lines[3].split() == ["average_basket", "CNY", "6200", "31001", "5"]


def test_cohorts_to_a_csv_file(run, capsys, tmp_path):
    out = tmp_path / "cohorts.csv"
    assert run("cohorts", "--from", "2025-01-01", "--to", "2025-03-31", "--merchant", "M1", "--out", str(out)) == 0
    assert "2 rows written" in capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    assert got[1] == ["2025-01", "3", "1.0000", "0.3333", "0.3333", "3", "1", "1"]
    assert got[2] == ["2025-02", "2", "1.0000", "0.0000", "", "2", "0", ""]


def test_csv_name_to_standard_output(run, capsys):
    assert run("csv", "basket", "--from", "2025-02-01", "--to", "2025-02-28") == 0
    assert list(csv.reader(capsys.readouterr().out.splitlines())) == [
        ["cur", "orders", "gross_minor", "refunds_minor", "net_minor", "average_minor", "average_exact"],
        ["CNY", "5", "33001", "2000", "31001", "6200", "31001/5"]]


def test_failures_name_the_command_and_the_problem(run, tmp_path):
    with pytest.raises(CommandError, match=r"^report kpis: unknown merchant 'M9'"):
        run("kpis", "--merchant", "M9")
    with pytest.raises(CommandError, match=r"^report csv: a date must be YYYY-MM-DD"):
        run("csv", "points", "--from", "2025/01/01")
    with pytest.raises(CommandError, match=r"^report cohorts: cannot write"):
        run("cohorts", "--out", str(tmp_path / "no" / "such" / "dir.csv"))
    with pytest.raises(SystemExit):
        run("csv", "nope")
