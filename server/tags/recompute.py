"""The full recompute: every customer's stats from the sales, scores and tags, swapped in at once.

Steps, each resumable from TagRun: ``aggregate`` (set-based SQL over the Record table by
customer-id chunks into the staging table tagnext_stats; erased and merged-away customers
dropped, a merge survivor rebuilt from its group's sales), ``score`` (numpy over all rows:
quintile cuts, lifecycle thresholds, models; written back in chunks), ``tags`` (flag and rule
tags into tagnext_tags, rules as SQL; then, for customers whose vault consent allows it, their
vault segments and rules on vault features, see server.tags.segments), ``swap`` (one
transaction: replay the sales that came after the run began, write the history, replace the
live tables). Until the swap commits every
customer keeps the previous run's tags, and ``status`` says that a run is unfinished.
The SQL is SQLite's dialect (printf, group_concat, integer division), like the bench.
"""

import json
from types import SimpleNamespace

import numpy as np
from peewee import chunked

from server.db import db, utcnow
from server.fleet.models import Device
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags import builtin, context, features, realtime, refit, segments, window
from server.tags import settings as tag_settings
from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagCount, TagEvent, TagRun

CHUNK = 20000
LIVE, NEXT = CustomerStats._meta.table_name, "tagnext_stats"
LIVE_TAGS, NEXT_TAGS = CustomerTag._meta.table_name, "tagnext_tags"
REC = Record._meta.table_name
LOADED = ("customer", "merchant", "days", "first_day", "last_day", "spend", "orders", "rfm_orders", "rfm_spend",
          "orders_90d", "spend_90d", "orders_prev_90d", "spend_prev_90d")


class NextStats(CustomerStats):
    class Meta:
        table_name = NEXT


class NextTag(CustomerTag):
    class Meta:
        table_name = NEXT_TAGS


def run(progress=None, resume=False, now=None):
    """Recompute every customer's stats and tags; ``progress(done, total)`` as it goes.

    ``resume`` continues the unfinished run (same ``now``, same result as one uninterrupted run);
    otherwise an unfinished run is abandoned and a new one starts at ``now`` (unix seconds,
    default now). Returns counts: run, customers, replayed, events and ``tags`` {code: customers}.
    """
    unfinished = TagRun.select().where(TagRun.state == "running").order_by(TagRun.id.desc()).first()
    if unfinished is not None and not resume:
        TagRun.update(state="abandoned", finished_at=utcnow(), message="replaced by a new run").where(
            TagRun.state == "running").execute()
        unfinished = None
    tr = unfinished or _start(int(now or tag_settings.now_ts()))
    update = progress or (lambda done, total: None)
    p = json.loads(tr.params)
    if tr.step == "aggregate":
        _aggregate(tr, p, update)
    if tr.step == "score":
        _score(tr, p, update)
    if tr.step == "tags":
        _tags(tr, p)
    return _swap(tr, p)


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
        params = {"offset": offset, "today": tag_settings.day_of(now_ts, offset), "settings": settings, "per": per}
        return TagRun.create(now_ts=now_ts, high_id=high, total=total, params=json.dumps(params))


def _save(tr, **fields):
    for k, v in fields.items():
        setattr(tr, k, v)
    TagRun.update(**fields).where(TagRun.id == tr.id).execute()


