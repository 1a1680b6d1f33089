"""Round trips of agent.core.outbox in a scratch directory; print one JSON result line.

Append/ack/reopen, full, and torn-tail recovery: the last record cut at every byte offset
and with every single bit flipped must reopen to exactly the records before it.
Usage: driver_outbox.py [WORKDIR]. Runs under MicroPython (in its in-memory filesystem,
via tests/micropython/run.mjs) and under CPython from the repo root.
"""

import json
import os
import sys

from agent.core.outbox import Outbox, OutboxError

WORK = sys.argv[1] if len(sys.argv) > 1 else "/tmp/outbox"
failures = []
results = {}
checks = [0]


def check(name, got, want):
    checks[0] += 1
    results[name] = got
    if got != want:
        failures.append({"case": name, "check": "equal", "got": got, "want": want})


def body(seq):
    return ('{"v":1,"dev":"T0001","kind":"sale","seq":%d,"ref":"R-%d"}' % (seq, seq)).encode()


def pending(ob):
    return [[seq, b.decode()] for seq, b in ob.pending()]


def fresh(name):
    path = WORK + "/" + name
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def reopen_outcome(name, data):
    """Write ``data`` as the log ``name``, open it twice; return what both opens see."""
    path = fresh(name)
    write(path, data)
    try:
        ob = Outbox(path)
    except OutboxError as exc:
        return "error:" + exc.reason
    first = pending(ob)
    ob.close()
    ob = Outbox(path)
    second = pending(ob)
    ob.close()
    return first if first == second else ["reopen differs", first, second]


def append_ack_reopen():
    path = fresh("basic.outbox")
    ob = Outbox(path)
    seqs = [ob.append(body)[0] for _ in range(5)]
    check("basic: appended seqs", seqs, [1, 2, 3, 4, 5])
    check("basic: ack upto 2 also 4 removes", ob.ack(2, [4]), 3)
    check("basic: pending after ack", pending(ob), [[3, body(3).decode()], [5, body(5).decode()]])
    ob.close()
    ob = Outbox(path)
    check("basic: pending after reopen", pending(ob), [[3, body(3).decode()], [5, body(5).decode()]])
    check("basic: next seq after reopen", ob.append(body)[0], 6)
    check("basic: ack upto 6 removes", ob.ack(6), 3)
    check("basic: duplicate ack removes", ob.ack(6), 0)
    ob.close()
    ob = Outbox(path)
    check("basic: empty after reopen", [pending(ob), ob.depth, ob.oldest_ts], [[], 0, None])
    check("basic: seqs keep rising after all acked", ob.append(body)[0], 7)
    ob.close()


def full():
    ob = Outbox(fresh("full.outbox"), max_count=2)
    ob.append(body)
    ob.append(body)
    try:
        ob.append(body)
        got = "stored"
    except OutboxError as exc:
        got = exc.reason
    check("full: third append refused", [got, ob.full, ob.depth], ["full", True, 2])
    ob.ack(1)
    check("full: ack frees room", [ob.full, ob.append(body)[0]], [False, 3])
    ob.close()


def torn_tail():
    path = fresh("torn.outbox")
    ob = Outbox(path)
    for _ in range(3):
        ob.append(body)
    ob.close()
    data = read(path)
    last = len(data)
    start = last - (11 + 12 + len(body(3)))  # frame head + seq/ts + body of record 3
    survivors = [[1, body(1).decode()], [2, body(2).decode()]]
    check("torn: whole log reopens", reopen_outcome("torn.outbox", data), survivors + [[3, body(3).decode()]])
    bad = []
    for cut in range(start, last):
        if reopen_outcome("torn.outbox", data[:cut]) != survivors:
            bad.append("cut at %d" % cut)
    for i in range(start, last):
        for bit in range(8):
            flipped = data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]
            if reopen_outcome("torn.outbox", flipped) != survivors:
                bad.append("bit %d of byte %d" % (bit, i))
    check("torn: every cut and bit flip of the last record drops only it", bad, [])
    second = start - (11 + 12 + len(body(2)))
    flipped = data[:second + 20] + bytes([data[second + 20] ^ 1]) + data[second + 21:]
    check("torn: damage in record 2 drops it and all after", reopen_outcome("torn.outbox", flipped), survivors[:1])
    check("torn: damaged header refuses to open", reopen_outcome("torn.outbox", b"PX" + data[2:]), "error:corrupt_header")
    write(fresh("torn.outbox"), data[:start + 5])
    ob = Outbox(path)
    check("torn: append after recovery", [ob.append(body)[0], ob.depth], [3, 3])
    ob.close()


def tmp_recovery():
    path = fresh("tmp.outbox")
    ob = Outbox(path)
    ob.append(body)
    ob.close()
    os.rename(path, path + ".tmp")  # a compaction that died between remove and rename
    ob = Outbox(path)
    check("tmp: whole .tmp becomes the log", pending(ob), [[1, body(1).decode()]])
    ob.close()


def main():
    try:
        os.mkdir(WORK)
    except OSError:
        pass
    for step in (append_ack_reopen, full, torn_tail, tmp_recovery):
        step()
    print(json.dumps({"driver": "outbox", "ran": checks[0], "failures": failures, "results": results}))


main()
