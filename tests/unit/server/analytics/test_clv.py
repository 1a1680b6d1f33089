"""CLV: expected purchases x expected spend, discounted per step, checked by hand on a tiny case."""

import numpy as np
import pytest

from server.analytics import bgnbd, clv, gammagamma

# r = a + b - 1 makes BG/NBD's expectation elementary (see test_bgnbd): for x = 1, t_x = 1, T = 3,
# P(alive) = 1 / 17 and E[Y(t)] = 3 (1 - 4 / (4 + t)) / 17, so E[Y(2)] = 1 / 17, E[Y(4)] = 1.5 / 17.
BG = bgnbd.BGNBD(r=2.0, alpha=1.0, a=2.0, b=1.0)
GG = gammagamma.GammaGamma(p=6.0, q=4.0, v=15.0)  # x = 1, m = 20: spend 6 (15 + 20) / 9 = 70 / 3


def test_one_step_without_discount_is_expected_purchases_times_expected_spend():
    value = clv.clv(BG, GG, [1], [1.0], [3.0], [20.0], horizon=4.0)
    assert value == pytest.approx([70 / 3 * 1.5 / 17], rel=1e-12)


def test_discounting_each_step_by_hand():
    # steps of 2: 1 / 17 purchases by t = 2, another 0.5 / 17 by t = 4, discounted 10 % per step
    value = clv.clv(BG, GG, [1], [1.0], [3.0], [20.0], horizon=4.0, discount_rate=0.1, step=2.0)
    assert value == pytest.approx([70 / 3 * (1 / 17 / 1.1 + 0.5 / 17 / 1.1 ** 2)], rel=1e-12)


def test_a_last_partial_step_is_discounted_by_its_fraction():
    # horizon 3 in steps of 2: the second step ends at t = 3, discounted by 1.1 ** 1.5; E[Y(3)] = 3 (1 - 4 / 7) / 17
    value = clv.clv(BG, GG, [1], [1.0], [3.0], [20.0], horizon=3.0, discount_rate=0.1, step=2.0)
    e2, e3 = 1 / 17, 3 * (1 - 4 / 7) / 17
    assert value == pytest.approx([70 / 3 * (e2 / 1.1 + (e3 - e2) / 1.1 ** 1.5)], rel=1e-12)


def test_customers_without_repeat_purchases_get_the_population_spend():
    model = bgnbd.BGNBD(0.243, 4.414, 0.793, 2.426)
    value = clv.clv(model, GG, [0, 0], [0.0, 0.0], [10.0, 10.0], [np.nan, 123.0], horizon=52.0)
    assert value == pytest.approx(np.full(2, 30.0 * model.expected(52.0, 0, 0.0, 10.0)), rel=1e-12)


def test_many_customers_agree_with_the_step_by_step_sum():
    rng = np.random.default_rng(4)
    T = rng.integers(1, 730, 3000).astype(float)
    x, t_x, _, _ = bgnbd.simulate(0.5, 30.0, 0.8, 2.5, T=T, rng=rng, days=True)
    m = gammagamma.simulate(6.0, 4.0, 1500.0, x, rng=rng)
    model = bgnbd.BGNBD(0.5, 30.0, 0.8, 2.5)
    value = clv.clv(model, gammagamma.GammaGamma(6.0, 4.0, 1500.0), x, t_x, T, m, 365, 0.01, 30)
    ts = [30.0 * k for k in range(1, 13)] + [365.0]
    ey = [np.zeros_like(x)] + [model.expected(t, x, t_x, T) for t in ts]
    slow = sum((ey[k + 1] - ey[k]) / 1.01 ** (t / 30.0) for k, t in enumerate(ts))
    spend = gammagamma.GammaGamma(6.0, 4.0, 1500.0).expected_spend(x, m)
    assert value == pytest.approx(spend * slow, rel=1e-10)
    assert np.all(value >= 0) and value.max() > 0


def test_long_histories_stay_finite():
    model = bgnbd.BGNBD(0.5, 30.0, 0.8, 2.5)
    value = clv.clv(model, GG, [500, 0], [3640.0, 0.0], [3650.0, 3650.0], [20.0, np.nan], horizon=3650, step=30,
                    discount_rate=0.01)
    assert np.isfinite(value).all() and value[0] > value[1] > 0


@pytest.mark.parametrize("kwargs", [dict(horizon=0), dict(horizon=10, step=0), dict(horizon=10, discount_rate=-1)])
def test_bad_horizon_step_or_rate_is_refused(kwargs):
    with pytest.raises(ValueError):
        clv.clv(BG, GG, [1], [1.0], [3.0], [20.0], **kwargs)


def test_the_package_docstring_example_runs():
    """The notebook example in server/analytics/__init__.py: arrays in, fits and predictions out."""
    import textwrap

    import server.analytics

    code = textwrap.dedent(server.analytics.__doc__.split("::\n", 1)[1].split("\nCustomers sharing")[0])
    scope = {}
    exec(compile(code, "server/analytics/__init__.py", "exec"), scope)
    assert scope["value"].shape == (10_000,) and np.isfinite(scope["value"]).all()
    assert scope["total"] == pytest.approx(scope["bg"].loglik)
