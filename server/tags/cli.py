"""`possync-server tags ...`: recompute, refit, define rule tags, look at customers' tags and risk flags."""

import argparse
import getpass
import json
import re
from datetime import datetime, timezone

from server.commands import CommandError, app_for, progress
from server.vault.crypto import VaultError

EPILOG = """examples:
  possync-server tags recompute            (all customers; --resume continues an interrupted run)
  possync-server tags refit
  possync-server tags status
  possync-server tags define big_spender --rule "orders_90d >= 5 and spend_90d >= 100000" --preview
  possync-server tags define big_spender --rule "orders_90d >= 5 and spend_90d >= 100000" --name-zh 大客户 \\
      --name-en "big spender" --priority 45 --from 2025-06-01 --until 2025-09-01
  possync-server tags show CABCDEFGHIJKLMNOP --purpose "complaint 12"   (names its vault segments, audited)
  possync-server tags history CABCDEFGHIJKLMNOP
  possync-server tags risk
  possync-server tags risk review 12 --verdict ok

Rules use the features listed by `possync-server tags list --features` (money in minor units: fen).
Vault segments (region, age band, gender, income band of consenting customers) are stored as opaque
codes v_...; --purpose names them through an audited vault read.
"""
CODE = re.compile(r"^[a-z0-9_]{1,24}$")


