"""Every test here runs in the server app on its own fresh SQLite file."""

import pytest


@pytest.fixture(autouse=True)
def fresh_app(app):
    return app
