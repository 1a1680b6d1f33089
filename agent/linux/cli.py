"""`possync-agent`: run the terminal agent, ask a running one for its status, or simulate a terminal."""

import argparse
import json
import logging
import signal
import socket
import sys
import time

from agent.core.outbox import OutboxError
from agent.linux import config as agent_config
from agent.linux import pos
from protocol import money

EXAMPLES = """examples:
  possync-agent run --config /etc/possync/agent.json
  possync-agent status --config /etc/possync/agent.json
  possync-agent simulate --config t1.json --rate 2 --cards 50 --seconds 60
"""


class CommandError(Exception):
    """A failure of one command; the message starts with the command name."""


def _load(cmd, path):
    try:
        return agent_config.load(path)
    except agent_config.ConfigError as exc:
        hint = "" if str(exc).endswith(")") else " (fix the file and try again)"
        raise CommandError("%s: %s%s" % (cmd, exc, hint))


def _start(cmd, runner):
    try:
        return runner.start()
    except OutboxError as exc:
        raise CommandError("%s: %s" % (cmd, exc))
    except OSError as exc:
        p = runner.cfg["pos"]
        raise CommandError("%s: cannot listen for the POS on %s:%d (%s) (is another possync-agent running? "
                           "see `possync-agent status`)" % (cmd, p["host"], p["port"], exc.strerror or exc))


def _serve(runner):
    """Run the main loop until SIGTERM/SIGINT; the outbox is closed on the way out."""
    saved = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        saved[sig] = signal.signal(sig, lambda signum, frame: runner.stop())
    try:
        runner.run()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def do_run(args):
    from agent.linux.runner import Runner
    cfg = _load("run", args.config)
    reader = display = None
    try:
        if cfg["reader"] is not None:
            from agent.linux import reader as readers
            if cfg["reader"].get("stdin"):
                reader = readers.TtyReader(0)
            else:
                reader = readers.SerialReader(cfg["reader"]["port"], cfg["reader"]["baud"])
        if cfg["display"] is not None:
            from agent.linux.display import SerialDisplay
            d = cfg["display"]
            display = SerialDisplay(d["port"], d["baud"], d["lang"], d["charset"])
    except OSError as exc:  # serial.SerialException is an OSError
        raise CommandError("run: cannot open a serial port: %s (check reader.port / display.port in %s and "
                           "that the service user is in the dialout group)" % (exc, args.config))
    _serve(_start("run", Runner(cfg, reader, display)))
    return 0


def do_status(args):
    cfg = _load("status", args.config)
    host, port = cfg["pos"]["host"], cfg["pos"]["port"]
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b'{"op":"status"}\n')
            reply = pos.read_reply(s.makefile("rb"))
    except (OSError, ValueError) as exc:
        raise CommandError("status: no agent answers on %s:%d (%s) (is it running? try "
                           "`systemctl status possync-agent`)" % (host, port, exc))
    if args.json:
        print(json.dumps(reply, sort_keys=True))
        return 0
    print("device     %s" % reply["device"])
    print("connected  %s" % ("yes" if reply["connected"] else "NO"))
    print("depth      %d records waiting for the server" % reply["depth"])
    print("oldest     %d s" % reply["oldest_s"])
    print("full       %s" % ("YES: sales are NOT being stored, call support" if reply["full"] else "no"))
    print("next_seq   %d" % reply["next_seq"])
    print("config     %s" % config_line(reply))
    return 0


def config_line(reply):
    """The server's config as a status line: version, when applied (UTC: the agent knows no store zone),
    and the hot-list size and offline limits in force; without one, why and what to check."""
    cur, off = reply["currency"], reply["offline"]
    force = "%d frozen card(s) on the hot list, offline limits %s %s per card and %s %s per terminal" % (
        reply["frozen"], money.text(off["card"], cur), cur, money.text(off["terminal"], cur), cur)
    if reply["config"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(reply["config_at"]))
        return "version %d applied %s: %s" % (reply["config"], when, force)
    if reply["connected"]:
        hint = ("connected, yet none came: check that `possync-server run` is up, and "
                "`journalctl -u possync-agent` for refused config frames")
    else:
        hint = "not connected: see the connected line above and `journalctl -u possync-agent`"
    return "none from the server yet (%s); in force from the config file: %s" % (hint, force)


def do_simulate(args):
    from agent.linux.runner import Runner
    from agent.linux.simulate import SimPos
    if args.rate <= 0 or args.cards < 1 or args.seconds < 0:
        raise CommandError("simulate: --rate must be > 0, --cards >= 1, --seconds >= 0")
    cfg = _load("simulate", args.config)
    cfg["pos"] = dict(cfg["pos"], port=args.pos_port)
    runner = _start("simulate", Runner(cfg))
    sim = SimPos(runner, args.rate, args.cards, args.seconds, args.seed, cfg["currency"])
    sim.start()
    try:
        _serve(runner)
    finally:
        sim.halt.set()
    s, r = sim.stats, runner.stats
    print("simulate: %s: %d sales, %d stored, %d not stored, %d rejected; %d stored-value spends, %d paid, "
          "%d refused; %d acked, %d statuses, %d swipes; outbox depth %d"
          % (cfg["device"], s["sales"], s["stored"], s["not_stored"], s["errors"], s["svspends"], s["sv_paid"],
             s["sv_refused"], r["acked"], r["statuses"], r["swipes"], runner.outbox.depth))
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="possync-agent", description="possync terminal agent: stores sales and "
                                "card swipes durably and forwards them to the sync server over MQTT.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("run", help="run the agent (what the systemd service does)",
                       epilog="example:\n  possync-agent run --config /etc/possync/agent.json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--config", required=True, help="agent JSON config (from `possync-server device add --agent-config`)")
    r.set_defaults(func=do_run)
    s = sub.add_parser("status", help="ask the running agent for outbox depth, oldest record, connection",
                       epilog="example:\n  possync-agent status --config /etc/possync/agent.json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--config", required=True, help="the running agent's config (for its POS port)")
    s.add_argument("--json", action="store_true", help="print the raw status object")
    s.set_defaults(func=do_status)
    m = sub.add_parser("simulate", help="the real agent with a simulated card reader and POS",
                       epilog="example:\n  possync-agent simulate --config t1.json --rate 5 --cards 20 --seconds 30",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--config", required=True, help="agent JSON config of the simulated terminal")
    m.add_argument("--rate", type=float, default=1.0, help="sales per second (default 1)")
    m.add_argument("--cards", type=int, default=20, help="size of the simulated card pool (default 20)")
    m.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (default 0: run until stopped)")
    m.add_argument("--seed", type=int, default=1, help="seed of the card pool and amounts (default 1)")
    m.add_argument("--pos-port", type=int, default=0, help="POS port to listen on (default 0: any free port)")
    m.set_defaults(func=do_simulate)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CommandError as exc:
        print("possync-agent: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
