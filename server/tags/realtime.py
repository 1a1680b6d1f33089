"""Real-time tagging inside ingest: running aggregates of the touched customers, risk checks, re-tagging.

``on_sales`` runs in the sale's transaction and reads only the touched customers' own rows
(stats, held tags: a few indexed reads per batch), never the sales history; ``tags_for`` gives
the codes a status reply carries. The same functions replay late sales into a recompute's
staging table (server.tags.recompute).
"""

import math
from datetime import datetime, timezone
from operator import itemgetter

import numpy as np
from peewee import chunked

from server.db import db
from server.fleet.models import Device
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags import builtin, context, features, refit, risk, scanpart, segments, window
from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagEvent

SALES = ("sale", "svspend")
REVERSALS = ("refund", "void", "svrefund")
MAX_TAGS = 8
CHUNK = 200
STATS = CustomerStats._meta.table_name
TAGS = CustomerTag._meta.table_name
COLUMNS = [f.column_name for f in CustomerStats._meta.sorted_fields]
SCORES = ("rfm_r", "rfm_f", "rfm_m", "rfm_segment", "lifecycle", "value_layer", "customer_class", "flags",
          "churn_risk", "p_alive", "exp_90d", "exp_spend", "clv")
ONE_OF = ("lifecycle", "value_layer", "customer_class", "rfm_segment")
RISK = ("burst_ts", "burst_n", "repeat_amount", "repeat_n")  # kept by ingest from sale to sale (server.tags.risk)
DEVICES = Device._meta.table_name
EVENTS = TagEvent._meta.table_name
VAULT = frozenset(features.VAULT)
CUSTOMER_FEATURES = frozenset(features.CUSTOMER)
_ROW = itemgetter(*COLUMNS)
# What ``score`` and ``write`` fill in afresh: a re-tag need not read it.
DERIVED = frozenset([n for orders, spend, lo, hi in window.WINDOWS for n in (orders, spend)]
                    + ["rfm_orders", "rfm_spend", "asof_day", "updated_ts"] + [n for n in SCORES if n not in ONE_OF])
KEPT = [c for c in COLUMNS if c not in DERIVED]


def on_sales(rows, now):
    """Update stats and tags of the customers of ``rows`` (Record tuples in apply.RECORD_FIELDS order).

    ``now``: the batch's naive-UTC datetime. Returns ``{customer: [codes]}`` for the status replies.
    """
    recs = [(r[10], r[0], r[1], r[2], r[3], r[7], r[8]) for r in rows
            if r[10] and (r[2] in SALES or r[2] in REVERSALS)]
    if not recs:
        return {}
    ctx = context.load()
    now_ts = _ts(now)
    devs = sorted({dev for c, dev, *rest in recs})
    merchants = _merchants(devs)
    stats = read(STATS, sorted({r[0] for r in recs}), KEPT)
    flags = add_records(stats, recs, merchants, ctx, now_ts, check=True)
    if flags:
        RiskFlag.insert_many(flags).execute()
    risky = {f["customer"] for f in flags}
    return retag(stats, ctx, now, risky=risky)


def _merchants(devs):
    """``{device: merchant}`` of ``devs``, by hand: peewee's query building costs more than the query."""
    out = {}
    for part in chunked(devs, CHUNK):
        sql = 'SELECT "id", "merchant" FROM "%s" WHERE "id" IN (%s)' % (DEVICES, ", ".join([db.param] * len(part)))
        out.update(db.execute_sql(sql, part).fetchall())
    return out


def read(table, customers, columns=None):
    """``{customer: row dict}`` of ``table`` (CustomerStats' columns, or only ``columns``) for ``customers``.

    A customer without a row gets a whole empty one. ``columns`` (``KEPT`` before a re-tag) must
    start with "customer"; reading fewer columns is most of what a real-time read costs.
    """
    out = {}
    what = ", ".join('"%s"' % c for c in columns) if columns else "*"
    for part in chunked(customers, CHUNK):
        sql = 'SELECT %s FROM "%s" WHERE "customer" IN (%s)' % (what, table, ", ".join([db.param] * len(part)))
        cur = db.execute_sql(sql, part)
        names = [d[0] for d in cur.description]
        out.update((row[0], dict(zip(names, row))) for row in cur.fetchall())
    return {c: out.get(c) or _empty(c) for c in customers}


