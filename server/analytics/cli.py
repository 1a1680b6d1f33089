"""`possync-server report ...`: KPIs, the cohort retention table and CSV exports from the command line."""

import argparse

from server.commands import CommandError, app_for

EPILOG = """examples:
  possync-server report kpis --from 2025-01-01 --to 2025-06-30
  possync-server report cohorts --merchant M001 --from 2025-01-01
  possync-server report csv frequency --from 2025-06-01 --to 2025-06-30 --out frequency.csv
  possync-server report csv segments --out segments.csv

--from and --to are local days (both taken whole) in the merchant's time zone (Asia/Shanghai
without --merchant); without --from a report covers the 365 days before its end. Money is in
integer minor units with its currency, rates are fixed decimals.
"""


def argparse_report(sub, parent):
    from server.analytics.kpis import TABLES

    p = sub.add_parser("report", help="KPIs, retention by cohort and CSV exports",
                       description="KPI reports (DESIGN.md §4): repeat purchase rate, churn, average basket, "
                                   "frequency, points liability, stored-value float, cohorts, segment sizes.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name, help):
        r = rsub.add_parser(name, parents=[parent], help=help, description=help)
        r.add_argument("--from", dest="frm", metavar="YYYY-MM-DD",
                       help="first local day (default: 365 days before --to)")
        r.add_argument("--to", metavar="YYYY-MM-DD", help="last local day, taken whole (default: up to now)")
        r.add_argument("--merchant", metavar="CODE", help="only this merchant (store), in its time zone")
        r.add_argument("--out", metavar="FILE", help="write the table as CSV to FILE instead of printing it")
        return r

    add("kpis", "the KPIs of the window, one a line")
    add("cohorts", "retention by monthly cohort: the share of each first-purchase month buying in the months after")
    c = add("csv", "one report as CSV (to standard output or --out)")
    c.add_argument("name", metavar="NAME", choices=sorted(TABLES), help="one of: %s" % ", ".join(sorted(TABLES)))


def do_report(args):
    from server.analytics import kpis

    cmd = "report %s" % args.action
    app = app_for(args, cmd)
    with app.app_context():
        try:
            w = kpis.window(args.frm, args.to, args.merchant)
            header, rows = kpis.table(args.name if args.action == "csv" else args.action, w)
        except kpis.ReportError as exc:
            raise CommandError("%s: %s" % (cmd, exc))
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8", newline="") as f:
                f.write(kpis.csv_text(header, rows))
        except OSError as exc:
            raise CommandError("%s: cannot write %s (%s)" % (cmd, args.out, exc.strerror))
        print("%s: %d rows written to %s" % (cmd, len(rows), args.out))
    elif args.action == "csv":
        print(kpis.csv_text(header, rows), end="")
    else:
        print(_aligned(header, rows))
    return 0


def _aligned(header, rows):
    """The table as aligned plain text columns."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
