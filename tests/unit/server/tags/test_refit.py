"""Refit glue: fits on the stats, records every attempt, keeps the last good model when a fit fails."""

import numpy as np
import pytest

from server.analytics import bgnbd, gammagamma
from server.tags import refit
from server.tags.models import CustomerStats, TagModel

TODAY = 20250
NOW = TODAY * 86400 - 8 * 3600 + 12 * 3600


def seed(n, rng=7):
    """n customers drawn from BG/NBD (whole days) with Gamma-Gamma mean spends, as CustomerStats rows."""
    rng = np.random.default_rng(rng)
    T = rng.integers(30, 400, n).astype(float)
    x, t_x, _, _ = bgnbd.simulate(0.6, 40.0, 0.8, 2.5, T, rng=rng, days=True)
    m = np.where(x > 0, gammagamma.simulate(6.0, 4.0, 1500.0, np.maximum(x, 1), rng=rng), 3000.0)
    rows = []
    for i in range(n):
        days = int(x[i]) + 1
        first = TODAY - int(T[i])
        rows.append({"customer": "C%06d" % i, "days": days, "orders": days, "first_day": first,
                     "last_day": first + int(t_x[i]), "spend": int(round(m[i] * days))})
    CustomerStats.insert_many(rows).execute()
    return x


def test_fit_stores_the_model_in_force(tagdb):
    x = seed(3000)
    out = refit.refit(NOW)
    bg, gg = refit.in_force()
    assert out["bgnbd"][0] is not None and out["gammagamma"][0] is not None
    assert bg.params == pytest.approx(out["bgnbd"][0].params)
    assert gg.params == pytest.approx(out["gammagamma"][0].params)
    row = TagModel.get(TagModel.kind == "bgnbd")
    assert row.ok and row.n == 3000 and row.loglik == pytest.approx(out["bgnbd"][0].loglik)
    assert (x > 0).sum() > 100


def test_too_few_repeat_buyers_says_why_and_keeps_the_last_good_model(tagdb):
    seed(3000)
    refit.refit(NOW)
    good = refit.in_force()
    CustomerStats.delete().where(CustomerStats.customer > "C000010").execute()
    with pytest.raises(refit.RefitError) as err:
        refit.refit(NOW)
    assert "too_few_repeat" in str(err.value) and "at least" in str(err.value)
    failed = list(TagModel.select().where(TagModel.ok == False))  # noqa: E712
    assert {f.kind for f in failed} == {"bgnbd", "gammagamma"} and all("too_few_repeat" in f.error for f in failed)
    assert refit.in_force() == good


def test_no_model_before_any_fit_gives_no_predictions(tagdb):
    assert refit.in_force() == (None, None)
    p, exp, spend, value = refit.predict((None, None), np.array([2.0]), np.array([1.0]), np.array([5.0]),
                                         np.array([100.0]), np.array([2.0]), 10, {})
    assert np.isnan([p[0], exp[0], spend[0], value[0]]).all()
