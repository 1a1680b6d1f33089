"""Tiers across merges: a merge carries tier and qualifying spend over; reviews count a merged group's spend.

When ``src`` is merged into ``dst`` the higher tier wins with its ``tier_since`` and
``tier_review_at`` (on a tie: held since the earlier date, reviewed at the later one). The
qualifying spend adds up inside ``dst``'s window (from its ``qual_since``): all of ``src``'s if its
window lies inside it, else ``src``'s records received since then. A sum that reaches a higher
tier raises it at once, as a sale would.
"""

from collections import defaultdict

from peewee import Case, chunked, fn

from server.ingest.models import Record
from server.loyalty import programme
from server.loyalty.earn import add_months, qualified
from server.loyalty.models import Customer

CHUNK = 200


def carry_over(src, dst, now):
    """Give customer ``dst`` the tier and qualifying spend of the pair ``src`` + ``dst`` (inside the caller's
    transaction, before ``src`` is marked merged); returns the fields written to ``dst``."""
    prog = programme.current()
    a, b = Customer.get_by_id(src), Customer.get_by_id(dst)
    since = b.qual_since or a.qual_since
    if since is None or (a.qual_since is not None and a.qual_since >= since):
        extra = a.qual_spend
    else:
        extra = group_spend([a.id], since, now, prog["cur"]).get(a.id, 0)
    fields = {"qual_spend": b.qual_spend + extra, "qual_since": since}
    rank = prog["rank"]
    ra, rb = rank.get(a.tier, 0), rank.get(b.tier, 0)
    if ra > rb:
        fields.update(tier=a.tier, tier_since=a.tier_since, tier_review_at=a.tier_review_at)
    elif ra == rb:
        fields.update(tier=b.tier, tier_since=_first(min, a.tier_since, b.tier_since),
                      tier_review_at=_first(max, a.tier_review_at, b.tier_review_at))
    else:
        fields.update(tier=b.tier, tier_since=b.tier_since, tier_review_at=b.tier_review_at)
    reached = qualified(prog, fields["qual_spend"])
    if rank[reached] > rank.get(fields["tier"], 0):
        fields.update(tier=reached, tier_since=now, tier_review_at=add_months(now, prog["review"]))
    Customer.update(**fields).where(Customer.id == dst).execute()
    return fields


def members(custs):
    """``{customer: root}`` for ``custs`` and every customer merged into one of them, directly or not."""
    owner = {c: c for c in custs}
    frontier = list(owner)
    while frontier:
        nxt = []
        for part in chunked(frontier, CHUNK):
            for cust, into in Customer.select(Customer.id, Customer.merged_into).where(
                    Customer.merged_into.in_(part) & (Customer.state == "merged")).tuples():
                if cust not in owner:
                    owner[cust] = owner[into]
                    nxt.append(cust)
        frontier = nxt
    return owner


def group_spend(custs, since, until, cur):
    """``{customer: sales - refunds - voids}`` in ``cur`` received in ``(since, until]``, each customer's
    including the records of the customers merged into it."""
    owner = members(custs)
    signed = Case(Record.kind, [("sale", Record.amount)], 0 - Record.amount)
    out = defaultdict(int)
    for part in chunked(sorted(owner), CHUNK):
        rows = (Record.select(Record.customer, fn.SUM(signed))
                .where(Record.customer.in_(part) & (Record.cur == cur) & (Record.received_at > since)
                       & (Record.received_at <= until))
                .group_by(Record.customer).tuples())
        for cust, total in rows:
            out[owner[cust]] += total
    return dict(out)


def _first(pick, *values):
    """``pick`` (min or max) of the values that are set, or None."""
    values = [v for v in values if v is not None]
    return pick(values) if values else None
