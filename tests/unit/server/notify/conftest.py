"""Notification tables for these tests, also before server.db.models() lists them (create is safe to repeat)."""

import pytest

from server.db import db
from server.jobs.models import MODELS as JOBS
from server.notify.models import MODELS


@pytest.fixture(autouse=True)
def notify_tables(app):
    db.create_tables(MODELS + JOBS, safe=True)
