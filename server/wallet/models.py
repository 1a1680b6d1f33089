"""Stored-value accounts, their append-only ledger, account events and online authorisation attempts.

No free text is stored here: staff would write names and phone numbers into it, and the main
database must hold no PII. Reasons come from a fixed list; notes are machine-made.
"""

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from server.db import BaseModel, utcnow
from server.loyalty.models import Customer
from server.wallet import WalletError

STATES = ("active", "frozen", "replaced", "closed")
KINDS = ("topup", "bonus", "spend", "refund", "release", "transfer_in", "transfer_out", "adjust")
# released: an online approval whose record never came, given back by the stale-approvals job;
# late_after_release: that record came after all and took the money again.
FLAGS = ("unknown_card", "frozen", "wrong_currency", "overdraft", "over_limit", "released", "late_after_release")
ACTIONS = ("open", "reissue", "replace", "freeze", "unfreeze", "close", "owner", "pin_set", "pin_change",
           "pin_reset", "lock")
# Events that block a card (refused online, flagged offline) or unblock it, for "was it usable at time t".
BLOCKING = ("freeze", "replace", "close")
FREEZE_REASONS = ("lost", "stolen", "damaged", "fraud", "customer_request", "other")
UNFREEZE_REASONS = ("found", "error", "customer_request", "other")
ADJUST_REASONS = ("error", "goodwill", "write_off", "overdraft", "other")


class WalletAccount(BaseModel):
    """A stored-value account of one member card, known by the card's token; ``balance`` = sum of its entries.

    ``state``: active (usable), frozen (挂失: refused online, on the fleet hot list), replaced
    (its balance moved to ``replaced_by``), closed. ``pin_hash`` is None when no PIN is set.
    """

    id = CharField(max_length=17, primary_key=True)
    tok = CharField(max_length=64, unique=True)
    bin = CharField(max_length=6, default="")
    last4 = CharField(max_length=4, default="")
    customer = ForeignKeyField(Customer, null=True, backref="wallets", column_name="customer", on_delete="RESTRICT")
    cur = CharField(max_length=3, default="CNY")
    balance = BigIntegerField(default=0)
    state = CharField(max_length=8, default="active")
    frozen_at = DateTimeField(null=True)
    frozen_by = CharField(max_length=64, null=True)
    replaced_by = CharField(max_length=17, null=True)
    pin_hash = CharField(max_length=160, null=True)
    pin_fails = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    low_balance = BigIntegerField(default=0)


class WalletEntry(BaseModel):
    """One change of an account's balance; rows are only ever appended.

    ``key`` names the event booked (``auth:T1:42``, ``T1:17:svspend``, ``cli:<uuid>``): booking
    it again is a no-op. ``at`` is when it happened (the terminal's time for its records),
    ``booked_at`` when the server booked it (the day a report counts it in). ``orig`` is the
    key of the entry this one follows from (the spend a refund returns, the top-up of a bonus).
    ``flag`` marks a booking from a terminal for review (one of FLAGS).
    """

    account = ForeignKeyField(WalletAccount, backref="entries", column_name="account", on_delete="RESTRICT")
    delta = BigIntegerField()
    kind = CharField(max_length=12)
    key = CharField(max_length=96, unique=True)
    dev = CharField(max_length=32, null=True)
    seq = BigIntegerField(null=True)
    ref = CharField(max_length=40, null=True)
    orig = CharField(max_length=96, null=True)
    merchant = CharField(max_length=32, null=True)
    at = DateTimeField()
    booked_at = DateTimeField(index=True)
    offline = BooleanField(default=False)
    flag = CharField(max_length=24, null=True, index=True)
    note = CharField(max_length=120, null=True)
    actor = CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("account", "id"), False), (("dev", "offline", "booked_at"), False), (("orig",), False))


class WalletEvent(BaseModel):
    """What was done to an account and by whom: opened, frozen, unfrozen, replaced, PIN set/reset, locked.

    ``other`` is the account on the other side of a reissue, or the previous owner after a merge;
    ``reason`` comes from a fixed list (no free text: it would collect names and phone numbers).
    """

    account = ForeignKeyField(WalletAccount, backref="events", column_name="account", on_delete="RESTRICT")
    action = CharField(max_length=12)
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=64, null=True)
    reason = CharField(max_length=16, null=True)
    other = CharField(max_length=17, null=True)

    class Meta:
        indexes = ((("account", "at"), False),)


class AuthAttempt(BaseModel):
    """One online authorisation request ``(dev, aid)`` and the answer given, approved or not (never the PIN).

    A replayed request gets this answer again. ``tok`` is kept only for an unknown card. ``held``:
    an approval whose record (the terminal's svspend naming it) has not come yet; the stale-approvals
    job releases it after WALLET_AUTH_GRACE_MIN and sets ``released_at``.
    """

    dev = CharField(max_length=32)
    aid = CharField(max_length=40)
    account = ForeignKeyField(WalletAccount, null=True, column_name="account", on_delete="RESTRICT")
    tok = CharField(max_length=64, null=True)
    amount = BigIntegerField(null=True)
    cur = CharField(max_length=3)
    code = CharField(max_length=16)
    bal = BigIntegerField(null=True)
    merchant = CharField(max_length=32, null=True)
    at = DateTimeField()
    # Not null with a default: rows of an older database become "not held" and are never released.
    held = BooleanField(default=False)
    released_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("dev", "aid"), True), (("account", "dev", "at"), False), (("held", "at"), False))


def find(ref):
    """The account with id ``ref`` (``W...``) or card token ``ref`` (64 hex); WalletError if there is none."""
    account = WalletAccount.get_or_none((WalletAccount.id == ref) | (WalletAccount.tok == ref))
    if account is None:
        raise WalletError("no stored-value account %s (give an account id W... or the card's 64-hex token)"
                          % _short(ref))
    return account


def _short(ref):
    """An account reference fit for a message: ids whole, card tokens cut to their first 8 hex digits."""
    return ref if len(ref) <= 17 else ref[:8] + "..."


MODELS = [WalletAccount, WalletEntry, WalletEvent, AuthAttempt]