def rebuild(customer, members, ctx, merchants, now_ts, high_id=None):
    """A fresh stats row of ``customer`` from the sales and reversals of ``members`` (one person's records).

    A bounded scan of one customer's history, for a merge (and a recompute meeting merged
    customers); ``high_id`` caps the record ids read. The scores are not filled in (``score`` does).
    """
    query = Record.select(Record.customer, Record.dev, Record.seq, Record.kind, Record.ts, Record.amount,
                          Record.cur).where(Record.customer.in_(list(members)) & Record.kind.in_(SALES + REVERSALS))
    if high_id is not None:
        query = query.where(Record.id <= high_id)
    stats = {customer: _empty(customer)}
    add_records(stats, [(customer,) + r[1:] for r in query.tuples()], merchants, ctx, now_ts, check=False)
    return stats[customer]


def _empty(customer):
    row = {f.column_name: f.default for f in CustomerStats._meta.sorted_fields}
    row.update(customer=customer, recent="", new=True)
    return row


def add_records(stats, recs, merchants, ctx, now_ts, check):
    """Fold ``recs`` [(customer, dev, seq, kind, ts, amount, cur)] into ``stats`` rows; risk flags if ``check``."""
    keep = window.keep_days(ctx.settings["rfm_window_days"])
    today = _day(now_ts, ctx)
    flags = []
    for cust, dev, seq, kind, ts, amount, cur in sorted(recs, key=lambda r: (r[0], r[4], r[2])):
        st = stats[cust]
        if kind in REVERSALS:
            st["refunds"] += 1
            st["refunded"] += amount
            continue
        if check:
            flags += [dict(customer=cust, dev=dev, seq=seq, ts=ts, amount=amount, cur=cur, reason=reason,
                           detail=detail) for reason, detail in risk.check(st, ts, amount, ctx.settings)]
        day = _day(ts, ctx)
        first, last = st["first_day"], st["last_day"]
        # Only a day between the first and the last purchase day needs the window text searched.
        if first is None or day > last or day < first or (
                day != last and day != first and not any(d == day for d, a in window.parse(st["recent"]))):
            st["days"] += 1
        st["recent"] = _append(st["recent"], first, day, amount, today, keep)
        st["first_ts"] = ts if st["first_ts"] is None else min(st["first_ts"], ts)
        st["first_day"] = day if st["first_day"] is None else min(st["first_day"], day)
        if st["last_ts"] is None or ts >= st["last_ts"]:
            st["merchant"] = merchants.get(dev) or st["merchant"]
        st["last_ts"] = ts if st["last_ts"] is None else max(st["last_ts"], ts)
        st["last_day"] = day if st["last_day"] is None else max(st["last_day"], day)
        st["orders"] += 1
        st["spend"] += amount
        st["max_sale"] = max(st["max_sale"], amount)
        st["amount_sq"] += float(amount) * amount
    return flags


def _append(text, first_day, day, amount, today, keep):
    """``window.dump`` of the items of ``text`` plus ``(day, amount)``: ``text`` is only extended while none of
    its items can have fallen out (every one is on or after ``first_day``), so a frequent buyer costs no re-parse."""
    cut = today - keep
    if first_day is None or first_day > cut:
        if day <= cut:
            return text
        item = "%d:%d" % (day, amount)
        return text + "," + item if text else item
    return window.dump(window.parse(text) + [(day, amount)], today, keep)


