"""Points jobs run from the command line or a timer: expiry and tier reviews, in committed chunks.

Both can be stopped and run again: expiry books at most one entry per customer and day
(``expire:{customer}:{date}``) and takes only what is still due; a review moves each reviewed
customer's next review date forward, so a second run finds nothing due.
"""

from collections import Counter

from peewee import Case, chunked, fn

from server.db import bulk_insert, db, utcnow
from server.loyalty import ledger, programme, tiers
from server.loyalty.earn import add_months, qualified
from server.loyalty.models import Customer, PointsEntry

CHUNK = 200


def expire(now=None, progress=None, chunk=CHUNK):
    """Book the expiry of every lot whose ``expires_at`` has passed; ``{"customers", "points"}``.

    Per customer: max(0, points of lapsed lots - every point spent, reversed or expired
    before), i.e. deductions use up the lots that lapse first; never more than the balance.
    ``progress(done, total)`` is called after each committed chunk.
    """
    now = now or utcnow()
    day = now.date().isoformat()
    due = (PointsEntry.delta > 0) & (PointsEntry.expires_at <= now)
    custs = [c for (c,) in PointsEntry.select(PointsEntry.customer).where(due).distinct()
             .order_by(PointsEntry.customer).tuples()]
    lapsed = fn.SUM(Case(None, [(due, PointsEntry.delta)], 0))
    spent = fn.SUM(Case(None, [(PointsEntry.delta < 0, 0 - PointsEntry.delta)], 0))
    done, customers, points = 0, 0, 0
    if progress:
        progress(0, len(custs))
    for part in chunked(custs, chunk):
        with db.atomic():
            sums = (PointsEntry.select(PointsEntry.customer, lapsed, spent, fn.SUM(PointsEntry.delta))
                    .where(PointsEntry.customer.in_(part)).group_by(PointsEntry.customer).tuples())
            rows = [(cust, None, None, -min(gone - used, held), "expire", now, "expire:%s:%s" % (cust, day),
                     None, "points earned before %s" % day, "job:expiry")
                    for cust, gone, used, held in sums if min(gone - used, held) > 0]
            known = ledger.booked(row[6] for row in rows)
            rows = [row for row in rows if row[6] not in known]
            bulk_insert(PointsEntry, ledger.ENTRY_FIELDS, rows)
            ledger.add_points({row[0]: row[3] for row in rows})
        customers += len(rows)
        points -= sum(row[3] for row in rows)
        done += len(part)
        if progress:
            progress(done, len(custs))
    return {"customers": customers, "points": points}


def review_tiers(now=None, progress=None, chunk=CHUNK):
    """Review the tier of every active customer due (``tier_review_at`` passed or never set).

    The spend of the last ``window_months`` (sales minus refunds and voids, from the stored
    records, programme currency) gives the tier it reaches; a higher one is taken at once, a
    lower one as the programme's ``downgrade`` says ("one": one tier down at most; "qualify":
    down to what is reached). The spend becomes the new qualifying spend and the next review
    is ``review_months`` on. Returns ``{"reviewed", "moves": Counter {(old, new): n}}``.
    """
    now = now or utcnow()
    prog = programme.current()
    since, review = add_months(now, -prog["window"]), add_months(now, prog["review"])
    due = (Customer.state == "active") & (Customer.tier_review_at.is_null() | (Customer.tier_review_at <= now))
    custs = [c for (c,) in Customer.select(Customer.id).where(due).order_by(Customer.id).tuples()]
    done, moves = 0, Counter()
    if progress:
        progress(0, len(custs))
    for part in chunked(custs, chunk):
        with db.atomic():
            spend = window_spend(part, since, now, prog["cur"])
            for cust, tier in Customer.select(Customer.id, Customer.tier).where(due & Customer.id.in_(part)).tuples():
                new = after_review(prog, tier, qualified(prog, spend.get(cust, 0)))
                fields = {"tier_review_at": review, "qual_spend": spend.get(cust, 0), "qual_since": since}
                if new != tier:
                    fields.update(tier=new, tier_since=now)
                    moves[(tier, new)] += 1
                Customer.update(**fields).where(Customer.id == cust).execute()
        done += len(part)
        if progress:
            progress(done, len(custs))
    return {"reviewed": done, "moves": moves}


def after_review(prog, tier, reached):
    """The tier a review leaves: ``reached`` if higher, else as far down as the downgrade rule lets it go."""
    rank, tiers = prog["rank"], prog["tiers"]
    held = rank.get(tier, 0)
    if rank[reached] >= held or prog["downgrade"] == "qualify":
        return reached
    return tiers[max(rank[reached], held - 1)][0]


def window_spend(custs, since, until, cur):
    """``{customer: sales - refunds - voids}`` in ``cur`` received in ``(since, until]``, counting the records
    of the customers merged into each (server.loyalty.tiers)."""
    return tiers.group_spend(custs, since, until, cur)
