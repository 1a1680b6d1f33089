"""Gamma-Gamma: parameter recovery on simulated spend, gradients, expected spend by hand, FitError."""

import numpy as np
import pytest

from server.analytics import bgnbd, gammagamma

TRUE = (6.0, 4.0, 1500.0)  # p, q, v: mean spend v p / (q - 1) = 3000 minor units


@pytest.fixture(scope="module")
def simulated():
    """15,000 repeat buyers with 1-20 repeat purchases and their simulated mean spend (plus 5,000 with x = 0)."""
    rng = np.random.default_rng(20260508)
    x = np.concatenate([rng.integers(1, 21, 15000), np.zeros(5000)]).astype(float)
    return x, gammagamma.simulate(*TRUE, x, rng=rng)


def test_recovers_the_parameters_it_was_simulated_from(simulated):
    model = gammagamma.fit(*simulated)
    assert model.converged and model.n == 15000  # the x = 0 customers carry no spend and are left out
    se = np.array(model.se)
    # Asymptotic normality of the ML estimator with the reported SE (inverse observed information):
    # a 4 SE band misses a correct fit with probability 6e-5 per parameter. p and v are strongly
    # correlated, so their SEs are ~10 % of the values (q's ~1.5 %); a biased likelihood still fails it.
    assert np.all(se < 0.12 * np.array(TRUE))
    assert np.all(np.abs(np.array(model.params) - TRUE) < 4 * se)


def test_standard_errors_match_the_spread_over_seeds():
    """Check the reported SE the tolerance rests on against 12 independent samples."""
    z = []
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        x = rng.integers(1, 21, 2000).astype(float)
        f = gammagamma.fit(x, gammagamma.simulate(*TRUE, x, rng=rng))
        z.append((np.array(f.params) - TRUE) / np.array(f.se))
    z = np.array(z)
    # z ~ N(0, 1): the sd of 12 draws lies in (0.5, 1.6) with probability > 0.99
    assert np.all((z.std(axis=0) > 0.5) & (z.std(axis=0) < 1.6)), z.std(axis=0)
    assert np.all(np.abs(z.mean(axis=0)) < 1.2), z.mean(axis=0)


def test_the_loglik_of_the_fit_is_the_total_at_its_parameters(simulated):
    model = gammagamma.fit(*simulated)
    per, total = gammagamma.loglik(model.params, *simulated)
    assert per.shape == (15000,)
    assert model.loglik == pytest.approx(total, rel=1e-12)
    assert gammagamma.loglik(TRUE, *simulated)[1] < total


def test_the_loglik_is_the_gamma_density_of_the_mean():
    """For x = 1 the mean spend is one transaction: z ~ Gamma(p, nu), nu ~ Gamma(q, v) is a
    compound gamma with density v^q z^(p-1) / (B(p, q) (v + z)^(p + q))."""
    from scipy import special
    p, q, v, z = 2.0, 3.0, 10.0, 4.0
    dens = v ** q * z ** (p - 1) / (special.beta(p, q) * (v + z) ** (p + q))
    per, _ = gammagamma.loglik((p, q, v), [1], [z])
    assert per[0] == pytest.approx(np.log(dens), rel=1e-12)


@pytest.mark.parametrize("params", [TRUE, (6.25, 3.74, 15.44), (0.5, 1.5, 0.01)])
def test_analytic_gradient_matches_finite_differences(simulated, params):
    x, m = (v[:2000] for v in simulated)
    grad = gammagamma.gradient(params, x, m)
    num = np.empty(3)
    for i in range(3):
        h = 1e-6 * params[i]
        up, down = list(params), list(params)
        up[i] += h
        down[i] -= h
        num[i] = (gammagamma.loglik(up, x, m)[1] - gammagamma.loglik(down, x, m)[1]) / (2 * h)
    assert grad == pytest.approx(num, rel=1e-5, abs=1e-6 * np.abs(num).max())


