"""The walls between rooms (DESIGN.md §1) are import-linter contracts in pyproject.toml."""

import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_import_contracts_hold():
    config = os.path.join(ROOT, "pyproject.toml")
    with open(config, "rb") as f:
        contracts = len(tomllib.load(f)["tool"]["importlinter"]["contracts"])
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    run = subprocess.run([lint, config], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "%d kept, 0 broken" % contracts in run.stdout
