"""possync-server wallet ... in-process on a SQLite file: open, top up, freeze, reissue, statement, report."""

import argparse
import io
import json

import pytest

from server.commands import CommandError, config_parent
from server.db import db
from server.wallet import offline
from server.wallet.cli import argparse_wallet, do_wallet

PIN = "908172"


def tok(n):
    return "%064x" % (n * 7919 + 1)


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    """run(*args, stdin="") -> (exit code, stdout); a CommandError propagates."""
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"DATABASE_URL": "sqlite:///" + str(tmp_path / "p.db"),
                                  "SECRET_KEY_FILE": str(tmp_path / "master.key")}))

    def run(*args, stdin=""):
        parser = argparse.ArgumentParser(prog="possync-server")
        argparse_wallet(parser.add_subparsers(dest="command"), config_parent())
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = do_wallet(parser.parse_args(["wallet"] + list(args) + ["--config", str(config)]))
        return code, capsys.readouterr().out
    return run


def test_help_has_examples(capsys):
    parser = argparse.ArgumentParser(prog="possync-server")
    argparse_wallet(parser.add_subparsers(dest="command"), config_parent())
    for action in ("open", "topup", "freeze", "unfreeze", "reissue", "statement", "report", "flags", "low-balance",
                   "pin-reset"):
        with pytest.raises(SystemExit):
            parser.parse_args(["wallet", action, "--help"])
        assert "examples:\n  possync-server wallet %s" % action in capsys.readouterr().out


def test_a_card_from_opening_to_reissue(run, tmp_path):
    code, out = run("open", tok(1), "--pin-stdin", stdin=PIN + "\n")
    assert code == 0 and out.startswith("opened W") and "with PIN" in out
    account = out.split()[1]
    code, out = run("topup", account, "1000.00", "--merchant", "M1", "--key", "till-1")
    assert out.startswith("booked %s: top-up 1000.00 + bonus 120.00 CNY, balance 1120.00" % account)
    assert run("topup", tok(1), "1000.00", "--key", "till-1")[1].startswith("already booked, nothing changed")
    with pytest.raises(CommandError, match="wallet topup: amount 1.005 has more decimals than CNY has"):
        run("topup", account, "1.005")
    assert "now frozen" in run("freeze", tok(1), "--reason", "lost")[1]
    with pytest.raises(CommandError, match="wallet topup: cannot top up account .* frozen"):
        run("topup", account, "1")
    code, out = run("reissue", tok(1), tok(2))
    assert out.startswith("reissued as W") and "balance 1120.00 CNY carried over" in out
    new = out.split()[2].rstrip(":")
    code, out = run("statement", new, "--json")
    lines = json.loads(out)["entries"]
    assert [(x["kind"], x["delta"], x["balance"]) for x in lines] == [("transfer_in", 112000, 112000)]
    code, out = run("statement", account)
    assert "transfer_out" in out and "-1120.00" in out
    assert PIN.encode() not in (tmp_path / "p.db").read_bytes()


def test_report_flags_and_low_balance(run):
    account = run("open", tok(1))[1].split()[1]
    run("topup", account, "30.00")
    code, out = run("report", "--day", "2000-01-01", "--csv")
    assert out.splitlines()[0].startswith("level,cur,merchant,dev,opening,topup")
    before = json.loads(run("report", "--day", "2000-01-01", "--json")[1])
    assert before["rows"] == [] and before["totals"][0]["closing"] == 0
    after = run("report", "--day", "2999-01-01")[1]
    assert "TOTAL" in after and "opening 30.00" in after and "closing 30.00" in after
    assert run("flags")[1] == "0 flagged entries\n"
    with db.atomic():  # an offline overdraft from a terminal, on the database the commands use
        offline.apply_txs([{"dev": "T1", "seq": 1, "kind": "svspend", "ref": "R1", "orig": None, "amount": 5000,
                            "cur": "CNY", "tok": tok(1), "auth": None, "merchant": "M1"}])
    out = run("flags", "--flag", "overdraft")[1]
    assert "overdraft" in out and "-50.00 CNY  T1/1  T1:1:svspend" in out and out.endswith("1 flagged entry\n")
    assert run("flags", "--flag", "frozen")[1] == "0 flagged entries\n"
    assert run("low-balance")[1] == "0 account(s) below their low-balance threshold\n"  # anonymous: nobody to remind
    with pytest.raises(CommandError, match="wallet report: day '2000-13-01'"):
        run("report", "--day", "2000-13-01")


def test_pin_reset(run):
    account = run("open", tok(1), "--pin-stdin", stdin="1234\n")[1].split()[1]
    assert run("pin-reset", account, "--no-pin")[1] == "%s: PIN removed, lock lifted\n" % account
    assert run("pin-reset", account, "--pin-stdin", stdin="5678\n")[1] == "%s: PIN reset, lock lifted\n" % account
    with pytest.raises(CommandError, match="wallet pin-reset: a PIN is 4 to 6 digits"):
        run("pin-reset", account, "--pin-stdin", stdin="12\n")
    with pytest.raises(CommandError, match="wallet statement: no stored-value account WNOPE"):
        run("statement", "WNOPE")
