"""Judge stored sales again after a registry update, in committed chunks, recording what changed.

Each sale is judged at its own time, so a sale made while a licence was valid stays OK; what
changes is what the newer registry knows (a code added, a revocation back-dated, a scope fixed).
A run only takes verdicts not yet judged against the registry in force, so an interrupted run
picks up where it stopped. ``everything`` judges all again (after a merchant's province was set).
"""

from collections import Counter, namedtuple

from server.db import db, utcnow
from server.licences.checks import ACQ_FIELDS, current_registry, judge_one, merchants_of
from server.licences.models import SaleVerdict, VerdictChange

CHUNK = 500

# checked: verdicts judged in this run; changed: [VerdictChange] in the order found;
# moves: Counter {(old, new): n}
Outcome = namedtuple("Outcome", "registry checked changed moves")


class ReverifyError(Exception):
    """Re-verification cannot run; the message says what to do."""


def pending(reg, everything=False, started=None):
    """The query of verdicts this run still has to judge against ``reg``."""
    if everything:
        return SaleVerdict.judged_at < started
    return SaleVerdict.registry.is_null() | (SaleVerdict.registry != reg.version)


def pending_count():
    """How many stored verdicts were judged against another registry than the one in force."""
    reg = current_registry()
    return SaleVerdict.select().where(pending(reg)).count() if reg.version is not None else 0


def reverify(everything=False, progress=None, chunk=CHUNK):
    """Judge again every stored sale verdict not yet judged against the registry in force.

    ``progress(done, total)`` is called after each committed chunk. Returns an Outcome.
    """
    reg = current_registry()
    if reg.version is None:
        raise ReverifyError("no licence registry imported yet: import one first "
                            "(possync-server licences import FILE)")
    started = utcnow()
    todo = pending(reg, everything, started)
    total = SaleVerdict.select().where(todo).count()
    done, last, changed, moves = 0, 0, [], Counter()
    if progress:
        progress(0, total)
    while True:
        rows = list(SaleVerdict.select().where(todo & (SaleVerdict.id > last)).order_by(SaleVerdict.id).limit(chunk))
        if not rows:
            break
        last = rows[-1].id
        with db.atomic():
            now = utcnow()
            where = merchants_of(v.dev for v in rows if v.province is None)
            for v in rows:
                found = _judge_again(v, where, reg, now)
                if found is not None:
                    changed.append(found)
                    moves[(found.old, found.new)] += 1
        done += len(rows)
        if progress:
            progress(done, max(total, done))
    return Outcome(reg.version, done, changed, moves)


def _judge_again(v, where, reg, now):
    """Judge one stored verdict again and save it; the VerdictChange when its verdict changed."""
    if v.province is None:
        v.merchant, v.province = where.get(v.dev, (None, None))
    if v.acq_whole:
        fields = [getattr(v, name) for name in ACQ_FIELDS]
        acq = None if all(f is None for f in fields) else {k: f for k, f in zip(ACQ_FIELDS, fields) if f is not None}
        result, reason = judge_one(acq, v.province, v.sold_at, reg)
    else:
        result, reason = v.verdict, v.reason
    change = None
    if result != v.verdict:
        change = VerdictChange.create(sale=v, old=v.verdict, old_reason=v.reason, old_registry=v.registry,
                                      new=result, new_reason=reason, registry=reg.version, changed_at=now)
    v.verdict, v.reason, v.registry, v.judged_at = result, reason, reg.version, now
    v.save()
    return change
