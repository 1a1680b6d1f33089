"""`possync-server vault rotate-key|status|retire-key|audit|show`: the personal-data vault from the command line."""

import argparse
import getpass
import json
import os

from server.commands import CommandError, app_for, progress, subcommand
from server.vault.crypto import VaultError

EPILOG = """examples:
  possync-server vault status
  possync-server vault rotate-key --config /etc/possync/server.json
  possync-server vault rotate-key --resume
  possync-server vault retire-key 1
  possync-server vault audit --customer CABCDEFGHIJKLMNOP --limit 20
  possync-server vault show CABCDEFGHIJKLMNOP --purpose "call-back on complaint 1234"

The vault (VAULT_DATABASE_URL, default vault.db in the instance folder) holds the customers'
personal data, each field encrypted with a key from VAULT_KEY_FILE (default vault.keys there)
or from POSSYNC_VAULT_KEYS ("1:<64 hex digits>,2:<64 hex digits>"). Back the key file up after
every key change: a field whose key is lost can never be read again.
"""


def argparse_vault(sub, parent):
    p = sub.add_parser("vault", help="rotate keys, read the audit or a customer's personal data",
                       description="The personal-data vault: a database apart from the main one, every field "
                                   "encrypted, every read audited (DESIGN.md §4).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    vsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    rot = subcommand(
        vsub, parent, "rotate-key", "add a new key version and re-encrypt every field under it",
        "Add a new key version to the key file, then re-encrypt every field sealed under an older "
        "version. It commits as it goes: after an interruption, --resume finishes the job without "
        "adding another key. With POSSYNC_VAULT_KEYS, add the new key there, restart, then --resume.",
        ["possync-server vault rotate-key", "possync-server vault rotate-key --resume"])
    rot.add_argument("--resume", action="store_true", help="re-encrypt under the current key without adding one")
    rot.add_argument("--chunk", metavar="N", type=int, default=200, help="fields per committed transaction "
                                                                       "(default 200)")
    subcommand(vsub, parent, "status", "key versions and how many fields each one seals",
               "Show the key versions in the ring, the current one, and how many fields each seals.",
               ["possync-server vault status"])
    ret = subcommand(vsub, parent, "retire-key", "remove an old key version no field uses any more",
                     "Remove key version N from the key file. Refused while any field is sealed under it.",
                     ["possync-server vault rotate-key && possync-server vault retire-key 1"])
    ret.add_argument("version", metavar="N", type=int, help="the key version to remove")
    aud = subcommand(vsub, parent, "audit", "who read, wrote or erased whose personal data, and why",
                     "List the vault audit, newest first: time (UTC), actor, action, customer, fields, purpose.",
                     ["possync-server vault audit",
                      "possync-server vault audit --customer CABCDEFGHIJKLMNOP --limit 500 --json"])
    aud.add_argument("--customer", metavar="C", help="only this customer's rows")
    aud.add_argument("--limit", metavar="N", type=int, default=50, help="at most N rows (default 50)")
    aud.add_argument("--json", action="store_true", help="print the rows as one JSON array")
    show = subcommand(vsub, parent, "show", "print a customer's personal data (an audited read)",
                      "Print every vault field of CUSTOMER. The read is audited with your user name and PURPOSE.",
                      ['possync-server vault show CABCDEFGHIJKLMNOP --purpose "warranty claim 77"'])
    show.add_argument("customer", metavar="CUSTOMER", help="the customer id (C + 16 characters)")
    show.add_argument("--purpose", metavar="TEXT", required=True, help="why you read it (goes into the audit)")
    show.add_argument("--json", action="store_true", help="print the fields as one JSON object")


def do_vault(args):
    from server.vault import db

    cmd = "vault " + args.action
    app = app_for(args, cmd)
    try:
        db.init_app(app)  # nothing more to do once create_app binds the vault itself
        with app.app_context():
            return {"rotate-key": _rotate, "status": _status, "retire-key": _retire,
                    "audit": _audit, "show": _show}[args.action](args, app, cmd)
    except VaultError as exc:
        raise CommandError("%s: %s" % (cmd, exc))


