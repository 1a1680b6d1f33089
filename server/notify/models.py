"""The notification queue: who gets which template over which channel; parameters without personal data.

The address (phone, email) is never stored here: the sender reads it from the vault when it sends.
"""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from server.db import BaseModel, utcnow
from server.loyalty.models import Customer

# queued: waiting (or waiting for a retry at due_at); sent; failed: gave up (error says why);
# skipped: not sent on purpose (no consent, no address, customer erased).
STATES = ("queued", "sent", "failed", "skipped")


class Notification(BaseModel):
    """One message to a customer. ``key`` makes queueing idempotent (``low_balance:<account>:<n>``,
    ``birthday:<year>:<customer>``); ``params`` is a JSON object of the template's fields only."""

    key = CharField(max_length=120, unique=True)
    customer = ForeignKeyField(Customer, backref="notifications", column_name="customer", on_delete="RESTRICT")
    channel = CharField(max_length=8)
    template = CharField(max_length=32)
    params = TextField(default="{}")
    state = CharField(max_length=8, default="queued")
    attempts = IntegerField(default=0)
    due_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    sender = CharField(max_length=8, null=True)
    error = CharField(max_length=300, null=True)

    class Meta:
        indexes = ((("state", "due_at"), False),)


MODELS = [Notification]
