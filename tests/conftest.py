"""Fixtures that start real parts (Mosquitto, processes) and clean up after themselves.

The classes and helpers behind them are in realparts.py; tests import from there
(`from realparts import free_port`), never from a conftest module.
"""

import shutil

import pytest

from realparts import Mosquitto


@pytest.fixture
def mosquitto(tmp_path):
    """A running private Mosquitto; fails (never skips) when Mosquitto is not installed."""
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto is not installed: run `make test` (it installs the Debian packages mosquitto and mosquitto-clients)")
    broker = Mosquitto(str(tmp_path / "broker")).start()
    yield broker
    broker.stop()
