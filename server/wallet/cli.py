"""`possync-server wallet ...`: stored-value cards (储值卡) from the command line."""

import argparse
import getpass
import json
import sys
import uuid
from datetime import datetime

from server.commands import CommandError, app_for, subcommand
from protocol.money import text as money
from server.wallet import WalletError
from server.wallet.models import FLAGS, FREEZE_REASONS, UNFREEZE_REASONS

EPILOG = """examples:
  possync-server wallet open 9f86d081...0f00a08 --customer CABCDEFGHIJKLMNOP --pin
  echo 482916 | possync-server wallet open 9f86d081...0f00a08 --pin-stdin
  possync-server wallet topup WABCDEFGHIJKLMNOP 500.00
  possync-server wallet freeze 9f86d081...0f00a08 --reason lost
  possync-server wallet reissue 9f86d081...0f00a08 2c26b46b...3a7e2ae
  possync-server wallet statement WABCDEFGHIJKLMNOP --since 2025-06-01
  possync-server wallet report --day 2025-06-01 --merchant M001 --csv > 2025-06-01.csv
  possync-server wallet flags
  possync-server wallet low-balance --json

A card is named by its token (the 64-hex keyed hash the terminal sends, never the card
number) or by its account id W.... Amounts are decimal text in the account's currency
(12.50 CNY); a PIN is read from standard input or asked for, never given as an argument.
"""


