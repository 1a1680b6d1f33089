"""`possync-server merchant add|list` and `device set`: who each terminal sells for, and where."""

import argparse
import json

from server.commands import CommandError, app_for

EPILOG = """examples:
  possync-server merchant add M001 --name "西湖店" --province 浙江
  possync-server merchant add HK01 --name "Harbour store" --province 广东 --tz Asia/Hong_Kong
  possync-server merchant list
  possync-server device set T1 --merchant M001

A merchant's province is what every sale's acquiring grant is judged against; its time zone
is the one its times are shown in.
"""


def argparse_merchant(sub, parent):
    p = sub.add_parser("merchant", help="add or list merchants (the province sales are judged in)",
                       description="Merchants (or stores) the terminals sell for.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = msub.add_parser("add", parents=[parent], help="add a merchant", epilog=EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("code", metavar="CODE", help="merchant code, 1-32 of A-Z a-z 0-9 - _")
    add.add_argument("--name", required=True, help="the merchant's or store's name")
    add.add_argument("--province", required=True,
                     help="province it is registered in: full name (浙江省), short name (浙江) or GB/T 2260 code (33)")
    add.add_argument("--tz", default="Asia/Shanghai", help="IANA time zone its times are shown in (default Asia/Shanghai)")
    lst = msub.add_parser("list", parents=[parent], help="list merchants")
    lst.add_argument("--json", action="store_true", help="print JSON")


def do_merchant(args):
    from server.fleet import devices, merchants

    cmd = "merchant " + args.action
    app = app_for(args, cmd)
    with app.app_context():
        if args.action == "list":
            rows = [m.as_dict() for m in merchants.list_merchants()]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False))
            elif not rows:
                print("no merchants (add one with: possync-server merchant add M001 --name NAME --province 浙江)")
            for m in [] if args.json else rows:
                print("%-12s %-10s %-16s %s" % (m["code"], m["province"], m["tz"], m["name"]))
            return 0
        try:
            merchant = merchants.add_merchant(args.code, args.name, args.province, args.tz)
        except devices.FleetError as exc:
            raise CommandError("%s: %s" % (cmd, exc))
    print("merchant %s added (%s, %s); give it terminals with: possync-server device set T1 --merchant %s"
          % (merchant.code, merchant.province, merchant.tz, merchant.code))
    return 0


def device_set(args):
    """`device set DEVICE --merchant CODE`."""
    from server.fleet import devices, merchants

    cmd = "device set"
    app = app_for(args, cmd)
    with app.app_context():
        try:
            merchants.set_merchant(args.dev, args.merchant)
        except devices.FleetError as exc:
            raise CommandError("%s: %s" % (cmd, exc))
    print("device %s now sells for merchant %s: its next sales are judged in that merchant's province"
          % (args.dev, args.merchant))
    return 0
