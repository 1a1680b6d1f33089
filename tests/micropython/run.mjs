// Run one Python driver under a real MicroPython (the npm WebAssembly port) and exit with its status.
//
// Usage: node tests/micropython/run.mjs [--lib DIR] DRIVER.py [ARG ...]
// The package is looked up in $POSSYNC_MPY_DIR (default <repo>/.cache/mpy, where `make test` installs it).
// protocol/*.py, agent/__init__.py, agent/core/*.py and tests/vectors/*.json are copied into the in-memory
// filesystem under /repo with their package directories; /repo is the working directory, so the driver
// imports `protocol...` and opens `tests/vectors/...` exactly as it does from the repo root under CPython.
// --lib DIR takes protocol/ and agent/ (.py or compiled .mpy files) from DIR instead of the repo.
// Exit status: 0 on success, the code of sys.exit(n), 1 with the traceback on stderr for an exception,
// 2 for a usage or setup problem. (The package's own CLI exits 0 even after an exception.)

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const PACKAGE = "@micropython/micropython-webassembly-pyscript";
const HEAP = 4 * 1024 * 1024;
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const MOUNT = "/repo";

function fail(message) {
  process.stderr.write("run.mjs: " + message + "\n");
  process.exit(2);
}

// What goes onto the device: [dir, name suffixes]; the code dirs come from `lib`, vectors from the repo.
const CODE = [["protocol", [".py", ".mpy"]], ["agent", ["__init__.py", "__init__.mpy"]], ["agent/core", [".py", ".mpy"]]];
const DATA = [["tests/vectors", [".json"]]];

function copyInto(FS, lib) {
  const jobs = CODE.map(([dir, suffixes]) => [lib, dir, suffixes]).concat(DATA.map(([dir, s]) => [REPO, dir, s]));
  for (const [root, dir, suffixes] of jobs) {
    const src = path.join(root, dir);
    if (!fs.existsSync(src)) continue;
    FS.mkdirTree(MOUNT + "/" + dir);
    for (const name of fs.readdirSync(src).sort()) {
      if (suffixes.some((s) => name.endsWith(s)) && fs.statSync(path.join(src, name)).isFile()) {
        FS.writeFile(MOUNT + "/" + dir + "/" + name, fs.readFileSync(path.join(src, name)));
      }
    }
  }
}

// Runs the driver as __main__ and leaves its exit status in _possync_rc.
const WRAPPER = `
import sys, json
_possync_rc = 0
_possync_argv = json.loads(_possync_argv_json)
sys.argv.extend(_possync_argv)
try:
    with open(_possync_argv[0]) as _f:
        _possync_code = compile(_f.read(), _possync_argv[0], "exec")
    exec(_possync_code, {"__name__": "__main__", "__file__": _possync_argv[0]})
except SystemExit as _e:
    _c = _e.args[0] if _e.args else None
    if _c is None:
        _possync_rc = 0
    elif type(_c) is int:
        _possync_rc = _c
    else:
        print(_c, file=sys.stderr)
        _possync_rc = 1
except BaseException as _e:
    sys.print_exception(_e, sys.stderr)
    _possync_rc = 1
`;

async function main() {
  let argv = process.argv.slice(2);
  let lib = REPO;
  if (argv[0] === "--lib") {
    lib = path.resolve(argv[1] || fail("--lib needs a directory"));
    argv = argv.slice(2);
  }
  const [driver, ...args] = argv;
  if (!driver) fail("usage: node run.mjs [--lib DIR] DRIVER.py [ARG ...]");
  const mpyDir = process.env.POSSYNC_MPY_DIR || path.join(REPO, ".cache", "mpy");
  const entry = path.join(mpyDir, "node_modules", PACKAGE, "micropython.mjs");
  if (!fs.existsSync(entry)) {
    fail(`MicroPython not found at ${entry}; run \`make test\` (it installs ${PACKAGE}@1.27.0 into .cache/mpy) ` +
         "or point POSSYNC_MPY_DIR at an npm prefix that has it");
  }
  const driverPath = path.resolve(driver);
  if (!fs.existsSync(driverPath)) fail("no such driver: " + driver);

  const out = [];
  const err = [];
  const { loadMicroPython } = await import(pathToFileURL(entry).href);
  const mp = await loadMicroPython({
    heapsize: HEAP,
    linebuffer: false,
    stdout: (bytes) => out.push(Buffer.from(bytes)),
    stderr: (bytes) => err.push(Buffer.from(bytes)),
  });
  copyInto(mp.FS, lib);
  const onDevice = MOUNT + "/tests/micropython/" + path.basename(driverPath);
  mp.FS.mkdirTree(path.posix.dirname(onDevice));
  mp.FS.writeFile(onDevice, fs.readFileSync(driverPath));
  mp.FS.chdir(MOUNT);

  let rc;
  mp.globals.set("_possync_argv_json", JSON.stringify([onDevice, ...args]));
  try {
    mp.runPython(WRAPPER);
    rc = mp.globals.get("_possync_rc");
  } catch (e) {
    err.push(Buffer.from(String(e.message || e) + "\n"));
    rc = 1;
  }
  process.stdout.write(Buffer.concat(out));
  process.stderr.write(Buffer.concat(err));
  process.exitCode = rc;
}

await main();
