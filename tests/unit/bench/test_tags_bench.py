"""possync-bench tags at a tiny size: the seed has the drawn shape, the run ends with its RESULT line."""

import os
import sqlite3
import subprocess
import sys

import numpy as np

from bench import tags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CUSTOMERS, SALES = 2000, 20000


def bench(*args):
    return subprocess.run([sys.executable, "-m", "bench.tags"] + list(args), capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def result(stdout):
    """The key=value pairs of the RESULT line, which must be the last line of stdout."""
    words = stdout.strip().splitlines()[-1].split()
    assert words[:2] == ["RESULT", "tags"], stdout[-2000:]
    return {k: float(v) for k, v in (w.split("=", 1) for w in words[2:])}


def test_tiny_run_seeds_the_drawn_process_and_ends_with_result(tmp_path):
    path = str(tmp_path / "tags.db")
    run = bench("--customers", str(CUSTOMERS), "--sales", str(SALES), "--no-lifetimes", "--db", path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    r = result(run.stdout)
    conn = sqlite3.connect(path)
    q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    assert q('SELECT COUNT(*) FROM "customer"') == CUSTOMERS == r["customers"] == r["scored"]
    assert q('SELECT COUNT(DISTINCT "customer") FROM "card"') == CUSTOMERS
    sales = q("SELECT COUNT(*) FROM \"record\" WHERE \"kind\" = 'sale'")
    assert sales == r["sales"]
    assert q('SELECT COUNT(DISTINCT "customer") FROM "record"') == CUSTOMERS  # every seeded customer bought
    # The count is what the process makes: within 5 sd of a large pilot's expectation, and the
    # process was tuned so that the expectation is the --sales asked for.
    meta = tags.seeded(path)
    mean, sd = tags.expected_sales(CUSTOMERS, meta["alpha"], np.random.default_rng(7))
    assert abs(sales - mean) < 5 * sd, (sales, mean, sd)
    assert abs(mean - SALES) < 0.05 * SALES, mean
    # Whole days: one sale per customer and local day, and (x, t_x, T) whole with x <= t_x <= T.
    assert q('SELECT COUNT(*) FROM (SELECT DISTINCT "customer", ("ts" + %d) / 86400 FROM "record" '
             "WHERE \"kind\" = 'sale')" % tags.OFFSET) == sales
    x, t_x, T, m = tags.fit_arrays(path, meta["last_day"])
    assert x.size == CUSTOMERS and x.sum() == sales - CUSTOMERS
    for v in (x, t_x, T):
        assert np.array_equal(v, np.round(v))
    assert (x <= t_x).all() and (t_x <= T).all() and (T < tags.HISTORY_DAYS).all()
    assert (m > 0).all()
    refunds = q("SELECT COUNT(*) FROM \"record\" WHERE \"kind\" = 'refund' AND \"orig\" IS NOT NULL")
    assert refunds == r["refunds"] > 0
    assert r["agg_ms"] == min(r["agg_index_ms"], r["agg_scan_ms"]) > 0
    assert r["recompute_ms"] > 0 and r["ratio"] > 0 and r["bg_ms"] > 0 and r["gg_ms"] > 0

    again = bench("--customers", str(CUSTOMERS), "--sales", str(SALES), "--no-lifetimes", "--db", path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reusing the seed" in again.stderr
    assert result(again.stdout)["sales"] == sales and "seed_ms" not in result(again.stdout)
    assert "seed_ms" in r

    other = bench("--customers", "1000", "--sales", str(SALES), "--no-lifetimes", "--db", path)
    assert other.returncode == 1
    assert "remove it or choose another --db" in other.stderr


def test_report_with_lifetimes_prints_ratios_and_param_diff(capsys):
    def side(seconds, mb, params):
        return {"seconds": seconds, "peak_mb": mb, "params": params}
    bg = [0.5, 4.0, 0.7, 4.0]
    fits = {"bgnbd": {"ours": side(0.5, 10.0, bg), "lifetimes": side(8.0, 520.0, bg),
                      "speedup": 16.0, "memory_ratio": 10.0 / 520, "max_rel_diff": 1e-5},
            "gammagamma": {"ours": side(0.2, 5.0, [6.0, 4.0, 4000.0]), "lifetimes": {"error": "did not converge"},
                           "speedup": float("nan"), "memory_ratio": float("nan"), "max_rel_diff": float("nan")},
            "max_rel_diff": 1e-5}
    meta = {"customers": 10, "sales": 100, "refunds": 1}
    aggs = {"index": [0.4, 0.5, 0.6], "scan": [0.1, 0.2, 0.3]}
    status = tags.report(meta, {"draw_s": 1.0}, aggs, [0.5], {"customers": 10}, fits, True)
    out = capsys.readouterr().out
    assert status == 0
    assert "did not converge" in out
    r = result(out)
    assert r["seed_ms"] == 1000 and r["agg_ms"] == r["agg_scan_ms"] == 200 and r["agg_index_ms"] == 500
    assert r["recompute_ms"] == 500 and r["ratio"] == 2.5
    assert r["bg_speedup"] == 16 and r["lt_bg_ms"] == 8000 and r["param_diff_ppm"] == 10 and r["scored"] == 10
    assert set(r) >= {"gg_speedup", "gg_mem_ratio", "bg_mem_ratio", "param_diff_ppm", "lt_gg_mb"}
