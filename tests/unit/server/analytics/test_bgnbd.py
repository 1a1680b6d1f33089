"""BG/NBD: parameter recovery on simulated data, gradients, closed-form predictions, stability, FitError."""

import numpy as np
import pytest
from scipy import special

from server.analytics import bgnbd

TRUE = (0.5, 30.0, 0.8, 2.5)  # r, alpha (days), a, b: a few purchases a year, most customers churn


@pytest.fixture(scope="module")
def simulated():
    """20,000 customers acquired over two years, seeded."""
    rng = np.random.default_rng(20260507)
    T = rng.uniform(30.0, 730.0, 20000)
    x, t_x, _, _ = bgnbd.simulate(*TRUE, T=T, rng=rng)
    return x, t_x, T


def test_recovers_the_parameters_it_was_simulated_from(simulated):
    model = bgnbd.fit(*simulated)
    assert model.converged and model.n == 20000
    se = np.array(model.se)
    # The ML estimator is asymptotically normal with the reported standard errors (inverse observed
    # information): a 4 SE band misses a correct fit with probability 6e-5 per parameter, while the
    # SEs here are 1-5 % of the values, so a biased likelihood or gradient fails it.
    assert np.all(se < 0.06 * np.array(TRUE))
    assert np.all(np.abs(np.array(model.params) - TRUE) < 4 * se)


def test_standard_errors_match_the_spread_over_seeds():
    """The reported SE is what the tolerance above rests on: check it against 12 independent samples."""
    fits = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        T = rng.uniform(30.0, 730.0, 3000)
        x, t_x, _, _ = bgnbd.simulate(*TRUE, T=T, rng=rng)
        fits.append(bgnbd.fit(x, t_x, T))
    z = np.array([(np.array(f.params) - TRUE) / np.array(f.se) for f in fits])
    # z-scores ~ N(0, 1): with 12 draws their sd lies in (0.5, 1.6) with probability > 0.99
    assert np.all((z.std(axis=0) > 0.5) & (z.std(axis=0) < 1.6)), z.std(axis=0)
    assert np.all(np.abs(z.mean(axis=0)) < 1.2), z.mean(axis=0)


def test_the_loglik_of_the_fit_is_the_total_at_its_parameters(simulated):
    model = bgnbd.fit(*simulated)
    per, total = bgnbd.loglik(model.params, *simulated)
    assert per.shape == (20000,)
    assert model.loglik == pytest.approx(total, rel=1e-12)
    # and it is the maximum: the true parameters score lower
    assert bgnbd.loglik(TRUE, *simulated)[1] < total


@pytest.mark.parametrize("params", [TRUE, (0.243, 4.414, 0.793, 2.426), (3.0, 0.5, 5.0, 0.3)])
def test_analytic_gradient_matches_finite_differences(simulated, params):
    x, t_x, T = (v[:2000] for v in simulated)
    grad = bgnbd.gradient(params, x, t_x, T)
    num = np.empty(4)
    for i in range(4):
        h = 1e-6 * params[i]
        up, down = list(params), list(params)
        up[i] += h
        down[i] -= h
        num[i] = (bgnbd.loglik(up, x, t_x, T)[1] - bgnbd.loglik(down, x, t_x, T)[1]) / (2 * h)
    assert grad == pytest.approx(num, rel=1e-5, abs=1e-3)


def test_fitting_distinct_triples_with_weights_equals_fitting_every_row():
    rng = np.random.default_rng(7)
    T = rng.integers(30, 200, 8000).astype(float)  # whole days: many customers share a triple
    x, t_x, _, _ = bgnbd.simulate(*TRUE, T=T, rng=rng, days=True)
    rows = np.stack([x, t_x, T], axis=1)
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    assert len(distinct) < 0.6 * len(rows) and counts.max() > 20
    every = bgnbd.fit(x, t_x, T)
    grouped = bgnbd.fit(*distinct.T, weights=counts)
    assert grouped.params == pytest.approx(every.params, rel=1e-8)
    assert grouped.loglik == pytest.approx(every.loglik, rel=1e-12)
    assert grouped.n == every.n == 8000


def test_p_alive_and_expected_against_closed_forms():
    # r = a + b - 1 makes Euler's 2F1(a - 1, a + b - 1 - r; ...) equal 1, so everything is elementary:
    # odds of having dropped out = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) = 2 * 2 ** 3 = 16,
    # bracket = (a + b + x - 1) / (a - 1) * (1 - (alpha + T) / (alpha + T + t)) = 3 * (1 - 4 / 8) = 1.5
    model = bgnbd.BGNBD(r=2.0, alpha=1.0, a=2.0, b=1.0)
    assert model.p_alive(1, 1.0, 3.0) == pytest.approx(1 / 17, rel=1e-12)
    assert model.expected(4.0, 1, 1.0, 3.0) == pytest.approx(1.5 / 17, rel=1e-12)
    assert model.p_alive(0, 0.0, 3.0) == 1.0  # nobody drops out before a repeat purchase


