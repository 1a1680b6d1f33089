"""`possync-server customer ...`: customers, their cards, personal data, consent, cases, export and erase."""

import argparse
import getpass
import json
import os
import sys

from server.commands import CommandError, app_for

EPILOG = """examples:
  possync-server customer new
  possync-server customer show CABCDEFGHIJKLMNOP --purpose "phone call about a refund"
  possync-server customer set CABCDEFGHIJKLMNOP name=张三 phone=13800138000
  possync-server customer link CABCDEFGHIJKLMNOP TOKEN --bin 622848 --last4 1234
  possync-server customer unlink TOKEN --note "card lost"
  possync-server customer merge CSRC... CDST... --reason "same person, two cards"
  possync-server customer consent CABCDEFGHIJKLMNOP sms grant --source "paper form, store M001"
  echo "screen cracked after a week" | possync-server customer case CABCDEFGHIJKLMNOP --kind warranty --text-stdin
  possync-server customer export CABCDEFGHIJKLMNOP --purpose "access request #42" -o export.json
  possync-server customer erase CABCDEFGHIJKLMNOP --reason "erasure request #43" --yes

TOKEN is a card's 64-hex token, never its number. Personal data lives in the vault; every read
names a purpose and is audited. Case texts are read from standard input so they stay out of
shell history.
"""


