"""`possync-server customer ...` in-process: each action, its output and its refusals."""

import argparse
import io
import json
import os
from datetime import timedelta

import pytest

from server.campaigns import coupons
from server.commands import CommandError, config_parent
from server.customers import identity
from server.customers.cli import argparse_customer, do_customer
from server.db import utcnow
from server.wallet import service as wallet

TOK1, TOK2 = "a1" * 32, "b2" * 32


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    """run(*args, stdin=None) -> stdout of `customer ARGS` against a config in tmp_path."""
    config = tmp_path / "server.json"
    # the same files as the `app` fixture's, so a test may prepare data through the API first
    config.write_text(json.dumps({"DATABASE_URL": "sqlite:///" + str(tmp_path / "possync.db"),
                                  "SECRET_KEY_FILE": str(tmp_path / "master.key"),
                                  "INSTANCE_PATH": str(tmp_path / "instance"), "INGEST": False}))
    for name in list(os.environ):
        if name.startswith("POSSYNC_"):
            monkeypatch.delenv(name)

    def run(*args, stdin=""):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        p = argparse.ArgumentParser()
        sub = p.add_subparsers(dest="command")
        argparse_customer(sub, config_parent())
        capsys.readouterr()
        assert do_customer(p.parse_args(["customer"] + list(args) + ["--config", str(config)])) == 0
        return capsys.readouterr().out
    return run


def test_a_customer_from_enrolment_to_erasure(run, tmp_path):
    a = run("new").strip()
    b = run("new").strip()
    assert run("set", a, "name=张三", "phone=13800138000") == "%s: name, phone set\n" % a
    assert "card linked to %s" % a in run("link", a, TOK1, "--bin", "622848", "--last4", "1234")
    run("link", b, TOK2)
    assert "merged into %s" % a in run("merge", b, a, "--reason", "same person")
    assert "sms consent granted" in run("consent", a, "sms", "grant", "--source", "form")
    assert "case 1 opened" in run("case", a, "--kind", "complaint", "--text-stdin", stdin="rude staff\n")
    assert "follow-up 1 added to case 1" in run("follow-up", "1", "--status", "closed", "--text-stdin",
                                                stdin="apologised\n")
    shown = run("show", b, "--purpose", "call")
    assert "customer %s" % a in shown and "merged from: %s" % b in shown
    assert "#1 complaint closed" in shown and "rude staff" in shown and "apologised" in shown
    assert "622848…1234" in shown and TOK1 not in shown and TOK2 not in shown
    data = json.loads(run("show", a, "--json"))
    assert data["merged"] == [b] and len(data["cards"]) == 2

    out = tmp_path / "export.json"
    assert "written to %s" % out in run("export", a, "--purpose", "access request", "-o", str(out))
    assert os.stat(out).st_mode & 0o777 == 0o600
    exported = json.loads(out.read_text())
    assert exported["profile"] == {"name": "张三", "phone": "13800138000"}
    assert TOK1 not in out.read_text()

    assert "%s erased" % a in run("erase", a, "--reason", "erasure request", "--yes")
    assert "nothing to do" in run("erase", b, "--reason", "erasure request", "--yes")


def test_refusals_are_command_errors_naming_the_action(run):
    a, b = run("new").strip(), run("new").strip()
    run("link", a, TOK1)
    with pytest.raises(CommandError, match="^customer link: .*held by customer %s: unlink it first" % a):
        run("link", b, TOK1)
    with pytest.raises(CommandError, match="^customer erase: .*add --yes"):
        run("erase", a, "--reason", "r")
    with pytest.raises(CommandError, match="^customer set: consent is kept by `customer consent`"):
        run("set", a, "consent=yes")
    with pytest.raises(CommandError, match="^customer set: vault field phone must be"):
        run("set", a, "phone=call me")
    with pytest.raises(CommandError, match="^customer case: no text on standard input"):
        run("case", a, "--kind", "note", "--text-stdin")
    with pytest.raises(CommandError, match="^customer unlink: no customer holds this card"):
        run("unlink", TOK2)


def test_show_lists_stored_value_and_coupons(app, run):
    cid = identity.create_customer("cli:test")
    account = wallet.open_account("c3" * 32, customer=cid, actor="cli:test", bin="900001", last4="0042")["id"]
    wallet.topup(account, 12345, "test:topup", actor="cli:test")
    code = coupons.issue(cid, "amount_off", 500, "CNY", utcnow() + timedelta(days=9), "spring", "test:c", "cli:test")
    shown = run("show", cid)
    assert "%s card 900001…0042: " % account in shown and " CNY (active), " in shown
    assert "%s amount_off 500 VALID" % code in shown