def argparse_wallet(sub, parent):
    p = sub.add_parser("wallet", help="stored-value cards: open, top up, freeze, reissue, statements, reports",
                       description="Stored-value cards (储值卡): balances kept as an append-only ledger per card "
                                   "(DESIGN.md §4).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    wsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name, help, examples, description=None):
        return subcommand(wsub, parent, name, help, description or help, examples)

    op = add("open", "open a stored-value account for a member card",
             ["possync-server wallet open TOK --customer CABCDEFGHIJKLMNOP --pin",
              "echo 482916 | possync-server wallet open TOK --pin-stdin --cur HKD"])
    op.add_argument("tok", metavar="TOK", help="the card's token (64 hex)")
    op.add_argument("--customer", metavar="C", help="the customer holding it (default: an anonymous card)")
    op.add_argument("--cur", default="CNY", help="ISO 4217 currency of the balance (default CNY)")
    op.add_argument("--bin", default="", help="first 6 digits of the card, for people to recognise it")
    op.add_argument("--last4", default="", help="last 4 digits of the card")
    _pin_options(op)
    tp = add("topup", "add money to an account (plus the top-up bonus its amount earns)",
             ["possync-server wallet topup WABCDEFGHIJKLMNOP 500.00",
              "possync-server wallet topup TOK 1000 --merchant M001 --key till-7-2025-06-01-0042"])
    tp.add_argument("account", metavar="ACCOUNT", help="account id W... or card token")
    tp.add_argument("amount", metavar="AMOUNT", help="decimal amount in the account's currency, e.g. 500.00")
    tp.add_argument("--merchant", metavar="CODE", help="the store that took the money (for the daily report)")
    tp.add_argument("--key", help="idempotency key: running the command again with it books nothing more "
                                  "(default: a new random key, printed)")
    for name, reasons, verb in (("freeze", FREEZE_REASONS, "freeze a card at once (挂失): refused online and "
                                                             "offline across the fleet"),
                                ("unfreeze", UNFREEZE_REASONS, "make a frozen card usable again")):
        fz = add(name, verb, ["possync-server wallet %s TOK --reason %s" % (name, reasons[0])])
        fz.add_argument("tok", metavar="TOK", help="card token or account id W...")
        fz.add_argument("--reason", required=True, choices=reasons)
    ri = add("reissue", "move a card's balance, customer and PIN onto a new card; the old one is refused",
             ["possync-server wallet reissue OLD_TOK NEW_TOK --last4 0042"])
    ri.add_argument("old", metavar="OLD_TOK", help="the old card's token or account id")
    ri.add_argument("new", metavar="NEW_TOK", help="the new card's token (64 hex)")
    ri.add_argument("--bin", default="", help="first 6 digits of the new card")
    ri.add_argument("--last4", default="", help="last 4 digits of the new card")
    st = add("statement", "list an account's entries with the running balance",
             ["possync-server wallet statement WABCDEFGHIJKLMNOP",
              "possync-server wallet statement TOK --since 2025-06-01 --until 2025-07-01 --json"])
    st.add_argument("account", metavar="ACCOUNT", help="account id W... or card token")
    st.add_argument("--since", metavar="YYYY-MM-DD", help="entries booked on or after this day (UTC)")
    st.add_argument("--until", metavar="YYYY-MM-DD", help="entries booked before this day (UTC)")
    st.add_argument("--json", action="store_true", help="print JSON")
    rp = add("report", "daily reconciliation per store and terminal: float, top-ups, spends, refunds",
             ["possync-server wallet report --day 2025-06-01",
              "possync-server wallet report --day 2025-06-01 --merchant M001 --csv > m001.csv"],
             "The reconciliation of one local day (the merchant's time zone, else --tz, else Asia/Shanghai), "
             "checked against the ledger: a report that does not balance is refused.")
    rp.add_argument("--day", required=True, metavar="YYYY-MM-DD")
    rp.add_argument("--merchant", metavar="CODE", help="only this merchant (store)")
    rp.add_argument("--tz", metavar="ZONE", help="IANA time zone of the day (default: the merchant's)")
    fmt = rp.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print CSV")
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fl = add("flags", "list entries flagged for review: offline overdrafts, spends on frozen or unknown cards",
             ["possync-server wallet flags", "possync-server wallet flags --since 2025-06-01 --flag overdraft --json"])
    fl.add_argument("--since", metavar="YYYY-MM-DD", help="booked on or after this day (UTC)")
    fl.add_argument("--flag", choices=FLAGS, help="only entries with this flag")
    fl.add_argument("--json", action="store_true", help="print JSON")
    lb = add("low-balance", "list customers' accounts below their low-balance reminder threshold",
             ["possync-server wallet low-balance", "possync-server wallet low-balance --json"])
    lb.add_argument("--json", action="store_true", help="print JSON")
    pr = add("pin-reset", "administrator: set a new PIN (or none) and lift a wrong-PIN lock",
             ["possync-server wallet pin-reset WABCDEFGHIJKLMNOP --pin",
              "possync-server wallet pin-reset TOK --no-pin"])
    pr.add_argument("account", metavar="ACCOUNT", help="account id W... or card token")
    _pin_options(pr, none=True)


def do_wallet(args):
    cmd = "wallet %s" % args.action
    app = app_for(args, cmd)
    with app.app_context():
        try:
            return ACTIONS[args.action](args, "cli:%s" % getpass.getuser())
        except WalletError as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _open(args, actor):
    from server.wallet import service

    account = service.open_account(args.tok, args.customer, args.cur, _read_pin(args), actor, args.bin, args.last4)
    print("opened %s (%s, %s)" % (account["id"], account["cur"], "with PIN" if account["pin"] else "no PIN"))
    return 0


def _topup(args, actor):
    from server.wallet import models, service

    row = models.find(args.account)
    key = args.key or "cli:%s" % uuid.uuid4().hex
    out = service.topup(row.id, service.parse_amount(args.amount, row.cur), key, merchant=args.merchant, actor=actor)
    verb = "booked" if out["booked"] else "already booked, nothing changed"
    print("%s %s: top-up %s + bonus %s %s, balance %s (key %s)" % (
        verb, out["account"], money(out["amount"], out["cur"]), money(out["bonus"], out["cur"]), out["cur"],
        money(out["balance"], out["cur"]), key))
    return 0


def _freeze(args, actor):
    from server.wallet import cards

    out = (cards.freeze if args.action == "freeze" else cards.unfreeze)(args.tok, actor, args.reason)
    print("%s %s: %s" % (out["id"], "now " + out["state"] if out["changed"] else "already " + out["state"],
                         "balance %s %s" % (money(out["balance"], out["cur"]), out["cur"])))
    return 0


def _reissue(args, actor):
    from server.wallet import cards

    out = cards.reissue(args.old, args.new, actor, args.bin, args.last4)
    print("reissued as %s: balance %s %s carried over" % (out["id"], money(out["balance"], out["cur"]), out["cur"]))
    return 0


def _statement(args, actor):
    from server.wallet import models, service

    row = models.find(args.account)
    lines = service.statement(row.id, _date(args.since, "--since"), _date(args.until, "--until"))
    if args.json:
        print(json.dumps({"account": service.as_dict(row), "entries": lines}, ensure_ascii=False))
        return 0
    print("%s  %s  %s  balance %s" % (row.id, row.cur, row.state, money(row.balance, row.cur)))
    for e in lines:
        print("  %s  %-12s %12s  %12s  %s%s" % (e["booked_at"], e["kind"], money(e["delta"], row.cur),
                                               money(e["balance"], row.cur), e["key"],
                                               "  [%s]" % e["flag"] if e["flag"] else ""))
    return 0


def _report(args, actor):
    from server.wallet import report

    out = report.daily(args.day, args.tz, args.merchant)
    if args.csv:
        sys.stdout.write(report.to_csv(out))
    elif args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print("stored value %s (%s), %s to %s UTC" % (out["day"], out["tz"], out["from"], out["until"]))
        for row in out["rows"] + out["totals"]:
            label = {"terminal": "%s/%s" % (row["merchant"] or "-", row["dev"] or "-"),
                     "merchant": "%s (store)" % (row["merchant"] or "-"), "total": "TOTAL"}[row["level"]]
            print("  %-24s %s  " % (label, row["cur"])
                  + "  ".join("%s %s" % (c, money(row[c], row["cur"])) for c in report.MONEY)
                  + "  flagged %d" % row["flagged"])
    return 0


def _flags(args, actor):
    from server.wallet import service

    lines = service.flagged(_date(args.since, "--since"), args.flag)
    if args.json:
        print(json.dumps(lines, ensure_ascii=False))
        return 0
    for e in lines:
        print("%s  %-12s %s  %s %s  %s/%s  %s" % (e["booked_at"], e["flag"], e["account"], money(e["delta"], e["cur"]),
                                                 e["cur"], e["dev"] or "-", e["seq"] or "-", e["key"]))
    print("%d flagged entr%s" % (len(lines), "y" if len(lines) == 1 else "ies"))
    return 0


def _low_balance(args, actor):
    from server.wallet import service

    rows = service.low_balance()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for a in rows:
        print("%s  customer %s  balance %s %s (reminder below %s)" % (
            a["id"], a["customer"], money(a["balance"], a["cur"]), a["cur"], money(a["low_balance"], a["cur"])))
    print("%d account(s) below their low-balance threshold" % len(rows))
    return 0


def _pin_reset(args, actor):
    from server.wallet import models, pin

    row = models.find(args.account)
    pin.reset_pin(row.id, actor, None if args.no_pin else _read_pin(args))
    print("%s: PIN %s, lock lifted" % (row.id, "removed" if args.no_pin else "reset"))
    return 0


ACTIONS = {"open": _open, "topup": _topup, "freeze": _freeze, "unfreeze": _freeze, "reissue": _reissue,
           "statement": _statement, "report": _report, "flags": _flags, "low-balance": _low_balance,
           "pin-reset": _pin_reset}


def _pin_options(p, none=False):
    group = p.add_mutually_exclusive_group(required=none)
    group.add_argument("--pin", action="store_true", help="ask for a PIN (4-6 digits) on the terminal")
    group.add_argument("--pin-stdin", action="store_true", help="read the PIN from the first line of standard input")
    if none:
        group.add_argument("--no-pin", action="store_true", help="remove the PIN: spends need none")


def _read_pin(args):
    """The PIN asked for by --pin / --pin-stdin, or None; never echoed, never an argument."""
    if args.pin_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.pin:
        first = getpass.getpass("PIN (4-6 digits): ")
        if getpass.getpass("PIN again: ") != first:
            raise CommandError("wallet %s: the two PINs differ: run the command again" % args.action)
        return first
    return None


def _date(text, option):
    """A YYYY-MM-DD option as a naive UTC datetime at its start, or None."""
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise CommandError("wallet: %s %r: give a date as YYYY-MM-DD" % (option, text))