def _actor():
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return "cli:" + user


def _rotate(args, app, cmd):
    from server.vault import db, keyring, rotate

    if not args.resume:
        if db.from_env():
            raise CommandError("%s: the vault keys come from %s: add the new key there (...,N:<64 hex digits>), "
                               "restart the server, then run `possync-server vault rotate-key --resume`"
                               % (cmd, keyring.ENV))
        version = keyring.add_version(app.config["VAULT_KEY_FILE"])
        print("key version %d added to %s: back that file up now" % (version, app.config["VAULT_KEY_FILE"]))
    try:
        with progress("re-encrypting vault fields") as update:
            counts = rotate.rotate(update, args.chunk, _actor())
    except KeyboardInterrupt:
        raise CommandError("%s: interrupted; the fields re-encrypted so far are saved: run "
                           "`possync-server vault rotate-key --resume` to finish" % cmd)
    print("%d field(s) re-encrypted under key version %d" % (counts["rotated"], counts["current"]))
    return 0


def _status(args, app, cmd):
    from server.vault import db, keyring, rotate

    st = rotate.status()
    print("keys from: %s" % (keyring.ENV if db.from_env() else app.config["VAULT_KEY_FILE"]))
    print("key versions: %s (current %d)" % (", ".join(str(v) for v in st["versions"]), st["current"]))
    for version, count in sorted(st["fields"].items()):
        note = ""
        if version not in st["versions"]:
            note = "  KEY MISSING: restore key version %d to read them" % version
        elif version < st["current"]:
            note = "  (run `possync-server vault rotate-key --resume`)"
        print("fields under key version %d: %d%s" % (version, count, note))
    if not st["fields"]:
        print("no fields held")
    return 0


def _retire(args, app, cmd):
    from server.vault import db, keyring, rotate

    if db.from_env():
        raise CommandError("%s: the vault keys come from %s: remove version %d there and restart the server"
                           % (cmd, keyring.ENV, args.version))
    st = rotate.status()
    if args.version == st["current"]:
        raise CommandError("%s: key version %d is the current key: run `possync-server vault rotate-key` first"
                           % (cmd, args.version))
    used = st["fields"].get(args.version, 0)
    if used:
        raise CommandError("%s: %d field(s) still use key version %d: run `possync-server vault rotate-key --resume` "
                           "first to re-encrypt them under key version %d" % (cmd, used, args.version, st["current"]))
    keyring.retire(app.config["VAULT_KEY_FILE"], args.version)
    print("key version %d removed from %s (older backups of that file still hold it)"
          % (args.version, app.config["VAULT_KEY_FILE"]))
    return 0


def _audit(args, app, cmd):
    from server.vault import store

    if args.limit < 1:
        raise CommandError("%s: --limit must be at least 1" % cmd)
    rows = store.audit(args.customer, args.limit)
    if args.json:
        print(json.dumps([dict(row, at=row["at"].isoformat() + "Z") for row in rows], ensure_ascii=False))
        return 0
    for row in rows:
        print("%s UTC  %-16s %-7s %-17s %-30s %s" % (row["at"].strftime("%Y-%m-%d %H:%M:%S"), row["actor"],
                                                   row["action"], row["customer"] or "-",
                                                   ",".join(row["fields"]) or "-", row["purpose"]))
    if not rows:
        print("no audit rows")
    return 0


def _show(args, app, cmd):
    from server.vault import store

    values = store.get(args.customer, actor=_actor(), purpose=args.purpose)
    if args.json:
        print(json.dumps(values, ensure_ascii=False, sort_keys=True))
        return 0
    for field in sorted(values):
        value = values[field]
        print("%s: %s" % (field, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    if not values:
        print("no personal data held for %s" % args.customer)
    return 0
