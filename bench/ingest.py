"""``possync-bench ingest``: simulated terminals -> Mosquitto -> server on SQLite, vs raw paho.

Phases (DESIGN.md §7): baseline (bench.baseline on the same broker); throughput (every
terminal starts with a backlog and its POS refills what is acked, so it sends flat out;
``applied_per_s`` counts records acked back to their terminal); latency (terminals x rate
swipes/s, handed swipe -> verified status rendered); drain; then ``lost`` and ``dup`` from
the server's database. Everything started here is stopped, and its temp dir removed.
"""

import os
import shutil
import tempfile
import time

from bench import baseline, frames, terminals
from bench.broker import BenchError, Mosquitto, stop_process
from bench.server_side import START_S, check_db, rejects, server_log, setup_server
from bench.stats import num, progress, result_line, summary, table
from bench.terminals import ANSWERED, APPLIED, CONNECTED, DEPTH, NCOUNT, SEEN, STORED, SWIPES

PER_WORKER = 100  # terminals per simulator process by default
BACKLOG = 4 * 32  # records each terminal starts with: four forwarder windows
WARMUP_S = 1.0
DRAIN_STALL_S = 30.0  # give up draining when nothing was acked for this long
ANSWER_GRACE_S = 5.0  # wait this long for the last swipes' statuses


