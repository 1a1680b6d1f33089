"""BG/NBD: how many purchases a customer will make, and whether they are still a customer.

The model of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way". While
alive, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each repeat
purchase they drop out for good with probability p ~ Beta(a, b). Per customer it needs:

- ``x``   frequency: number of repeat purchases (purchases after the first);
- ``t_x`` recency: age at the last purchase (0 when x = 0);
- ``T``   age: time from the first purchase to the end of the observation period,

all in one time unit of your choice (days, weeks); ``alpha`` comes out in that unit.
Arrays in, numbers out; no database, no Flask::

    >>> from server.analytics import bgnbd
    >>> x, t_x, _, _ = bgnbd.simulate(0.24, 4.4, 0.79, 2.4, T=[39.0] * 5000, rng=1)
    >>> model = bgnbd.fit(x, t_x, [39.0] * 5000)   # BGNBD(r=..., alpha=..., a=..., b=..., loglik=...)
    >>> model.p_alive(x, t_x, 39.0)                # P(still a customer) per customer
    >>> model.expected(13.0, x, t_x, 39.0)         # expected purchases in the next 13 weeks
    >>> model.expected_unconditional(52.0)         # for a new customer over a year
    >>> per_customer, total = bgnbd.loglik(model.params, x, t_x, [39.0] * 5000)

``fit`` maximises the likelihood with L-BFGS-B on log-parameters, with analytic gradients,
over the distinct (x, t_x, T) triples weighted by their counts, and without a penalty term.
When the data cannot support a fit it raises ``FitError`` with a reason code and a message.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

PARAMS = ("r", "alpha", "a", "b")
MIN_REPEAT = 20  # fewer repeat buyers than this cannot pin down four parameters
LOG_BOUND = 23.0  # log-parameter box; a fit that reaches it has run off to 0 or infinity
GRAD_TOL = 1e-6  # largest gradient of the mean log-likelihood (log-params) accepted as an optimum


class FitError(ValueError):
    """Data that cannot support a fit. ``reason`` is a short code, ``detail`` says why."""

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self):
        return self.reason + ": " + self.detail if self.detail else self.reason


@dataclass(frozen=True)
class BGNBD:
    """BG/NBD parameters (fitted or given) and the predictions they make.

    ``loglik`` is the total log-likelihood of the fitted data in the caller's time unit, ``n``
    the number of customers (sum of weights), ``se`` standard errors from the observed information.
    """

    r: float
    alpha: float
    a: float
    b: float
    loglik: float = float("nan")
    n: float = 0
    converged: bool = True
    iterations: int = 0
    se: tuple = None

    @property
    def params(self):
        """``(r, alpha, a, b)``."""
        return (self.r, self.alpha, self.a, self.b)

    def _log_odds_dead(self, x, t_x, T):
        """ln of P(dropped out at t_x) / P(alive at T) given the history (0 odds for x = 0)."""
        r, alpha, a, b = self.params
        x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
        d = (np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0)
             + (r + x) * np.log1p((T - t_x) / (alpha + t_x)))
        return np.where(x > 0, d, -np.inf)

    def p_alive(self, x, t_x, T):
        """P(the customer has not dropped out by T | x, t_x, T) (Fader & Hardie note 021)."""
        return special.expit(-self._log_odds_dead(x, t_x, T))

    def expected(self, t, x, t_x, T):
        """Expected repeat purchases in (T, T + t] given the history (FHL 2005, eq. 10).

        The Gauss hypergeometric term is taken through Euler's transformation, whose series
        stays near 1 for large x and long T, so the result is finite where eq. 10 as printed overflows.
        """
        t, x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, T)))
        return self._bracket(t, x, T) * self.p_alive(x, t_x, T)

    def _bracket(self, t, x, T):
        """(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)], z = t/(alpha+T+t).

        Euler's transformation turns the bracket into 1 - (1-z)^(a-1) 2F1(a-1, a+b-1-r; a+b+x-1; z).
        """
        r, alpha, a, b = self.params
        c = a + b + x - 1.0
        u = -(a - 1.0) * np.log1p(t / (alpha + T))  # ln (1 - z)^(a - 1)
        f = special.hyp2f1(a - 1.0, a + b - 1.0 - r, c, t / (alpha + T + t))
        return c / (a - 1.0) * (-np.expm1(u) - np.exp(u) * (f - 1.0))

    def expected_unconditional(self, t):
        """Expected repeat purchases in (0, t] of a customer just acquired (FHL 2005, eq. 7)."""
        return self.expected(t, 0.0, 0.0, 0.0)


def _arrays(x, t_x, T, weights):
    """Validated float arrays (x, t_x, T, w) of one length; FitError says what is wrong."""
    try:
        x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float).ravel() for v in (x, t_x, T)))
        w = np.broadcast_to(np.asarray(1.0 if weights is None else weights, dtype=float).ravel(), x.shape)
    except (TypeError, ValueError) as e:
        raise FitError("bad_input", "x, t_x, T and weights must be numeric arrays of one length (%s)" % e) from None
    for name, v in (("x", x), ("t_x", t_x), ("T", T), ("weights", w)):
        if not np.isfinite(v).all():
            raise FitError("bad_input", "%s has NaN or infinite values (%d of %d)" % (name, (~np.isfinite(v)).sum(), v.size))
        if (v < 0).any():
            raise FitError("bad_input", "%s has negative values (%d of %d)" % (name, (v < 0).sum(), v.size))
    if (x != np.floor(x)).any():
        raise FitError("bad_input", "x counts repeat purchases and must be whole numbers")
    if (t_x > T).any():
        raise FitError("bad_input", "t_x > T for %d customers: the last purchase cannot come after the end" % (t_x > T).sum())
    if ((x == 0) & (t_x != 0)).any():
        raise FitError("bad_input", "t_x must be 0 when x = 0 (%d customers)" % ((x == 0) & (t_x != 0)).sum())
    return x, t_x, T, w


def _terms(params, x, t_x, T):
    """Per-customer ln L (FHL 2005 section 7: A1 + A2 + ln(e^A3 + [x > 0] e^A4)), in log space."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    d = np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    return a1 + a2 + a3 + np.where(x > 0, np.logaddexp(0.0, d), 0.0)


