"""``possync-bench tags``: the full tag recompute vs a plain SQL aggregate, and our fits vs ``lifetimes``.

Seeds a real SQLite file with the server's own schema (merchants, devices, customers, cards,
sale and refund records) drawn from a BG/NBD process in whole days (purchase days: the
simulated frequency and recency, the days between uniform and distinct) with Gamma-Gamma
spends; then, in the same run, times ``SELECT count/sum/max ... GROUP BY customer`` over the
sales in the faster of SQLite's two plans for it (the baseline), ``server.tags.recompute.run``
(the system), and the BG/NBD and Gamma-Gamma fits on the seeded customers, ours against
``lifetimes`` (bench/tags_fit.py). ``--db`` keeps the seeded file and reuses it next time.
"""

import os
import shutil
import statistics
import tempfile
import time
import tracemalloc

import numpy as np

from bench.broker import BenchError
from bench.stats import progress, result_line, table

R, A, B = 0.55, 0.75, 4.0          # BG/NBD shape; alpha (days) is solved so that sales/customers comes out
GG_P, GG_Q, GG_V = 6.0, 4.0, 4000.0  # Gamma-Gamma: mean sale v p / (q - 1) = 8000 fen
HISTORY_DAYS = 730                 # first purchases spread over two years
REFUND_SHARE = 0.01                # sales later refunded (60 % in full)
OFFSET = 8 * 3600                  # Asia/Shanghai: the seeded merchants' time zone
MERCHANTS = 4
PER_DEVICE = 500                   # customers per terminal
HOME_SHARE = 0.8                   # sales at the customer's usual terminal
CHUNK = 100_000
TARGETS = {"recompute_s": 120.0, "ratio": 4.0, "fit_speedup": 2.0, "mem_ratio": 0.5, "param_diff": 0.001}


def _models():
    """Every table of the main database, the tag tables included."""
    from server.db import models
    from server.tags.models import MODELS

    out = list(models())
    return out + [m for m in MODELS if m not in out]


def solve_alpha(customers, sales, rng, history=HISTORY_DAYS):
    """The BG/NBD alpha (days) whose day-level process gives about ``sales / customers`` sales each.

    Purchases on one day count once, so the continuous expectation (FHL eq. 7) overshoots; a
    pilot simulation measures by how much and the target is solved again with that factor.
    """
    from server.analytics import bgnbd

    target = sales / float(customers)
    if target < 1:
        raise BenchError("--sales must be at least --customers (every seeded customer buys once)")
    ages = np.arange(history, dtype=float)  # T is uniform over these
    T = rng.integers(0, history, 50_000).astype(float)

    def mean(alpha):
        return 1.0 + float(np.mean(bgnbd.BGNBD(R, alpha, A, B).expected_unconditional(ages + 1.0)))

    def solve(goal):
        lo, hi = np.log(1e-3), np.log(1e6)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if mean(np.exp(mid)) > goal else (lo, mid)
        return float(np.exp((lo + hi) / 2))

    factor = 1.0
    for _ in range(3):
        alpha = solve(1.0 + (target - 1.0) * factor)
        x = bgnbd.simulate(R, alpha, A, B, T, rng=rng, days=True)[0]
        factor = (mean(alpha) - 1.0) / max(float(x.mean()), 1e-9)
    return solve(1.0 + (target - 1.0) * factor)


def expected_sales(customers, alpha, rng, history=HISTORY_DAYS, pilot=200_000):
    """``(mean, sd)`` of the number of sales ``customers`` customers make, from a pilot of the same process."""
    from server.analytics import bgnbd

    T = rng.integers(0, history, pilot).astype(float)
    k = 1.0 + bgnbd.simulate(R, alpha, A, B, T, rng=rng, days=True)[0]
    return customers * float(k.mean()), float(np.sqrt(customers) * k.std())


