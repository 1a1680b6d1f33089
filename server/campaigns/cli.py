"""`possync-server coupon|referral|gifts`: coupons, referrals and holiday gifts from the command line."""

import argparse
import getpass
import json
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.campaigns import CampaignError
from server.campaigns.codes import normalise
from server.campaigns.models import KINDS
from server.commands import CommandError, app_for, progress, subcommand
from protocol.money import exponent
from protocol.money import text as money

COUPON_EPILOG = """examples:
  possync-server coupon issue --customer CABCDEFGHIJKLMNOP --kind amount_off --value 10.00 --expires 2027-01-31
  possync-server coupon issue --kind percent_off --value 15 --min-spend 100.00 --expires 2027-01-31 --campaign 开业
  possync-server coupon issue --customers-file vip.txt --kind gift --value 88.00 --expires 2027-02-28 \\
      --key vip-gift-2027 --campaign "VIP gift"
  possync-server coupon check PGBR-F0C8-P3C7 --amount 50.00
  possync-server coupon void PGBR-F0C8-P3C7
  possync-server coupon list --customer CABCDEFGHIJKLMNOP
  possync-server coupon flags --since 2027-01-01

Amounts are in the currency's units (10.00 CNY); percent_off values are percent (15 or 12.5).
Without --customer a coupon is a bearer voucher anyone may present. Dates are calendar days
in --tz (default Asia/Shanghai): --expires 2027-01-31 means valid through that day.
"""
REFERRAL_EPILOG = """examples:
  possync-server referral add CREFERRER00000000 CNEWCOMER00000000
  possync-server referral add CREFERRER00000000 CNEWCOMER00000000 --referrer-points 800 --referee-points 300

The points are booked when the newcomer first buys (at once if they already have).
"""
GIFTS_EPILOG = """examples:
  possync-server gifts holiday 春节 --points 100
  possync-server gifts holiday 中秋 --points 200 --tier gold --tier vip --date 2026-09-25
  possync-server gifts holiday 双十一 --kind percent_off --value 10 --valid-days 3 --date 2026-11-11

Each customer gets a holiday's gift once a year: running it again gives nothing twice.
Birthday gifts need the vault's birthdays and run as a server job.
"""