def loglik(params, x, t_x, T, weights=None):
    """``(per_customer, total)``: ln L of each customer at ``params = (r, alpha, a, b)`` and their weighted sum."""
    x, t_x, T, w = _arrays(x, t_x, T, weights)
    per = _terms(tuple(float(p) for p in params), x, t_x, T)
    return per, float(np.dot(w, per))


def _whole(*cols):
    """True when every value of ``cols`` is a whole number (then grouping needs no float compare)."""
    return all(np.array_equal(c, np.floor(c)) for c in cols)


def _distinct(w, x, t_x, T):
    """The distinct (x, t_x, T) rows and the summed weights of each."""
    if _whole(x, t_x, T) and (x.max(initial=0) + 1) * (T.max(initial=0) + 1) ** 2 < 2.0 ** 62:
        m = np.int64(T.max(initial=0)) + 1  # whole numbers (days): one int64 key per row
        key = (x.astype(np.int64) * m + t_x.astype(np.int64)) * m + T.astype(np.int64)
        key, inv = np.unique(key, return_inverse=True)
        return ((key // (m * m)).astype(float), (key // m % m).astype(float), (key % m).astype(float),
                np.bincount(inv, weights=w, minlength=key.size))
    order = np.lexsort((T, t_x, x))
    x, t_x, T = x[order], t_x[order], T[order]
    start = np.ones(x.size, dtype=bool)
    start[1:] = (x[1:] != x[:-1]) | (t_x[1:] != t_x[:-1]) | (T[1:] != T[:-1])
    idx = np.flatnonzero(start)
    return x[idx], t_x[idx], T[idx], np.add.reduceat(w[order], idx) if idx.size else w[:0]


def _codes(v):
    """``(values, index)`` with ``values[index] == v`` when v repeats enough to pay, else ``(v, None)``."""
    if v.size and v.max() <= 4 * v.size and _whole(v):
        values, index = np.arange(v.max() + 1.0), v.astype(np.intp)  # whole numbers: no sort needed
    else:
        values, index = np.unique(v, return_inverse=True)
    return (values, index) if values.size <= v.size // 2 else (v, None)


def _take(values, index):
    return values if index is None else values[index]


class _Objective:
    """Mean negative log-likelihood and its gradient in log-parameters, on grouped data.

    Terms that depend on x alone are summed over the distinct x, customers with x = 0 over the
    distinct T, and functions of T or t_x are taken once per distinct value; only the repeat
    buyers' distinct (x, t_x, T) triples are visited one by one.
    """

    def __init__(self, x, t_x, T, w, scale=None):
        self.scale = scale = float(T.max()) if scale is None else scale  # alpha of order 1 for the optimiser
        self.total = w.sum()
        self.sum_wx = np.dot(w, x)
        rep = x > 0
        _, _, T0, self.w0 = _distinct(w[~rep], x[~rep], t_x[~rep], T[~rep])
        self.T0 = T0 / scale
        x, t, T, self.w = _distinct(w[rep], x[rep], t_x[rep], T[rep])
        self.x = x
        self.uT, self.iT = _codes(T)
        self.ut, self.it = _codes(t)
        self.uT, self.ut = self.uT / scale, self.ut / scale
        self.ux, self.inv = np.unique(x, return_inverse=True)
        self.wx = np.bincount(self.inv, weights=self.w, minlength=self.ux.size)
        self.n_rows = x.size + T0.size

    def __call__(self, theta):
        """``(-ll / total, -grad / total)`` at log-parameters ``theta``."""
        r, al, a, b = np.exp(theta)
        ux, wx, W = self.ux, self.wx, self.total
        # x-only terms: repeat buyers per distinct x; everyone adds r ln alpha
        lg, ps = special.gammaln, special.digamma
        n_rep = wx.sum()
        ll = np.dot(wx, lg(r + ux) + lg(b + ux) - lg(a + b + ux)) - n_rep * (lg(r) + lg(b) - lg(a + b)) + W * r * np.log(al)
        g_r = np.dot(wx, ps(r + ux)) - n_rep * ps(r) + W * np.log(al)
        g_al = W * r / al
        g_a = n_rep * ps(a + b) - np.dot(wx, ps(a + b + ux))
        g_b = g_a + np.dot(wx, ps(b + ux)) - n_rep * ps(b)
        # x = 0: A3 = -r ln(alpha + T)
        l0 = np.log(al + self.T0)
        ll -= r * np.dot(self.w0, l0)
        g_r -= np.dot(self.w0, l0)
        g_al -= r * np.dot(self.w0, 1.0 / (al + self.T0))
        # x > 0: A3 + softplus(d), d = A4 - A3
        w, x = self.w, self.x
        lT = _take(np.log(al + self.uT), self.iT)
        gap = lT - _take(np.log(al + self.ut), self.it)
        rx = r + x
        d = _take(np.log(a) - np.log(b + ux - 1.0), self.inv)
        d += rx * gap
        e = np.exp(-np.abs(d))
        q = 1.0 / (1.0 + e)
        sp = np.maximum(d, 0.0) - np.log(q)  # softplus(d) = ln(1 + e^d), without overflow
        s = np.where(d >= 0.0, q, e * q)  # sigmoid(d): weight of the "dropped out at t_x" branch
        wrx = w * rx
        ws = w * s
        ll += np.dot(w, sp) - np.dot(wrx, lT)
        g_r += np.dot(ws, gap) - np.dot(w, lT)
        inv_T = _take(1.0 / (al + self.uT), self.iT)
        g_al -= np.dot(wrx, inv_T) + np.dot(wrx * s, _take(1.0 / (al + self.ut), self.it) - inv_T)
        g_a += ws.sum() / a
        g_b -= np.dot(np.bincount(self.inv, weights=ws, minlength=ux.size), 1.0 / (b + ux - 1.0))
        grad = np.array([g_r * r, g_al * al, g_a * a, g_b * b])
        return -ll / W, -grad / W

    def loglik(self, theta):
        """Total log-likelihood in the caller's time unit."""
        return -self(theta)[0] * self.total - np.log(self.scale) * self.sum_wx


def gradient(params, x, t_x, T, weights=None):
    """Analytic gradient of the total log-likelihood with respect to ``(r, alpha, a, b)``."""
    x, t_x, T, w = _arrays(x, t_x, T, weights)
    obj = _Objective(x, t_x, T, w, scale=1.0)
    params = np.asarray(params, dtype=float)
    return -obj(np.log(params))[1] * obj.total / params


def _minimize(obj, theta0, names):
    """Run L-BFGS-B on ``obj``; FitError unless it ends at an interior stationary point."""
    res = optimize.minimize(obj, theta0, jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * len(theta0),
                            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20})
    g = np.abs(obj(res.x)[1]).max()
    edge = np.abs(res.x) > LOG_BOUND - 1.0
    if edge.any():
        i = int(np.flatnonzero(edge)[0])
        raise FitError("at_bound", "parameter %s runs off to %s: the data cannot identify it (%s)"
                       % (names[i], "infinity" if res.x[i] > 0 else "0", res.message))
    if not np.isfinite(res.fun) or g > GRAD_TOL:
        raise FitError("no_convergence", "the optimiser stopped at a gradient of %.2g after %d iterations: %s"
                       % (g, res.nit, res.message))
    return res


