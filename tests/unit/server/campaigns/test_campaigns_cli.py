"""possync-server coupon|referral|gifts, run in-process on the test's SQLite file."""

import argparse
import json

import pytest

from server.campaigns import cli
from server.campaigns.models import Coupon
from server.commands import CommandError, config_parent
from server.loyalty import ledger
from server.loyalty.models import Customer

ALICE, BOB = "CALICE0000000000A", "CBOB00000000000BB"


@pytest.fixture
def run(app, tmp_path, capsys):
    """run(*argv) -> (exit status, stdout); the config points at the app fixture's database."""
    Customer.create(id=ALICE, tier="gold")
    Customer.create(id=BOB)
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"DATABASE_URL": app.config["DATABASE_URL"],
                                  "SECRET_KEY_FILE": app.config["SECRET_KEY_FILE"]}))
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    for build in (cli.argparse_coupon, cli.argparse_referral, cli.argparse_gifts):
        build(sub, config_parent())
    handlers = {"coupon": cli.do_coupon, "referral": cli.do_referral, "gifts": cli.do_gifts}

    def run(*argv):
        args = p.parse_args(list(argv) + ["--config", str(config)])
        status = handlers[args.command](args)
        return status, capsys.readouterr().out
    return run


def test_issue_check_use_void_list(run):
    status, out = run("coupon", "issue", "--customer", ALICE, "--kind", "amount_off", "--value", "10.00",
                      "--min-spend", "30", "--expires", "2099-01-31", "--campaign", "开业")
    assert status == 0 and out.endswith(" 10.00 CNY off, for %s, valid through 2099-01-31\n" % ALICE)
    code = out.split()[0]
    row = Coupon.get(Coupon.customer == ALICE)
    assert (row.value, row.min_spend, row.campaign, row.issued_by[:4]) == (1000, 3000, "开业", "cli:")
    status, out = run("coupon", "check", code, "--amount", "50.00")
    assert status == 0
    assert out.splitlines()[0].startswith("%s  10.00 CNY off, for %s, min spend 30.00 CNY, " % (code, ALICE))
    assert out.splitlines()[1] == "VALID: valid until 2099-01-31T16:00:00Z, discount 10.00 CNY"
    status, out = run("coupon", "check", code, "--amount", "20", "--json")
    assert status == 3 and json.loads(out)["code"] == "MIN_SPEND"
    status, out = run("coupon", "check", code, "--customer", BOB)
    assert status == 3 and out.splitlines()[1] == "WRONG_CUSTOMER: belongs to another customer"
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    status, out = run("coupon", "check", typo)
    assert status == 3 and "check character wrong: re-read the code" in out
    status, out = run("coupon", "list", "--customer", ALICE)
    assert out.splitlines()[0].startswith("%s  VALID          10.00 CNY off" % code)
    assert out.splitlines()[0].endswith("until 2099-02-01 00:00  开业")
    assert run("coupon", "void", code.lower()) == (0, "%s voided\n" % code)
    assert run("coupon", "void", code) == (0, "%s was void already\n" % code)
    assert run("coupon", "list", "--customer", ALICE, "--usable") == (0, "0 coupon(s)\n")
    assert json.loads(run("coupon", "list", "--customer", ALICE, "--json")[1])[0]["state"] == "VOIDED"


def test_bearer_percent_and_batch_with_key(run, tmp_path):
    status, out = run("coupon", "issue", "--kind", "percent_off", "--value", "12.5", "--expires", "2099-01-31")
    assert status == 0 and "12.5% off, bearer voucher" in out
    assert Coupon.get(Coupon.customer.is_null()).value == 125
    (tmp_path / "ids.txt").write_text("%s\n\n%s\nCNOBODY0000000000\n" % (ALICE, BOB))
    argv = ("coupon", "issue", "--customers-file", str(tmp_path / "ids.txt"), "--kind", "gift", "--value", "88",
            "--expires", "2099-02-28", "--key", "vip-gift")
    assert run(*argv)[1] == "2 coupon(s) issued, 0 issued before under this key, 1 customer(s) skipped " \
                            "(unknown or not active)\n"
    assert run(*argv)[1].startswith("0 coupon(s) issued, 2 issued before")
    assert Coupon.get(Coupon.key == "vip-gift:" + BOB).value == 8800