class Run:
    """Everything one ingest run started, so ``stop()`` can end it all."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.broker = None
        self.server = None
        self.server_log = None
        self.procs = []
        self.control = None

    def check(self):
        """Raise BenchError when a part this run started has died."""
        if self.server is not None and self.server.poll() is not None:
            raise BenchError("possync-server exited with %s:\n%s" % (self.server.returncode, server_log(self)))
        if self.broker is not None and self.broker.proc.poll() is not None:
            raise BenchError("mosquitto exited with %s (log: %s)" % (self.broker.proc.returncode, self.broker.dir))
        dead = [p.exitcode for p in self.procs if p.exitcode is not None]
        if dead and self.control.value != terminals.STOP:
            raise BenchError("a terminal worker exited with %s" % dead[0])

    def stop(self):
        if self.control is not None:
            self.control.value = terminals.STOP
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
        stop_process(self.server, timeout=20)
        if self.server_log is not None:
            self.server_log.close()
        if self.broker is not None:
            self.broker.stop()


def cpu_s(pid):
    """CPU seconds (user + system, all threads) a live process has used so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU use of the parts (server, broker, terminals) over a window, in cores."""

    def __init__(self, run):
        self.groups = {"server": [run.server.pid], "broker": [run.broker.proc.pid],
                       "terminals": [p.pid for p in run.procs]}

    def snap(self):
        return time.monotonic(), {g: sum(cpu_s(p) for p in pids) for g, pids in self.groups.items()}

    def cores(self, a, b):
        dt = b[0] - a[0]
        return {g: (b[1][g] - a[1][g]) / dt for g in self.groups}


def start_workers(run, paths, k, opts):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    run.control = ctx.Value("i", terminals.IDLE, lock=False)
    counters = ctx.Array("q", NCOUNT * k, lock=False)
    results = ctx.Queue()
    for i in range(k):
        p = ctx.Process(target=terminals.worker_main, daemon=True,
                        args=(i, paths[i::k], run.control, counters, results, opts))
        p.start()
        run.procs.append(p)
    for _ in range(k):
        msg = get_result(results, START_S + 60, run)
        if "ready" not in msg:
            raise BenchError("terminal worker %d failed: %s" % (msg["worker"], msg.get("error")))
    wait_until(run, lambda: total(counters, CONNECTED) >= len(paths), START_S,
               lambda: "only %d of %d terminals connected" % (total(counters, CONNECTED), len(paths)))
    return counters, results


def get_result(results, timeout, run):
    import queue

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return results.get(timeout=0.5)
        except queue.Empty:
            if all(p.exitcode is not None for p in run.procs):
                break
    raise BenchError("terminal workers gave no answer (exit codes %s)" % [p.exitcode for p in run.procs])


def total(counters, which):
    return sum(counters[i * NCOUNT + which] for i in range(len(counters) // NCOUNT))


def set_phase(run, counters, phase):
    """Switch every worker to ``phase`` and wait until each has seen it."""
    run.control.value = phase
    k = len(counters) // NCOUNT
    wait_until(run, lambda: all(counters[i * NCOUNT + SEEN] == phase for i in range(k)), 10,
               lambda: "terminal workers did not take up phase %d" % phase)


def wait_until(run, cond, timeout, why):
    deadline = time.monotonic() + timeout
    while not cond():
        run.check()
        if time.monotonic() > deadline:
            raise BenchError(why())
        time.sleep(0.1)


def timed_phase(run, counters, which, seconds, label):
    """Let a phase run ``seconds`` after a warm-up; return (rate of counter ``which``, cpu window)."""
    time.sleep(WARMUP_S)
    cpu = Cpu(run)
    c0, s0 = total(counters, which), cpu.snap()
    step = max(1.0, seconds / 10.0)
    end = s0[0] + seconds
    last, t_last = c0, s0[0]
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(step, end - now))
        run.check()
        c, t = total(counters, which), time.monotonic()
        progress("  %s %4.0f/%.0f s: %s/s" % (label, t - s0[0], seconds, num((c - last) / (t - t_last))))
        last, t_last = c, t
    s1 = cpu.snap()
    return (total(counters, which) - c0) / (s1[0] - s0[0]), cpu.cores(s0, s1)


def drain(run, counters, label):
    """Wait until every outbox is empty; stop waiting when acks stall."""
    progress("  draining (%s): %d records pending" % (label, total(counters, DEPTH)))
    last, t_last = total(counters, APPLIED), time.monotonic()
    while total(counters, DEPTH) > 0:
        time.sleep(0.2)
        run.check()
        applied = total(counters, APPLIED)
        if applied != last:
            last, t_last = applied, time.monotonic()
        elif time.monotonic() - t_last > DRAIN_STALL_S:
            progress("  drain stalled: %d records still pending" % total(counters, DEPTH))
            return False
    return True


def phases(run, args, k):
    """Run the three phases, drain, stop, and check the database; return the figures."""
    n, rate, seconds = args.terminals, args.rate, args.seconds
    bseconds = args.baseline_seconds or min(seconds, 10.0)
    f = {"n": n, "rate": rate, "seconds": seconds}
    run.broker = Mosquitto(os.path.join(run.tmp, "broker"), os.urandom(12).hex()).start()
    progress("ingest: %d terminals in %d process(es), %s swipes/s each, %s s per phase; in %s"
             % (n, k, num(rate), num(seconds), run.tmp))
    progress("phase 1: baseline (raw paho, QoS 1, %s s per step)" % num(bseconds))
    f["base"], f["pubs"], f["steps"] = baseline.measure(run.broker, bseconds)
    progress("setting up: %d devices, server, terminal backlogs" % n)
    paths, db_path, url = setup_server(run, n, run.broker)
    opts = {"seed": 7, "rate": rate, "backlog": BACKLOG}
    counters, results = start_workers(run, paths, k, opts)

    progress("phase 2: throughput (backlog %d per terminal, refilled as acked)" % BACKLOG)
    set_phase(run, counters, terminals.FLOOD)
    f["applied_rate"], f["flood_cpu"] = timed_phase(run, counters, APPLIED, seconds, "applied")
    set_phase(run, counters, terminals.DRAIN)
    drained = drain(run, counters, "after throughput")

    progress("phase 3: latency (%d terminals x %s swipes/s)" % (n, num(rate)))
    set_phase(run, counters, terminals.SWIPE)
    f["swipe_rate"], f["swipe_cpu"] = timed_phase(run, counters, SWIPES, seconds, "swipes")
    set_phase(run, counters, terminals.SWIPE_END)
    deadline = time.monotonic() + ANSWER_GRACE_S
    while total(counters, ANSWERED) < total(counters, SWIPES) and time.monotonic() < deadline:
        time.sleep(0.1)
        run.check()
    f["drained"] = drain(run, counters, "final") and drained
    f["stored_total"] = total(counters, STORED)
    f["rejects"] = rejects(url)

    run.control.value = terminals.STOP
    outs = [get_result(results, 30, run) for _ in range(k)]
    for out in outs:
        if "error" in out:
            raise BenchError("terminal worker %d failed: %s" % (out["worker"], out["error"]))
    stop_process(run.server, timeout=20)
    stored = {}
    f["latencies"], f["lags"] = [], []
    for out in outs:
        stored.update(out["stored"])
        f["latencies"] += out["latencies"]
        f["lags"] += out["lags"]
    f["lost"], f["dup"], f["phantom"], f["applied_total"], f["unjudged"], f["not_ok"] = check_db(db_path, stored)
    f["facts"] = {name: sum(o[name] for o in outs)
                  for name in ("dropped_down", "render_errors", "reconnects", "unanswered")}
    f["facts"]["pending"] = sum(d for last, d in stored.values())
    appended = sum(o["appended"] for o in outs)
    f["append_ms"] = sum(o["append_ms"] for o in outs) / appended if appended else 0.0
    return f


def report(f):
    """Print the tables and, last, the RESULT line; return the exit status."""
    p50, p99, pmax = summary(f["latencies"])
    lag99 = summary(f["lags"])[1]
    ratio = f["applied_rate"] / f["base"] if f["base"] else 0.0
    n, pubs = f["n"], f["pubs"]
    baseline.print_steps(f["steps"], len(frames.sale_frame("BASE1", 1)))
    print()
    print(table(["figure", "value"], [
        ["baseline msg/s (%d publisher process%s)" % (pubs, "" if pubs == 1 else "es"), f["base"]],
        ["applied records/s (%d terminals, flat out)" % n, f["applied_rate"]],
        ["ratio applied / baseline", ratio],
        ["swipes/s handed (%d x %s/s)" % (n, num(f["rate"])), f["swipe_rate"]],
        ["swipe -> status p50 ms", p50], ["swipe -> status p99 ms", p99], ["swipe -> status max ms", pmax],
        ["simulator lateness p99 ms (not in the latency)", lag99],
        ["terminal outbox append+fsync mean ms", f["append_ms"]],
        ["records stored / applied", "%d / %d" % (f["stored_total"], f["applied_total"])],
        ["lost", f["lost"]], ["dup", f["dup"]],
        ["sales without exactly one verdict / verdicts not OK", "%d / %d" % (f["unjudged"], f["not_ok"])],
    ]))
    print()
    rows = [[label] + [cpu[g] for g in ("server", "broker", "terminals")]
            for label, cpu in (("throughput phase", f["flood_cpu"]), ("latency phase", f["swipe_cpu"]))]
    print(table(["CPU in cores", "server", "broker", "terminals"], rows))
    notes = ["%s=%s" % (k, num(v)) for k, v in sorted(f["facts"].items()) if v]
    notes += ["reject %s=%d" % (r, c) for r, c in sorted(f["rejects"].items()) if c]
    if f["phantom"]:
        notes.append("applied seqs never stored=%d" % f["phantom"])
    if not f["drained"]:
        notes.append("drain did not finish: lost counts the %d records still in outboxes" % f["facts"]["pending"])
    if notes:
        print("notes: " + ", ".join(notes))
    failed = f["lost"] or f["dup"] or f["unjudged"]
    if failed:
        print("FAILED: %d lost, %d applied more than once, %d sales without exactly one verdict"
              % (f["lost"], f["dup"], f["unjudged"]))
    print(result_line("ingest", [
        ("terminals", n), ("rate", f["rate"]), ("seconds", f["seconds"]), ("baseline_per_s", f["base"]),
        ("publishers", pubs), ("applied_per_s", f["applied_rate"]), ("ratio", ratio), ("p50_ms", p50),
        ("p99_ms", p99), ("max_ms", pmax), ("swipes", len(f["latencies"])),
        ("unanswered", f["facts"]["unanswered"]), ("lost", f["lost"]), ("dup", f["dup"]),
        ("unjudged", f["unjudged"])]))
    return 1 if failed else 0


def main(args):
    """``possync-bench ingest``: everything started is stopped and the temp dir removed, also on errors."""
    k = args.workers if args.workers > 0 else -(-args.terminals // PER_WORKER)
    k = max(1, min(k, args.terminals))
    tmp = tempfile.mkdtemp(prefix="possync-bench-ingest-")
    run = Run(tmp)
    try:
        figures = phases(run, args, k)
    finally:
        run.stop()
        if args.keep:
            progress("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return report(figures)
