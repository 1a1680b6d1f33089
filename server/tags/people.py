"""What identity changes do to tags: a merge rebuilds the survivor from the group's sales, an erase forgets.

Both run inside the caller's main-database transaction (server.customers.identity.merge,
server.customers.rights.erase). A recompute that is under way is cleaned too: its staging
tables must not bring back an erased or merged-away customer at the swap.
"""

from peewee import chunked

from server.db import db
from server.tags import context, realtime
from server.tags import settings as tag_settings
from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagEvent, TagRun

STAGING = ("tagnext_stats", "tagnext_tags")   # server.tags.recompute.NEXT, NEXT_TAGS
PROFILE = (CustomerStats, CustomerTag, TagEvent, RiskFlag)


def merged(dst, members, now_ts=None):
    """Re-tag ``dst`` after a merge: its stats rebuilt from the sales of ``members`` (``dst`` and every customer
    merged into it), open risk flags moved to it; the merged-away customers' stats and tags removed.

    Their tag history stays under their own ids (an export of ``dst`` covers its group), closed by
    one TagEvent losing every code they held. Returns ``dst``'s shown codes.
    """
    now_ts = int(now_ts or tag_settings.now_ts())
    gone = [m for m in members if m != dst]
    ctx = context.load()
    if gone:
        rows, have = realtime.read(realtime.STATS, gone), realtime.held(realtime.TAGS, gone)
        events = []
        for m in gone:
            codes = have.get(m, set()) | set(realtime.one_of_codes(rows[m]))
            if codes:
                events.append((m, now_ts, None, "", ",".join(sorted(codes))))
        if events:
            TagEvent.insert_many(events, fields=[TagEvent.customer, TagEvent.at, TagEvent.run, TagEvent.gained,
                                                 TagEvent.lost]).execute()
        _delete((CustomerStats, CustomerTag), gone)
        RiskFlag.update(customer=dst).where(RiskFlag.customer.in_(gone)).execute()
    old = realtime.read(realtime.STATS, [dst])[dst]
    merchants = tag_settings.merchants_of_devices()
    row = _rebuilt(dst, members, old, ctx, merchants, now_ts)
    if row.get("new") and not (row["orders"] or row["refunds"]):
        return realtime.tags_for([dst])[dst]
    risky = {dst} if RiskFlag.select().where((RiskFlag.customer == dst) & RiskFlag.reviewed_at.is_null()).exists() \
        else ()
    out = realtime.retag({dst: row}, ctx, realtime.utc(now_ts), risky=risky)[dst]
    _stage(dst, members, old, ctx, merchants, now_ts, risky)
    return out


def _rebuilt(dst, members, old, ctx, merchants, now_ts, high_id=None):
    """``dst``'s row rebuilt from its group's sales (up to record ``high_id``); from ``old``, its row before, the
    codes held (for the history) and the risk patterns, which go on from the survivor's own."""
    row = realtime.rebuild(dst, members, ctx, merchants, now_ts, high_id)
    if not old.get("new"):
        row.pop("new")
        row.update((k, old[k]) for k in realtime.ONE_OF + realtime.RISK)
    return row


def _stage(dst, members, old, ctx, merchants, now_ts, risky):
    """Put ``dst``'s group into a run under way past its aggregate step (which regroups itself), rebuilt from the
    sales the run reads (up to its ``high_id``): the swap replays the later ones onto it, under ``dst``."""
    run = TagRun.select(TagRun.step, TagRun.high_id).where(TagRun.state == "running").order_by(TagRun.id.desc()).first()
    if run is None or run.step == "aggregate" or not all(db.table_exists(t) for t in STAGING):
        return
    row = _rebuilt(dst, members, old, ctx, merchants, now_ts, run.high_id)
    if row.get("new") and not (row["orders"] or row["refunds"]):
        return   # all its sales came after the run began: the swap builds its row
    realtime.retag({dst: row}, ctx, realtime.utc(now_ts), risky=risky, table=STAGING[0], tag_table=STAGING[1],
                   events=False)


def forget(members):
    """Delete the profiling data of ``members`` (stats, tags, tag history, risk flags), staging copies included."""
    _delete(PROFILE, members)


def _delete(models, customers):
    customers = list(customers)
    staged = [t for t in STAGING if db.table_exists(t)] if any(m in (CustomerStats, CustomerTag)
                                                                    for m in models) else []
    for part in chunked(customers, realtime.CHUNK):
        for model in models:
            model.delete().where(model.customer.in_(part)).execute()
        for table in staged:
            db.execute_sql('DELETE FROM "%s" WHERE "customer" IN (%s)' % (table, ", ".join([db.param] * len(part))),
                           part)
