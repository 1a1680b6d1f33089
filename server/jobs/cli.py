"""`possync-server jobs list|due|run|runs`: the scheduled jobs from the command line."""

import argparse
import json
from functools import partial

from server.commands import CommandError, app_for, progress, subcommand

EPILOG = """examples:
  possync-server jobs list
  possync-server jobs due
  possync-server jobs due --run          (from cron, when no `possync-server run` does it)
  possync-server jobs run stale
  possync-server jobs runs --job expiry --limit 5 --json

`possync-server run` runs the due jobs itself every minute. Intervals: JOBS_EVERY_MIN in the
settings, e.g. {"stale": 5, "birthday": 0} (0: only by hand). Two processes never run the same
job at once; a job that fails is recorded with the reason and the others still run.
"""


def argparse_jobs(sub, parent):
    p = sub.add_parser("jobs", help="list, check and run the scheduled jobs (expiry, tier reviews, stale approvals, ...)",
                       description="Scheduled jobs and their runs.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    jsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = partial(subcommand, jsub, parent, prefix="possync-server jobs ")

    lst = add("list", "every job with its interval, last run and when it is next due",
              "List the jobs: how often each runs, how its last run ended and when it is due next.",
              ["list", "list --json"])
    lst.add_argument("--json", action="store_true", help="print one JSON object")
    due = add("due", "the jobs due now (with --run: run them)",
              "List the jobs whose interval has passed since their last run; with --run, run them one after "
              "another. Exit status 3 if a job run fails.", ["due", "due --run"])
    due.add_argument("--run", action="store_true", help="run the due jobs")
    run = add("run", "run one job now, due or not",
              "Run job NAME now. Refused while another process runs it. Exit status 3 if the job fails "
              "(the reason is printed and kept with the run).", ["run expiry", "run stale --json"])
    run.add_argument("name", metavar="NAME", help="the job: expiry, tiers, stale, ... (see `jobs list`)")
    run.add_argument("--json", action="store_true", help="print the run as one JSON object")
    rns = add("runs", "the newest runs, with their outcome and counts",
              "List the newest runs of every job (or of --job), newest first.",
              ["runs", "runs --job stale --limit 50 --json"])
    rns.add_argument("--job", metavar="NAME", help="only runs of this job")
    rns.add_argument("--limit", type=int, default=20, metavar="N", help="newest N runs (default 20)")
    rns.add_argument("--json", action="store_true", help="print one JSON object")


def do_jobs(args):
    handler = {"list": _list, "due": _due, "run": _run, "runs": _runs}[args.action]
    cmd = "jobs " + args.action
    app = app_for(args, cmd)
    from server.jobs import JobError

    with app.app_context():
        try:
            return handler(args)
        except JobError as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _list(args):
    from server.fleet.models import iso
    from server.jobs import scheduler

    jobs = scheduler.status()
    if args.json:
        print(json.dumps({"jobs": [dict(j, next=iso(j["next"])) for j in jobs]}, ensure_ascii=False))
        return 0
    for j in jobs:
        last = j["last"]
        print("%-9s every %-10s last %-9s next %s" % (
            j["name"], "%d min" % j["every"] if j["every"] else "(by hand)",
            "%s %s" % (last["started"], last["outcome"]) if last else "never", "now" if j["due"]
            else iso(j["next"]) or "-"))
        print("          %s" % j["help"])
    return 0


def _due(args):
    from server.jobs import scheduler

    names = scheduler.due()
    if not args.run:
        print("\n".join(names) if names else "no job is due")
        return 0
    failed = 0
    for name in names:
        out = scheduler.run(name)
        failed += out["outcome"] != "ok"
        _show(out)
    return 3 if failed else 0


def _run(args):
    from server.jobs import scheduler

    with progress("job %s" % args.name) as update:
        out = scheduler.run(args.name, progress=update)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        _show(out)
    return 0 if out["outcome"] == "ok" else 3


def _runs(args):
    from server.jobs import scheduler

    rows = scheduler.runs(args.job, args.limit)
    if args.json:
        print(json.dumps({"runs": rows}, ensure_ascii=False))
        return 0
    for r in rows:
        _show(r)
    return 0


def _show(run):
    detail = run["error"] if run["outcome"] == "failed" else ", ".join(
        "%s %s" % (k, v) for k, v in sorted(run["counts"].items()))
    print("%s  %-9s %-7s %s" % (run["started"], run["name"], run["outcome"], detail))