def draw(customers, sales, seed=1, last_day=None, history=HISTORY_DAYS):
    """The seeded world as numpy arrays: ``(per-customer dict, per-record dict)``.

    Customer i first buys on ``last_day - T[i]`` and, per BG/NBD in days, on ``x[i]`` more
    distinct days, the last ``t_x[i]`` days after the first; records (sales, then refunds)
    come sorted by time, with per-terminal sequence numbers as ingest would have stored them.
    """
    from server.analytics import bgnbd

    rng = np.random.default_rng(seed)
    last_day = (int(time.time()) + OFFSET) // 86400 - 1 if last_day is None else last_day
    alpha = solve_alpha(customers, sales, rng, history)
    T = rng.integers(0, history, customers)
    x, t_x = (v.astype(np.int64) for v in bgnbd.simulate(R, alpha, A, B, T.astype(float), rng=rng, days=True)[:2])
    k = x + 1
    cust = np.repeat(np.arange(customers), k)
    pos = np.arange(cust.size) - np.repeat(np.cumsum(k) - k, k)
    xs, txs = x[cust], t_x[cust]
    offset = np.where(pos == xs, txs, 0)  # the first day is 0, the x-th repeat day t_x
    inner = (pos > 0) & (pos < xs)
    # x - 1 distinct days in 1 .. t_x - 1: sorted draws from 0 .. t_x - x plus their rank.
    y = (rng.random(int(inner.sum())) * (txs[inner] - xs[inner] + 1)).astype(np.int64)
    key = np.sort(cust[inner] * (history + 2) + y)
    offset[inner] = key - cust[inner] * (history + 2) + pos[inner]
    day = last_day - T[cust] + offset
    ts = day * 86400 - OFFSET + rng.integers(8 * 3600, 22 * 3600, cust.size)  # shop hours, local time
    nu = rng.gamma(GG_Q, 1.0 / GG_V, customers)
    amount = np.maximum(1, np.rint(rng.gamma(GG_P, 1.0 / nu[cust]))).astype(np.int64)
    devices = max(MERCHANTS, -(-customers // PER_DEVICE))
    home = rng.integers(0, devices, customers)
    dev = np.where(rng.random(cust.size) < HOME_SHARE, home[cust], rng.integers(0, devices, cust.size))
    # Refunds: a few sales taken back (in full or in part) up to two weeks later, not after last_day.
    src = np.flatnonzero(rng.random(cust.size) < REFUND_SHARE)
    end = (last_day + 1) * 86400 - OFFSET - 1
    r_ts = np.minimum(ts[src] + rng.integers(600, 14 * 86400, src.size), end)
    r_amount = np.where(rng.random(src.size) < 0.6, amount[src],
                        np.maximum(1, (amount[src] * rng.random(src.size)).astype(np.int64)))
    rec = {"cust": np.concatenate([cust, cust[src]]), "dev": np.concatenate([dev, dev[src]]),
           "ts": np.concatenate([ts, r_ts]), "amount": np.concatenate([amount, r_amount]),
           "refund": np.concatenate([np.zeros(cust.size, bool), np.ones(src.size, bool)])}
    by_dev = np.lexsort((rec["ts"], rec["dev"]))
    seq = np.empty(by_dev.size, np.int64)
    counts = np.bincount(rec["dev"], minlength=devices)
    seq[by_dev] = np.arange(by_dev.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    rec["seq"] = seq
    rec["orig_seq"] = np.concatenate([np.zeros(cust.size, np.int64), seq[src]])
    order = np.argsort(rec["ts"], kind="stable")
    rec = {name: v[order] for name, v in rec.items()}
    spend = np.bincount(cust, weights=amount, minlength=customers).astype(np.int64)
    first_ts = ts[np.cumsum(k) - k]  # each customer's day 0, its earliest sale
    people = {"x": x, "t_x": t_x, "T": T, "spend": spend, "orders": k, "first_ts": first_ts, "alpha": alpha,
              "devices": devices, "last_day": last_day, "seed": seed}
    return people, rec


def _ids(rng, n):
    """``n`` neutral customer ids shaped like server.loyalty.models.new_customer_id, from ``rng``."""
    import base64

    raw = rng.bytes(10 * n)
    return ["C" + base64.b32encode(raw[i:i + 10]).decode() for i in range(0, 10 * n, 10)]


def _hexes(rng, n):
    """``n`` random 64-character hex strings (card tokens, body hashes)."""
    raw = rng.bytes(32 * n).hex()
    return [raw[i:i + 64] for i in range(0, 64 * n, 64)]


def _stamps(ts):
    """Unix seconds as the text peewee stores a DateTimeField in SQLite."""
    return [s.replace("T", " ") for s in np.datetime_as_string(np.asarray(ts).astype("datetime64[s]")).tolist()]


def _insert(cur, model, fields, rows):
    """INSERT ``rows`` (tuples in ``fields`` order); the model's other defaults go in as SQL literals."""
    rest = [f for f in model._meta.sorted_fields if f.name not in fields and f.default is not None]
    values = [f.db_value(f.default() if callable(f.default) else f.default) for f in rest]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    names = ", ".join('"%s"' % c for c in [model._meta.fields[f].column_name for f in fields]
                      + [f.column_name for f in rest])
    literals = "".join(", %r" % (v,) if isinstance(v, (int, float)) else ", '%s'" % v for v in values)
    sql = 'INSERT INTO "%s" (%s) VALUES (%s%s)' % (model._meta.table_name, names, ", ".join("?" * len(fields)),
                                                   literals)
    cur.executemany(sql, rows)


def seed(path, people, rec, update=lambda done, total: None, target=None):
    """Write the drawn world to a new SQLite file at ``path``; returns ``{phase: seconds}``.

    Tables are created bare, filled in big transactions with journal and sync off (a crash
    while seeding only loses the seed), and indexed once full, as ``create_tables`` does.
    """
    import sqlite3

    from server.fleet.models import Device, Merchant
    from server.ingest.models import Record
    from server.loyalty.models import Card, Customer

    took = {}
    start = time.perf_counter()
    rng = np.random.default_rng(people["seed"] + 1)
    n, total = people["x"].size, people["x"].size * 2 + rec["ts"].size
    _create(path, indexes=False)
    conn = sqlite3.connect(path, isolation_level=None)
    cur = conn.cursor()
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
        cur.execute("PRAGMA " + pragma)  # for the seeding only; _create(indexes=True) puts WAL back
    created = "2020-01-01 00:00:00"
    cur.execute("BEGIN")
    _insert(cur, Merchant, ("code", "name", "province", "tz", "created_at"),
            [("BM%d" % i, "Bench merchant %d" % i, "Shanghai", "Asia/Shanghai", created) for i in range(MERCHANTS)])
    top = np.bincount(rec["dev"], minlength=people["devices"])  # seqs run 1 .. count per terminal
    _insert(cur, Device, ("id", "key_enc", "created_at", "state", "acked_upto", "merchant"),
            [(_dev(d), b"", created, "offline", int(top[d]), "BM%d" % (d % MERCHANTS)) for d in range(top.size)])
    ids, toks = _ids(rng, n), _hexes(rng, n)
    spend = people["spend"]
    tier = np.where(spend >= 500_000, "gold", np.where(spend >= 100_000, "silver", "basic")).tolist()
    since = _stamps(people["first_ts"])
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        _insert(cur, Customer, ("id", "points", "created_at", "state", "tier"),
                zip(ids[lo:hi], (spend[lo:hi] // 100).tolist(), since[lo:hi], ["active"] * (hi - lo), tier[lo:hi]))
        _insert(cur, Card, ("tok", "customer", "bin", "last4", "created_at"),
                zip(toks[lo:hi], ids[lo:hi], ["622848"] * (hi - lo),
                    ["%04d" % v for v in rng.integers(0, 10000, hi - lo).tolist()], since[lo:hi]))
        update(2 * hi, total)
    cur.execute("COMMIT")
    took["customers_s"] = time.perf_counter() - start
    start = time.perf_counter()
    fields = ("dev", "seq", "kind", "ts", "received_at", "ref", "orig", "amount", "cur", "tok", "customer",
              "body_hash")
    devs = [_dev(d) for d in range(people["devices"])]
    for lo in range(0, rec["ts"].size, CHUNK):
        part = {k: v[lo:lo + CHUNK] for k, v in rec.items()}
        size = part["ts"].size
        refund = part["refund"].tolist()
        seq = part["seq"].tolist()
        cust = part["cust"].tolist()
        rows = zip([devs[d] for d in part["dev"].tolist()], seq, ["refund" if r else "sale" for r in refund],
                   part["ts"].tolist(), _stamps(part["ts"] + rng.integers(1, 30, size)),
                   [("F%d" if r else "S%d") % s for r, s in zip(refund, seq)],
                   ["S%d" % o if r else None for r, o in zip(refund, part["orig_seq"].tolist())],
                   part["amount"].tolist(), ["CNY"] * size, [toks[c] for c in cust], [ids[c] for c in cust],
                   _hexes(rng, size))
        cur.execute("BEGIN")
        _insert(cur, Record, fields, rows)
        cur.execute("COMMIT")
        update(2 * n + lo + size, total)
    took["records_s"] = time.perf_counter() - start
    conn.close()
    start = time.perf_counter()
    _create(path, indexes=True)
    took["indexes_s"] = time.perf_counter() - start
    meta = {"customers": n, "target": target, "sales": int((~rec["refund"]).sum()), "refunds": int(rec["refund"].sum()),
            "last_day": people["last_day"], "seed": people["seed"], "alpha": people["alpha"]}
    conn = sqlite3.connect(path)
    with conn:  # last: a file without it is a seed that did not finish
        conn.execute("CREATE TABLE bench_tags_seed (key TEXT PRIMARY KEY, value)")
        conn.executemany("INSERT INTO bench_tags_seed VALUES (?, ?)", sorted(meta.items()))
    conn.close()
    return took


def _dev(d):
    return "BT%05d" % d


def _bind(path):
    """Bind the server's ``db`` to the SQLite file at ``path`` as the server opens it; returns the Database."""
    from server import db as server_db

    database = server_db.connect("sqlite:///" + path)
    server_db.db.initialize(database)
    return database


def _create(path, indexes):
    """The server's tables, bare (``indexes`` False) or with every index, as ``create_tables`` makes them.

    The indexes are built through the server's own connection (WAL): with journal and sync off
    and a big cache they took longer here (75 s against 42 s for 10M records).
    """
    from server import db as server_db

    database = _bind(path)
    try:
        with database.atomic():
            for model in _models():
                model._schema.create_table(safe=True)
                if indexes:
                    model._schema.create_indexes(safe=True)
        if indexes:
            server_db.create_tables()  # what the server does on start: nothing should be left to do
    finally:
        database.close()


def seeded(path):
    """``{key: value}`` of the seed a file at ``path`` holds, or None when it holds none."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM bench_tags_seed"))
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def prepare(path, customers, sales, seed_no=1):
    """Seed ``path`` (or reuse the same seed found there); returns ``(meta, {phase: seconds})``."""
    from server.commands import progress as bar

    if os.path.exists(path):
        meta = seeded(path)
        want = {"customers": customers, "target": sales, "seed": seed_no}
        if meta is None or any(meta.get(k) != v for k, v in want.items()):
            raise BenchError("%s exists and holds no seed of %d customers, %d sales, seed %d; remove it or "
                             "choose another --db" % (path, customers, sales, seed_no))
        progress("reusing the seed in %s: %d customers, %d sales, %d refunds"
                 % (path, meta["customers"], meta["sales"], meta["refunds"]))
        return meta, {}
    start = time.perf_counter()
    people, rec = draw(customers, sales, seed_no)
    took = {"draw_s": time.perf_counter() - start}
    progress("drew %d customers, %d records (alpha %.3f days) in %.1f s"
             % (customers, rec["ts"].size, people["alpha"], took["draw_s"]))
    with bar("seeding") as update:
        took.update(seed(path, people, rec, update, target=sales))
    return seeded(path), took


def fit_arrays(path, last_day):
    """``(x, t_x, T, m)`` per buyer as the server's refit reads them, from the sales in ``path``.

    Days are local days; T runs to ``last_day`` (the seed's observation end); ``m`` = spend / orders.
    """
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        rows = np.array(conn.execute(
            'SELECT COUNT(DISTINCT ("ts" + %d) / 86400), MIN(("ts" + %d) / 86400), MAX(("ts" + %d) / 86400), '
            'SUM("amount"), COUNT(*) FROM "record" WHERE "kind" = \'sale\' GROUP BY "customer"'
            % (OFFSET, OFFSET, OFFSET)).fetchall(), dtype=float).reshape(-1, 5)
    finally:
        conn.close()
    days, first, last, spend, orders = rows.T
    return days - 1, last - first, last_day - first, spend / orders


# The baseline: count/sum/max per customer over the sales, in both plans SQLite has for it
# (walk the customer index, or scan the table into a temp B-tree); the faster one is the baseline.
AGGREGATE = ('SELECT "customer", COUNT(*), SUM("amount"), MAX("amount"), MAX("ts") FROM "record"%s '
             'WHERE "kind" = \'sale\' GROUP BY "customer"')
PLANS = {"index": AGGREGATE % "", "scan": AGGREGATE % " NOT INDEXED"}


def aggregate(database, plan):
    """``(seconds, groups)`` of the baseline in ``plan``, every result row read by the client."""
    start = time.perf_counter()
    rows = sum(1 for _ in database.execute_sql(PLANS[plan]))
    return time.perf_counter() - start, rows


def our_fits(x, t_x, T, m):
    """Our BG/NBD and Gamma-Gamma fits in this process: ``{model: {seconds, peak_mb, params}}``.

    Used with ``--no-lifetimes``; bench/tags_fit.py measures both sides in child processes.
    """
    from server.analytics import bgnbd, gammagamma

    rep = x > 0
    fits = {"bgnbd": lambda: bgnbd.fit(x, t_x, T).params, "gammagamma": lambda: gammagamma.fit(x[rep], m[rep]).params}
    out = {}
    for name, fit in fits.items():
        start = time.perf_counter()
        params = fit()
        seconds = time.perf_counter() - start
        tracemalloc.start()
        fit()
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        out[name] = {"seconds": seconds, "peak_mb": peak, "params": list(params)}
    return out


def measure(path, runs=1, recompute=None, workers=None):
    """Time the aggregate and the recompute on the seeded file, alternating; ``({plan: [s]}, [s], result)``.

    ``recompute`` is ``server.tags.recompute.run`` unless a stand-in is given (tests); ``workers``:
    its scan processes (None: as the server chooses).
    """
    from server.commands import progress as bar

    if recompute is None:
        from server.tags.recompute import run as recompute
    database = _bind(path)
    aggs, recs, result = {plan: [] for plan in PLANS}, [], None
    try:
        for i in range(runs + 1):
            for plan in sorted(PLANS, reverse=i % 2 == 1):
                seconds, groups = aggregate(database, plan)
                aggs[plan].append(seconds)
                progress("aggregate %d (%s): %d customers in %.2f s" % (i + 1, plan, groups, seconds))
            if i == runs:
                break
            with bar("recompute %d/%d" % (i + 1, runs)) as update:
                start = time.perf_counter()
                result = recompute(progress=update, resume=False, now=None, workers=workers)
                recs.append(time.perf_counter() - start)
            progress("recompute %d: %.2f s" % (i + 1, recs[-1]))
    finally:
        database.close()
    return aggs, recs, result


def add_arguments(p):
    """The options of ``possync-bench tags`` (bench/cli.py registers the subcommand)."""
    from bench.cli import _positive

    p.add_argument("--customers", type=_positive(int), default=1_000_000, help="customers (default 1000000)")
    p.add_argument("--sales", type=_positive(int), default=10_000_000,
                   help="about how many sales they make (default 10000000)")
    p.add_argument("--runs", type=_positive(int), default=1, help="recompute runs, between aggregate runs (default 1)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the drawn data (default 1)")
    p.add_argument("--db", default=None, help="SQLite file to seed and keep; a file holding the same seed is reused")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (database) and print its path")
    p.add_argument("--workers", type=_positive(int), default=None,
                   help="processes the recompute scans in (default: the server's choice, one per core)")
    p.add_argument("--no-lifetimes", dest="lifetimes", action="store_false",
                   help="fit ours only (no lifetimes venv, no comparison)")


def main(args, recompute=None, compare=None):
    """Run the bench for parsed ``args``; returns the exit status. ``recompute``/``compare``: stand-ins for tests."""
    tmp = None
    path = args.db
    if path is None:
        tmp = tempfile.mkdtemp(prefix="possync-bench-tags-")
        path = os.path.join(tmp, "possync.db")
    try:
        meta, took = prepare(path, args.customers, args.sales, args.seed)
        aggs, recs, result = measure(path, args.runs, recompute, args.workers)
        x, t_x, T, m = fit_arrays(path, meta["last_day"])
        if args.lifetimes:
            if compare is None:
                from bench.tags_fit import compare
            fits = compare(x, t_x, T, m)
        else:
            fits = our_fits(x, t_x, T, m)
        return report(meta, took, aggs, recs, result, fits, args.lifetimes)
    finally:
        if tmp is not None:
            if args.keep:
                progress("kept %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)


def report(meta, took, aggs, recs, result, fits, lifetimes):
    """Print the tables and the RESULT line; returns the exit status (1 when the recompute missed customers).

    ``took`` holds the seeding phases (empty when a seeded file was reused: no seed_ms then).
    """
    plans = {plan: statistics.median(v) for plan, v in aggs.items()}
    agg, rec = min(plans.values()), statistics.median(recs)
    seed_s = sum(took.values())
    rows = [["seed (draw + load + index)", seed_s * 1000, "", ""]] if took else []
    rows += [["  %s" % k[:-2], v * 1000, "", ""] for k, v in took.items()]
    rows += [["SQL aggregate, %s plan (p50 of %d)" % (plan, len(aggs[plan])), v * 1000, "",
              "baseline" if v == agg else ""] for plan, v in sorted(plans.items())]
    workers = (result or {}).get("workers")
    scan = {None: "", 0: "", 1: ", scan in this process"}.get(workers, ", scan in %s processes" % workers)
    rows += [["tag recompute (p50 of %d%s)" % (len(recs), scan), rec * 1000, "<= %d" % (TARGETS["recompute_s"] * 1000),
              _met(rec <= TARGETS["recompute_s"])],
             ["recompute / aggregate", rec / agg, "<= %g" % TARGETS["ratio"], _met(rec / agg <= TARGETS["ratio"])]]
    print("%d customers, %d sales, %d refunds" % (meta["customers"], meta["sales"], meta["refunds"]))
    print(table(["", "ms or ratio", "target", ""], rows))
    pairs = [("customers", meta["customers"]), ("sales", meta["sales"]), ("refunds", meta["refunds"])]
    pairs += [("seed_ms", seed_s * 1000)] if took else []
    pairs += [("agg_ms", agg * 1000)]
    pairs += [("agg_%s_ms" % plan, v * 1000) for plan, v in sorted(plans.items())]
    pairs += [("recompute_ms", rec * 1000), ("ratio", rec / agg)] + ([("scan_workers", workers)] if workers else [])
    fit_rows, nan = [], float("nan")
    for name, short in (("bgnbd", "bg"), ("gammagamma", "gg")):
        sides = [("ours", fits[name]["ours"] if lifetimes else fits[name], short)]
        if lifetimes:
            sides.append(("lifetimes", fits[name]["lifetimes"], "lt_" + short))
        for side, fig, key in sides:
            params = " ".join("%.6g" % v for v in fig.get("params") or []) or fig.get("error", "")
            fit_rows.append(["%s %s" % (name, side), fig.get("seconds", nan) * 1000, fig.get("peak_mb", nan), params])
            pairs += [(key + "_ms", fig.get("seconds", nan) * 1000), (key + "_mb", fig.get("peak_mb", nan))]
        if lifetimes:
            pairs += [(short + "_speedup", fits[name]["speedup"]), (short + "_mem_ratio", fits[name]["memory_ratio"])]
    print(table(["fit", "ms", "peak MB", "params"], fit_rows))
    if lifetimes:
        bg, gg = fits["bgnbd"], fits["gammagamma"]
        print(table(["fit vs lifetimes", "bgnbd", "gammagamma", "target"],
                    [["speedup (x)", bg["speedup"], gg["speedup"], ">= %g" % TARGETS["fit_speedup"]],
                     ["peak memory ours / lifetimes", bg["memory_ratio"], gg["memory_ratio"],
                      "<= %g" % TARGETS["mem_ratio"]],
                     ["max relative param diff", "%.2g" % bg["max_rel_diff"], "%.2g" % gg["max_rel_diff"],
                      "<= %g" % TARGETS["param_diff"]]]))
        pairs.append(("param_diff_ppm", fits["max_rel_diff"] * 1e6))
    scored = (result or {}).get("customers")
    if scored is not None:
        pairs.append(("scored", scored))
    print(result_line("tags", pairs))
    if scored is not None and scored != meta["customers"]:
        progress("tags: the recompute scored %d customers, the seed has %d" % (scored, meta["customers"]))
        return 1
    return 0


def _met(ok):
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m bench.tags", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        sys.exit(main(parser.parse_args()))
    except BenchError as exc:
        print("possync-bench: tags: %s" % exc, file=sys.stderr)
        sys.exit(1)
