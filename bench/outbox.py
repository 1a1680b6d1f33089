"""``possync-bench outbox``: the agent's Outbox appending fsynced records vs raw write+fsync.

Both write the same number of bytes per record to files in one temp dir, in alternating
rounds (outbox first, then raw first) so a noisy disk hurts both alike.
"""

import os
import shutil
import tempfile
import time

from agent.core.outbox import FRAME, REC_HEAD, Outbox
from bench import frames
from bench.stats import num, progress, result_line, summary, table


def _bodies(count, size):
    """``count`` record bodies: real sale bodies, or ``size`` bytes each when given."""
    if size:
        return [(b"%010d" % seq + b"x" * size)[:size] for seq in range(1, count + 1)]
    return [frames.sale_body("BENCH1", seq) for seq in range(1, count + 1)]


def _run_outbox(box, bodies, lat):
    for body in bodies:
        t = time.perf_counter()
        box.append(lambda seq: body)
        lat.append((time.perf_counter() - t) * 1000.0)


def _run_raw(fd, datas, lat):
    for data in datas:
        t = time.perf_counter()
        os.write(fd, data)
        os.fsync(fd)
        lat.append((time.perf_counter() - t) * 1000.0)


def run(records=2000, size=0, rounds=6, directory=None):
    """Measure and print; return ``(exit status, result pairs)``."""
    bodies = _bodies(records, size)
    # The raw side writes what the outbox writes: frame head + seq/ts + body.
    datas = [b"\0" * (FRAME + REC_HEAD) + b for b in bodies]
    per = max(1, records // rounds)
    tmp = tempfile.mkdtemp(prefix="possync-bench-outbox-", dir=directory)
    box = fd = None
    try:
        box = Outbox(os.path.join(tmp, "outbox.log"), max_bytes=sum(len(d) for d in datas) + (1 << 20),
                     max_count=records + 1)
        fd = os.open(os.path.join(tmp, "raw.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        progress("outbox: %d records of %d bytes (+%d framing), %d rounds, in %s"
                 % (records, len(bodies[0]), FRAME + REC_HEAD, rounds, tmp))
        lat_box, lat_raw = [], []
        t_box = t_raw = 0.0
        done = 0
        for r in range(rounds):
            n = per if r < rounds - 1 else records - done
            part = slice(done, done + n)
            done += n
            order = ("outbox", "raw") if r % 2 == 0 else ("raw", "outbox")
            took = {}
            for which in order:
                t = time.perf_counter()
                if which == "outbox":
                    _run_outbox(box, bodies[part], lat_box)
                else:
                    _run_raw(fd, datas[part], lat_raw)
                took[which] = time.perf_counter() - t
            t_box += took["outbox"]
            t_raw += took["raw"]
            progress("  round %d/%d: outbox %s/s  raw %s/s" % (r + 1, rounds, num(n / took["outbox"]),
                                                                num(n / took["raw"])))
    finally:
        if box is not None:
            box.close()
        if fd is not None:
            os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
    box_rate, raw_rate = records / t_box, records / t_raw
    b50, b99, bmax = summary(lat_box)
    r50, r99, rmax = summary(lat_raw)
    print(table(["", "records/s", "p50 ms", "p99 ms", "max ms"],
                [["outbox append+fsync", box_rate, b50, b99, bmax],
                 ["raw write+fsync", raw_rate, r50, r99, rmax]]))
    pairs = [("outbox_per_s", box_rate), ("raw_per_s", raw_rate), ("ratio", box_rate / raw_rate),
             ("p50_ms", b50), ("p99_ms", b99), ("raw_p50_ms", r50), ("raw_p99_ms", r99),
             ("records", records), ("bytes", len(datas[0]))]
    print(result_line("outbox", pairs))
    return 0, pairs
