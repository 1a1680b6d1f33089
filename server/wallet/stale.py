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

from peewee import chunked

from server.db import db, utcnow
from server.wallet import settings
from server.wallet.auth import key_of
from server.wallet.models import AuthAttempt, WalletEntry
from server.wallet.service import book, current

CHUNK = 200
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
    by_dev = defaultdict(set)
    for dev, aid in pairs:
        by_dev[dev].add(str(aid))
    released = set()
    for dev, aids in sorted(by_dev.items()):
        for part in chunked(sorted(aids), CHUNK):
            mine = (AuthAttempt.dev == dev) & AuthAttempt.aid.in_(part)
            AuthAttempt.update(held=False).where(mine & (AuthAttempt.held == True)).execute()  # noqa: E712 (SQL)
            query = AuthAttempt.select(AuthAttempt.aid).where(mine & AuthAttempt.released_at.is_null(False))
            released.update((dev, aid) for (aid,) in query.tuples())
    return released


def release(now=None, grace_min=None, actor="job:stale", progress=None, chunk=CHUNK):
    """Give back the money of every approval still held ``grace_min`` minutes (WALLET_AUTH_GRACE_MIN) after it.

    Returns ``{"released": n, "amounts": {cur: minor units}}``. Run again, it finds nothing
    more: a released approval is no longer held.
    """
    now = now or utcnow()
    minutes = settings.grace_minutes(grace_min)
    cutoff = now - timedelta(minutes=minutes)
    ids = [i for (i,) in AuthAttempt.select(AuthAttempt.id).where(
        (AuthAttempt.held == True) & (AuthAttempt.at <= cutoff)).order_by(AuthAttempt.id).tuples()]  # noqa: E712
    released, amounts, done = 0, defaultdict(int), 0
    if progress:
        progress(0, len(ids))
    for part in chunked(ids, chunk):
        with db.atomic():
            for attempt in AuthAttempt.select().where(AuthAttempt.id.in_(part)).order_by(AuthAttempt.id):
                moved = _release(attempt, now, minutes, actor)
                if moved:
                    released += 1
                    amounts[moved[1]] += moved[0]
        done += len(part)
        if progress:
            progress(done, len(ids))
    if released:
        log.warning("stored value: %d online approval(s) released, no record within %d min", released, minutes)
    return {"released": released, "amounts": dict(amounts)}


def _release(attempt, now, minutes, actor):
    """Release one held approval unless its record came meanwhile; (amount, cur) given back, or None."""
    taken = AuthAttempt.update(held=False, released_at=now).where(
        (AuthAttempt.id == attempt.id) & (AuthAttempt.held == True)).execute()  # noqa: E712 (SQL, not Python)
    key = key_of(attempt.dev, attempt.aid)
    spent = WalletEntry.get_or_none((WalletEntry.key == key) & (WalletEntry.kind == "spend"))
    if not taken or spent is None:
        return None
    account = current(spent.account)
    book(account.id, -spent.delta, "release", release_key(attempt.dev, attempt.aid), now, dev=attempt.dev,
         merchant=attempt.merchant, orig=key, flag="released", actor=actor,
         note="no record within %d min of the approval" % minutes)
    return -spent.delta, account.cur

