"""The full recompute: every customer's stats from the sales, scores and tags, swapped in at once.

Steps, each resumable from TagRun: ``aggregate`` (one sequential scan of the Record table
grouped by customer, server.tags.aggregate; erased and merged-away customers dropped, a merge
survivor rebuilt from its group's sales), ``score`` (numpy over all customers: quintile cuts,
lifecycle thresholds, models; the finished rows written to the staging table tagnext_stats in
chunks), ``tags`` (flag and rule tags into tagnext_tags, rules as SQL; then, for customers
whose vault consent allows it, their vault segments and rules on vault features, see
server.tags.segments), ``swap`` (one transaction: replay the sales that came after the run
began, write the history, drop the live tables and rename the staging ones in). Until the swap
commits every customer keeps the previous run's tags, and ``status`` says that a run is unfinished.
The SQL is SQLite's dialect (printf, group_concat, integer division, RENAME), like the bench.
"""

import gc
import json
from types import SimpleNamespace

import numpy as np
from peewee import chunked

from server.db import db, utcnow
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags import aggregate, builtin, context, features, realtime, refit, segments
from server.tags import settings as tag_settings
from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagCount, TagEvent, TagRun

CHUNK = 20000
LIVE, NEXT = CustomerStats._meta.table_name, "tagnext_stats"
LIVE_TAGS, NEXT_TAGS = CustomerTag._meta.table_name, "tagnext_tags"
RISK, NO_RISK = realtime.RISK, (None, 0, None, 0)
REC = Record._meta.table_name


class NextStats(CustomerStats):
    class Meta:
        table_name = NEXT


class NextTag(CustomerTag):
    class Meta:
        table_name = NEXT_TAGS


def run(progress=None, resume=False, now=None, workers=None):
    """Recompute every customer's stats and tags; ``progress(done, total)`` as it goes.

    ``resume`` continues the unfinished run (same ``now``, same result as one uninterrupted run);
    otherwise an unfinished run is abandoned and a new one starts at ``now`` (unix seconds,
    default now). ``workers``: scan processes (default: server.tags.aggregate.workers). Returns
    counts: run, customers, replayed, events, ``tags`` {code: customers} and ``workers``, the
    processes the scan ran in (1: this one; 0: a resumed run past the scan).
    """
    unfinished = TagRun.select().where(TagRun.state == "running").order_by(TagRun.id.desc()).first()
    if unfinished is not None and (not resume or "carries_risk" not in json.loads(unfinished.params)):
        # a run an older version began wrote its rows without the risk patterns: it cannot go on
        why = "begun by an older version: started anew" if resume else "replaced by a new run"
        TagRun.update(state="abandoned", finished_at=utcnow(), message=why).where(
            TagRun.state == "running").execute()
        unfinished = None
    tr = unfinished or _start(int(now or tag_settings.now_ts()))
    update = progress or (lambda done, total: None)
    p = json.loads(tr.params)
    workers = aggregate.workers(tr.high_id) if workers is None else workers
    scanned_in = 0
    if tr.step in ("aggregate", "score"):
        collect = gc.isenabled()
        gc.disable()  # millions of row tuples, no cycles among them: the collector would only walk them again
        try:
            scanned_in = _stats(tr, p, update, workers)
        finally:
            if collect:
                gc.enable()
    if tr.step == "tags":
        _tags(tr, p)
    return dict(_swap(tr, p), workers=scanned_in)


def status():
    """``{"last": TagRun or None, "unfinished": TagRun or None}``: the run in force and one still running."""
    last = TagRun.select().where(TagRun.state == "done").order_by(TagRun.id.desc()).first()
    unfinished = TagRun.select().where(TagRun.state == "running").order_by(TagRun.id.desc()).first()
    return {"last": last, "unfinished": unfinished}


def _start(now_ts):
    settings, per = tag_settings.load()
    offset = tag_settings.utc_offset(now_ts)
    with db.atomic():
        db.drop_tables([NextStats, NextTag], safe=True)
        db.create_tables([NextStats, NextTag])
        high = db.execute_sql('SELECT MAX("id") FROM "%s"' % REC).fetchone()[0] or 0
        total = Customer.select().count()  # for the progress bar: cheaper than counting buyers in the sales
        params = {"offset": offset, "today": tag_settings.day_of(now_ts, offset), "settings": settings, "per": per,
                  "carries_risk": 1}
        return TagRun.create(now_ts=now_ts, high_id=high, total=total, params=json.dumps(params))


