"""Import every module of protocol/ and agent/core/ (.py or compiled .mpy); print one JSON result line.

Catches syntax and imports MicroPython lacks in modules no vector drives yet; the result
names the file each module was loaded from.
Runs under MicroPython (tests/micropython/run.mjs) and under CPython from the repo root.
"""

import json
import os
import sys


def main():
    failures = []
    imported = []
    for package in ("protocol", "agent/core"):
        for name in sorted(os.listdir(package)):
            stem = name.rsplit(".", 1)[0]
            if not (name.endswith(".py") or name.endswith(".mpy")):
                continue
            module = package.replace("/", ".") + ("" if stem == "__init__" else "." + stem)
            try:
                __import__(module)
                imported.append([module, sys.modules[module].__file__])
            except Exception as exc:  # report every module, not just the first that fails
                failures.append({"case": module, "check": "import", "got": "%s: %s" % (type(exc).__name__, exc),
                                 "want": "imports"})
                if hasattr(sys, "print_exception"):
                    sys.print_exception(exc, sys.stderr)
    print(json.dumps({"driver": "imports", "ran": len(imported) + len(failures), "failures": failures,
                      "results": {"imported": imported}}))


main()
