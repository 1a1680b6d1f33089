"""`possync-server licences import|export|check`: the licence registry from the command line."""

import argparse
import json
import os
import sys
from datetime import datetime, timezone

from server.commands import CommandError, app_for, progress, subcommand

EPILOG = """examples:
  possync-server licences import server/licences/sample_registry.json
  possync-server licences import registry.csv --config /etc/possync/server.json
  possync-server licences export --format csv --output registry.csv
  possync-server licences check --inst 48991310 --province 广东 --at 2025-06-01T10:00:00+08:00
  possync-server licences reverify

The file format is described in server/licences/SCHEMA.md. An import is checked as a whole:
one bad row refuses the file and the registry in force stays as it is.
"""

# Placeholders for a check that only asks about the acquirer, not a real sale's merchant/terminal.
PLACEHOLDER_MID = "000000000000000"
PLACEHOLDER_TID = "00000000"
FORMATS = ("csv", "json")


def argparse_licences(sub, parent):
    p = sub.add_parser("licences", help="import, export or check the acquirer licence registry",
                       description="The payment-institution licence registry every sale's acquirer is judged "
                                   "against (DESIGN.md §4).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    lsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = subcommand(
        lsub, parent, "import", "validate a registry file and make it the registry in force",
        "Validate FILE as a whole and make it the registry in force under a new version number. "
        "A file with any problem is refused: every problem is listed with its row and field, "
        "nothing is imported and the previous version stays in force.",
        ["possync-server licences import server/licences/sample_registry.json",
         "possync-server licences import pboc-list.txt --format csv"])
    imp.add_argument("file", metavar="FILE", help="registry file (.csv or .json, see server/licences/SCHEMA.md)")
    imp.add_argument("--format", choices=FORMATS, help="file format (default: from the file name's extension)")
    imp.add_argument("--reverify", action="store_true", help="then judge the stored sales again against it")
    imp.add_argument("--show", type=int, default=20, metavar="N", help="with --reverify: list up to N changed "
                                                                      "verdicts (default 20)")
    rev = subcommand(
        lsub, parent, "reverify", "judge stored sales again against the registry in force",
        "Judge every stored sale whose verdict came from an older registry (or none) again, at the "
        "sale's own time, against the registry in force, and list the verdicts that changed. It "
        "commits as it goes: an interrupted run continues where it stopped when run again "
        "(with --all it starts over).",
        ["possync-server licences reverify", "possync-server licences reverify --all --show 100",
         "possync-server licences reverify --json > changes.json"])
    rev.add_argument("--all", action="store_true", help="judge every stored sale again, also those already judged "
                                                        "against this registry (e.g. after setting a terminal's merchant)")
    rev.add_argument("--show", type=int, default=20, metavar="N", help="list up to N changed verdicts (default 20)")
    rev.add_argument("--json", action="store_true", help="print the outcome and every change as one JSON object")
    exp = subcommand(
        lsub, parent, "export", "write the registry in force as CSV or JSON",
        "Write the registry in force in the import format: the output imports back unchanged.",
        ["possync-server licences export > registry.json",
         "possync-server licences export --format csv --output registry.csv"])
    exp.add_argument("--format", choices=FORMATS,
                     help="output format (default: from --output's extension, else json)")
    exp.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    chk = subcommand(
        lsub, parent, "check", "the verdict for an acquirer, merchant province and time",
        "Judge an acquirer against the registry in force, as a sale would be. "
        "Exit status 0 for OK, 3 for any other verdict, 1 when the check cannot run.",
        ["possync-server licences check --inst 48991310 --province 广东",
         "possync-server licences check --lic Z2099244000028 --province 44 --at 2025-06-01",
         "possync-server licences check --inst 48992440 --settle 48991310 --province 海南省 --json"])
    chk.add_argument("--inst", metavar="CODE", help="acquiring institution code (ISO 8583 field 32)")
    chk.add_argument("--lic", metavar="Z...", help="licence number, Z + 13 digits")
    chk.add_argument("--settle", metavar="X", help="institution code or licence number of the settling party "
                                                   "(default: the acquirer itself, i.e. direct settlement)")
    chk.add_argument("--mid", metavar="M", help="merchant id, 15 letters/digits (default: a placeholder)")
    chk.add_argument("--tid", metavar="T", help="terminal id, 8 letters/digits (default: a placeholder)")
    chk.add_argument("--province", metavar="P", required=True,
                     help="merchant province: full name, short name (广东) or GB/T 2260 code (44)")
    chk.add_argument("--at", metavar="ISO-TIME", help="sale time, e.g. 2025-06-01T10:00:00+08:00; "
                                                      "without an offset it is UTC (default: now)")
    chk.add_argument("--json", action="store_true", help="print the verdict as one JSON object")


def do_licences(args):
    return {"import": _import, "export": _export, "check": _check, "reverify": _reverify}[args.action](args)


def acquirer(inst=None, lic=None, settle=None, mid=None, tid=None):
    """Acquirer metadata as verdict.judge takes it; settle defaults to the acquirer, mid/tid to placeholders."""
    acq = {"settle": settle or inst or lic, "mid": mid or PLACEHOLDER_MID, "tid": tid or PLACEHOLDER_TID}
    if inst:
        acq["inst"] = inst
    if lic:
        acq["lic"] = lic
    return acq


