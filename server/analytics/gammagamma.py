"""Gamma-Gamma: what a customer's purchases will be worth on average.

The spend model of Fader & Hardie, "The Gamma-Gamma Model of Monetary Value" (2013, after
Colombo & Jiang 1999). Each transaction's value is Gamma(p, nu) around a customer's own mean,
and nu ~ Gamma(q, v) across customers. Per customer it needs:

- ``x``          number of repeat purchases (as in BG/NBD);
- ``mean_spend`` the average value of those x repeat purchases (any money unit, e.g. minor units).

Customers with x = 0 tell nothing about spend and are left out of the fit. The model assumes
spend is independent of how often a customer buys: check that before using it for CLV.
::

    >>> from server.analytics import gammagamma
    >>> gg = gammagamma.fit(x, mean_spend)        # GammaGamma(p=..., q=..., v=..., loglik=...)
    >>> gg.expected_spend(x, mean_spend)          # E[spend per future transaction] per customer
    >>> gg.expected_spend(0, 0)                   # the population mean, v p / (q - 1)
    >>> per_customer, total = gammagamma.loglik(gg.params, x, mean_spend)

``fit`` maximises the likelihood with L-BFGS-B on log-parameters with analytic gradients and
raises ``FitError`` (the one of ``bgnbd``) when the data cannot support it; a fit with
q <= 1 has no finite mean spend and is refused too.
"""

from dataclasses import dataclass

import numpy as np
from scipy import special

from server.analytics.bgnbd import FitError, _minimize, _standard_errors

PARAMS = ("p", "q", "v")
MIN_CUSTOMERS = 20

__all__ = ["FitError", "GammaGamma", "PARAMS", "fit", "gradient", "loglik", "simulate"]


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma parameters and the expected spend they predict.

    ``loglik`` is the total log-likelihood of the fitted mean spends (a density: it depends on
    the money unit), ``n`` the customers used (x > 0), ``se`` standard errors of (p, q, v).
    """

    p: float
    q: float
    v: float
    loglik: float = float("nan")
    n: float = 0
    converged: bool = True
    iterations: int = 0
    se: tuple = None

    @property
    def params(self):
        """``(p, q, v)``."""
        return (self.p, self.q, self.v)

    def expected_spend(self, x, m):
        """E[value of a future transaction | x, mean spend m] (note eq. 5); the population mean for x = 0.

        A weighted average of the population mean v p / (q - 1) and the customer's own m,
        with weight p x / (p x + q - 1) on m. ``m`` is ignored (may be NaN) where x = 0.
        """
        p, q, v = self.params
        x, m = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float))
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1.0)


def _arrays(x, m, weights):
    """Validated ``(x, m, w)`` of the customers with x > 0; ``w`` is None when every weight is 1."""
    try:
        x, m = np.broadcast_arrays(*(np.asarray(v, dtype=float).ravel() for v in (x, m)))
        w = None if weights is None else np.broadcast_to(np.asarray(weights, dtype=float).ravel(), x.shape)
    except (TypeError, ValueError) as e:
        raise FitError("bad_input", "x, mean_spend and weights must be numeric arrays of one length (%s)" % e) from None
    for name, val in (("x", x), ("weights", w)):
        if val is None:
            continue
        if not np.isfinite(val).all():
            raise FitError("bad_input", "%s has NaN or infinite values (%d of %d)" % (name, (~np.isfinite(val)).sum(), val.size))
        if (val < 0).any():
            raise FitError("bad_input", "%s has negative values (%d of %d)" % (name, (val < 0).sum(), val.size))
    if not np.array_equal(x, np.floor(x)):
        raise FitError("bad_input", "x counts repeat purchases and must be whole numbers")
    use = x > 0 if w is None else (x > 0) & (w > 0)
    x, m, w = x[use], m[use], None if w is None else w[use]
    bad = ~(m > 0) | ~np.isfinite(m)
    if bad.any():
        raise FitError("bad_input", "mean_spend must be finite and > 0 where x > 0 (%d customers are not)" % bad.sum())
    return x, m, w


def _terms(params, x, m):
    """Per-customer ln f(m | p, q, v, x) (note eq. 1a), written with log1p so large x m / v stay exact."""
    p, q, v = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) - np.log(m)
            - p * x * np.log1p(v / (x * m)) - q * np.log1p(x * m / v))


def loglik(params, x, mean_spend, weights=None):
    """``(per_customer, total)`` ln f of each customer with x > 0 at ``params = (p, q, v)``, and the weighted sum."""
    x, m, w = _arrays(x, mean_spend, weights)
    per = _terms(tuple(float(p) for p in params), x, m)
    return per, float(_wsum(w, per))


def _wsum(w, v):
    """Sum of ``v`` weighted by ``w`` (None: all weights 1)."""
    return v.sum() if w is None else np.dot(w, v)


class _Objective:
    """Mean negative log-likelihood and gradient in log-parameters; x-only terms per distinct x.

    Money is divided by the mean spend (``scale``) so v is of order 1 for the optimiser; per
    evaluation only ln(v + x m) is computed per customer.
    """

    def __init__(self, x, m, w, scale=None):
        self.total = float(x.size if w is None else w.sum())
        self.scale = scale = float(_wsum(w, m) / self.total) if scale is None else scale
        self.w, self.wx = w, x if w is None else w * x
        self.xm = x * m / scale
        self.const = _wsum(w, np.log(m))  # the density's ln m term, in the caller's unit
        self.sum_wx_lxm = np.dot(self.wx, np.log(self.xm))
        self.cx = np.bincount(x.astype(np.intp), weights=w)
        self.ux = np.flatnonzero(self.cx).astype(float)
        self.cx = self.cx[self.ux.astype(np.intp)]

    def __call__(self, theta):
        """``(-ll / total, -grad / total)`` at log-parameters ``theta``."""
        p, q, v = np.exp(theta)
        ux, cx, W = self.ux, self.cx, self.total
        px = p * ux
        lv = np.log(v)
        buf = self.xm + v
        big = np.log(buf)  # ln(v + x m), the one per-customer logarithm
        s_wx_big, s_w_big = np.dot(self.wx, big), _wsum(self.w, big)
        ll = (np.dot(cx, special.gammaln(px + q) - special.gammaln(px)) - W * special.gammaln(q) - self.const
              - p * (s_wx_big - self.sum_wx_lxm) - q * (s_w_big - W * lv))
        dg, dgx = special.digamma(px + q), special.digamma(px)
        g_p = np.dot(cx * ux, dg - dgx) - s_wx_big + self.sum_wx_lxm
        g_q = np.dot(cx, dg) - W * special.digamma(q) - s_w_big + W * lv
        np.reciprocal(buf, out=buf)
        g_v = q * W / v - p * np.dot(self.wx, buf) - q * _wsum(self.w, buf)
        return -ll / W, -np.array([g_p * p, g_q * q, g_v * v]) / W

    def loglik(self, theta):
        """Total log-likelihood in the caller's money unit (the log1p terms do not depend on the unit)."""
        return -self(theta)[0] * self.total


