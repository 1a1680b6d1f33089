"""possync-server licences import|export|check as a real process on a SQLite file."""

import json
import os
import subprocess
import sys

import pytest

from server.licences import registry

EXE = os.path.join(os.path.dirname(sys.executable), "possync-server")
SAMPLE = os.path.join(os.path.dirname(registry.__file__), "sample_registry.json")
BAD_CSV = ("licence,institution,codes,business_type,scope,provinces,issued,expires,status,status_date\n"
           "Z1000000000001,甲支付有限公司,10000001,银行卡收单,national,,2020-01-10,2025-01-09,valid,\n"
           "Z10000,乙支付有限公司,10000002,银行卡收单,provinces,广东,2020-02-30,2025-01-09,valid,\n")


def test_help_has_examples():
    for action in ("import", "export", "check"):
        out = subprocess.run([EXE, "licences", action, "--help"], capture_output=True, text=True).stdout
        assert "possync-server licences %s " % action in out
    out = subprocess.run([EXE, "--help"], capture_output=True, text=True).stdout
    assert "possync-server licences import " in out


def test_import_sample_then_export_round_trips(cli, tmp_path):
    run = cli("licences", "import", SAMPLE)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("registry version 1 in force: 11 rows")
    with open(SAMPLE, "rb") as f:
        sample = registry.parse(f.read(), "json")
    exported = cli("licences", "export")
    assert exported.returncode == 0, exported.stderr
    assert registry.parse(exported.stdout.encode("utf-8"), "json").rows == sample.rows
    run = cli("licences", "export", "--output", "r.csv")
    assert run.returncode == 0 and run.stdout == "registry version 1: 11 rows written to r.csv\n"
    assert (tmp_path / "r.csv").read_text(encoding="utf-8").startswith("licence,institution,")
    # the CSV export imports back as version 2 and exports identically
    run = cli("licences", "import", "r.csv")
    assert run.returncode == 0 and "registry version 2" in run.stdout
    assert cli("licences", "export", "--format", "csv").stdout == (tmp_path / "r.csv").read_text(encoding="utf-8")


def test_bad_file_lists_every_problem_and_keeps_the_version(cli, tmp_path):
    assert cli("licences", "import", SAMPLE).returncode == 0
    before = cli("licences", "export").stdout
    (tmp_path / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    run = cli("licences", "import", "bad.csv")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.startswith("possync-server: licences import: bad.csv refused, nothing imported; "
                                 "registry version 1 stays in force")
    assert "  row 3, field licence: " in run.stderr and "  row 3, field issued: " in run.stderr
    assert "row 2" not in run.stderr
    assert cli("licences", "export").stdout == before
    run = cli("licences", "check", "--inst", "48991310", "--province", "广东", "--json")
    assert json.loads(run.stdout)["registry_version"] == 1


def test_import_errors_before_reading(cli, tmp_path):
    run = cli("licences", "import", "missing.json")
    assert run.returncode == 1 and "licences import: cannot read missing.json" in run.stderr
    (tmp_path / "list.txt").write_text("x")
    run = cli("licences", "import", "list.txt")
    assert run.returncode == 1 and "give --format csv or --format json" in run.stderr


@pytest.mark.parametrize("args, code, verdict", [
    (["--inst", "48991310", "--province", "广东", "--at", "2025-06-01T10:00:00+08:00"], 0, "OK"),
    (["--lic", "Z2099244000028", "--province", "44", "--at", "2025-06-01"], 0, "OK"),
    (["--inst", "48992440", "--province", "上海", "--at", "2025-06-01"], 3, "OUT_OF_SCOPE"),
    (["--inst", "48994110", "--province", "广东", "--at", "2024-08-10T00:00:00+08:00"], 3, "REVOKED"),
    (["--inst", "48994110", "--province", "广东", "--at", "2024-08-09T23:59:59+08:00"], 0, "OK"),
    (["--inst", "48992440", "--settle", "48991310", "--province", "海南", "--at", "2025-06-01"], 3,
     "INDIRECT_SETTLEMENT"),
    (["--inst", "11111111", "--province", "广东"], 3, "UNKNOWN_ACQUIRER"),
])
def test_check_exit_status_and_verdict(cli, args, code, verdict):
    assert cli("licences", "import", SAMPLE).returncode == 0
    run = cli("licences", "check", *args)
    assert run.returncode == code, run.stderr
    assert run.stdout.startswith(verdict + ": ") and "registry version 1" in run.stdout
    out = json.loads(cli("licences", "check", "--json", *args).stdout)
    assert out["verdict"] == verdict and out["registry_version"] == 1 and out["reason"]


def test_check_errors(cli):
    run = cli("licences", "check", "--inst", "48991310", "--province", "广东")
    assert run.returncode == 1 and "no registry imported yet" in run.stderr
    run = cli("licences", "check", "--province", "广东")
    assert run.returncode == 1 and "--inst CODE or --lic" in run.stderr
    run = cli("licences", "check", "--inst", "48991310", "--province", "广东", "--at", "yesterday")
    assert run.returncode == 1 and "--at 'yesterday' is not an ISO time" in run.stderr