def _aggregate(tr, p, update):
    today, off, settings = p["today"], p["offset"], p["settings"]
    day = "((r.\"ts\" + %d) / 86400)" % off
    cutoff = (today - window.keep_days(settings["rfm_window_days"]) + 1) * 86400 - off
    sums = window.sql_sums('r."ts"', 'r."amount"', today, off, settings["rfm_window_days"], "1")
    zero = ("refunds", "refunded", "burst_n", "repeat_n", "flags")
    cols = ("customer", "merchant", "first_ts", "last_ts", "first_day", "last_day", "days", "orders", "spend",
            "max_sale", "amount_sq", "recent", "orders_90d", "spend_90d", "orders_prev_90d", "spend_prev_90d",
            "orders_365d", "spend_365d", "rfm_orders", "rfm_spend", "asof_day", "run", "updated_ts") + zero
    fixed = [str(int(today)), str(tr.id), str(tr.now_ts)] + ["0"] * len(zero)
    # Sales only (no CASE on the kind in every aggregate); refunds and voids are few and added after.
    select = [
        'r."customer"',
        # the device of the latest sale for now, its merchant right after (an aggregate cannot sit in a subquery)
        "substr(MAX(printf('%012d', r.\"ts\") || r.\"dev\"), 13)",
        'MIN(r."ts")', 'MAX(r."ts")', "MIN(%s)" % day, "MAX(%s)" % day, "COUNT(DISTINCT %s)" % day, "COUNT(*)",
        'SUM(r."amount")', 'MAX(r."amount")', 'SUM(r."amount" * 1.0 * r."amount")',
        "COALESCE(group_concat(CASE WHEN r.\"ts\" >= %d THEN %s || ':' || r.\"amount\" END), '')" % (cutoff, day),
    ] + sums + fixed
    where = 'WHERE r."customer" > %s AND r."id" <= %d{AND} AND r."kind" IN (%%s) GROUP BY r."customer"' % (
        db.param, tr.high_id)
    sql = 'INSERT INTO "%s" (%s) SELECT %s FROM "%s" r %s' % (NEXT, ", ".join('"%s"' % c for c in cols),
                                                              ", ".join(select), REC, where % "'sale', 'svspend'")
    empty = {"days": "0", "orders": "0", "spend": "0", "max_sale": "0", "amount_sq": "0", "recent": "''"}
    empty.update((c, "0") for c in cols[12:20])
    rcols = ["customer", "refunds", "refunded"] + list(empty) + ["asof_day", "run", "updated_ts", "burst_n",
                                                                  "repeat_n", "flags"]
    # one pass over the whole table at the end: a sequential scan, not an index walk per chunk
    refunds = ('INSERT INTO "%s" (%s) SELECT r."customer", COUNT(*), SUM(r."amount"), %s FROM "%s" r NOT INDEXED '
               'WHERE r."id" <= %d AND r."customer" IS NOT NULL AND r."kind" IN (\'refund\', \'void\', \'svrefund\') '
               'GROUP BY r."customer" ON CONFLICT ("customer") DO UPDATE SET "refunds" = excluded."refunds", '
               '"refunded" = excluded."refunded"'
               % (NEXT, ", ".join('"%s"' % c for c in rcols), ", ".join(list(empty.values()) + fixed[:3] + ["0"] * 3),
                  REC, tr.high_id))
    total = 2 * tr.total
    while True:
        bound = db.execute_sql('SELECT "customer" FROM "%s" WHERE "customer" > %s ORDER BY "customer" LIMIT 1 OFFSET %d'
                               % (REC, db.param, CHUNK - 1), [tr.cursor]).fetchone()
        with db.atomic():
            upto = "" if bound is None else ' AND r."customer" <= %s' % db.param
            args = [tr.cursor] + ([] if bound is None else [bound[0]])
            n = db.execute_sql(sql.replace("{AND}", upto), args).rowcount
            if bound is None:
                db.execute_sql(refunds)
            db.execute_sql('UPDATE "%s" SET "merchant" = (SELECT d."merchant" FROM "%s" d '
                           'WHERE d."id" = "%s"."merchant") WHERE "customer" > %s%s'
                           % (NEXT, Device._meta.table_name, NEXT, db.param, upto.replace("r.", "")), args)
            if bound is None:
                _regroup(tr, p)
                _save(tr, step="score", cursor="", done=tr.done + n)
            else:
                _save(tr, cursor=bound[0], done=tr.done + n)
        update(tr.done, total)
        if bound is None:
            return


def _regroup(tr, p):
    """Erased and merged-away customers get no stats; a merge survivor's come from its whole group's sales.

    One scan of the customers for those not active (few), then a bounded rebuild per survivor.
    """
    other = db.execute_sql('SELECT "id", "state", "merged_into" FROM "%s" WHERE "state" != \'active\''
                           % Customer._meta.table_name).fetchall()
    if not other:
        return
    into = {c: m for c, state, m in other if state == "merged" and m}
    groups = {}
    for c in into:
        root = c
        for _ in range(1000):
            if root not in into:
                break
            root = into[root]
        groups.setdefault(root, [root]).append(c)
    for part in chunked([c for c, *_ in other], realtime.CHUNK):
        db.execute_sql('DELETE FROM "%s" WHERE "customer" IN (%s)' % (NEXT, ", ".join([db.param] * len(part))), part)
    inactive = {c for c, *_ in other}
    ctx = SimpleNamespace(settings=p["settings"], offset=p["offset"])
    merchants = tag_settings.merchants_of_devices()
    for root, members in sorted(groups.items()):
        if root in inactive:
            continue
        row = realtime.rebuild(root, members, ctx, merchants, tr.now_ts, tr.high_id)
        if row["orders"] or row["refunds"]:
            row.update(window.counts(window.parse(row["recent"]), p["today"], p["settings"]["rfm_window_days"]),
                       asof_day=p["today"])
            realtime.write(NEXT, [row], tr.now_ts, tr.id)


def _load():
    rows = db.execute_sql('SELECT %s FROM "%s" ORDER BY "customer"' % (", ".join('"%s"' % c for c in LOADED), NEXT)
                          ).fetchall()
    cols = {name: np.array(vals, dtype=object if name in ("customer", "merchant") else float)
            for name, vals in zip(LOADED, zip(*rows) if rows else [()] * len(LOADED))}
    return cols