def retag(stats, ctx, now, risky=(), table=STATS, tag_table=TAGS, events=True):
    """Score ``stats`` rows, write them and their tag changes; ``{customer: [shown codes]}``."""
    now_ts, customers = _ts(now), sorted(stats)
    have = held(tag_table, customers)
    old = {c: set(have.get(c, ())) | set(one_of_codes(stats[c])) for c in customers}
    rows = [stats[c] for c in customers]
    today = _day(now_ts, ctx)
    score(rows, ctx, today)
    valid = context.rules_valid(ctx, now)
    # Vault data is not read on the hot path: rules on vault features keep what the last recompute decided.
    on_vault = {code for code, rule in valid if rule.features & VAULT}
    judged = [(code, rule) for code, rule in valid if code not in on_vault]
    extra = customer_fields(customers) if any(r.features & CUSTOMER_FEATURES for c, r in judged) else {}
    new, out, one_of = {}, {}, {}
    empty = set()
    for row in rows:
        c = row["customer"]
        one = one_of[c] = set(one_of_codes(row))
        kept = {t for t in have.get(c, empty) if t == "high_risk" or t in on_vault or segments.is_vault_tag(t)}
        codes = kept | ({"high_risk"} if c in risky else empty)
        if row["flags"]:
            codes.update(builtin.codes_of(None, None, None, None, row["flags"]))
        if judged:
            values = features.values(row, today, extra.get(c))
            for code, rule in judged:
                if rule.evaluate(values, codes | one):
                    codes.add(code)
        new[c] = codes
        out[c] = context.shown(ctx, codes | one, MAX_TAGS)
    write(table, rows, now_ts, ctx.run)
    _write_tags(tag_table, new, have, now_ts)
    if events:
        ev = []
        for c in customers:
            now_codes = new[c] | one_of[c]
            if now_codes != old[c]:
                ev.append((c, now_ts, None, ",".join(sorted(now_codes - old[c])), ",".join(sorted(old[c] - now_codes))))
        if ev:  # by hand: peewee renders a many-row insert slower than SQLite runs it
            db.cursor().executemany('INSERT INTO "%s" ("customer", "at", "run", "gained", "lost") VALUES (%s)'
                                    % (EVENTS, ", ".join([db.param] * 5)), ev)
    return out


def one_of_codes(row):
    """The codes of a stats row's one-of-several columns (lifecycle, layer, class, RFM segment)."""
    if row.get("new"):
        return []
    return builtin.codes_of(row["lifecycle"], row["value_layer"], row["customer_class"], row["rfm_segment"])


def score(rows, ctx, today):
    """Fill the windows and every score column of ``rows`` (dicts) in place, as the batch would."""
    if not rows:
        return
    rfm = ctx.settings["rfm_window_days"]
    for name, counts in _windows([r["recent"] for r in rows], today, rfm).items():
        for r, v in zip(rows, counts):
            r[name] = v
    for r in rows:
        r["asof_day"] = today
        r.pop("new", None)
    arr = lambda name, dtype=float: np.array([r[name] if r[name] is not None else np.nan for r in rows],  # noqa
                                             dtype=dtype)
    days, first, last = arr("days"), arr("first_day"), arr("last_day")
    spend, orders = arr("spend"), arr("orders")
    pred = refit.predict(ctx.models, days, first, last, spend, orders, today, ctx.settings)
    cols = {"today": today, "days": days, "first_day": first, "last_day": last,
            "merchant": np.array([r["merchant"] for r in rows], dtype=object),
            "rfm_orders": arr("rfm_orders"), "rfm_spend": arr("rfm_spend"),
            "p_alive": pred[0], "exp_90d": pred[1], "exp_spend": pred[2], "clv": pred[3]}
    for name in ("orders_90d", "spend_90d", "orders_prev_90d", "spend_prev_90d"):
        cols[name] = arr(name)
    if ctx.params.get("metric") == "spend":
        cols["clv"] = np.full(len(rows), np.nan)
    out = builtin.score(cols, ctx.params, ctx.thresholds, ctx.settings)
    out.update(p_alive=pred[0], exp_90d=pred[1], exp_spend=pred[2], clv=pred[3])
    for name in SCORES:
        # tolist() gives Python ints, floats and strs at once; NaN and (RFM) 0 are stored as NULL.
        if name in ("rfm_r", "rfm_f", "rfm_m"):
            vals = [v or None for v in out[name].tolist()]
        else:
            vals = [None if isinstance(v, float) and math.isnan(v) else v for v in np.asarray(out[name]).tolist()]
        for r, v in zip(rows, vals):
            r[name] = v


