"""possync-bench end to end at a tiny size: it finishes, cleans up, and its last line is a RESULT line."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def bench(*args, timeout=240):
    exe = os.path.join(os.path.dirname(sys.executable), "possync-bench")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "bench.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def result(stdout, name):
    """The key=value pairs of the RESULT line, which must be the last line of stdout."""
    words = stdout.strip().splitlines()[-1].split()
    assert words[:2] == ["RESULT", name], stdout[-2000:]
    return {k: float(v) for k, v in (w.split("=", 1) for w in words[2:])}


def temp_dirs(prefix):
    import tempfile

    return {d for d in os.listdir(tempfile.gettempdir()) if d.startswith(prefix)}


def test_outbox_bench_prints_rates_and_ratio():
    before = temp_dirs("possync-bench-outbox-")
    run = bench("outbox", "--records", "200")
    assert run.returncode == 0, run.stderr
    r = result(run.stdout, "outbox")
    assert r["records"] == 200
    assert r["outbox_per_s"] > 0 and r["raw_per_s"] > 0 and r["ratio"] > 0
    assert set(r) >= {"p50_ms", "p99_ms"}
    assert temp_dirs("possync-bench-outbox-") == before


@pytest.mark.integration
def test_ingest_bench_loses_and_duplicates_nothing():
    before = temp_dirs("possync-bench-ingest-")
    run = bench("ingest", "--terminals", "3", "--rate", "1", "--seconds", "2", "--baseline-seconds", "1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    r = result(run.stdout, "ingest")
    assert r["lost"] == 0 and r["dup"] == 0
    assert r["terminals"] == 3
    assert r["baseline_per_s"] > 0 and r["applied_per_s"] > 0 and r["ratio"] > 0
    assert r["swipes"] > 0 and r["unanswered"] == 0
    assert set(r) >= {"p50_ms", "p99_ms", "max_ms", "publishers"}
    assert temp_dirs("possync-bench-ingest-") == before


def test_help_shows_examples():
    run = bench("--help")
    assert run.returncode == 0
    assert "possync-bench ingest --terminals 200 --rate 2 --seconds 20" in run.stdout
