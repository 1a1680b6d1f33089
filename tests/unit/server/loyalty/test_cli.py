"""`possync-server loyalty ...` run in-process against a config file in tmp_path."""

import json

import pytest

from server import create_app
from server.commands import CommandError
from server.loyalty.cli import argparse_loyalty, do_loyalty


@pytest.fixture
def run(command):
    """run(*args) parses and runs one loyalty command; returns its exit code."""
    return command("loyalty", argparse_loyalty, do_loyalty)


@pytest.fixture
def member(tmp_path, run):
    """A silver customer with 1500 points, enrolled through the same database the commands use."""
    from server.loyalty import service

    run("programme")  # creates the database
    app = create_app({"DATABASE_URL": "sqlite:///" + str(tmp_path / "possync.db"),
                      "SECRET_KEY_FILE": str(tmp_path / "master.key"), "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        return service.apply_tx({"dev": "T1", "seq": 1, "kind": "sale", "ref": "R1", "amount": 150000, "cur": "CNY",
                                 "tok": "%064x" % 1})["customer"]


def test_programme_prints_the_default_then_a_loaded_version(run, tmp_path, capsys):
    assert run("programme", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == 0 and out["programme"]["tiers"][1]["name"] == "silver"
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"base": {"points": 2, "per": 1}}))
    assert run("programme", "--load", str(doc)) == 0
    assert "programme version 1 in force" in capsys.readouterr().out
    run("programme")
    text = capsys.readouterr().out
    assert text.startswith("programme version 1, in force since ") and '"points": 2' in text


def test_a_bad_programme_file_is_refused_with_its_problems(run, tmp_path):
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"downgrade": "never"}))
    with pytest.raises(CommandError, match='loyalty programme: programme refused.*downgrade: "one" or "qualify"'):
        run("programme", "--load", str(doc))
    doc.write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        run("programme", "--load", str(doc))
    with pytest.raises(CommandError, match="cannot read"):
        run("programme", "--load", str(tmp_path / "missing.json"))


def test_adjust_and_show(run, member, capsys):
    assert run("adjust", member, "-200", "--reason", "double booking, ticket 7") == 0
    assert "%s: -200 points (adjust:" % member in capsys.readouterr().out
    with pytest.raises(CommandError, match="loyalty adjust: adjust .*deduct at most 1300"):
        run("adjust", member, "-1301", "--reason", "too much")
    assert run("show", member) == 0
    text = capsys.readouterr().out
    assert "points   1300\n" in text and "tier     silver" in text and "spend    1500.00 CNY" in text
    assert "-200 adjust" in text and "double booking, ticket 7" in text
    run("show", member, "--json", "--entries", "1")
    out = json.loads(capsys.readouterr().out)
    assert (out["points"], out["ledger"], out["tier"], len(out["entries"])) == (1300, 1300, "silver", 1)
    assert out["entries"][0]["actor"].startswith("cli:")


def test_show_an_unknown_customer(run):
    with pytest.raises(CommandError, match="loyalty show: no customer CZZZZZZZZZZZZZZZZ"):
        run("show", "CZZZZZZZZZZZZZZZZ")


def test_expire_and_review_tiers(run, member, capsys):
    assert run("expire", "--at", "2099-01-01T00:00:00Z") == 0
    assert "1500 point(s) expired from 1 customer(s)" in capsys.readouterr().out
    assert run("review-tiers", "--at", "2099-01-01T08:00:00+08:00") == 0
    out = capsys.readouterr().out
    assert "1 customer(s) reviewed, 1 tier(s) changed" in out and "silver   -> basic    1" in out
    run("show", member, "--json")
    assert json.loads(capsys.readouterr().out)["tier_review_at"] == "2100-01-01T00:00:00Z"


def test_a_bad_time(run):
    with pytest.raises(CommandError, match="loyalty expire: --at 'soon' is not an ISO time"):
        run("expire", "--at", "soon")