def _standard_errors(obj, theta, grad):
    """Delta-method standard errors of exp(theta): inverse observed information, from differences of the gradient."""
    k, h = theta.size, 1e-6
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        hess[i] = (obj(theta + e)[1] - grad) / h
    hess = (hess + hess.T) / 2 * obj.total
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None
    var = np.diag(cov)
    if (var <= 0).any():
        return None
    return tuple(float(v) for v in np.exp(theta) * np.sqrt(var))


def fit(x, t_x, T, weights=None, min_repeat=MIN_REPEAT):
    """Maximum-likelihood BG/NBD fit; ``weights`` counts customers sharing one (x, t_x, T).

    Raises FitError (reasons ``bad_input``, ``too_few_repeat``, ``at_bound``, ``no_convergence``)
    when the data cannot support a fit.
    """
    x, t_x, T, w = _arrays(x, t_x, T, weights)
    repeat = float(w[x > 0].sum())
    if repeat < min_repeat:
        raise FitError("too_few_repeat", "%g repeat buyers among %g customers; at least %d are needed"
                       % (repeat, w.sum(), min_repeat))
    obj = _Objective(x, t_x, T, w)  # keeps only the grouped data
    res = _minimize(obj, np.zeros(4), PARAMS)
    r, al, a, b = np.exp(res.x)
    scale = obj.scale
    se = _standard_errors(obj, res.x, res.jac)
    if se is not None:
        se = (se[0], se[1] * scale, se[2], se[3])
    return BGNBD(float(r), float(al * scale), float(a), float(b), loglik=float(obj.loglik(res.x)),
                 n=float(obj.total), converged=bool(res.success), iterations=int(res.nit), se=se)


