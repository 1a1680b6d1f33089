"""`possync-server vault ...` run in-process against real files in tmp_path."""

import argparse
import contextlib
import getpass
import json
import os

import pytest

from server.commands import CommandError, config_parent
from server.vault import cli, db, keyring, store

HEX1 = "11" * 32


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """run(*args) -> (exit status, stdout, stderr) of `possync-server vault ARGS --config ...`."""
    monkeypatch.delenv(keyring.ENV, raising=False)
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"DATABASE_URL": "sqlite:///" + str(tmp_path / "p.db"),
                                  "SECRET_KEY_FILE": str(tmp_path / "master.key"),
                                  "INSTANCE_PATH": str(tmp_path / "instance")}))

    def run(*args):
        capsys.readouterr()
        p = argparse.ArgumentParser()
        sub = p.add_subparsers(dest="command")
        cli.argparse_vault(sub, config_parent())
        status = cli.do_vault(p.parse_args(["vault"] + list(args) + ["--config", str(config)]))
        out = capsys.readouterr()
        return status, out.out, out.err
    yield run
    db.vault_db.close()


@pytest.fixture
def key_file(tmp_path):
    return str(tmp_path / "vault.keys")  # beside SECRET_KEY_FILE


def people(cid, n):
    for i in range(n):
        store.put(cid(i), {"name": "客户%d" % i, "phone": "1380013%04d" % i}, "web:alice", "sign-up")


def test_help_has_examples(capsys):
    p = argparse.ArgumentParser()
    cli.argparse_vault(p.add_subparsers(dest="command"), config_parent())
    for args in (["vault", "--help"], ["vault", "rotate-key", "--help"], ["vault", "show", "--help"]):
        with pytest.raises(SystemExit):
            p.parse_args(args)
        assert "examples:\n  possync-server vault" in capsys.readouterr().out


def test_status_of_a_new_vault(run, key_file):
    status, out, _ = run("status")
    assert status == 0
    assert out == "keys from: %s\nkey versions: 1 (current 1)\nno fields held\n" % key_file


def test_rotate_key_then_retire_the_old_one(run, key_file, cid):
    run("status")
    people(cid, 3)
    status, out, err = run("rotate-key")
    assert status == 0
    assert out == ("key version 2 added to %s: back that file up now\n"
                   "6 field(s) re-encrypted under key version 2\n" % key_file)
    assert "re-encrypting vault fields: 6/6" in err
    assert run("status")[1].splitlines()[1:] == ["key versions: 1, 2 (current 2)", "fields under key version 2: 6"]
    with pytest.raises(CommandError, match="vault retire-key: key version 2 is the current key: run "
                                           "`possync-server vault rotate-key` first"):
        run("retire-key", "2")
    status, out, _ = run("retire-key", "1")
    assert status == 0 and out.startswith("key version 1 removed from %s" % key_file)
    assert sorted(keyring.read_file(key_file)) == [2]
    assert store.get(cid(2), actor="cli:root", purpose="check") == {"name": "客户2", "phone": "13800130002"}
    assert [r["actor"] for r in store.audit() if r["action"] == "rotate"] == ["cli:" + getpass.getuser()]


def test_retire_key_is_refused_while_fields_use_it_and_resume_finishes(run, key_file, cid):
    run("status")
    people(cid, 2)
    keyring.add_version(key_file)
    out = run("status")[1]
    assert "fields under key version 1: 4  (run `possync-server vault rotate-key --resume`)" in out
    with pytest.raises(CommandError, match="vault retire-key: 4 field\\(s\\) still use key version 1: run "
                                           "`possync-server vault rotate-key --resume` first"):
        run("retire-key", "1")
    status, out, _ = run("rotate-key", "--resume")
    assert status == 0 and out == "4 field(s) re-encrypted under key version 2\n"
    assert sorted(keyring.read_file(key_file)) == [1, 2]  # --resume adds no key
    assert run("retire-key", "1")[0] == 0
    with pytest.raises(CommandError, match="vault retire-key: vault key file .* has no key version 7"):
        run("retire-key", "7")


