"""Fit BG/NBD and Gamma-Gamma on every buyer's stats; a fit that fails changes nothing in force.

Time unit: days. Frequency x = purchase days - 1, recency t_x = last - first purchase day,
age T = today - first purchase day; money m = the customer's mean sale. Fits run on the distinct
(x, t_x, T) triples and (x, m) pairs with counts as weights. Every attempt is kept as a TagModel
row; the newest ``ok`` row of each kind is the model in force.
"""

import json
import time

import numpy as np

from server.analytics import bgnbd, clv, gammagamma
from server.db import db
from server.tags import settings as tag_settings
from server.tags.models import CustomerStats, TagModel

EXPECT_DAYS = 90


class RefitError(Exception):
    """A refit that could not run or whose fit failed (the previous model stays in force)."""


def arrays(today):
    """``(x, t_x, T, m)`` of every buyer, from CustomerStats as it is now."""
    rows = np.array(CustomerStats.select(CustomerStats.days, CustomerStats.first_day, CustomerStats.last_day,
                                         CustomerStats.spend, CustomerStats.orders)
                    .where(CustomerStats.days > 0).tuples(), dtype=float).reshape(-1, 5)
    days, first, last, spend, orders = rows.T
    return days - 1, last - first, np.maximum(today - first, last - first), spend / np.maximum(orders, 1)


def fit_all(x, t_x, T, m):
    """Fit both models on arrays; returns ``{kind: (model or None, error or None, seconds)}``."""
    out = {}
    triples = np.stack([x, t_x, T])
    uniq, counts = np.unique(triples, axis=1, return_counts=True)
    start = time.perf_counter()
    try:
        out["bgnbd"] = (bgnbd.fit(uniq[0], uniq[1], uniq[2], weights=counts), None)
    except bgnbd.FitError as exc:
        out["bgnbd"] = (None, str(exc))
    out["bgnbd"] += (time.perf_counter() - start,)
    repeat = x > 0
    pairs, counts = np.unique(np.stack([x[repeat], m[repeat]]), axis=1, return_counts=True)
    start = time.perf_counter()
    try:
        out["gammagamma"] = (gammagamma.fit(pairs[0], pairs[1], weights=counts), None)
    except bgnbd.FitError as exc:
        out["gammagamma"] = (None, str(exc))
    out["gammagamma"] += (time.perf_counter() - start,)
    return out


def refit(now_ts=None):
    """Fit both models on the current stats and store every attempt; returns the fit_all result.

    A kind whose fit fails keeps its last good model in force (its failure is recorded with
    the reason); RefitError when neither could be fitted.
    """
    now_ts = now_ts or tag_settings.now_ts()
    today = tag_settings.day_of(now_ts, tag_settings.utc_offset(now_ts))
    x, t_x, T, m = arrays(today)
    result = fit_all(x, t_x, T, m)
    with db.atomic():
        for kind, (model, error, seconds) in result.items():
            if model is None:
                TagModel.create(kind=kind, ok=False, error=error, n=float(x.size), seconds=seconds)
            else:
                params = dict(zip(("r", "alpha", "a", "b") if kind == "bgnbd" else ("p", "q", "v"), model.params))
                TagModel.create(kind=kind, ok=True, params=json.dumps(params), loglik=model.loglik, n=model.n,
                                seconds=seconds)
        tag_settings.bump()
    if all(model is None for model, error, seconds in result.values()):
        raise RefitError("; ".join("%s: %s" % (kind, error) for kind, (model, error, s) in result.items()))
    return result


def in_force():
    """``(BGNBD or None, GammaGamma or None)``: the newest good fit of each kind."""
    out = []
    for kind, cls in (("bgnbd", bgnbd.BGNBD), ("gammagamma", gammagamma.GammaGamma)):
        row = (TagModel.select().where((TagModel.kind == kind) & (TagModel.ok == True))  # noqa: E712
               .order_by(TagModel.id.desc()).first())
        out.append(cls(**json.loads(row.params), loglik=row.loglik, n=row.n) if row else None)
    return tuple(out)


def predict(models, days, first_day, last_day, spend, orders, today, settings):
    """``(p_alive, exp_90d, exp_spend, clv)`` arrays (NaN where no model is in force)."""
    bg, gg = models
    n = days.size
    nan = np.full(n, np.nan)
    if bg is None or n == 0:
        return nan, nan.copy(), nan.copy(), nan.copy()
    buyer = days > 0
    x = np.where(buyer, days - 1.0, 0.0)
    t_x = np.where(buyer, np.nan_to_num(last_day - first_day), 0.0)
    T = np.where(buyer, np.maximum(np.nan_to_num(today - first_day), t_x), 0.0)
    p = np.where(buyer, _grouped(lambda a, b, c: bg.p_alive(a, b, c), x, t_x, T), np.nan)
    exp = np.where(buyer, _grouped(lambda a, b, c: bg.expected(EXPECT_DAYS, a, b, c), x, t_x, T), np.nan)
    if gg is None:
        return p, exp, nan.copy(), nan.copy()
    mean = np.where(orders > 0, spend / np.maximum(orders, 1), 0.0)
    spend_e = np.where(buyer, gg.expected_spend(x, mean), np.nan)
    horizon = float(settings["clv_horizon_days"])
    value = _grouped(lambda a, b, c: clv.discounted_purchases(bg, a, b, c, horizon, settings["clv_discount"],
                                                             min(30.0, horizon)), x, t_x, T)
    return p, exp, spend_e, np.where(buyer, value * spend_e, np.nan)


def _grouped(fn, x, t_x, T):
    """``fn`` evaluated once per distinct (x, t_x, T): whole days repeat a lot among a million customers."""
    if x.size < 64:
        return np.asarray(fn(x, t_x, T), dtype=float)
    uniq, inverse = np.unique(np.stack([x, t_x, T]), axis=1, return_inverse=True)
    return np.asarray(fn(uniq[0], uniq[1], uniq[2]), dtype=float)[inverse.ravel()]