def _score(tr, p, update):
    settings, today = p["settings"], p["today"]
    cols = _load()
    n = cols["customer"].size
    pred = refit.predict(refit.in_force(), cols["days"], cols["first_day"], cols["last_day"], cols["spend"],
                         cols["orders"], today, settings)
    cols.update(today=today, p_alive=pred[0], exp_90d=pred[1], exp_spend=pred[2], clv=pred[3])
    thresholds = builtin.lifecycle_thresholds(cols["merchant"], cols["first_day"], cols["last_day"], cols["days"])
    p["thresholds"] = thresholds
    p["cuts"] = builtin.cut_points(cols, settings)
    if p["cuts"]["metric"] == "spend":
        cols["clv"] = np.full(n, np.nan)
    out = builtin.score(cols, p["cuts"], builtin.with_overrides(thresholds, settings, p["per"]), settings)
    out.update(p_alive=pred[0], exp_90d=pred[1], exp_spend=pred[2], clv=pred[3])
    names = realtime.SCORES
    sql = 'UPDATE "%s" SET %s WHERE "customer" = %s' % (NEXT, ", ".join('"%s" = %s' % (c, db.param) for c in names),
                                                          db.param)
    start = int(np.searchsorted(cols["customer"], tr.cursor, side="right")) if tr.cursor else 0
    for lo in range(start, n, CHUNK):
        hi = min(n, lo + CHUNK)
        rows = [tuple(_plain(out[c][i], c) for c in names) + (cols["customer"][i],) for i in range(lo, hi)]
        with db.atomic():
            db.cursor().executemany(sql, rows)
            _save(tr, cursor=cols["customer"][hi - 1], done=tr.total + hi, params=json.dumps(p))
        update(tr.done, 2 * tr.total)
    _save(tr, step="tags", cursor="", params=json.dumps(p))


def _plain(v, name):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    v = v.item() if hasattr(v, "item") else v
    return (v or None) if name in ("rfm_r", "rfm_f", "rfm_m") else v


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
    ctx = _ctx(p, tr)
    names = [f.column_name for f in CustomerStats._meta.sorted_fields]
    cols = ", ".join('"%s"' % c for c in names)
    with db.atomic():
        late = db.execute_sql('SELECT "customer", "dev", "seq", "kind", "ts", "amount", "cur" FROM "%s" '
                              'WHERE "id" > %s AND "customer" IS NOT NULL ORDER BY "id"' % (REC, db.param),
                              [tr.high_id]).fetchall()
        if late:
            stats = realtime.read(NEXT, sorted({r[0] for r in late}))
            realtime.add_records(stats, late, tag_settings.merchants_of_devices(), ctx, tr.now_ts, check=False)
            realtime.retag(stats, ctx, realtime.utc(tr.now_ts), table=NEXT, tag_table=NEXT_TAGS, events=False)
        db.execute_sql('UPDATE "%s" SET "burst_ts" = o."burst_ts", "burst_n" = o."burst_n", "repeat_amount" = '
                       'o."repeat_amount", "repeat_n" = o."repeat_n" FROM "%s" o WHERE o."customer" = "%s"."customer"'
                       % (NEXT, LIVE, NEXT))
        events = _events(tr)
        db.execute_sql('DELETE FROM "%s"' % LIVE)
        db.execute_sql('INSERT INTO "%s" (%s) SELECT %s FROM "%s"' % (LIVE, cols, cols, NEXT))
        db.execute_sql('DELETE FROM "%s"' % LIVE_TAGS)
        db.execute_sql('INSERT INTO "%s" ("customer", "tag", "since") SELECT "customer", "tag", "since" FROM "%s"'
                       % (LIVE_TAGS, NEXT_TAGS))
        counts = _counts(tr)
        _save(tr, state="done", step="done", finished_at=utcnow(), done=2 * tr.total)
        tag_settings.bump()
    db.drop_tables([NextStats, NextTag], safe=True)
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
    for col, prefix in (("lifecycle", "lc_"), ("value_layer", "value_"), ("customer_class", "cls_"),
                        ("rfm_segment", "rfm_")):
        for value, n in db.execute_sql('SELECT "%s", COUNT(*) FROM "%s" WHERE "%s" IS NOT NULL GROUP BY "%s"'
                                       % (col, LIVE, col, col)):
            out[prefix + value] = out.get(prefix + value, 0) + n
    potential = db.execute_sql('SELECT COUNT(*) FROM "%s" c WHERE c."state" = \'active\' AND NOT EXISTS (SELECT 1 '
                               'FROM "%s" s WHERE s."customer" = c."id")' % (Customer._meta.table_name, LIVE)
                               ).fetchone()[0]
    if potential:
        out["lc_potential"] = out["cls_potential"] = potential
    if out:
        TagCount.insert_many([(tr.id, tag, n, tr.now_ts) for tag, n in sorted(out.items())],
                             fields=[TagCount.run, TagCount.tag, TagCount.customers, TagCount.at]).execute()
    return out
