"""Fixtures that start real parts (Mosquitto, processes) and clean up after themselves.

The classes and helpers behind them are in realparts.py; tests import from there
(`from realparts import free_port`), never from a conftest module.
"""

import shutil

import pytest

from realparts import AgentProc, Mosquitto, ServerProc


@pytest.fixture
def mosquitto(tmp_path):
    """A running private Mosquitto; fails (never skips) when Mosquitto is not installed."""
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto is not installed: run `make test` (it installs the Debian packages mosquitto and mosquitto-clients)")
    broker = Mosquitto(str(tmp_path / "broker")).start()
    yield broker
    broker.stop()


@pytest.fixture
def system(tmp_path, mosquitto):
    """Broker + server process; ``system.agent(dev)`` adds a terminal and starts its agent."""
    server = ServerProc(str(tmp_path / "server"), mosquitto)
    agents = []

    class System:
        broker = mosquitto

        def __init__(self):
            self.server = server

        def agent(self, dev, start=True, lang="en", charset="ascii", **overrides):
            path = server.add_device(dev, str(tmp_path / dev), **overrides)
            a = AgentProc(path, str(tmp_path / dev), lang=lang, charset=charset)
            agents.append(a)
            return a.start() if start else a

    server.start()
    yield System()
    for a in agents:
        a.close()
    server.stop()