def parse_at(text):
    """A sale time from ISO 8601 text (no offset = UTC) as an aware UTC datetime; now if empty; else ValueError."""
    if not text:
        return datetime.now(timezone.utc)
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def problem_lines(exc):
    """A RegistryError's problems as `row N, field F: message` lines."""
    return ["row %d, field %s: %s" % p if p[1] else "row %d: %s" % (p[0], p[2]) for p in exc.problems]


def _import(args):
    from server.licences import registry, reverify

    cmd = "licences import"
    fmt = args.format or os.path.splitext(args.file)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise CommandError("%s: cannot tell the format of %s from its name (give --format csv or --format json)"
                           % (cmd, args.file))
    try:
        with open(args.file, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CommandError("%s: cannot read %s (%s)" % (cmd, args.file, exc.strerror or exc))
    app = app_for(args, cmd)
    with app.app_context():
        try:
            version = registry.import_data(data, fmt, os.path.basename(args.file))
        except registry.RegistryError as exc:
            current = registry.load().version
            kept = "registry version %d stays in force" % current if current else "no registry is in force yet"
            raise CommandError("%s: %s refused, nothing imported; %s. Fix these %d problem(s) and import again:\n  %s"
                               % (cmd, args.file, kept, len(exc.problems), "\n  ".join(problem_lines(exc))))
        print("registry version %d in force: %d rows from %s" % (version.number, version.rows, args.file))
        if args.reverify:
            return _reverify_in_app(cmd, False, args.show, False)
        waiting = reverify.pending_count()
    if waiting:
        print("%d stored sale(s) were judged against an older registry: run `possync-server licences reverify` "
              "to judge them against this one" % waiting)
    return 0


def _export(args):
    from server.licences import registry

    cmd = "licences export"
    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.output or "")[1].lstrip(".").lower()
        fmt = ext if ext in FORMATS else "json"
    app = app_for(args, cmd)
    with app.app_context():
        current = registry.load()
        if current.version is None:
            raise CommandError("%s: no registry imported yet (import one with: possync-server licences import FILE)"
                               % cmd)
        data = registry.export_data(fmt, current)
    if not args.output:
        sys.stdout.buffer.write(data)
        return 0
    try:
        with open(args.output, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise CommandError("%s: cannot write %s (%s)" % (cmd, args.output, exc.strerror or exc))
    print("registry version %d: %d rows written to %s" % (current.version, len(current.rows), args.output))
    return 0


def _check(args):
    from server.licences import registry, verdict

    cmd = "licences check"
    if not args.inst and not args.lic:
        raise CommandError("%s: give the acquirer as --inst CODE or --lic Z... (or both)" % cmd)
    try:
        when = parse_at(args.at)
    except ValueError:
        raise CommandError("%s: --at %r is not an ISO time (e.g. 2025-06-01T10:00:00+08:00)" % (cmd, args.at))
    app = app_for(args, cmd)
    with app.app_context():
        current = registry.load()
    if current.version is None:
        raise CommandError("%s: no registry imported yet (import one with: possync-server licences import FILE)" % cmd)
    result, reason = verdict.judge(acquirer(args.inst, args.lic, args.settle, args.mid, args.tid),
                                   args.province, when, current)
    if args.json:
        print(json.dumps({"verdict": result, "reason": reason, "registry_version": current.version},
                         ensure_ascii=False))
    else:
        print("%s: %s" % (result, reason))
        print("registry version %d" % current.version)
    return 0 if result == "OK" else 3


def _reverify(args):
    app = app_for(args, "licences reverify")
    with app.app_context():
        return _reverify_in_app("licences reverify", args.all, args.show, args.json)


def _reverify_in_app(cmd, everything, show, as_json):
    from server.licences import alarms, reverify

    try:
        with progress("re-verifying sales") as update:
            outcome = reverify.reverify(everything, update)
    except reverify.ReverifyError as exc:
        raise CommandError("%s: %s" % (cmd, exc))
    zones = alarms.merchant_zones()
    changes = []
    for change in outcome.changed:
        row = alarms.change_row(change)
        changes.append(alarms.change_json(row, zones.get(row["merchant"], alarms.zone(None))))
    if as_json:
        print(json.dumps({"registry_version": outcome.registry, "checked": outcome.checked,
                          "changed": len(changes), "changes": changes}, ensure_ascii=False))
        return 0
    print("registry version %d: %d sale(s) judged again, %d verdict(s) changed"
          % (outcome.registry, outcome.checked, len(changes)))
    for (old, new), n in sorted(outcome.moves.items()):
        print("  %-20s -> %-20s %d" % (old, new, n))
    for c in changes[:max(show, 0)]:
        print("  %s seq %d, sold %s: %s -> %s: %s" % (c["dev"], c["seq"], c["sold_at_local"] or "at an unknown time",
                                                    c["old"], c["new"], c["new_reason"]))
    if len(changes) > show:
        print("  ... and %d more (all of them: --json, or the server's /licences page)" % (len(changes) - max(show, 0)))
    return 0