def _save(tr, **fields):
    for k, v in fields.items():
        setattr(tr, k, v)
    TagRun.update(**fields).where(TagRun.id == tr.id).execute()


def _stats(tr, p, update, workers):
    """Steps aggregate and score: the scan and the scores in memory, then the rows written in chunks.

    Returns how many processes the scan ran in.

    Nothing is written before the scores are known, so an interrupted ``aggregate`` starts over
    (one scan); an interrupted ``score`` scans again and writes on after ``cursor`` with the cut
    points it saved (the sales it reads end at ``high_id``: the same rows come out).
    """
    settings, today = p["settings"], p["today"]
    total = 2 * tr.total

    def scanned(groups):
        if tr.step == "aggregate" and groups > tr.done:
            _save(tr, done=min(groups, tr.total))
            update(tr.done, total)

    parts = aggregate.ranges(workers)
    cols = aggregate.scan(tr.high_id, today, p["offset"], settings["rfm_window_days"], CHUNK, scanned, parts)
    cols = aggregate.regroup(cols, today, settings, p["offset"], tr.now_ts, tr.high_id)
    cols.update(_risk_state(cols["customer"]))
    names, rows = _scored(cols, tr, p)
    if tr.step == "aggregate":
        _save(tr, step="score", cursor="", done=tr.total, params=json.dumps(p))
    start = int(np.searchsorted(cols["customer"], tr.cursor, side="right")) if tr.cursor else 0
    n = cols["customer"].size
    fixed = {"asof_day": int(today), "run": tr.id, "updated_ts": tr.now_ts}  # same for every row: SQL literals
    fixed.update((name, "NULL" if v is None else v) for name, v in zip(RISK, NO_RISK) if name not in names)
    sql = 'INSERT INTO "%s" (%s, %s) VALUES (%s, %s) ON CONFLICT ("customer") DO NOTHING' % (
        NEXT, ", ".join('"%s"' % c for c in names), ", ".join('"%s"' % c for c in fixed),
        ", ".join([db.param] * len(names)), ", ".join(str(v) for v in fixed.values()))
    # a merge under way writes its survivor straight into the staging table (server.tags.people): kept
    for lo in range(start, n, CHUNK):
        hi = min(n, lo + CHUNK)
        with db.atomic():
            db.cursor().executemany(sql, rows[lo:hi])
            _save(tr, cursor=rows[hi - 1][0], done=tr.total + hi, params=json.dumps(p))
        update(tr.done, total)
    with db.atomic():
        # customers erased or merged away while the rows were written (the scan saw them active)
        db.execute_sql('DELETE FROM "%s" WHERE "customer" IN (SELECT "id" FROM "%s" WHERE "state" != \'active\')'
                       % (NEXT, Customer._meta.table_name))
        _save(tr, step="tags", cursor="", params=json.dumps(p))
    return len(parts)


def _risk_state(customers):
    """The live rows' risk patterns (RISK) lined up with ``customers``; ``{}`` when no live row has any.

    Ingest keeps them from sale to sale and the sales history cannot rebuild them: the new rows
    carry them over (the swap copies them again for the customers of late sales).
    """
    held = {c: vals for c, *vals in db.execute_sql(
        'SELECT "customer", %s FROM "%s" WHERE %s' % (", ".join('"%s"' % c for c in RISK), LIVE, " OR ".join(
            '"%s" IS NOT %s' % (c, "NULL" if v is None else v) for c, v in zip(RISK, NO_RISK))))}
    if not held:
        return {}
    rows = [held.get(c, NO_RISK) for c in customers.tolist()]
    return {name: np.array(v, dtype=object) for name, v in zip(RISK, zip(*rows))}


