"""BG/NBD and Gamma-Gamma fits: ours against ``lifetimes`` (BetaGeoFitter, GammaGammaFitter) on the same data.

``compare`` writes the data to one temporary .npz and fits each model on each side in a child
process of its own: ours with this interpreter, lifetimes with the bench-only venv under
``.cache/lifetimes-venv`` (lifetimes 0.11.3 is archived; it is kept out of the project's venv).
Each child is run twice: once for the wall time of the fit call alone, once under tracemalloc
for the peak memory the fit call allocates (numpy reports its buffers to tracemalloc, so both
sides are measured the same way; data loading and imports are outside both). The child's
peak resident set (VmHWM), imports and data included, is reported too. Both sides get the arrays as given, one row per
customer (or per weighted row); lifetimes gets the repeat buyers only for Gamma-Gamma, as it requires.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.broker import BenchError
from bench.stats import progress as _stderr

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "lifetimes-venv"
# lifetimes 0.11.3 and what it needs, at versions that install and run with Python 3.11 here
PINS = ("lifetimes==0.11.3", "autograd==1.9.1", "dill==0.4.1", "numpy==2.4.6", "scipy==1.17.1", "pandas==3.1.1")
CHILD_TIMEOUT_S = 1800

_CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np
side, model, path, trace = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
d = np.load(path)
x, t_x, T, m = d["x"], d["t_x"], d["T"], d["m"]
w = d["w"] if "w" in d.files else None
if side == "ours":
    from server.analytics import bgnbd, gammagamma
    def run():
        if model == "bgnbd":
            return list(bgnbd.fit(x, t_x, T, weights=w).params)
        return list(gammagamma.fit(x, m, weights=w).params)
else:
    import warnings
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    def run():
        if model == "bgnbd":
            f = BetaGeoFitter().fit(x, t_x, T, weights=w)
            return [float(f.params_[k]) for k in ("r", "alpha", "a", "b")]
        rep = x > 0
        f = GammaGammaFitter().fit(x[rep], m[rep], weights=None if w is None else w[rep])
        return [float(f.params_[k]) for k in ("p", "q", "v")]
def hwm_mb():
    # VmHWM is this image's own peak RSS; ru_maxrss would keep the parent's across fork + exec
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {}
try:
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
        out["params"] = run()
        out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    else:
        t0 = time.perf_counter()
        out["params"] = run()
        out["seconds"] = time.perf_counter() - t0
        out["rss_mb"] = hwm_mb()
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""


def _works(python):
    """True when ``python`` can import lifetimes."""
    try:
        return subprocess.run([str(python), "-c", "import lifetimes"], capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_lifetimes_venv(progress=_stderr):
    """Path of the python of ``.cache/lifetimes-venv``, creating the venv with ``PINS`` first if needed."""
    python = VENV / "bin" / "python"
    if python.exists() and _works(python):
        return python
    progress("creating %s with %s (bench only; takes a minute)" % (VENV, " ".join(PINS)))
    VENV.parent.mkdir(parents=True, exist_ok=True)
    log = VENV.parent / "lifetimes-install.log"
    with open(log, "w") as f:
        for cmd in ([sys.executable, "-m", "venv", "--clear", str(VENV)],
                    [str(python), "-m", "pip", "install", "--no-input", *PINS]):
            f.write("$ %s\n" % " ".join(cmd))
            f.flush()
            if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
                raise BenchError("could not build the lifetimes venv; see %s" % log)
    if not _works(python):
        raise BenchError("lifetimes installed in %s but does not import; see %s" % (VENV, log))
    progress("lifetimes venv ready")
    return python


def _child(python, side, model, path, trace):
    """Run one fit in a fresh child process and return what it printed (a dict)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    try:
        done = subprocess.run([str(python), "-c", _CHILD, side, model, path, "1" if trace else "0"],
                              capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": "no result after %d s" % CHILD_TIMEOUT_S}
    if done.returncode != 0 or not done.stdout.strip():
        return {"error": "child exited with %d: %s" % (done.returncode, done.stderr.strip()[-500:])}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _side(python, side, model, path):
    """``{seconds, peak_mb, rss_mb, params}`` of one side's fit, or ``{error}``."""
    timed = _child(python, side, model, path, trace=False)
    if "error" in timed:
        return timed
    traced = _child(python, side, model, path, trace=True)
    timed["peak_mb"] = traced.get("peak_mb", float("nan"))
    return timed


def _rel_diff(ours, theirs):
    """Largest |ours - theirs| / |theirs| over the parameters (NaN when a side failed)."""
    if ours.get("params") is None or theirs.get("params") is None:
        return float("nan")
    a, b = np.array(ours["params"]), np.array(theirs["params"])
    return float(np.max(np.abs(a - b) / np.abs(b)))


def compare(x, t_x, T, m, weights=None, progress=_stderr):
    """Fit BG/NBD and Gamma-Gamma with ours and with lifetimes on the same arrays; figures of both.

    ``x`` repeat purchases, ``t_x`` recency, ``T`` age (one time unit), ``m`` mean spend of the
    repeat purchases (ignored where x = 0), ``weights`` customers per row. Returns::

        {"customers": n, "rows": len(x),
         "bgnbd": {"ours": {"seconds", "peak_mb", "rss_mb", "params": [r, alpha, a, b]},
                   "lifetimes": {... the same ...}, "speedup": t_lifetimes / t_ours,
                   "memory_ratio": peak_ours / peak_lifetimes, "max_rel_diff": ...},
         "gammagamma": {... with "params": [p, q, v] ...},
         "max_rel_diff": over both models}

    A side whose fit fails has ``{"error": message}`` instead of figures, and NaN ratios.
    """
    lifetimes_python = ensure_lifetimes_venv(progress)
    arrays = {k: np.ascontiguousarray(v, dtype=float) for k, v in (("x", x), ("t_x", t_x), ("T", T), ("m", m))}
    if weights is not None:
        arrays["w"] = np.ascontiguousarray(weights, dtype=float)
    arrays["m"] = np.where(arrays["x"] > 0, arrays["m"], 0.0)  # NaN mean spend where there is none
    out = {"customers": float(arrays["w"].sum()) if weights is not None else len(arrays["x"]), "rows": len(arrays["x"])}
    with tempfile.TemporaryDirectory(prefix="possync-tagsfit-") as tmp:
        path = os.path.join(tmp, "data.npz")
        np.savez(path, **arrays)
        for model in ("bgnbd", "gammagamma"):
            res = {}
            for side, python in (("ours", sys.executable), ("lifetimes", lifetimes_python)):
                progress("%s fit: %s on %d rows" % (model, side, out["rows"]))
                res[side] = _side(python, side, model, path)
            ours, theirs = res["ours"], res["lifetimes"]
            nan = float("nan")
            res["speedup"] = theirs.get("seconds", nan) / ours.get("seconds", nan)
            res["memory_ratio"] = ours.get("peak_mb", nan) / theirs.get("peak_mb", nan)
            res["max_rel_diff"] = _rel_diff(ours, theirs)
            out[model] = res
    out["max_rel_diff"] = float(np.max([out["bgnbd"]["max_rel_diff"], out["gammagamma"]["max_rel_diff"]]))
    return out
