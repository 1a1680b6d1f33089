"""`possync-server loyalty expire|review-tiers|adjust|show|programme`: the points programme from the command line."""

import argparse
import getpass
import json
from functools import partial

from server.commands import CommandError, app_for, progress, subcommand

EPILOG = """examples:
  possync-server loyalty show CJ3QK7XW2M4PLZB5A
  possync-server loyalty adjust CJ3QK7XW2M4PLZB5A -500 --reason "double-booked sale, ticket 4411"
  possync-server loyalty expire
  possync-server loyalty review-tiers --at 2026-01-01T00:00:00+08:00
  possync-server loyalty programme --json > programme.json
  possync-server loyalty programme --load programme.json

The programme document (earn rates, tiers, campaigns, expiry, redemption) is described in
server/loyalty/programme.py. Jobs commit as they go: an interrupted run is simply run again.
"""


def argparse_loyalty(sub, parent):
    p = sub.add_parser("loyalty", help="points: balances, manual adjustments, expiry, tier reviews, the programme",
                       description="The points programme: earn rules, tiers, expiry (DESIGN.md §4).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    lsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = partial(subcommand, lsub, parent, prefix="possync-server loyalty ")

    exp = add("expire", "book the expiry of points whose lots have lapsed",
              "Book one expiry entry per customer for the points of lapsed lots not used up by redemptions, "
              "reversals or earlier expiries. Safe to run again: a second run books nothing new.",
              ["expire", "expire --at 2027-01-01T00:00:00Z"])
    exp.add_argument("--at", metavar="ISO-TIME", help="expire as of this time (default: now; no offset = UTC)")
    rev = add("review-tiers", "review the tier of customers whose review date has come",
              "Recompute the qualifying spend over the programme's window from the stored sales, refunds "
              "and voids; lower a tier as the programme's downgrade rule says and set the next review date.",
              ["review-tiers", "review-tiers --at 2026-01-01T00:00:00+08:00"])
    rev.add_argument("--at", metavar="ISO-TIME", help="review as of this time (default: now; no offset = UTC)")
    adj = add("adjust", "add or deduct points by hand, with a reason",
              "Book a manual adjustment. A deduction never takes the balance below 0.",
              ['adjust CJ3QK7XW2M4PLZB5A 200 --reason "goodwill: late delivery, ticket 4410"',
               'adjust CJ3QK7XW2M4PLZB5A -500 --reason "double-booked sale"'])
    adj.add_argument("customer", metavar="CUSTOMER", help="customer id (C + 16 characters)")
    adj.add_argument("delta", metavar="DELTA", type=int, help="points to add (negative: deduct)")
    adj.add_argument("--reason", required=True, help="why (kept with the entry, up to 200 characters)")
    show = add("show", "a customer's balance, tier, review date and last ledger entries",
               "Show a customer's points (cached balance and ledger sum), tier, qualifying spend, next "
               "tier review and newest ledger entries.",
               ["show CJ3QK7XW2M4PLZB5A", "show CJ3QK7XW2M4PLZB5A --entries 50 --json"])
    show.add_argument("customer", metavar="CUSTOMER", help="customer id (C + 16 characters)")
    show.add_argument("--entries", type=int, default=10, metavar="N", help="newest N entries (default 10)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    prog = add("programme", "print the programme in force, or load a new one",
               "Print the programme in force (version 0 is the built-in default), or check FILE as a whole "
               "and put it in force as a new version; a file with any problem changes nothing.",
               ["programme", "programme --json > programme.json", "programme --load programme.json"])
    prog.add_argument("--json", action="store_true", help="print one JSON object")
    prog.add_argument("--load", metavar="FILE", help="a programme JSON document to put in force")


def do_loyalty(args):
    handler = {"expire": _expire, "review-tiers": _review, "adjust": _adjust, "show": _show,
               "programme": _programme}[args.action]
    cmd = "loyalty " + args.action
    app = app_for(args, cmd)
    from server.loyalty.ledger import LedgerError

    with app.app_context():
        try:
            return handler(args, cmd, "cli:" + getpass.getuser())
        except LedgerError as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _at(args, cmd):
    from server.licences.cli import parse_at

    if not args.at:
        return None
    try:
        return parse_at(args.at).replace(tzinfo=None)
    except ValueError:
        raise CommandError("%s: --at %r is not an ISO time (e.g. 2026-01-01T00:00:00+08:00)" % (cmd, args.at))


def _expire(args, cmd, actor):
    from server.loyalty import jobs

    at = _at(args, cmd)
    with progress("expiring points") as update:
        out = jobs.expire(at, update)
    print("%d point(s) expired from %d customer(s)" % (out["points"], out["customers"]))
    return 0


def _review(args, cmd, actor):
    from server.loyalty import jobs

    at = _at(args, cmd)
    with progress("reviewing tiers") as update:
        out = jobs.review_tiers(at, update)
    print("%d customer(s) reviewed, %d tier(s) changed" % (out["reviewed"], sum(out["moves"].values())))
    for (old, new), n in sorted(out["moves"].items()):
        print("  %-8s -> %-8s %d" % (old, new, n))
    return 0


def _adjust(args, cmd, actor):
    from server.loyalty import ledger

    out = ledger.adjust(args.customer, args.delta, args.reason, actor)
    print("%s: %+d points (%s), balance %d" % (args.customer, out["delta"], out["key"], out["balance"]))
    return 0


def _show(args, cmd, actor):
    from server.fleet.models import iso
    from server.loyalty import ledger, programme
    from server.loyalty.models import Customer
    from protocol.money import text as money

    c = Customer.get_or_none(Customer.id == args.customer)
    if c is None:
        raise CommandError("%s: no customer %s (check the id)" % (cmd, args.customer))
    cur = programme.current()["cur"]
    entries = [dict(e, at=iso(e["at"]), expires_at=iso(e["expires_at"]))
               for e in ledger.history(c.id, max(args.entries, 0))]
    data = {"customer": c.id, "state": c.state, "points": c.points, "ledger": ledger.balance(c.id), "tier": c.tier,
            "tier_since": iso(c.tier_since), "tier_review_at": iso(c.tier_review_at), "qual_spend": c.qual_spend,
            "qual_since": iso(c.qual_since), "cur": cur, "entries": entries}
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print("customer %s (%s)" % (c.id, c.state))
    print("points   %d%s" % (c.points, "" if c.points == data["ledger"] else
                                  "  (LEDGER SUM %d: report this)" % data["ledger"]))
    print("tier     %s since %s, next review %s" % (c.tier, data["tier_since"] or "-", data["tier_review_at"] or "-"))
    print("spend    %s %s since %s" % (money(c.qual_spend, cur), cur, data["qual_since"] or "enrolment"))
    for e in entries:
        print("  %s %+8d %-9s %s%s%s" % (e["at"], e["delta"], e["reason"], e["key"],
                                        "  expires " + e["expires_at"] if e["expires_at"] else "",
                                        "  " + e["note"] if e["note"] else ""))
    return 0


def _programme(args, cmd, actor):
    from server.fleet.models import iso
    from server.loyalty import programme

    if args.load:
        try:
            with open(args.load, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as exc:
            raise CommandError("%s: cannot read %s (%s)" % (cmd, args.load, exc.strerror or exc))
        except ValueError as exc:
            raise CommandError("%s: %s is not JSON (%s)" % (cmd, args.load, exc))
        print("programme version %d in force (from %s)" % (programme.save(data, actor), args.load))
        return 0
    now = programme.in_force()
    if args.json:
        print(json.dumps({"version": now["version"], "at": iso(now["at"]), "programme": now["data"]},
                         ensure_ascii=False))
        return 0
    print("programme version %d%s" % (now["version"], " (built-in default)" if not now["version"]
                                      else ", in force since %s" % iso(now["at"])))
    print(json.dumps(now["data"], ensure_ascii=False, indent=2))
    return 0