def _scored(cols, tr, p):
    """``(names, rows)``: the staging columns and rows (tuples) of ``cols`` scored; sets the cut points in ``p``.

    The columns the same for every row (run, as-of day; risk patterns when none is held) are left to the caller.

    A resumed run keeps the cut points and thresholds it saved before writing.
    """
    settings, today = p["settings"], p["today"]
    n = cols["customer"].size
    buyer = cols["orders"] > 0
    num = {name: cols[name].astype(float) for name in ("days", "orders", "spend", "rfm_orders", "rfm_spend",
                                                       "orders_90d", "spend_90d", "orders_prev_90d", "spend_prev_90d")}
    for name in ("first_day", "last_day"):
        num[name] = np.where(buyer, cols[name], np.nan)
    pred = refit.predict(refit.in_force(), num["days"], num["first_day"], num["last_day"], num["spend"],
                         num["orders"], today, settings)
    num.update(today=today, merchant=cols["merchant"], p_alive=pred[0], exp_90d=pred[1], exp_spend=pred[2],
               clv=pred[3])
    if "cuts" not in p:
        p["thresholds"] = builtin.lifecycle_thresholds(cols["merchant"], num["first_day"], num["last_day"],
                                                       num["days"])
        p["cuts"] = builtin.cut_points(num, settings)
    if p["cuts"]["metric"] == "spend":
        num["clv"] = np.full(n, np.nan)
    out = builtin.score(num, p["cuts"], builtin.with_overrides(p["thresholds"], settings, p["per"]), settings)
    out.update(p_alive=pred[0], exp_90d=pred[1], exp_spend=pred[2], clv=pred[3])
    names = [c for c in realtime.COLUMNS if c in cols or c in out]
    values = []
    for name in names:
        v = out[name] if name in out else cols[name]
        if name in aggregate.MISSING:
            none = ~buyer
        elif name in ("rfm_r", "rfm_f", "rfm_m"):
            none = v == 0
        else:
            none = np.isnan(v) if v.dtype.kind == "f" and name in out else None
        if none is not None and none.any():
            v = v.astype(object)
            v[none] = None
        values.append(v.tolist())
    return names, list(zip(*values))


def _ctx(p, tr):
    ctx = context.load()
    settings = p["settings"]
    return SimpleNamespace(**dict(vars(ctx), settings=settings, params=p["cuts"], run=tr.id, offset=p["offset"],
                                  thresholds=builtin.with_overrides(p["thresholds"], settings, p["per"])))


def _tags(tr, p):
    ctx = _ctx(p, tr)
    since = 'COALESCE((SELECT o."since" FROM "%s" o WHERE o."customer" = s."customer" AND o."tag" = %s), %d)' % (
        LIVE_TAGS, db.param, tr.now_ts)
    insert = 'INSERT INTO "%s" ("customer", "tag", "since") ' % NEXT_TAGS
    with db.atomic():
        db.execute_sql('DELETE FROM "%s"' % NEXT_TAGS)
        for code, bit in builtin.FLAGS.items():
            db.execute_sql(insert + 'SELECT s."customer", %s, %s FROM "%s" s WHERE (s."flags" & %d) != 0'
                           % (db.param, since, NEXT, bit), [code, code])
        db.execute_sql(insert + 'SELECT DISTINCT s."customer", %s, %s FROM "%s" s WHERE s."customer" IN '
                       '(SELECT "customer" FROM "%s" WHERE "reviewed_at" IS NULL)'
                       % (db.param, since, NEXT, RiskFlag._meta.table_name), ["high_risk", "high_risk"])
        columns, has_tag = features.sql_columns(p["today"], "s", "c"), has_tag_sql(NEXT_TAGS)
        for code, rule in context.rules_valid(ctx, realtime.utc(tr.now_ts)):
            cond, args = rule.to_sql(columns, db.param, has_tag)
            db.execute_sql(insert + 'SELECT s."customer", %s, %s FROM "%s" s LEFT JOIN "%s" c ON c."id" = s."customer"'
                           ' WHERE %s' % (db.param, since, NEXT, Customer._meta.table_name, cond),
                           [code, code] + list(args))
        _vault(tr, p, ctx)
        _save(tr, step="swap", params=json.dumps(p))