def argparse_customer(sub, parent):
    p = sub.add_parser("customer", help="customers: show, link cards, merge, consent, cases, export, erase",
                       description="Customers under neutral ids, their cards, vault data and rights (DESIGN.md §4).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name, help, example):
        return csub.add_parser(name, parents=[parent], help=help, description=help[0].upper() + help[1:] + ".",
                               epilog="example:\n  possync-server customer " + example,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    a = add("show", "a customer's history for service staff (audited vault read)", "show C... --purpose \"call\"")
    a.add_argument("customer", metavar="C")
    a.add_argument("--purpose", default="service desk", help="why you look (kept in the vault audit)")
    a.add_argument("--limit", type=int, default=20, metavar="N", help="newest N of each list (default 20)")
    a.add_argument("--json", action="store_true", help="print the history as one JSON object")
    add("new", "create a customer and print its id", "new")
    a = add("link", "link a card token to a customer", "link C... TOK --bin 622848 --last4 1234")
    a.add_argument("customer", metavar="C")
    a.add_argument("tok", metavar="TOK", help="card token, 64 hex digits (never the card number)")
    a.add_argument("--bin", default="", help="first 6 digits of the card, for people")
    a.add_argument("--last4", default="", help="last 4 digits of the card, for people")
    a = add("unlink", "take a card away from its customer (its next sale starts a new customer)",
            "unlink TOK --note \"card lost\"")
    a.add_argument("tok", metavar="TOK")
    a.add_argument("--note", help="why (kept in the vault)")
    a = add("merge", "merge customer SRC into DST (one person): cards, points, wallets, cases, data",
            "merge CSRC... CDST... --reason \"same person\"")
    a.add_argument("src", metavar="SRC")
    a.add_argument("dst", metavar="DST")
    a.add_argument("--reason", required=True, help="why they are one person (kept in the vault)")
    a = add("export", "everything held about a customer as JSON (access request)",
            "export C... --purpose \"access request #42\" -o c.json")
    a.add_argument("customer", metavar="C")
    a.add_argument("--purpose", required=True, help="why (kept in the vault audit)")
    a.add_argument("-o", "--output", metavar="FILE", help="write to FILE (mode 0600) instead of standard output")
    a = add("erase", "erase a customer's personal data for good; ledgers stay balanced",
            "erase C... --reason \"erasure request #43\" --yes")
    a.add_argument("customer", metavar="C")
    a.add_argument("--reason", required=True, help="why (no personal data: kept in the vault audit)")
    a.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal, e.g. in CI)")
    a = add("set", "set personal data fields in the vault", "set C... name=张三 phone=13800138000")
    a.add_argument("customer", metavar="C")
    a.add_argument("values", metavar="FIELD=VALUE", nargs="+", help="name, phone, email, birthday, address, ...")
    a.add_argument("--purpose", default="profile update", help="why (kept in the vault audit)")
    a = add("consent", "grant or withdraw marketing consent for one channel", "consent C... sms grant --source form")
    a.add_argument("customer", metavar="C")
    a.add_argument("channel", metavar="CHANNEL", help="sms, email, wechat, phone or post")
    a.add_argument("decision", choices=("grant", "withdraw"))
    a.add_argument("--source", required=True, help="where the decision comes from (form, app, call)")
    a = add("case", "open a complaint, service or warranty case; its text is read from stdin",
            "case C... --kind complaint --text-stdin < text.txt")
    a.add_argument("customer", metavar="C")
    a.add_argument("--kind", required=True, choices=("complaint", "service", "warranty", "note"))
    a.add_argument("--text-stdin", action="store_true", required=True, help="read the case text from stdin")
    a.add_argument("--merchant", metavar="CODE", help="the store the case is about")
    a.add_argument("--dev", metavar="DEVICE", help="terminal of the sale it concerns")
    a.add_argument("--ref", metavar="REF", help="reference of the sale it concerns")
    a.add_argument("--follow-up", metavar="DATE",
                   help="when to follow up, e.g. 2025-07-01T09:00+08:00 (no offset: UTC)")
    a = add("follow-up", "add a follow-up to a case: a status and/or a text from stdin",
            "follow-up 12 --status closed --text-stdin < answer.txt")
    a.add_argument("case", metavar="CASE", type=int)
    a.add_argument("--status", choices=("open", "in_progress", "closed"))
    a.add_argument("--text-stdin", action="store_true", help="read the follow-up text from stdin")


def do_customer(args):
    from server.campaigns import CampaignError
    from server.customers.identity import CustomerError
    from server.loyalty.ledger import LedgerError
    from server.vault.crypto import VaultError
    from server.wallet import WalletError

    cmd = "customer " + args.action
    if args.action == "erase" and not args.yes:
        _confirm(cmd, args.customer)
    app = app_for(args, cmd)
    with app.app_context():
        try:
            return HANDLERS[args.action](args, "cli:" + getpass.getuser())
        except (CustomerError, VaultError, LedgerError, WalletError, CampaignError) as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _confirm(cmd, customer):
    if not sys.stdin.isatty():
        raise CommandError("%s: erasing cannot be undone: add --yes to confirm (no terminal to ask on)" % cmd)
    answer = input("Erase all personal data of %s for good? Type the customer id to confirm: " % customer)
    if answer.strip() != customer:
        raise CommandError("%s: not confirmed, nothing erased" % cmd)


def _stdin_text(cmd, required):
    text = sys.stdin.read().strip()
    if required and not text:
        raise CommandError("%s: no text on standard input (pipe it in, e.g. < note.txt)" % cmd)
    return text or None


def _show(args, actor):
    from server.customers import history
    from server.customers.identity import card_label
    from protocol.money import text as money

    data = history.history(args.customer, actor, args.purpose, args.limit)
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print("customer %s (%s, tier %s, %d points)" % (data["customer"], data["state"], data["tier"], data["points"]))
    if data["merged"]:
        print("  merged from: %s" % ", ".join(data["merged"]))
    for c in data["cards"]:
        print("  card %s since %s" % (card_label(c["bin"], c["last4"]), c["since"]))
    _section("purchases", ["%s  %-6s %14s  %s %s" % (p["time"], p["kind"], p["display"], p["dev"], p["ref"])
                           for p in data["purchases"]])
    _section("points", ["%s  %+d %s" % (e["at"], e["delta"], e["reason"]) for e in data["points_entries"]])
    _section("stored value", ["%s card %s: %s %s (%s), %d statement line(s)"
                              % (w["id"], card_label(w["bin"], w["last4"]), money(w["balance"], w["cur"]), w["cur"],
                                 w["state"], len(w["statement"])) for w in data["wallets"]])
    _section("coupons", ["%s %s %s %s, expires %s" % (c["code"], c["kind"], c["value"], c["state"], c["expires_at"])
                         for c in data["coupons"]])
    lines = []
    for case in data["cases"]:
        lines.append("#%d %s %s (opened %s): %s" % (case["id"], case["kind"], case["status"], case["opened_at"],
                                                   case["text"]))
        lines += ["    %s %s%s" % (e["at"], "[%s] " % e["status"] if e["status"] else "", e["text"] or "")
                  for e in case["events"]]
    _section("cases", lines)
    _section("card history", ["%s  %s %s%s%s" % (e["at"], e["action"], e["card"],
                                                 " (%s)" % e["other"] if e["other"] else "",
                                                 ": %s" % e["text"] if e["text"] else "") for e in data["card_events"]])
    return 0


def _section(title, lines):
    print("%s:%s" % (title, "" if lines else " none"))
    for line in lines:
        print("  " + line)


def _new(args, actor):
    from server.customers import identity

    print(identity.create_customer(actor))
    return 0


def _link(args, actor):
    from server.customers import identity

    linked = identity.link_card(args.customer, args.tok, args.bin, args.last4, actor)
    print("card linked to %s" % args.customer if linked else "the card already belongs to %s" % args.customer)
    return 0


def _unlink(args, actor):
    from server.customers import identity

    customer = identity.unlink_card(args.tok, actor, args.note)
    print("card unlinked from %s: its next sale starts a new customer" % customer)
    return 0


def _merge(args, actor):
    from server.customers import identity

    out = identity.merge(args.src, args.dst, actor, args.reason)
    print("%s merged into %s: %d point(s), %d card(s), %d case(s), %d vault field(s) moved; tier %s%s"
          % (out["src"], out["dst"], out["points"], out["cards"], out["cases"], len(out["vault_fields"]),
             out["tier"], " (was merged already; vault step finished)" if out["already"] else ""))
    return 0


def _export(args, actor):
    from server.customers import rights

    text = json.dumps(rights.export(args.customer, actor, args.purpose), ensure_ascii=False, indent=2) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise CommandError("customer export: cannot write %s (%s)" % (args.output, exc.strerror or exc))
    print("export of %s written to %s (personal data: keep it safe, delete it once sent)"
          % (args.customer, args.output))
    return 0


def _erase(args, actor):
    from server.customers import rights

    out = rights.erase(args.customer, actor, args.reason)
    if out["erased"]:
        print("%s erased: %d vault field(s) destroyed, %d card(s) and %d record(s) pseudonymised; ledgers kept"
              % (out["customer"], out["vault_fields"], out["cards"], out["records"]))
    else:
        print("%s: %s" % (out["customer"], out["detail"]))
    if out["checkpointed"] is False:
        print("the database log could not be truncated while other readers were active: run the erase again later "
              "to finish wiping old bytes", file=sys.stderr)
    return 0


def _set(args, actor):
    from server.customers import consent, identity, notes
    from server.vault import store

    values = {}
    for item in args.values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError("customer set: %r is not FIELD=VALUE" % item)
        if name == consent.FIELD or name.startswith(notes.PREFIX):
            raise CommandError("customer set: %s is kept by `customer consent` / `customer case`, not set" % name)
        values[name] = value
    customer = identity.active(args.customer).id
    store.put(customer, values, actor, args.purpose)
    print("%s: %s set" % (customer, ", ".join(sorted(values))))
    return 0


def _consent(args, actor):
    from server.customers import consent

    change = consent.grant if args.decision == "grant" else consent.withdraw
    change(args.customer, args.channel, args.source, actor)
    print("%s: %s consent %s" % (args.customer, args.channel, "granted" if args.decision == "grant" else "withdrawn"))
    return 0


def _case(args, actor):
    from server.customers import cases
    from server.licences.cli import parse_at

    follow = None
    if args.follow_up:
        try:
            follow = parse_at(args.follow_up).replace(tzinfo=None)
        except ValueError:
            raise CommandError("customer case: --follow-up %r is not a date (e.g. 2025-07-01)" % args.follow_up)
    text = _stdin_text("customer case", True)
    case = cases.open_case(args.customer, args.kind, text, actor, args.merchant, args.dev, args.ref, follow)
    print("case %d opened for %s" % (case, args.customer))
    return 0


def _follow_up(args, actor):
    from server.customers import cases

    text = _stdin_text("customer follow-up", False) if args.text_stdin else None
    event = cases.follow_up(args.case, actor, text, args.status)
    print("follow-up %d added to case %d" % (event, args.case))
    return 0


HANDLERS = {"show": _show, "new": _new, "link": _link, "unlink": _unlink, "merge": _merge, "export": _export,
            "erase": _erase, "set": _set, "consent": _consent, "case": _case, "follow-up": _follow_up}