def test_an_interrupted_rotate_key_says_how_to_finish(run, key_file, cid, monkeypatch):
    run("status")
    people(cid, 5)

    @contextlib.contextmanager
    def interrupted(label):
        def update(done, total):
            raise KeyboardInterrupt
        yield update
    monkeypatch.setattr(cli, "progress", interrupted)
    with pytest.raises(CommandError, match="vault rotate-key: interrupted; the fields re-encrypted so far are saved: "
                                           "run `possync-server vault rotate-key --resume` to finish"):
        run("rotate-key", "--chunk", "4")
    monkeypatch.undo()
    monkeypatch.delenv(keyring.ENV, raising=False)
    assert run("status")[1].endswith("fields under key version 1: 6  (run `possync-server vault rotate-key --resume`)\n"
                                     "fields under key version 2: 4\n")
    assert run("rotate-key", "--resume", "--chunk", "4")[1] == "6 field(s) re-encrypted under key version 2\n"
    assert run("status")[1].endswith("fields under key version 2: 10\n")


def test_status_names_fields_whose_key_is_gone(run, key_file, cid):
    run("status")
    people(cid, 1)
    keyring.add_version(key_file)
    keyring.retire(key_file, 1)  # by hand, past the refusal of `vault retire-key`
    assert run("status")[1].endswith("fields under key version 1: 2  KEY MISSING: restore key version 1 to read them\n")


def test_with_environment_keys_the_key_file_is_left_alone(run, key_file, monkeypatch, cid):
    monkeypatch.setenv(keyring.ENV, "1:" + HEX1)
    assert run("status")[1].startswith("keys from: %s\n" % keyring.ENV)
    with pytest.raises(CommandError, match="vault rotate-key: the vault keys come from POSSYNC_VAULT_KEYS: add the "
                                           "new key there .* then run `possync-server vault rotate-key --resume`"):
        run("rotate-key")
    with pytest.raises(CommandError, match="vault retire-key: the vault keys come from POSSYNC_VAULT_KEYS: remove "
                                           "version 1 there"):
        run("retire-key", "1")
    people(cid, 1)
    monkeypatch.setenv(keyring.ENV, "1:%s,2:%s" % (HEX1, "22" * 32))
    assert run("rotate-key", "--resume")[1] == "2 field(s) re-encrypted under key version 2\n"
    assert not os.path.exists(key_file)


def test_show_is_an_audited_read(run, cid):
    run("status")
    store.put(cid(1), {"name": "张伟", "email": "zw@example.cn", "preferences": {"size": 42}}, "web:alice", "sign-up")
    status, out, _ = run("show", cid(1), "--purpose", "warranty claim 77")
    assert status == 0 and out == 'email: zw@example.cn\nname: 张伟\npreferences: {"size": 42}\n'
    assert json.loads(run("show", cid(1), "--purpose", "export", "--json")[1])["name"] == "张伟"
    rows = store.audit(cid(1))
    assert [(r["action"], r["actor"], r["purpose"]) for r in rows[:2]] == [
        ("read", "cli:" + getpass.getuser(), "export"), ("read", "cli:" + getpass.getuser(), "warranty claim 77")]
    assert run("show", cid(2), "--purpose", "look up")[1] == "no personal data held for %s\n" % cid(2)
    with pytest.raises(CommandError, match="vault show: say why \\(purpose"):
        run("show", cid(1), "--purpose", " ")
    with pytest.raises(CommandError, match="vault show: a customer is named by its neutral id"):
        run("show", "13800138000", "--purpose", "look up")


def test_audit_lists_newest_first(run, cid):
    run("status")
    store.put(cid(1), {"name": "张伟"}, "web:alice", "sign-up")
    store.get(cid(1), actor="web:bob", purpose="call-back")
    store.put(cid(2), {"phone": "13800138000"}, "web:alice", "sign-up")
    lines = run("audit")[1].splitlines()
    assert len(lines) == 3 and lines[0].endswith("sign-up") and "web:bob" in lines[1] and cid(1) in lines[1]
    assert " UTC  web:bob" in lines[1] and "read" in lines[1] and "name" in lines[1] and "张伟" not in "".join(lines)
    rows = json.loads(run("audit", "--customer", cid(1), "--limit", "1", "--json")[1])
    assert [(r["actor"], r["action"], r["customer"], r["fields"], r["purpose"]) for r in rows] == [
        ("web:bob", "read", cid(1), ["name"], "call-back")]
    assert rows[0]["at"].endswith("Z")
    assert run("audit", "--customer", cid(9))[1] == "no audit rows\n"
    with pytest.raises(CommandError, match="vault audit: --limit must be at least 1"):
        run("audit", "--limit", "0")


def test_a_broken_key_file_is_a_command_error(run, key_file):
    run("status")
    db.vault_db.close()
    with open(key_file, "a") as f:
        f.write("2 abc\n")
    with pytest.raises(CommandError, match="vault status: vault key file .*vault.keys line 3: key is 3 hex digits"):
        run("status")