def _windows(texts, today, rfm_window):
    """``window.counts`` of many ``recent`` texts at once: ``{name: [int per text]}``.

    One numpy parse of all texts instead of a Python one per item: a frequent buyer's text is long.
    """
    texts = [t or "" for t in texts]
    try:
        return {name: v.tolist() for name, v in scanpart.windows(np.array(texts, dtype=object), today,
                                                                  rfm_window).items()}
    except ValueError:  # not the text dump writes: the slow, exact way
        per = [window.counts(window.parse(t), today, rfm_window) for t in texts]
        return {name: [w[name] for w in per] for name in per[0]} if per else {}


def write(table, rows, now_ts, run):
    """Upsert whole stats ``rows`` into ``table``."""
    if not rows:
        return
    for r in rows:
        r["updated_ts"], r["run"] = now_ts, r.get("run") or run
    cols = ", ".join('"%s"' % c for c in COLUMNS)
    sets = ", ".join('"%s" = excluded."%s"' % (c, c) for c in COLUMNS if c != "customer")
    sql = 'INSERT INTO "%s" (%s) VALUES (%s) ON CONFLICT ("customer") DO UPDATE SET %s' % (
        table, cols, ", ".join([db.param] * len(COLUMNS)), sets)
    db.cursor().executemany(sql, [_ROW(r) for r in rows])


def held(table, customers):
    """``{customer: {codes}}`` of the yes/no tags ``customers`` hold in ``table``."""
    out = {}
    for part in chunked(customers, CHUNK):
        sql = 'SELECT "customer", "tag" FROM "%s" WHERE "customer" IN (%s)' % (table, ", ".join([db.param] * len(part)))
        for c, tag in db.execute_sql(sql, part):
            out.setdefault(c, set()).add(tag)
    return out


def _write_tags(table, new, held, now_ts):
    gone = [(c, t) for c, codes in new.items() for t in held.get(c, set()) - codes]
    came = [(c, t, now_ts) for c, codes in new.items() for t in sorted(codes - held.get(c, set()))]
    if gone:
        db.cursor().executemany('DELETE FROM "%s" WHERE "customer" = %s AND "tag" = %s' % (table, db.param, db.param),
                                gone)
    if came:
        db.cursor().executemany('INSERT INTO "%s" ("customer", "tag", "since") VALUES (%s, %s, %s)'
                                % (table, db.param, db.param, db.param), came)


def customer_fields(customers):
    """``{customer: {"tier", "points"}}``: the Customer fields rules may use."""
    out = {}
    for part in chunked(customers, CHUNK):
        for c, tier, points in Customer.select(Customer.id, Customer.tier, Customer.points).where(
                Customer.id.in_(part)).tuples():
            out[c] = {"tier": tier, "points": points}
    return out


def tags_for(customers):
    """``{customer: [codes]}``: at most 8 shown codes each, highest priority first (potential: never bought)."""
    customers = sorted({c for c in customers if c})
    if not customers:
        return {}
    ctx = context.load()
    stats, have = read(STATS, customers, ("customer",) + ONE_OF), held(TAGS, customers)
    out = {}
    for c in customers:
        row = stats[c]
        codes = have.get(c, set()) | set(one_of_codes(row) if not row.get("new") else ["lc_potential", "cls_potential"])
        out[c] = context.shown(ctx, codes, MAX_TAGS)
    return out


def _ts(when):
    if isinstance(when, (int, float)):
        return int(when)
    return int(when.replace(tzinfo=timezone.utc).timestamp())


def _day(ts, ctx):
    return (int(ts) + ctx.offset) // 86400


def utc(ts):
    """Naive-UTC datetime of unix seconds ``ts``."""
    return datetime.fromtimestamp(int(ts), timezone.utc).replace(tzinfo=None)