@pytest.mark.parametrize("argv, message", [
    (("--value", "10.001"), "--value 10.001 has 3 decimals: CNY allows 2"),
    (("--value", "10", "--cur", "JPY", "--min-spend", "0.5"), "--min-spend 0.5 has 1 decimals: JPY allows 0"),
    (("--value", "-1"), "is not an amount"),
    (("--value", "1", "--expires", "31.1.2099"), "is not a date: give YYYY-MM-DD"),
    (("--value", "1", "--tz", "Mars/Base"), "is not a time zone"),
    (("--value", "1", "--customer", "CNOBODY0000000000"), "customer CNOBODY0000000000 is unknown"),
])
def test_issue_refusals_name_the_problem(run, argv, message):
    base = {"--kind": "amount_off", "--expires": "2099-01-31"}
    args = list(argv)
    for flag, value in base.items():
        if flag not in args:
            args += [flag, value]
    with pytest.raises(CommandError, match=message) as err:
        run("coupon", "issue", *args)
    assert str(err.value).startswith("coupon issue: ")
    assert Coupon.select().count() == 0


def test_percent_above_100_refused(run):
    with pytest.raises(CommandError, match="at most 100"):
        run("coupon", "issue", "--kind", "percent_off", "--value", "100.5", "--expires", "2099-01-31")


def test_referral_add(run):
    assert run("referral", "add", ALICE, BOB) == (0, "%s referred by %s recorded\n" % (BOB, ALICE))
    assert run("referral", "add", ALICE, BOB) == (0, "%s referred by %s was recorded already\n" % (BOB, ALICE))
    with pytest.raises(CommandError, match="referral add: customer %s cannot refer themselves" % BOB):
        run("referral", "add", BOB, BOB)


def test_gifts_holiday(run):
    assert run("gifts", "holiday", "中秋", "--points", "200", "--tier", "gold", "--date", "2026-09-25") == (
        0, "中秋 2026: 1 gift(s) given, 0 given before, 0 customer(s) skipped\n")
    assert run("gifts", "holiday", "中秋", "--points", "200", "--date", "2026-09-25")[1] == \
        "中秋 2026: 1 gift(s) given, 1 given before, 0 customer(s) skipped\n"
    assert (ledger.balance(ALICE), ledger.balance(BOB)) == (200, 200)
    status, out = run("gifts", "holiday", "双十一", "--kind", "amount_off", "--value", "20.00",
                      "--date", "2026-11-11")
    assert status == 0 and Coupon.select().count() == 2
    with pytest.raises(CommandError, match="gifts holiday: give the gift as --points N or as a coupon"):
        run("gifts", "holiday", "春节")


def test_help_has_examples(capsys):
    p = argparse.ArgumentParser(prog="possync-server")
    sub = p.add_subparsers(dest="command")
    for build in (cli.argparse_coupon, cli.argparse_referral, cli.argparse_gifts):
        build(sub, config_parent())
    for argv, example in ((["coupon", "--help"], "possync-server coupon check "),
                          (["coupon", "issue", "--help"], "possync-server coupon issue "),
                          (["referral", "add", "--help"], "possync-server referral add "),
                          (["gifts", "holiday", "--help"], "possync-server gifts holiday ")):
        with pytest.raises(SystemExit):
            p.parse_args(argv)
        assert example in capsys.readouterr().out


def test_coupon_flags_lists_refused_coupons_of_booked_sales(run):
    from datetime import datetime

    from server.campaigns import settle

    assert run("coupon", "flags") == (0, "0 flagged sale(s)\n")
    settle.flag_refused("T1", 7, "INV-7", "PGBR-F0C8-P3C7", "USED", "used at 2027-01-02T03:00:00Z", 12_50, "CNY",
                        ALICE, datetime(2027, 1, 3, 1, 0), datetime(2027, 1, 3, 2, 0))
    settle.flag_refused("T2", 3, "INV-3", "X", "UNKNOWN", "no coupon has the code X", 5_00, "CNY", None,
                        datetime(2026, 12, 30, 1, 0), datetime(2026, 12, 30, 2, 0))
    status, out = run("coupon", "flags", "--since", "2027-01-01")
    assert status == 0 and out.splitlines() == [
        "2027-01-03 09:00  T1 seq 7 ref INV-7  12.50 CNY  coupon PGBR-F0C8-P3C7 USED: used at 2027-01-02T03:00:00Z"
        "  customer %s" % ALICE, "1 flagged sale(s)"]
    status, out = run("coupon", "flags", "--json", "--limit", "5")
    assert [(f["dev"], f["outcome"], f["customer"]) for f in json.loads(out)] == [("T1", "USED", ALICE),
                                                                                 ("T2", "UNKNOWN", None)]
    with pytest.raises(CommandError, match="coupon flags: --limit 0: give 1 or more"):
        run("coupon", "flags", "--limit", "0")