def argparse_coupon(sub, parent):
    p = sub.add_parser("coupon", help="issue, check, void or list coupons and vouchers",
                       description="Single-use coupons: amount off, percent off or a gift, for one customer or a "
                                   "bearer voucher (DESIGN.md §4 Loyalty).",
                       epilog=COUPON_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    iss = subcommand(csub, parent, "issue", "issue a coupon to customers, or one bearer voucher",
                     "Issue one coupon to each customer given, or one bearer voucher when none is. With --key a "
                     "run repeated issues nothing new.",
                     ["possync-server coupon issue --customer CABCDEFGHIJKLMNOP --kind amount_off --value 10.00 "
                      "--expires 2027-01-31",
                      "possync-server coupon issue --kind percent_off --value 15 --expires 2027-01-31"])
    iss.add_argument("--customer", metavar="C", action="append", default=[], help="customer id (repeatable)")
    iss.add_argument("--customers-file", metavar="FILE", help="file with one customer id a line")
    _gift_terms(iss, required=True)
    iss.add_argument("--expires", metavar="YYYY-MM-DD", required=True, help="last day it is valid")
    iss.add_argument("--valid-from", metavar="YYYY-MM-DD", help="first day it is valid (default: now)")
    iss.add_argument("--campaign", default="", help="campaign name, up to 64 characters")
    iss.add_argument("--key", help="names this issue: running again with the same key issues nothing new "
                                   "(default: a new key each run)")
    chk = subcommand(csub, parent, "check", "whether a coupon is valid, and its discount on an amount",
                     "Check a coupon as the terminal would. Exit status 0 when valid, 3 otherwise.",
                     ["possync-server coupon check PGBR-F0C8-P3C7",
                      "possync-server coupon check pgbrf0c8p3c7 --amount 50.00"])
    chk.add_argument("code", metavar="CODE")
    chk.add_argument("--amount", metavar="X", help="sale amount, e.g. 50.00 (checks the minimum spend)")
    chk.add_argument("--cur", help="the sale's currency (default: the coupon's)")
    chk.add_argument("--customer", metavar="C", help="the customer presenting it (default: its holder)")
    chk.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    vd = subcommand(csub, parent, "void", "void an unused coupon", "Void a coupon: it is refused from now on.",
                    ["possync-server coupon void PGBR-F0C8-P3C7"])
    vd.add_argument("code", metavar="CODE")
    lst = subcommand(csub, parent, "list", "a customer's coupons", "List a customer's coupons, oldest first.",
                     ["possync-server coupon list --customer CABCDEFGHIJKLMNOP --usable"])
    lst.add_argument("--customer", metavar="C", required=True)
    lst.add_argument("--usable", action="store_true", help="only those usable now")
    lst.add_argument("--json", action="store_true", help="print JSON")
    flg = subcommand(csub, parent, "flags", "sales booked with a coupon the server refused",
                     "List sales (typically made offline) that named a coupon the server refused: already used, "
                     "expired, unknown or void. The sale is booked; follow the refusal up with the store.",
                     ["possync-server coupon flags", "possync-server coupon flags --since 2027-01-01 --json"])
    flg.add_argument("--since", metavar="YYYY-MM-DD", help="only those recorded from this day on")
    flg.add_argument("--limit", type=int, default=100, metavar="N", help="at most N, newest first (default 100)")
    flg.add_argument("--json", action="store_true", help="print JSON")
    for q in (iss, chk, lst, flg):
        q.add_argument("--tz", default="Asia/Shanghai", help="zone of the dates given and shown")


def argparse_referral(sub, parent):
    p = sub.add_parser("referral", help="record who referred a new customer",
                       description="Referral rewards: points for both once the newcomer first buys.",
                       epilog=REFERRAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = subcommand(rsub, parent, "add", "record that REFERRER brought in REFEREE",
                     "Record a referral (one referrer per customer, no circles, referee new within 30 days).",
                     ["possync-server referral add CREFERRER00000000 CNEWCOMER00000000"])
    add.add_argument("referrer", metavar="REFERRER")
    add.add_argument("referee", metavar="REFEREE")
    add.add_argument("--referrer-points", type=int, default=500, metavar="N", help="default 500")
    add.add_argument("--referee-points", type=int, default=200, metavar="N", help="default 200")


def argparse_gifts(sub, parent):
    p = sub.add_parser("gifts", help="holiday gifts: points or a coupon for every active customer",
                       description="Holiday care (春节, 中秋, 双十一, ...): once per customer and year.",
                       epilog=GIFTS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    gsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    hol = subcommand(gsub, parent, "holiday", "give the NAME holiday gift to active customers",
                     "Give points (--points) or a coupon (--kind/--value) to every active customer, or those of "
                     "--tier / --customers-file.",
                     ["possync-server gifts holiday 春节 --points 100",
                      "possync-server gifts holiday 双十一 --kind amount_off --value 20.00 --date 2026-11-11"])
    hol.add_argument("name", metavar="NAME")
    hol.add_argument("--points", type=int, metavar="N", help="points to give")
    _gift_terms(hol, required=False)
    hol.add_argument("--valid-days", type=int, default=30, metavar="N", help="coupon valid N days from --date")
    hol.add_argument("--date", metavar="YYYY-MM-DD", help="the holiday (default: today); its year counts")
    hol.add_argument("--tier", action="append", default=[], help="only customers of this tier (repeatable)")
    hol.add_argument("--customers-file", metavar="FILE", help="only the customers in this file (one id a line)")
    hol.add_argument("--tz", default="Asia/Shanghai", help="zone of the dates")


def do_coupon(args):
    return _run(args, "coupon " + args.action, {"issue": _issue, "check": _check, "void": _void, "list": _list,
                                                "flags": _flags})


def do_referral(args):
    return _run(args, "referral " + args.action, {"add": _refer})


def do_gifts(args):
    return _run(args, "gifts " + args.action, {"holiday": _holiday})


def minor_units(text, cur, what):
    """Decimal ``text`` in ``cur`` as exact integer minor units; CampaignError for too many decimals."""
    return _decimal(text, exponent(cur), what, "%s allows %d" % (cur, exponent(cur)))


def permille(text, what):
    """A percentage as text (15, 12.5) as permille, 1 to 1000."""
    value = _decimal(text, 1, what, "give at most one decimal")
    if not 0 < value <= 1000:
        raise CampaignError("%s %s: give a percentage above 0 and at most 100" % (what, text))
    return value


def face(kind, value, cur):
    """What a coupon is worth, for people: '10.00 CNY off', '15% off', 'gift worth 88.00 CNY'."""
    if kind == "percent_off":
        return "%s%% off" % ("%d" % (value // 10) if value % 10 == 0 else "%d.%d" % divmod(value, 10))
    text = "%s %s" % (money(value, cur), cur)
    return text + " off" if kind == "amount_off" else "gift worth " + text


def _gift_terms(p, required):
    p.add_argument("--kind", choices=KINDS, required=required)
    p.add_argument("--value", metavar="X", required=required,
                   help="amount off or the gift's worth (10.00), or percent off (15)")
    p.add_argument("--cur", default="CNY", help="currency (default CNY)")
    p.add_argument("--min-spend", metavar="X", default="0", help="least sale amount it applies to (default 0)")


def _run(args, cmd, handlers):
    app = app_for(args, cmd)
    with app.app_context():
        try:
            return handlers[args.action](args, "cli:" + getpass.getuser())
        except CampaignError as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _decimal(text, digits, what, rule):
    m = re.fullmatch(r"(\d+)(?:\.(\d*))?", (text or "").strip())
    if not m:
        raise CampaignError("%s %r is not an amount: give digits with an optional decimal point, e.g. 10.00"
                            % (what, text))
    frac = m.group(2) or ""
    if len(frac) > digits:
        raise CampaignError("%s %s has %d decimals: %s" % (what, text, len(frac), rule))
    return int(m.group(1)) * 10 ** digits + int(frac.ljust(digits, "0") or 0)


def _zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignError("--tz %r is not a time zone: give an IANA name such as Asia/Shanghai" % (name,))


def _day(text, what):
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CampaignError("%s %r is not a date: give YYYY-MM-DD" % (what, text))


def _local(iso_text, tz):
    when = datetime.fromisoformat(iso_text.rstrip("Z")).replace(tzinfo=timezone.utc)
    return when.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M")


def _value(args):
    if args.kind == "percent_off":
        return permille(args.value, "--value")
    return minor_units(args.value, args.cur, "--value")


def _ids_in(path):
    """Customer ids from a file, one a line (blank lines ignored)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as exc:
        raise CampaignError("cannot read %s (%s)" % (path, exc.strerror or exc))


def _issue(args, actor):
    import uuid

    from server.campaigns import coupons

    _zone(args.tz)
    expires = coupons.local_day_end(_day(args.expires, "--expires"), args.tz)
    valid_from = args.valid_from and coupons.local_day_end(_day(args.valid_from, "--valid-from") - timedelta(days=1),
                                                           args.tz)
    terms = dict(kind=args.kind, value=_value(args), cur=args.cur, expires_at=expires, campaign=args.campaign,
                 key=args.key or "cli:" + uuid.uuid4().hex, actor=actor,
                 min_spend=minor_units(args.min_spend, args.cur, "--min-spend"), valid_from=valid_from)
    ids = args.customer + (_ids_in(args.customers_file) if args.customers_file else [])
    if len(ids) <= 1:
        code = coupons.issue(ids[0] if ids else None, **terms)
        print("%s  %s, %s, valid through %s" % (coupons.printed(code), face(args.kind, terms["value"], args.cur),
                                                 "for " + ids[0] if ids else "bearer voucher", args.expires))
        return 0
    with progress("issuing coupons") as update:
        counts = coupons.issue_batch(ids, progress=update, **terms)
    print("%(issued)d coupon(s) issued, %(existing)d issued before under this key, %(skipped)d customer(s) "
          "skipped (unknown or not active)" % counts)
    return 0


def _check(args, actor):
    from server.campaigns import coupons

    _zone(args.tz)
    try:
        c = coupons.info(args.code)
    except CampaignError as exc:
        c, out = None, {"ok": False, "code": "UNKNOWN", "discount": 0, "reason": str(exc)}
    else:
        cur = args.cur or c["cur"]
        amount = minor_units(args.amount, cur, "--amount") if args.amount else None
        out = coupons.validate(c["code"], args.customer or c["customer"], amount, cur if amount is not None else None)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0 if out["ok"] else 3
    if c is not None:
        print("%s  %s, %s, min spend %s %s, %s to %s%s" % (
            coupons.printed(c["code"]), face(c["kind"], c["value"], c["cur"]),
            "for " + c["customer"] if c["customer"] else "bearer voucher", money(c["min_spend"], c["cur"]), c["cur"],
            _local(c["valid_from"], args.tz), _local(c["expires_at"], args.tz),
            ", campaign " + c["campaign"] if c["campaign"] else ""))
    discount = ", discount %s %s" % (money(out["discount"], cur), cur) if out["ok"] and amount is not None else ""
    print("%s: %s%s" % (out["code"], out["reason"], discount))
    return 0 if out["ok"] else 3


def _void(args, actor):
    from server.campaigns import coupons

    done = coupons.void(args.code, actor)
    print("%s %s" % (coupons.printed(normalise(args.code)), "voided" if done else "was void already"))
    return 0


def _list(args, actor):
    from server.campaigns import coupons
    from server.db import utcnow

    _zone(args.tz)
    rows = coupons.coupons_of(args.customer, utcnow() if args.usable else None)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for c in rows:
        print("%s  %-14s %-26s until %s  %s" % (coupons.printed(c["code"]), c["state"],
                                                face(c["kind"], c["value"], c["cur"]), _local(c["expires_at"], args.tz),
                                                c["campaign"]))
    print("%d coupon(s)" % len(rows))
    return 0


def _flags(args, actor):
    from server.campaigns import coupons, settle

    _zone(args.tz)
    if args.limit < 1:
        raise CampaignError("--limit %d: give 1 or more" % args.limit)
    since = args.since and coupons.local_day_end(_day(args.since, "--since") - timedelta(days=1), args.tz)
    rows = settle.flags(since, args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for f in rows:
        print("%s  %s seq %d ref %s  %s %s  coupon %s %s: %s  customer %s" % (
            _local(f["sold_at"], args.tz), f["dev"], f["seq"], f["ref"], money(f["amount"], f["cur"]), f["cur"],
            f["code"], f["outcome"], f["reason"], f["customer"] or "-"))
    print("%d flagged sale(s)" % len(rows))
    return 0


def _refer(args, actor):
    from server.campaigns import referral

    recorded = referral.refer(args.referrer, args.referee, actor, referrer_points=args.referrer_points,
                              referee_points=args.referee_points)
    print("%s referred by %s %s" % (args.referee, args.referrer, "recorded" if recorded else "was recorded already"))
    return 0


def _holiday(args, actor):
    from server.campaigns import gifts
    from server.loyalty.models import Customer

    zone = _zone(args.tz)
    day = _day(args.date, "--date") if args.date else datetime.now(zone).date()
    if (args.points is None) == (args.kind is None):
        raise CampaignError("give the gift as --points N or as a coupon with --kind and --value")
    coupon = args.kind and dict(kind=args.kind, value=_value(args), cur=args.cur, valid_days=args.valid_days,
                                min_spend=minor_units(args.min_spend, args.cur, "--min-spend"))
    query = Customer.select(Customer.id).where(Customer.state == "active")
    if args.tier:
        query = query.where(Customer.tier.in_(args.tier))
    ids = [c for (c,) in query.order_by(Customer.id).tuples()]
    if args.customers_file:
        wanted = set(_ids_in(args.customers_file))
        ids = [c for c in ids if c in wanted]
    with progress("holiday gifts") as update:
        counts = gifts.holiday_gifts(args.name, day, ids, actor, points=args.points, coupon=coupon,
                                     tz=args.tz, progress=update)
    print("%s %d: %d gift(s) given, %d given before, %d customer(s) skipped"
          % (args.name, day.year, counts["issued"], counts["existing"], counts["skipped"]))
    return 0
