"""What tagging needs besides a customer's own stats, cached per process until TagState's version moves.

The settings, the last finished recompute's cut points and lifecycle thresholds, the models in
force, the rule tags and every tag's priority: a real-time batch reads one small row (the
version) instead of all of them.
"""

import json
from types import SimpleNamespace

from server.db import db
from server.tags import builtin, features, refit, rules
from server.tags import settings as tag_settings
from server.tags.models import TagDef, TagRun, TagState

_CACHE = {}
SEGMENT = "v_"   # server.tags.segments.PREFIX
SHOWN_CACHE = 4096


def load():
    """The tagging context for the database ``db`` is bound to now: one indexed read when nothing changed."""
    key = (getattr(db.obj, "database", None), _version())
    ctx = _CACHE.get("ctx")
    if ctx is None or ctx.key != key:
        ctx = _CACHE["ctx"] = _build(key)
    return ctx


def _version():
    """tag_settings.version() by hand: peewee's query building costs more than this one-row read."""
    row = db.execute_sql('SELECT "version" FROM "%s" WHERE "id" = 1' % TagState._meta.table_name).fetchone()
    return row[0] if row else 0


def _build(key):
    settings, per = tag_settings.load()
    run = TagRun.select().where(TagRun.state == "done").order_by(TagRun.id.desc()).first()
    saved = json.loads(run.params) if run else {}
    params = saved.get("cuts", {})
    thresholds = builtin.with_overrides(saved.get("thresholds", {"": list(builtin.FALLBACK_THRESHOLDS)}),
                                        settings, per)
    priority = {code: prio for code, zh, en, prio in builtin.BUILTIN}
    names = {code: (zh, en) for code, zh, en, prio in builtin.BUILTIN}
    hidden, rule_defs = set(), []
    for d in TagDef.select().order_by(TagDef.priority, TagDef.code):
        priority[d.code], names[d.code] = d.priority, (d.name_zh, d.name_en)
        if not d.shown:
            hidden.add(d.code)
        if d.kind == "rule" and d.expr:
            rule = rules.parse(d.expr, features.FEATURES)
            rule_defs.append((d.code, rule, d.valid_from, d.valid_until))
            if rule.features & set(features.VAULT):
                hidden.add(d.code)      # a segment on personal data: not for the till's screen
    return SimpleNamespace(key=key, settings=settings, per=per, params=params, thresholds=thresholds,
                           models=refit.in_force(), priority=priority, names=names, hidden=hidden,
                           rules=rule_defs, offset=tag_settings.utc_offset(), run=run.id if run else None,
                           shown={})


def rules_valid(ctx, when):
    """``[(code, Rule)]`` of the rule tags in force at naive-UTC datetime ``when``, in priority order."""
    return [(code, rule) for code, rule, start, until in ctx.rules
            if (start is None or start <= when) and (until is None or when < until)]


def ordered(ctx, codes, limit=None, shown_only=False):
    """``codes`` highest priority first (lowest number), optionally only those shown, at most ``limit``.

    Vault segment codes (``v_``...) are never shown: terminals get no demographic segments.
    """
    out = sorted((c for c in set(codes) if not (shown_only and (c in ctx.hidden or c.startswith(SEGMENT)))),
                 key=lambda c: (ctx.priority.get(c, 1000), c))
    return out[:limit] if limit else out


def shown(ctx, codes, limit):
    """``ordered(ctx, codes, limit, shown_only=True)``, remembered per context: customers share few tag sets."""
    key = (frozenset(codes), limit)
    out = ctx.shown.get(key)
    if out is None:
        if len(ctx.shown) >= SHOWN_CACHE:
            ctx.shown.clear()
        out = ctx.shown[key] = ordered(ctx, key[0], limit, shown_only=True)
    return list(out)
