"""Customer lifetime value over a horizon: BG/NBD purchases x Gamma-Gamma spend, discounted.

For each customer, the horizon is cut into steps (e.g. 30 days); the purchases BG/NBD expects
in each step are valued at the spend Gamma-Gamma expects per purchase and discounted by
``discount_rate`` per step, counted at the end of the step::

    clv = E[spend | x, m] * sum_k (E[Y(t_k)] - E[Y(t_(k-1))]) / (1 + discount_rate) ** (t_k / step)

with t_k = min(k * step, horizon). Times are in the unit of the BG/NBD fit, money in the unit
of the Gamma-Gamma fit. Example (days, 12 monthly steps, 1 % a month)::

    >>> from server.analytics import bgnbd, gammagamma, clv
    >>> value = clv.clv(bg, gg, x, t_x, T, m, horizon=360, discount_rate=0.01, step=30)
"""

import numpy as np


def _groups(*cols):
    """``(firsts, inverse)``: index of one row per distinct combination of ``cols``, and each row's group."""
    order = np.lexsort(cols[::-1])
    start = np.ones(order.size, dtype=bool)
    if order.size:
        start[1:] = np.logical_or.reduce([c[order][1:] != c[order][:-1] for c in cols])
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.cumsum(start) - 1
    return order[start], inverse


def discounted_purchases(model, x, t_x, T, horizon, discount_rate=0.0, step=None):
    """Expected repeat purchases in (T, T + horizon], each discounted to today as in ``clv``."""
    if not horizon > 0:
        raise ValueError("horizon must be > 0, got %r" % (horizon,))
    step = horizon if step is None else step
    if not step > 0 or discount_rate <= -1:
        raise ValueError("step must be > 0 and discount_rate > -1")
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float).ravel() for v in (x, t_x, T)))
    # E[Y(t)] = bracket(t; x, T) * P(alive): only the bracket changes with t, and it depends on
    # (x, T) alone, so it is evaluated once per distinct pair and step.
    first, inverse = _groups(x, T)
    ux, uT = x[first], T[first]
    total = np.zeros(ux.size)
    before = np.zeros(ux.size)
    k = 1
    while True:
        t = min(k * step, horizon)
        bracket = model._bracket(np.full(ux.size, float(t)), ux, uT)
        total += (bracket - before) / (1.0 + discount_rate) ** (t / step)
        before = bracket
        if t >= horizon:
            break
        k += 1
    return total[inverse] * model.p_alive(x, t_x, T)


def clv(bgnbd, gg, x, t_x, T, m, horizon, discount_rate=0.0, step=None):
    """Discounted expected value of each customer's purchases in (T, T + horizon].

    ``bgnbd`` is a ``bgnbd.BGNBD``, ``gg`` a ``gammagamma.GammaGamma``; ``m`` the mean spend
    of the x repeat purchases (ignored where x = 0, which get the population mean).
    ``discount_rate`` is per ``step`` (default: one step, the whole horizon).
    """
    spend = gg.expected_spend(np.asarray(x, dtype=float).ravel(), np.asarray(m, dtype=float).ravel())
    return spend * discounted_purchases(bgnbd, x, t_x, T, horizon, discount_rate, step)