def gradient(params, x, mean_spend, weights=None):
    """Analytic gradient of the total log-likelihood with respect to ``(p, q, v)``."""
    obj = _Objective(*_arrays(x, mean_spend, weights), scale=1.0)
    params = np.asarray(params, dtype=float)
    return -obj(np.log(params))[1] * obj.total / params


def fit(x, mean_spend, weights=None, min_customers=MIN_CUSTOMERS):
    """Maximum-likelihood Gamma-Gamma fit on the customers with x > 0.

    Raises FitError (``bad_input``, ``too_few_repeat``, ``at_bound``, ``no_convergence``,
    ``no_finite_mean``) when the data cannot support a fit.
    """
    x, m, w = _arrays(x, mean_spend, weights)
    n = float(x.size if w is None else w.sum())
    if n < min_customers:
        raise FitError("too_few_repeat", "%g customers with repeat purchases; at least %d are needed"
                       % (n, min_customers))
    obj = _Objective(x, m, w)  # keeps only what the likelihood needs
    res = _minimize(obj, np.zeros(3), PARAMS)
    p, q, v = np.exp(res.x)
    if q <= 1.0:
        raise FitError("no_finite_mean", "q = %.3g <= 1: the fitted spend distribution has no finite mean" % q)
    se = _standard_errors(obj, res.x, res.jac)
    if se is not None:
        se = (se[0], se[1], se[2] * obj.scale)
    return GammaGamma(float(p), float(q), float(v * obj.scale), loglik=float(obj.loglik(res.x)), n=obj.total,
                      converged=bool(res.success), iterations=int(res.nit), se=se)


def simulate(p, q, v, x, rng=None):
    """Mean spend of the x repeat purchases of each customer drawn from the model (NaN where x = 0)."""
    rng = np.random.default_rng(rng)
    x = np.asarray(x, dtype=float)
    nu = rng.gamma(q, 1.0 / v, x.shape)
    m = np.full(x.shape, np.nan)
    rep = x > 0
    m[rep] = rng.gamma(p * x[rep], 1.0 / (nu[rep] * x[rep]))
    return m