def _vault(tr, p, ctx):
    """Vault tags and rules on vault features for consenting customers (nothing to do, one query, when none).

    The SQL above saw the vault features as missing; for each consenting customer the rule
    tags are evaluated again in Python, in priority order as real time does, with the values
    read from the vault, and its segment codes (and birthday tag) added. Values stay in memory.
    """
    today, month, key = p["today"], segments.local_month(tr.now_ts, p["offset"]), None
    valid = context.rules_valid(ctx, realtime.utc(tr.now_ts))
    rule_codes = {code for code, rule in valid}
    for chunk in segments.consenting():
        key = key or segments.segment_key()
        customers = sorted(chunk)
        stats, held = realtime.read(NEXT, customers), realtime.held(NEXT_TAGS, customers)
        since = {}
        for part in chunked(customers, realtime.CHUNK):
            for c, tag, ts in db.execute_sql('SELECT "customer", "tag", "since" FROM "%s" WHERE "customer" IN (%s)' % (
                    LIVE_TAGS, ", ".join([db.param] * len(part))), part):
                since[c, tag] = ts
        extra = realtime.customer_fields(customers)
        new = {}
        for c in customers:
            codes = {t for t in held.get(c, ()) if t not in rule_codes} | segments.codes_of(key, chunk[c], month)
            row = stats[c]
            if not row.get("new"):
                values = features.values(row, today, extra.get(c), chunk[c])
                one_of = set(realtime.one_of_codes(row))
                for code, rule in valid:
                    if rule.evaluate(values, codes | one_of):
                        codes.add(code)
            new[c] = codes
        gone = [(c, t) for c in customers for t in held.get(c, set()) - new[c]]
        came = [(c, t, since.get((c, t), tr.now_ts)) for c in customers for t in sorted(new[c] - held.get(c, set()))]
        db.cursor().executemany('DELETE FROM "%s" WHERE "customer" = %s AND "tag" = %s'
                                % (NEXT_TAGS, db.param, db.param), gone)
        db.cursor().executemany('INSERT INTO "%s" ("customer", "tag", "since") VALUES (%s, %s, %s)'
                                % (NEXT_TAGS, db.param, db.param, db.param), came)


def has_tag_sql(tags_table):
    """The SQL for has_tag(code) on stats row ``s``: a one-of-several column's code or a row in ``tags_table``."""
    return ('(SELECT COUNT(*) FROM (SELECT %s AS x) q WHERE q.x IN (\'lc_\' || s."lifecycle", '
            '\'value_\' || s."value_layer", \'cls_\' || s."customer_class", \'rfm_\' || s."rfm_segment") '
            'OR EXISTS (SELECT 1 FROM "%s" t WHERE t."customer" = s."customer" AND t."tag" = q.x)) > 0'
            % (db.param, tags_table))


def preview(rule, now_ts=None):
    """``(matching, customers)``: how many customers with stats ``rule`` tags now (vault features: missing)."""
    now_ts = now_ts or tag_settings.now_ts()
    today = tag_settings.day_of(now_ts, tag_settings.utc_offset(now_ts))
    columns = features.sql_columns(today, "s", "c")
    cond, args = rule.to_sql(columns, db.param, has_tag_sql(LIVE_TAGS))
    return db.execute_sql('SELECT COALESCE(SUM(%s), 0), COUNT(*) FROM "%s" s LEFT JOIN "%s" c ON c."id" = s."customer"'
                          % (cond, LIVE, Customer._meta.table_name), args).fetchone()


def _swap(tr, p):
    """One transaction: replay the late sales, write the history, then the staging tables become the live ones.

    The live tables are dropped and the staging ones renamed over them (no copy of a million
    rows while ingest waits on the write lock); the tag table's indexes are rebuilt under the
    live names, so ``create_tables`` finds them in place.
    """
    ctx = _ctx(p, tr)
    with db.atomic():
        late = db.execute_sql('SELECT "customer", "dev", "seq", "kind", "ts", "amount", "cur" FROM "%s" '
                              'WHERE "id" > %s AND "customer" IS NOT NULL ORDER BY "id"' % (REC, db.param),
                              [tr.high_id]).fetchall()
        if late:   # a customer merged away since counts for its group's survivor; an erased one not at all
            roots, inactive = aggregate.identities()
            late = [r for r in ((roots.get(r[0], r[0]),) + tuple(r[1:]) for r in late) if r[0] not in inactive]
        if late:
            stats = realtime.read(NEXT, sorted({r[0] for r in late}))
            realtime.add_records(stats, late, tag_settings.merchants_of_devices(), ctx, tr.now_ts, check=False)
            realtime.retag(stats, ctx, realtime.utc(tr.now_ts), table=NEXT, tag_table=NEXT_TAGS, events=False)
            # their risk patterns as ingest left them (the rows were written with those read before)
            for part in chunked(sorted({r[0] for r in late}), realtime.CHUNK):
                db.execute_sql('UPDATE "%s" SET %s FROM "%s" o WHERE o."customer" = "%s"."customer" AND "%s"."customer" '
                               'IN (%s)' % (NEXT, ", ".join('"%s" = o."%s"' % (c, c) for c in RISK), LIVE, NEXT, NEXT,
                                            ", ".join([db.param] * len(part))), part)
        events = _events(tr)
        # the rows of erased customers were zeroed when they were deleted: no need to zero every dropped page
        secure = db.execute_sql("PRAGMA secure_delete").fetchone()[0]
        db.execute_sql("PRAGMA secure_delete = 0")
        try:
            db.execute_sql('DROP TABLE "%s"' % LIVE)
            db.execute_sql('DROP TABLE "%s"' % LIVE_TAGS)
        finally:
            db.execute_sql("PRAGMA secure_delete = %d" % secure)
        db.execute_sql('ALTER TABLE "%s" RENAME TO "%s"' % (NEXT, LIVE))
        for index in db.get_indexes(NEXT_TAGS):
            db.execute_sql('DROP INDEX "%s"' % index.name)
        db.execute_sql('ALTER TABLE "%s" RENAME TO "%s"' % (NEXT_TAGS, LIVE_TAGS))
        CustomerTag._schema.create_indexes(safe=False)
        counts = _counts(tr)
        _save(tr, state="done", step="done", finished_at=utcnow(), done=2 * tr.total)
        tag_settings.bump()
    return {"run": tr.id, "customers": CustomerStats.select().count(), "replayed": len(late), "events": events,
            "tags": counts}


