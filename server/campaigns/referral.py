"""Referrals: who brought in whom, and points for both once the newcomer first buys.

Rewards are booked through the points ledger under the keys ``referral:{referee}:referrer``
and ``referral:{referee}:referee``, so however often, late or out of order ingest reports a
referee's purchases, each reward is booked exactly once. When that first purchase is wholly
refunded or voided, each reward is taken back once under ``referral:{referee}:{role}:back``,
never below a balance of 0; what could not be taken back is kept as the referral's ``short``.
"""

from datetime import timedelta

from peewee import chunked, fn

from server.campaigns import CampaignError
from server.campaigns.models import Referral
from server.db import db, utcnow
from server.ingest.models import Record
from server.loyalty import ledger
from server.loyalty.models import Customer, PointsEntry

REFERRER_POINTS = 500
REFEREE_POINTS = 200
# A referee must be new: a referral is refused when the referee's first sale is older than this.
NEW_FOR = timedelta(days=30)
CHUNK = 200
MERGE_DEPTH = 8  # merged-into chains longer than this are broken data: no points go there


def refer(referrer, referee, actor, now=None, referrer_points=REFERRER_POINTS, referee_points=REFEREE_POINTS):
    """Record that ``referrer`` brought in ``referee``; False if exactly this was recorded before.

    Refused (CampaignError): self-referral, a second referrer, a cycle, a customer that is not
    active, a referee who has bought for longer than NEW_FOR. A referee who has bought already
    (within NEW_FOR) is rewarded at once; otherwise on the first sale ingest reports.
    """
    now = now or utcnow()
    _check_points(referrer_points, referee_points)
    if referrer == referee:
        raise CampaignError("customer %s cannot refer themselves: give the customer who brought them in" % referee)
    with db.atomic():
        states = dict(Customer.select(Customer.id, Customer.state).where(Customer.id.in_([referrer, referee]))
                      .tuples())
        for who in (referrer, referee):
            if states.get(who) != "active":
                raise CampaignError("customer %s is %s: referrals are between active customers"
                                    % (who, states.get(who, "unknown")))
        earlier = Referral.get_or_none(Referral.referee == referee)
        if earlier is not None:
            if earlier.referrer_id == referrer:
                return False
            raise CampaignError("customer %s was already referred by %s: a customer has one referrer"
                                % (referee, earlier.referrer_id))
        up = referrer
        while up is not None:
            if up == referee:
                raise CampaignError("customer %s was itself brought in (directly or not) by %s: that referral "
                                    "would make a circle" % (referrer, referee))
            up = Referral.select(Referral.referrer).where(Referral.referee == up).scalar()
        first = (Record.select(fn.MIN(Record.received_at))
                 .where(Record.customer == referee, Record.kind == "sale").scalar())
        if first is not None and first < now - NEW_FOR:
            raise CampaignError("customer %s has been buying since %s: referrals are for customers new within "
                                "%d days" % (referee, first.date().isoformat(), NEW_FOR.days))
        Referral.create(referrer=referrer, referee=referee, at=now, actor=actor)
        reward_first_purchases([referee], now, referrer_points, referee_points, actor)
    return True


def reward_first_purchases(customer_ids, now=None, referrer_points=REFERRER_POINTS, referee_points=REFEREE_POINTS,
                           actor="ingest"):
    """Book referral points for each of ``customer_ids`` that is an unrewarded referee with a sale.

    Called by ingest after a batch with the customers who bought (inside or after its
    transaction); a few queries per chunk, whatever the batch. The referrer's points go to
    the customer it was merged into, if merged; none if erased. Returns the entries booked.
    """
    now = now or utcnow()
    _check_points(referrer_points, referee_points)
    booked = 0
    for part in chunked(sorted(set(customer_ids)), CHUNK):
        with db.atomic():
            pending = list(Referral.select(Referral.id, Referral.referrer, Referral.referee)
                           .where(Referral.referee.in_(part), Referral.rewarded_at.is_null()).tuples())
            if not pending:
                continue
            firsts = _first_sales([referee for _, _, referee in pending])
            holders = _holders(set(r for _, r, _ in pending) | set(firsts))
            done = []
            for rid, referrer, referee in pending:
                if referee not in firsts:
                    continue
                note = "referral: first sale %s seq %d" % firsts[referee]
                for who, points, role in ((referrer, referrer_points, "referrer"),
                                          (referee, referee_points, "referee")):
                    if points and holders.get(who):
                        booked += ledger.post(holders[who], points, "referral", "referral:%s:%s" % (referee, role),
                                              now=now, note=note, actor=actor)
                done.append(rid)
            Referral.update(rewarded_at=now).where(Referral.id.in_(done), Referral.rewarded_at.is_null()).execute()
    return booked


