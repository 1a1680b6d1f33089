"""possync-fw: the field technician's tool (enroll, provision, bundle, deploy, probe).

Only the command table exists yet; each command says which issue brings it.
"""

import argparse
import sys

EPILOG = """examples:
  possync-fw --help
  possync-fw enroll --server https://possync.example:8443 --device T0042   (planned)

Until enrolment lands, provision a terminal on the server with
  possync-server device add T0042 --agent-config /etc/possync/agent.json
"""

PLANNED = ("enroll", "provision", "bundle", "deploy", "probe", "revoke", "rotate")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="possync-fw", description=__doc__.splitlines()[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=PLANNED, help="technician command (not built yet)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print("possync-fw: %s: not built yet (use `possync-server device add` to provision a terminal)" % args.command,
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