def argparse_tags(sub, parent):
    p = sub.add_parser("tags", help="customer tags: recompute, refit the models, define rule tags, risk review",
                       description="Customer tags and segments (DESIGN.md §4): RFM, lifecycle, value layers, "
                                   "忠诚顾客/潜力增长客户/流失风险客户, BG/NBD and Gamma-Gamma, "
                                   "admin rules.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name, help, examples):
        return tsub.add_parser(name, parents=[parent], help=help, description=help,
                               epilog="examples:\n" + "".join("  possync-server tags %s\n" % e for e in examples),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    rc = add("recompute", "recompute every customer's stats and tags, swapped in at once",
             ["recompute", "recompute --resume", "recompute --workers 1"])
    rc.add_argument("--resume", action="store_true", help="continue the unfinished run instead of starting anew")
    rc.add_argument("--workers", type=int, default=None, metavar="N",
                    help="processes that scan the sales side by side (default: one per core, at most 4, "
                         "from 300000 records; 1: in this process)")
    add("refit", "fit BG/NBD and Gamma-Gamma on the current stats; a failed fit keeps the last good model",
        ["refit"])
    add("status", "the run in force, an unfinished run, the models in force, open risk flags", ["status"])
    ls = add("list", "every tag (built in and rules) with its priority and customers after the last run",
             ["list", "list --features", "list --json"])
    ls.add_argument("--features", action="store_true", help="list the features rules may use instead")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--purpose", metavar="TEXT", help="name the vault segments (v_...): an audited vault read")
    de = add("define", "define or change a rule tag (checked against the features; --preview only counts)",
             ['define vip_gold --rule \'tier in ("gold", "vip")\' --preview'])
    de.add_argument("code", metavar="CODE", help="tag code: 1-24 of a-z 0-9 _ (sent to terminals)")
    de.add_argument("--rule", required=True, help="the rule, e.g. \"orders_90d >= 5 and spend_90d >= 100000\"")
    de.add_argument("--name-zh", help="Chinese name (default: the code)")
    de.add_argument("--name-en", help="English name (default: the code)")
    de.add_argument("--priority", type=int, default=100, help="lower comes first on the terminal (default 100)")
    de.add_argument("--from", dest="valid_from", metavar="YYYY-MM-DD", help="valid from this day (UTC)")
    de.add_argument("--until", dest="valid_until", metavar="YYYY-MM-DD", help="valid before this day (UTC)")
    de.add_argument("--preview", action="store_true", help="only count the customers it would tag now")
    sh = add("show", "one customer's scores and tags", ["show CABCDEFGHIJKLMNOP"])
    sh.add_argument("customer", metavar="CUSTOMER")
    sh.add_argument("--purpose", metavar="TEXT", help="name the vault segments (v_...): an audited vault read")
    hi = add("history", "tag changes, newest first", ["history", "history CABCDEFGHIJKLMNOP --limit 20"])
    hi.add_argument("customer", metavar="CUSTOMER", nargs="?")
    hi.add_argument("--limit", type=int, default=50)
    rk = add("risk", "list unreviewed high-risk sales, or review one", ["risk", "risk review 12 --verdict fraud"])
    rk.add_argument("review", nargs="?", choices=("review",), help="review the flag ID")
    rk.add_argument("id", nargs="?", type=int, metavar="ID")
    rk.add_argument("--verdict", choices=("ok", "fraud"))


def do_tags(args):
    cmd = "tags %s" % args.action
    app = app_for(args, cmd)
    with app.app_context():
        from server.tags import refit, risk, rules, settings

        try:
            return ACTIONS[args.action](args)
        except rules.RuleError as exc:
            raise CommandError("%s: bad rule:\n  %s\n  %s^\n%s" % (cmd, args.rule, " " * (exc.column - 1), exc))
        except (refit.RefitError, risk.RiskError, settings.SettingError, VaultError) as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _recompute(args):
    from server.tags import recompute

    if args.resume and recompute.status()["unfinished"] is None:
        raise CommandError("tags recompute: no unfinished run to resume (run `possync-server tags recompute`)")
    if args.workers is not None and args.workers < 1:
        raise CommandError("tags recompute: --workers must be 1 or more (1 scans in this process)")
    with progress("recomputing tags") as update:
        out = recompute.run(progress=update, resume=args.resume, workers=args.workers)
    print("run %d: %d customers, %d with changed tags, %d late sales replayed%s" % (
        out["run"], out["customers"], out["events"], out["replayed"],
        ", scanned in %d processes" % out["workers"] if out["workers"] > 1 else ""))
    for code, n in sorted(out["tags"].items()):
        print("  %-24s %d" % (code, n))
    return 0


def _refit(args):
    from server.tags import refit

    failed = None
    try:
        result = refit.refit()
    except refit.RefitError as exc:
        result, failed = None, exc
    rows = {}
    for kind in ("bgnbd", "gammagamma"):
        rows[kind] = refit.TagModel.select().where(refit.TagModel.kind == kind).order_by(
            refit.TagModel.id.desc()).first()
    for kind, row in rows.items():
        if row.ok:
            print("%-10s %s  log-likelihood %.3f  on %g customers  (%.2f s)" % (
                kind, "  ".join("%s=%.6g" % kv for kv in json.loads(row.params).items()), row.loglik, row.n,
                row.seconds or 0))
        else:
            print("%-10s not fitted: %s; the last good model stays in force" % (kind, row.error))
    if failed is not None or result is None:
        raise CommandError("tags refit: no model could be fitted (%s); wait for more repeat buyers" % failed)
    print("run `possync-server tags recompute` to rescore every customer with the new models")
    return 0


def _status(args):
    from server.tags import recompute, refit, risk

    state = recompute.status()
    last, unfinished = state["last"], state["unfinished"]
    if last:
        print("tags in force: run %d as of %s, finished %s (UTC)" % (
            last.id, _utc(last.now_ts),
            last.finished_at.strftime("%Y-%m-%d %H:%M:%S")))
    else:
        print("tags in force: no recompute yet (only customers touched by sales are tagged)")
    if unfinished:
        print("UNFINISHED run %d (step %s, %d/%d): customers keep the tags of the run in force; "
              "run `possync-server tags recompute --resume`" % (unfinished.id, unfinished.step, unfinished.done,
                                                               2 * unfinished.total))
    for name, model in zip(("bgnbd", "gammagamma"), refit.in_force()):
        print("%-10s %s" % (name, "none fitted (run `possync-server tags refit`)" if model is None else
                            "  ".join("%.6g" % v for v in model.params) + "  log-likelihood %.3f" % model.loglik))
    print("open risk flags: %d" % len(risk.open_flags(limit=100000)))
    return 0


def _segment_names(codes, purpose, customer=None):
    """``{code: "field: value"}`` of vault segment ``codes`` when a purpose is given (audited vault reads)."""
    from server.tags import segments
    from server.tags.models import CustomerTag

    if not purpose or not codes:
        return {}

    def holders(code):
        if customer:
            return [customer]
        return [c for (c,) in CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == code).order_by(
            CustomerTag.customer).limit(5).tuples()]
    return segments.names(codes, holders, _actor(), purpose)


def _actor():
    return "cli:%s" % getpass.getuser()


def _list(args):
    from server.tags import builtin, context, features, segments
    from server.tags.models import TagCount, TagDef

    if args.features:
        if args.json:
            print(json.dumps({k: {"type": t, "doc": d} for k, (t, d) in features.FEATURES.items()},
                             ensure_ascii=False))
            return 0
        for name, (kind, doc) in features.FEATURES.items():
            print("%-18s %-4s %s" % (name, kind, doc))
        return 0
    ctx = context.load()
    last = TagCount.select(TagCount.run).order_by(TagCount.run.desc()).scalar()
    counts = dict(TagCount.select(TagCount.tag, TagCount.customers).where(TagCount.run == last).tuples())
    defs = {d.code: d for d in TagDef.select()}
    vault = sorted(c for c in counts if c.startswith(segments.PREFIX))
    names = _segment_names(vault, args.purpose)
    label = dict(ctx.names)
    label.update((c, (names.get(c, "vault segment"),) * 2) for c in vault)
    codes = context.ordered(ctx, [c for c, *_ in builtin.BUILTIN] + list(defs) + vault)
    out = [{"code": c, "name_zh": label[c][0], "name_en": label[c][1], "priority": ctx.priority.get(c, 1000),
            "kind": defs[c].kind if c in defs else "vault" if c in vault else "builtin",
            "rule": defs[c].expr if c in defs else None, "customers": counts.get(c),
            "shown": c not in ctx.hidden and c not in vault} for c in codes]
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    for t in out:
        print("%4d  %-24s %-8s %8s  %s / %s%s" % (t["priority"], t["code"], t["kind"],
                                                 "-" if t["customers"] is None else t["customers"], t["name_zh"],
                                                 t["name_en"], "  rule: " + t["rule"] if t["rule"] else ""))
    return 0


def _define(args):
    from server.db import db
    from server.tags import builtin, features, recompute, rules, settings
    from server.tags.models import TagDef

    if not CODE.match(args.code):
        raise CommandError("tags define: code %r must be 1-24 of a-z 0-9 _ (e.g. big_spender)" % args.code)
    if args.code.startswith("v_"):
        raise CommandError("tags define: codes starting v_ are kept for vault segments; choose another code")
    if args.code in {c for c, *_ in builtin.BUILTIN}:
        raise CommandError("tags define: %s is a built-in tag; choose another code" % args.code)
    rule = rules.parse(args.rule, features.FEATURES)
    start, until = _date(args.valid_from, "--from"), _date(args.valid_until, "--until")
    if args.preview:
        n, total = recompute.preview(rule)
        print("%d of %d customers with stats match now%s" % (
            n, total, "" if not rule.features & set(features.VAULT) else
            " (vault features count as missing here; a recompute evaluates them for consenting customers)"))
        return 0
    with db.atomic():
        TagDef.insert(code=args.code, name_zh=args.name_zh or args.code, name_en=args.name_en or args.code,
                      kind="rule", expr=args.rule, priority=args.priority, valid_from=start, valid_until=until,
                      created_by="cli:%s" % getpass.getuser()).on_conflict_replace().execute()
        settings.bump()
    print("defined %s: %s (customers touched by a sale get it at once; run `possync-server tags recompute` "
          "for everyone)" % (args.code, args.rule))
    return 0


def _show(args):
    from server.tags import realtime
    from server.tags.models import CustomerStats, CustomerTag

    row = CustomerStats.get_or_none(CustomerStats.customer == args.customer)
    if row is None:
        raise CommandError("tags show: no sales for %s yet (lifecycle potential); check the id with "
                           "`possync-server customer show`" % args.customer)
    for name in ("lifecycle", "customer_class", "value_layer", "rfm_segment", "rfm_r", "rfm_f", "rfm_m", "orders",
                 "spend", "days", "orders_90d", "spend_90d", "p_alive", "exp_90d", "exp_spend", "clv", "churn_risk"):
        print("%-15s %s" % (name, getattr(row, name)))
    since = dict(CustomerTag.select(CustomerTag.tag, CustomerTag.since).where(
        CustomerTag.customer == args.customer).tuples())
    print("tags           %s" % " ".join(realtime.tags_for([args.customer])[args.customer]))
    names = _segment_names([t for t in since if t.startswith("v_")], args.purpose, args.customer)
    for tag, ts in sorted(since.items()):
        name = names.get(tag) or ("vault segment (--purpose names it)" if tag.startswith("v_") else "")
        print("  %-24s since %s UTC  %s" % (tag, _utc(ts), name))
    return 0


def _history(args):
    from server.tags.models import TagEvent

    query = TagEvent.select().order_by(TagEvent.id.desc()).limit(args.limit)
    if args.customer:
        query = query.where(TagEvent.customer == args.customer)
    for e in query:
        print("%s  %s  %-9s +%s  -%s" % (_utc(e.at), e.customer,
                                        "run %d" % e.run if e.run else "sale", e.gained or "", e.lost or ""))
    return 0


def _risk(args):
    from server.tags import risk

    if args.review:
        if args.id is None or args.verdict is None:
            raise CommandError("tags risk review: give the flag ID and --verdict ok|fraud "
                               "(see `possync-server tags risk`)")
        flag = risk.review(args.id, args.verdict, "cli:%s" % getpass.getuser())
        print("flag %d of %s reviewed: %s" % (flag.id, flag.customer, args.verdict))
        return 0
    flags = risk.open_flags(limit=1000)
    for f in flags:
        print("%5d  %s  %s  %s/%s  %d %s  %-6s %s" % (f.id, _utc(f.ts), f.customer, f.dev, f.seq,
                                                    f.amount, f.cur, f.reason, f.detail))
    print("%d open flag%s" % (len(flags), "" if len(flags) == 1 else "s"))
    return 0


def _date(text, option):
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise CommandError("tags define: %s %r: give a day as YYYY-MM-DD" % (option, text))


ACTIONS = {"recompute": _recompute, "refit": _refit, "status": _status, "list": _list, "define": _define,
           "show": _show, "history": _history, "risk": _risk}


def _utc(ts):
    """Unix seconds as a UTC time to the second."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