def test_fitting_distinct_rows_with_weights_equals_fitting_every_row():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 6, 6000).astype(float)
    m = np.round(gammagamma.simulate(*TRUE, x, rng=rng), -2)  # prices in whole hundreds: rows repeat
    distinct, counts = np.unique(np.stack([x, m], axis=1), axis=0, return_counts=True)
    assert len(distinct) < 0.3 * len(x)
    every = gammagamma.fit(x, m)
    grouped = gammagamma.fit(*distinct.T, weights=counts)
    assert grouped.params == pytest.approx(every.params, rel=1e-7)
    assert grouped.loglik == pytest.approx(every.loglik, rel=1e-12)
    assert grouped.n == every.n == 6000


def test_expected_spend_by_hand():
    gg = gammagamma.GammaGamma(p=6.0, q=4.0, v=15.0)
    # p (v + x m) / (p x + q - 1): 6 (15 + 2 * 20) / (12 + 3) = 22, 6 (15 + 20) / 9 = 70 / 3
    assert gg.expected_spend([2, 1], [20.0, 20.0]) == pytest.approx([22.0, 70 / 3], rel=1e-12)
    # x = 0: the population mean v p / (q - 1) = 30, whatever m says (NaN from simulate)
    assert gg.expected_spend(0, np.nan) == pytest.approx(30.0)
    # many purchases: the customer's own mean dominates
    assert gg.expected_spend(10000, 50.0) == pytest.approx(50.0, rel=1e-3)


def test_large_spends_and_counts_stay_finite():
    x = np.array([1.0, 500.0, 5000.0])
    m = np.array([1e9, 1e7, 1e-3])  # minor units of a large sale; a tiny mean
    per, total = gammagamma.loglik(TRUE, x, m)
    assert np.isfinite(per).all() and np.isfinite(total)
    assert np.isfinite(gammagamma.gradient(TRUE, x, m)).all()


def test_q_at_most_one_has_no_mean_and_is_refused():
    rng = np.random.default_rng(9)
    x = rng.integers(1, 4, 3000).astype(float)
    m = gammagamma.simulate(3.0, 0.6, 100.0, x, rng=rng)  # heavy tail: spend has no finite mean
    with pytest.raises(gammagamma.FitError) as err:
        gammagamma.fit(x, m)
    assert err.value.reason == "no_finite_mean"
    assert "q = " in str(err.value) and "no finite mean" in str(err.value)


@pytest.mark.parametrize("x, m, weights, reason, words", [
    ([], [], None, "too_few_repeat", "0 customers with repeat purchases"),
    ([0] * 100 + [2] * 19, [np.nan] * 100 + [10.0] * 19, None, "too_few_repeat", "19 customers"),
    ([1, 2], [np.nan, 3.0], None, "bad_input", "mean_spend must be finite and > 0"),
    ([1, 2], [-1.0, 3.0], None, "bad_input", "mean_spend must be finite and > 0"),
    ([1, 2], [0.0, 3.0], None, "bad_input", "mean_spend must be finite and > 0"),
    ([-1, 2], [1.0, 1.0], None, "bad_input", "x has negative values"),
    ([np.nan, 2], [1.0, 1.0], None, "bad_input", "x has NaN"),
    ([1, 2], [1.0, 1.0], [1, np.nan], "bad_input", "weights has NaN"),
    ([1, 2, 3], [1.0, 1.0], None, "bad_input", "arrays of one length"),
    ([1.5, 2], [1.0, 1.0], None, "bad_input", "whole numbers"),
])
def test_data_that_cannot_support_a_fit_is_refused_with_a_reason(x, m, weights, reason, words):
    with pytest.raises(gammagamma.FitError) as err:
        gammagamma.fit(x, m, weights=weights)
    assert err.value.reason == reason
    assert words in str(err.value)


def test_fit_error_is_the_one_of_bgnbd():
    assert gammagamma.FitError is bgnbd.FitError