def test_expected_equals_the_printed_formula_where_that_is_finite():
    """FHL 2005 eq. 10 as printed (hyp2f1 directly) against our Euler-transformed form."""
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    model = bgnbd.BGNBD(r, alpha, a, b)
    for t, x, t_x, T in [(39, 2, 30.43, 38.86), (10, 0, 0, 20), (52, 7, 35.0, 39.0), (5, 1, 2.0, 3.0)]:
        z = t / (alpha + T + t)
        bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
        printed = (a + b + x - 1) / (a - 1) * bracket / (1 + odds)
        assert model.expected(t, x, t_x, T) == pytest.approx(printed, rel=1e-9)
    # eq. 7 for a new customer
    t = 52.0
    eq7 = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    assert model.expected_unconditional(t) == pytest.approx(eq7, rel=1e-9)


def test_long_histories_stay_finite():
    """x = 500 purchases over ten years of days: the printed formulas overflow here, ours must not."""
    model = bgnbd.BGNBD(0.5, 30.0, 0.8, 2.5)
    x = np.array([500.0, 500.0, 0.0, 1.0, 3000.0])
    t_x = np.array([3640.0, 400.0, 0.0, 1.0, 3650.0])
    T = np.full(5, 3650.0)
    per, total = bgnbd.loglik(model.params, x, t_x, T)
    assert np.isfinite(per).all() and np.isfinite(total)
    assert np.isfinite(bgnbd.gradient(model.params, x, t_x, T)).all()
    alive = model.p_alive(x, t_x, T)
    assert np.all((alive >= 0) & (alive <= 1))
    assert alive[0] > 0.99 and alive[1] < 1e-100  # buying every week until the end vs silent for 9 years
    exp = model.expected(365.0, x, t_x, T)
    assert np.isfinite(exp).all() and np.all(exp >= 0)
    assert 30 < exp[0] < 70  # about the 50 a year the customer has been making
    assert np.isfinite(model.expected_unconditional(3650.0))


def test_fit_on_heavy_buyers_over_ten_years_converges():
    rng = np.random.default_rng(3)
    T = rng.uniform(2000.0, 3650.0, 3000)
    x, t_x, _, _ = bgnbd.simulate(2.0, 20.0, 0.3, 8.0, T=T, rng=rng)  # ~0.1 a day, long lives
    assert x.max() > 500
    model = bgnbd.fit(x, t_x, T)
    assert model.converged and np.isfinite(model.loglik)
    assert np.all(np.abs(np.array(model.params) - (2.0, 20.0, 0.3, 8.0)) < 4 * np.array(model.se))


@pytest.mark.parametrize("x, t_x, T, weights, reason, words", [
    ([], [], [], None, "too_few_repeat", "0 repeat buyers among 0 customers"),
    ([0] * 500 + [1] * 19, [0] * 500 + [3] * 19, [10] * 519, None, "too_few_repeat", "19 repeat buyers"),
    ([0, 1, 2], [0, 1, 2], [5, 5, 5], [100, 10, 9], "too_few_repeat", "19 repeat buyers among 119"),
    ([1, np.nan], [1, 1], [2, 2], None, "bad_input", "x has NaN"),
    ([1, 1], [1, 1], [2, np.inf], None, "bad_input", "T has NaN or infinite"),
    ([1, -1], [1, 1], [2, 2], None, "bad_input", "x has negative values"),
    ([1, 1], [1, 1], [2, 2], [1, -2], "bad_input", "weights has negative values"),
    ([1, 1], [3, 1], [2, 2], None, "bad_input", "t_x > T for 1 customers"),
    ([1, 1, 1], [1, 1], [2, 2], None, "bad_input", "arrays of one length"),
    ([1.5, 1], [1, 1], [2, 2], None, "bad_input", "whole numbers"),
    ([0, 1], [1, 1], [2, 2], None, "bad_input", "t_x must be 0 when x = 0"),
    (["a"], [1], [2], None, "bad_input", "numeric arrays"),
])
def test_data_that_cannot_support_a_fit_is_refused_with_a_reason(x, t_x, T, weights, reason, words):
    with pytest.raises(bgnbd.FitError) as err:
        bgnbd.fit(x, t_x, T, weights=weights)
    assert err.value.reason == reason
    assert words in str(err.value)


def test_loglik_validates_like_fit():
    with pytest.raises(bgnbd.FitError, match="t_x > T"):
        bgnbd.loglik(TRUE, [1], [5], [2])


def test_simulate_in_days_gives_whole_days_inside_the_window():
    rng = np.random.default_rng(11)
    T = rng.integers(0, 365, 5000).astype(float)
    x, t_x, x_h, alive = bgnbd.simulate(*TRUE, T=T, rng=rng, holdout=90, days=True)
    assert np.array_equal(t_x, np.floor(t_x)) and np.array_equal(x, np.floor(x))
    assert np.all(t_x <= T) and np.all(x <= t_x) and np.all(t_x[x == 0] == 0)
    assert x.sum() > 1000 and x_h.sum() > 0
    assert x_h[~alive].sum() == 0  # the dead buy nothing in the holdout