def _events(tr):
    """Write one TagEvent per customer whose codes differ between the live and the staging tables."""
    changes = {}
    one_of = ("lifecycle", "value_layer", "customer_class", "rfm_segment")
    sel = ", ".join('n."%s", o."%s"' % (c, c) for c in one_of)
    differ = " OR ".join('n."%s" IS NOT o."%s"' % (c, c) for c in one_of)
    for row in db.execute_sql('SELECT n."customer", %s FROM "%s" n LEFT JOIN "%s" o ON o."customer" = n."customer" '
                              'WHERE o."customer" IS NULL OR %s' % (sel, NEXT, LIVE, differ)):
        new = builtin.codes_of(*row[1::2])
        old = builtin.codes_of(*row[2::2])
        changes[row[0]] = (set(new) - set(old), set(old) - set(new))
    # the birthday tag comes and goes every year: kept out of the history, which would collect birth months
    for a, b, which in ((NEXT_TAGS, LIVE_TAGS, 0), (LIVE_TAGS, NEXT_TAGS, 1)):
        for customer, tag in db.execute_sql('SELECT a."customer", a."tag" FROM "%s" a WHERE a."tag" != %s AND NOT '
                                            'EXISTS (SELECT 1 FROM "%s" b WHERE b."customer" = a."customer" AND '
                                            'b."tag" = a."tag")' % (a, db.param, b), [segments.BIRTHDAY]):
            changes.setdefault(customer, (set(), set()))[which].add(tag)
    rows = [(c, tr.now_ts, tr.id, ",".join(sorted(g)), ",".join(sorted(lo)))
            for c, (g, lo) in sorted(changes.items()) if g or lo]
    for lo in range(0, len(rows), CHUNK):
        db.cursor().executemany('INSERT INTO "%s" ("customer", "at", "run", "gained", "lost") VALUES (%s)'
                                % (TagEvent._meta.table_name, ", ".join([db.param] * 5)), rows[lo:lo + CHUNK])
    return len(rows)


def _counts(tr):
    """Segment sizes after the run, kept as TagCount rows; ``{code: customers}``."""
    out = dict(db.execute_sql('SELECT "tag", COUNT(*) FROM "%s" GROUP BY "tag"' % LIVE_TAGS).fetchall())
    rows = 0
    for *values, n in db.execute_sql('SELECT "lifecycle", "value_layer", "customer_class", "rfm_segment", COUNT(*) '
                                     'FROM "%s" GROUP BY 1, 2, 3, 4' % LIVE):
        rows += n
        for value, prefix in zip(values, ("lc_", "value_", "cls_", "rfm_")):
            if value is not None:
                out[prefix + value] = out.get(prefix + value, 0) + n
    # active customers without stats: one pass over the customers, a lookup only for the few not active
    active, inactive_rows = db.execute_sql(
        'SELECT COALESCE(SUM(c."state" = \'active\'), 0), COALESCE(SUM(CASE WHEN c."state" = \'active\' THEN 0 '
        'ELSE EXISTS (SELECT 1 FROM "%s" s WHERE s."customer" = c."id") END), 0) FROM "%s" c'
        % (LIVE, Customer._meta.table_name)).fetchone()
    potential = active - (rows - inactive_rows)
    if potential:
        out["lc_potential"] = out["cls_potential"] = potential
    if out:
        TagCount.insert_many([(tr.id, tag, n, tr.now_ts) for tag, n in sorted(out.items())],
                             fields=[TagCount.run, TagCount.tag, TagCount.customers, TagCount.at]).execute()
    return out