def rewarded_referees(customer_ids):
    """The ones among ``customer_ids`` that are referees rewarded and not yet taken back."""
    out = set()
    for part in chunked(sorted(customer_ids), CHUNK):
        out.update(r for (r,) in Referral.select(Referral.referee).where(
            Referral.referee.in_(part), Referral.rewarded_at.is_null(False), Referral.taken_back_at.is_null()).tuples())
    return out


def take_back(sales, now=None, actor="ingest"):
    """Take back the referral rewards of each wholly reversed sale ``[(customer, dev, seq)]`` that was a
    rewarded referee's first sale; returns ``{referee: points short}`` for those taken back now.

    Each reward comes off the customer now holding it (the one it was merged into, if merged),
    as far as that balance goes; the rest is recorded as the shortfall, in the entry's note and
    in ``Referral.short``. A reversal seen again, or another reversal of the sale, books nothing.
    """
    now = now or utcnow()
    buyers = {}
    for customer, dev, seq in sales:
        if customer:
            buyers.setdefault(customer, set()).add((dev, seq))
    if not buyers:
        return {}
    out = {}
    with db.atomic():
        pending = list(Referral.select().where(Referral.referee.in_(sorted(buyers)), Referral.rewarded_at.is_null(False),
                                               Referral.taken_back_at.is_null()))
        firsts = _first_sales([r.referee_id for r in pending])
        for r in pending:
            referee = r.referee_id
            first = firsts.get(referee)
            if first not in buyers[referee]:
                continue
            short = 0
            for role in ("referrer", "referee"):
                short += _take_back_one(referee, role, first, now, actor)
            if Referral.update(taken_back_at=now, short=short).where(Referral.id == r.id,
                                                                     Referral.taken_back_at.is_null()).execute():
                out[referee] = short
    return out


def _take_back_one(referee, role, sale, now, actor):
    """Take back the ``role`` reward of ``referee``'s referral; returns the points short."""
    reward = (PointsEntry.select(PointsEntry.customer, PointsEntry.delta)
              .where(PointsEntry.key == "referral:%s:%s" % (referee, role)).tuples().first())
    if reward is None or reward[1] <= 0:
        return 0
    customer, points = reward
    holder = _holders({customer}).get(customer)
    if holder is None:
        return points
    take = min(points, max(0, ledger.balance(holder)))
    note = "referral taken back: first sale %s seq %d reversed" % sale
    if take < points:
        note += "; %d of %d points taken, %d short (balance never below 0)" % (take, points, points - take)
    booked = ledger.post(holder, -take, "referral_back", "referral:%s:%s:back" % (referee, role), now=now,
                         dev=sale[0], seq=sale[1], note=note, actor=actor)
    return points - take if booked else 0


def _check_points(*points):
    if not all(isinstance(p, int) and p >= 0 for p in points):
        raise CampaignError("referral points %s: give whole numbers, 0 or more" % (points,))


def _first_sales(referees):
    """``{customer: (dev, seq)}`` of the first stored sale of each of ``referees`` that has one."""
    first = (Record.select(fn.MIN(Record.id)).where(Record.customer.in_(referees), Record.kind == "sale")
             .group_by(Record.customer))
    rows = Record.select(Record.customer, Record.dev, Record.seq).where(Record.id.in_(first)).tuples()
    return {customer: (dev, seq) for customer, dev, seq in rows}


def _holders(ids):
    """``{customer: the active customer holding its points now}``: itself, or where it was merged; erased: None."""
    out, todo = {}, {c: c for c in ids}
    for _ in range(MERGE_DEPTH):
        rows = (Customer.select(Customer.id, Customer.state, Customer.merged_into)
                .where(Customer.id.in_(list(set(todo.values())))).tuples())
        found = {cid: (state, into) for cid, state, into in rows}
        nxt = {}
        for start, at in todo.items():
            state, into = found.get(at, (None, None))
            if state == "merged" and into:
                nxt[start] = into
            else:
                out[start] = at if state == "active" else None
        todo = nxt
        if not todo:
            break
    return out
