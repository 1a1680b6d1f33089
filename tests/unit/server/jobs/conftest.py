"""Job and notification tables for these tests, also before server.db.models() lists them (create is safe to repeat)."""

import pytest

from server.db import db
from server.jobs.models import MODELS
from server.notify.models import MODELS as NOTIFY


@pytest.fixture(autouse=True)
def job_tables(app):
    db.create_tables(MODELS + NOTIFY, safe=True)
