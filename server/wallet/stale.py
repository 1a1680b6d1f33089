"""Online approvals whose record never came: released after a grace period, taken again if it comes late.

An approval books its spend at once (server.wallet.auth) and stays ``held`` until the terminal's
record naming it arrives (server.wallet.offline calls settle). One still held after
WALLET_AUTH_GRACE_MIN is released: the money goes back under ``auth:{dev}:{aid}:release``,
flagged ``released``. A record that comes after that takes it again under ``auth:{dev}:{aid}:late``,
flagged ``late_after_release``. Both sides decide by a conditional UPDATE of the held row, so
whichever commits first wins (also on PostgreSQL, where the second waits for the row and
re-reads it) and the money moves once.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from server import held
from server.db import utcnow
from server.wallet import settings
from server.wallet.auth import key_of
from server.wallet.models import AuthAttempt, WalletEntry
from server.wallet.service import book, current

CHUNK = held.CHUNK
log = logging.getLogger(__name__)


def release_key(dev, aid):
    """The ledger key of the entry that gives a stale approval's money back."""
    return key_of(dev, aid) + ":release"


def late_key(dev, aid):
    """The ledger key of a record that came after its approval was released."""
    return key_of(dev, aid) + ":late"


def settle(pairs):
    """Mark the approvals ``[(dev, aid)]`` as met by their record; returns those released before it came.

    Call inside the transaction that books the records.
    """
    return held.settle(AuthAttempt, pairs)


def release(now=None, grace_min=None, actor="job:stale", progress=None, chunk=CHUNK):
    """Give back the money of every approval still held ``grace_min`` minutes (WALLET_AUTH_GRACE_MIN) after it.

    Returns ``{"released": n, "amounts": {cur: minor units}}``. Run again, it finds nothing
    more: a released approval is no longer held.
    """
    now = now or utcnow()
    minutes = settings.grace_minutes(grace_min)
    cutoff = now - timedelta(minutes=minutes)
    moved = held.release_stale(AuthAttempt, AuthAttempt.at, cutoff,
                               lambda attempt: _release(attempt, now, minutes, actor), progress, chunk)
    amounts = defaultdict(int)
    for amount, cur in moved:
        amounts[cur] += amount
    if moved:
        log.warning("stored value: %d online approval(s) released, no record within %d min", len(moved), minutes)
    return {"released": len(moved), "amounts": dict(amounts)}


def _release(attempt, now, minutes, actor):
    """Release one held approval unless its record came meanwhile; (amount, cur) given back, or None."""
    taken = held.take(AuthAttempt, attempt, now)
    key = key_of(attempt.dev, attempt.aid)
    spent = WalletEntry.get_or_none((WalletEntry.key == key) & (WalletEntry.kind == "spend"))
    if not taken or spent is None:
        return None
    account = current(spent.account)
    book(account.id, -spent.delta, "release", release_key(attempt.dev, attempt.aid), now, dev=attempt.dev,
         merchant=attempt.merchant, orig=key, flag="released", actor=actor,
         note="no record within %d min of the approval" % minutes)
    return -spent.delta, account.cur
