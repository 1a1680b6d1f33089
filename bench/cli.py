"""``possync-bench``: benchmarks that measure a baseline and the system in the same run.

Each prints progress and a table for people, then, as its last line,
``RESULT <name> key=value ...`` (numbers without units, times in ms).
"""

import argparse
import signal
import sys

from bench.broker import BenchError

DESCRIPTION = ("Benchmarks that measure a plain baseline and the system in the same run, and end with\n"
               "one line: RESULT <name> key=value ... (numbers without units, times in ms).")

EXAMPLES = """examples:
  possync-bench outbox                                  # 2000 fsynced appends vs raw write+fsync
  possync-bench outbox --records 500 --size 1024
  possync-bench baseline --seconds 5                    # raw paho -> Mosquitto -> paho, QoS 1
  possync-bench ingest --terminals 200 --rate 2 --seconds 20
  possync-bench ingest --terminals 3 --rate 1 --seconds 2   # a quick smoke run
  possync-bench tags                                        # 1M customers, 10M sales: recompute vs SQL aggregate,
                                                            # BG/NBD + Gamma-Gamma fits vs lifetimes
  possync-bench tags --customers 2000 --sales 20000 --no-lifetimes   # a quick smoke run

Each bench starts its own Mosquitto (and server) on a free 127.0.0.1 port in a temp dir
and removes everything it started when it ends, also on Ctrl-C.  The last line is
RESULT <name> key=value ...; `ingest` exits 1 when it saw lost or duplicated records.
"""


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be > 0")
        return value
    return parse


def argparse_outbox(sub):
    p = sub.add_parser("outbox", help="agent outbox appends (with fsync) vs raw write+fsync",
                       description="Appends records through the agent's real Outbox (fsync each) and writes "
                                   "the same bytes with os.write+os.fsync to the same directory, in alternating "
                                   "rounds; prints both rates, their ratio and append latencies.")
    p.add_argument("--records", type=_positive(int), default=2000, help="records per side (default 2000)")
    p.add_argument("--size", type=_positive(int), default=None,
                   help="body bytes per record (default: a real sale body with card token)")
    p.add_argument("--rounds", type=_positive(int), default=6, help="alternating rounds (default 6)")
    p.add_argument("--dir", default=None, help="file system to test (default: the system temp dir)")
    p.set_defaults(func=do_outbox)


def do_outbox(args):
    from bench import outbox
    return outbox.run(args.records, args.size or 0, min(args.rounds, args.records), args.dir)[0]


def argparse_baseline(sub):
    p = sub.add_parser("baseline", help="raw paho publishers -> Mosquitto -> one paho subscriber",
                       description="The ingest bench's baseline on its own: paho publisher processes flat out "
                                   "at QoS 1 with sale-frame-sized payloads, adding publishers until the "
                                   "delivered rate stops rising.")
    p.add_argument("--seconds", type=_positive(float), default=5.0, help="measuring time per step (default 5)")
    p.add_argument("--max-publishers", type=_positive(int), default=6, help="most publisher processes (default 6)")
    p.set_defaults(func=do_baseline)


def do_baseline(args):
    from bench import baseline
    return baseline.main(args.seconds, args.max_publishers)


def argparse_ingest(sub):
    p = sub.add_parser("ingest", help="simulated terminals -> Mosquitto -> server on SQLite, vs the baseline",
                       description="Phases: baseline (raw paho), throughput (terminals with a backlog, flat "
                                   "out), latency (terminals x rate swipes/s), then drain and count lost and "
                                   "duplicated records in the server's database.")
    p.add_argument("--terminals", type=_positive(int), default=200, help="simulated terminals (default 200)")
    p.add_argument("--rate", type=_positive(float), default=2.0, help="swipes per second per terminal (default 2)")
    p.add_argument("--seconds", type=_positive(float), default=20.0, help="length of each phase (default 20)")
    p.add_argument("--workers", type=int, default=0,
                   help="terminal simulator processes (default: up to 100 terminals each)")
    p.add_argument("--baseline-seconds", type=_positive(float), default=None,
                   help="measuring time per baseline step (default: --seconds, at most 10)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs) and print its path")
    p.set_defaults(func=do_ingest)


def do_ingest(args):
    from bench import ingest
    return ingest.main(args)


def argparse_tags(sub):
    from bench.tags import add_arguments

    p = sub.add_parser("tags", help="full tag recompute vs a plain SQL aggregate; fits vs lifetimes",
                       description="Seeds customers and sales drawn from a BG/NBD process (whole days, "
                                   "Gamma-Gamma spends) into SQLite with the server's schema, then times a plain "
                                   "count/sum/max-per-customer aggregate, the full tag recompute, and the BG/NBD "
                                   "and Gamma-Gamma fits, ours against lifetimes (bench-only venv in .cache/).")
    add_arguments(p)
    p.set_defaults(func=do_tags)


def do_tags(args):
    from bench import tags

    return tags.main(args)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


COMMANDS = (argparse_outbox, argparse_baseline, argparse_ingest, argparse_tags)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="possync-bench", description=DESCRIPTION,
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="BENCH")
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # clean up on SIGTERM as on Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (in the background)
    try:
        return args.func(args)
    except BenchError as exc:
        print("possync-bench: %s: %s" % (args.command, exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("possync-bench: %s: interrupted; everything it started was stopped" % args.command, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
