"""Job runs (one row per run, with its outcome and counts) and the lease that lets one process run a job."""

from peewee import CharField, DateTimeField, TextField

from server.db import BaseModel

OUTCOMES = ("running", "ok", "failed")


class JobRun(BaseModel):
    """One run of job ``name``: ``started`` is the time it ran as of (now, or the --at given).

    ``counts`` is a JSON object of what it did; ``error`` says why a failed run failed (a message
    written for people, never personal data). A run left "running" by a killed process stays so.
    """

    name = CharField(max_length=32)
    started = DateTimeField()
    finished = DateTimeField(null=True)
    outcome = CharField(max_length=8, default="running")
    counts = TextField(null=True)
    error = CharField(max_length=300, null=True)
    holder = CharField(max_length=64)

    class Meta:
        indexes = ((("name", "started"), False),)


class JobLease(BaseModel):
    """Who runs job ``name`` until when: another process may take it only after ``until`` has passed."""

    name = CharField(max_length=32, primary_key=True)
    holder = CharField(max_length=64)
    until = DateTimeField()


MODELS = [JobRun, JobLease]