def simulate(r, alpha, a, b, T, rng=None, holdout=0.0, days=False):
    """Draw customers from a BG/NBD process: ``(x, t_x, x_holdout, alive)`` per age in ``T``.

    ``x_holdout`` counts repeat purchases in (T, T + holdout]; ``alive`` says whether the
    customer had not dropped out by T. With ``days=True`` times are whole days (T integers):
    purchases on one day count once and t_x is the day of the last one.
    """
    rng = np.random.default_rng(rng)
    T = np.asarray(T, dtype=float).ravel()
    n = T.size
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    shift = 1.0 if days else 0.0  # day T is observed whole: purchases before T + 1
    end_cal, end_all = T + shift, T + holdout + shift
    x, t_x, x_h = np.zeros(n), np.zeros(n), np.zeros(n)
    last = np.zeros(n)  # last counted day
    alive = np.ones(n, dtype=bool)
    time = np.zeros(n)
    act = np.arange(n)
    while act.size:
        time[act] += rng.standard_exponential(act.size) / lam[act]
        tau = time[act]
        inside = tau < end_all[act]
        act, tau = act[inside], tau[inside]
        when = np.floor(tau) if days else tau
        new = when > last[act] if days else np.ones(act.size, dtype=bool)
        cal = tau < end_cal[act]
        x[act[cal & new]] += 1
        t_x[act[cal & new]] = when[cal & new]
        x_h[act[~cal & new]] += 1
        last[act] = when
        dead = rng.random(act.size) < p[act]
        alive[act[dead & cal]] = False
        act = act[~dead]
    return x, t_x, x_h, alive
