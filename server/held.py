"""Online approvals held until the record naming them arrives, shared by points (server.loyalty.redeem)
and stored value (server.wallet.stale).

A held row has ``id``, ``dev``, ``aid``, ``held`` and ``released_at``. The sale or record that names
it (settle) and the job that releases it after the grace period (take) each decide by a conditional
UPDATE of the held row, so whichever commits first wins and the value moves once.
"""

from collections import defaultdict

from peewee import chunked

from server.db import db

CHUNK = 200


def settle(model, pairs):
    """Mark the ``model`` rows ``[(dev, aid)]`` as met by their record; returns those released before it came.

    Call inside the transaction that books the records.
    """
    by_dev = defaultdict(set)
    for dev, aid in pairs:
        by_dev[dev].add(str(aid))
    released = set()
    for dev, aids in sorted(by_dev.items()):
        for part in chunked(sorted(aids), CHUNK):
            mine = (model.dev == dev) & model.aid.in_(part)
            model.update(held=False).where(mine & (model.held == True)).execute()  # noqa: E712 (SQL)
            query = model.select(model.aid).where(mine & model.released_at.is_null(False))
            released.update((dev, aid) for (aid,) in query.tuples())
    return released


def release_stale(model, since, cutoff, release_one, progress=None, chunk=CHUNK):
    """Call ``release_one(row)`` on every ``model`` row still held whose ``since`` field is at or before ``cutoff``.

    Rows go in id order, one transaction per ``chunk``; ``progress(done, total)`` is told before
    and after each. Returns the answers of ``release_one`` that are not None (the rows it released).
    """
    ids = [i for (i,) in model.select(model.id).where(
        (model.held == True) & (since <= cutoff)).order_by(model.id).tuples()]  # noqa: E712 (SQL)
    moved, done = [], 0
    if progress:
        progress(0, len(ids))
    for part in chunked(ids, chunk):
        with db.atomic():
            for row in model.select().where(model.id.in_(part)).order_by(model.id):
                answer = release_one(row)
                if answer is not None:
                    moved.append(answer)
        done += len(part)
        if progress:
            progress(done, len(ids))
    return moved


def take(model, row, now):
    """Mark ``row`` released at ``now`` unless its record came meanwhile; True if this call released it."""
    return bool(model.update(held=False, released_at=now).where(
        (model.id == row.id) & (model.held == True)).execute())  # noqa: E712 (SQL, not Python)
