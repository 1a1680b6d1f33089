"""`possync-server notify list|send|retry`: the notification queue from the command line."""

import argparse
import json
from functools import partial

from server.commands import CommandError, app_for, progress, subcommand

EPILOG = """examples:
  possync-server notify list --state failed
  possync-server notify send
  possync-server notify retry 12 13
  possync-server notify retry --all

Messages are queued by the jobs (reminders, birthday) and sent by the job `notify` (every 5 min
under `possync-server run`). NOTIFY_SENDER picks log (default), webhook or smtp; consent and the
address are read from the vault when a message is sent, never stored in the queue.
"""


def argparse_notify(sub, parent):
    p = sub.add_parser("notify", help="list, send and retry the queued customer notifications",
                       description="The notification queue (low-balance reminders, birthday greetings).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    nsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = partial(subcommand, nsub, parent, prefix="possync-server notify ")

    lst = add("list", "the newest messages with their state and last error",
              "List the newest messages, newest first (no addresses: the queue holds none).",
              ["list", "list --state failed --limit 100 --json", "list --customer CABCDEFGHIJKLMNOP"])
    lst.add_argument("--state", choices=("queued", "sent", "failed", "skipped"), help="only messages in this state")
    lst.add_argument("--customer", metavar="ID", help="only messages to this customer")
    lst.add_argument("--limit", type=int, default=50, metavar="N", help="newest N messages (default 50)")
    lst.add_argument("--json", action="store_true", help="print one JSON object")
    snd = add("send", "send the due messages now (the job `notify`)",
              "Send the messages that are due now, as the job `notify` does (refused while another process "
              "runs it). Exit status 3 if the job fails.", ["send", "send --json"])
    snd.add_argument("--json", action="store_true", help="print the job run as one JSON object")
    rty = add("retry", "queue failed messages again",
              "Queue failed messages again with a fresh count of attempts; they go out at the next send.",
              ["retry 12 13", "retry --all"])
    rty.add_argument("ids", nargs="*", type=int, metavar="ID", help="the messages (see `notify list --state failed`)")
    rty.add_argument("--all", action="store_true", help="every failed message")


def do_notify(args):
    handler = {"list": _list, "send": _send, "retry": _retry}[args.action]
    cmd = "notify " + args.action
    app = app_for(args, cmd)
    from server.jobs import JobError
    from server.notify import NotifyError

    with app.app_context():
        try:
            return handler(args)
        except (JobError, NotifyError) as exc:
            raise CommandError("%s: %s" % (cmd, exc))


def _list(args):
    from server.notify import queue

    rows = queue.listing(args.state, args.customer, args.limit)
    if args.json:
        print(json.dumps({"messages": rows}, ensure_ascii=False))
        return 0
    for r in rows:
        print("%6d  %s  %-17s %-6s %-11s %-7s %d  %s" % (r["id"], r["created_at"], r["customer"], r["channel"],
                                                        r["template"], r["state"], r["attempts"], r["error"] or ""))
    if not rows:
        print("no messages")
    return 0


def _send(args):
    from server.jobs import scheduler

    with progress("notify") as update:
        out = scheduler.run("notify", progress=update)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    elif out["outcome"] == "ok":
        print(", ".join("%s %d" % (k, v) for k, v in sorted(out["counts"].items())))
    else:
        print("failed: %s" % out["error"])
    return 0 if out["outcome"] == "ok" else 3


def _retry(args):
    from server.notify import queue

    if bool(args.ids) == args.all:
        raise CommandError("notify retry: give the message ids or --all (not both)")
    n = queue.retry(None if args.all else args.ids)
    print("%d message(s) queued again" % n)
    return 0
