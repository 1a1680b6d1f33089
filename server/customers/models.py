"""Card history, merges, service cases and consent changes: metadata only, every free text in the vault.

Staff write names and phone numbers into notes and reasons, so a text column here would put
PII into the main database. Each text is a vault field ``note.<n>`` of the customer, where
``n`` comes from the NoteId counter (one number space for every kind of note); the rows
below keep only ``n``.
"""

from peewee import AutoField, BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from server.db import BaseModel, utcnow
from server.fleet.models import Merchant
from server.loyalty.models import Customer

CARD_ACTIONS = ("link", "unlink", "merge_in", "merge_out", "erase")
CASE_KINDS = ("complaint", "service", "warranty", "note")
CASE_STATES = ("open", "in_progress", "closed")
CHANNELS = ("sms", "email", "wechat", "phone", "post")


class NoteId(BaseModel):
    """Hands out the numbers of vault notes (``note.<id>``), unique across cases, events and merges."""

    id = AutoField()
    at = DateTimeField(default=utcnow)


class CardEvent(BaseModel):
    """One step in a card's life with a customer: linked, unlinked, moved by a merge, pseudonymised by erase."""

    customer = ForeignKeyField(Customer, backref="card_events", column_name="customer", on_delete="RESTRICT")
    tok = CharField(max_length=64, index=True)
    bin = CharField(max_length=6, default="")
    last4 = CharField(max_length=4, default="")
    action = CharField(max_length=9)
    other = CharField(max_length=17, null=True)
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)
    note = IntegerField(null=True)


class CustomerMerge(BaseModel):
    """Two customer records found to be one person: ``src`` was merged into ``dst``."""

    src = ForeignKeyField(Customer, backref="merged_out", column_name="src", on_delete="RESTRICT")
    dst = ForeignKeyField(Customer, backref="merged_in", column_name="dst", on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)
    note = IntegerField(null=True)
    points = BigIntegerField(default=0)


class ServiceCase(BaseModel):
    """A complaint, service or warranty case (or a plain note) about a customer, maybe about one sale."""

    customer = ForeignKeyField(Customer, backref="cases", column_name="customer", on_delete="RESTRICT")
    kind = CharField(max_length=9)
    status = CharField(max_length=11, default="open")
    opened_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)
    actor = CharField(max_length=64)
    follow_up_at = DateTimeField(null=True)
    merchant = ForeignKeyField(Merchant, null=True, column_name="merchant", on_delete="RESTRICT")
    dev = CharField(max_length=32, null=True)
    ref = CharField(max_length=40, null=True)
    note = IntegerField()


class CaseEvent(BaseModel):
    """A follow-up on a case: a status change and/or a text (vault note)."""

    case = ForeignKeyField(ServiceCase, backref="events", column_name="case", on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)
    status = CharField(max_length=11, null=True)
    note = IntegerField(null=True)


class ConsentEvent(BaseModel):
    """A marketing consent given or withdrawn for one channel (no PII: the source text is in the vault)."""

    customer = ForeignKeyField(Customer, backref="consent_events", column_name="customer", on_delete="RESTRICT")
    channel = CharField(max_length=6)
    granted = BooleanField()
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64)


MODELS = [NoteId, CardEvent, CustomerMerge, ServiceCase, CaseEvent, ConsentEvent]
