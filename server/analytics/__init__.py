"""Customer value analytics on plain arrays: BG/NBD (``bgnbd``), Gamma-Gamma spend (``gammagamma``), CLV (``clv``).

No Flask and no database: numpy arrays in, parameters, log-likelihoods and predictions out, the
way analysts use ``lifetimes`` in a notebook. Per customer: ``x`` repeat purchases, ``t_x`` age
at the last purchase, ``T`` age at the end of the observation (any one time unit), ``m`` mean
value of the repeat purchases (any money unit)::

    import numpy as np
    from server.analytics import bgnbd, gammagamma, clv

    rng = np.random.default_rng(1)
    T = rng.integers(30, 730, 10_000).astype(float)              # days since first purchase
    x, t_x, _, _ = bgnbd.simulate(0.5, 30.0, 0.8, 2.5, T, rng=rng, days=True)
    m = gammagamma.simulate(6.0, 4.0, 1500.0, x, rng=rng)         # mean spend, minor units

    bg = bgnbd.fit(x, t_x, T)          # BGNBD(r, alpha, a, b, loglik, n, converged, iterations, se)
    bg.params, bg.se, bg.loglik        # (r, alpha, a, b), their standard errors, total ln L
    bg.p_alive(x, t_x, T)              # P(still a customer) per customer
    bg.expected(90, x, t_x, T)         # expected repeat purchases in the next 90 days
    bg.expected_unconditional(365)     # ... of a customer acquired today, over a year
    per_customer, total = bgnbd.loglik(bg.params, x, t_x, T)

    gg = gammagamma.fit(x, m)          # GammaGamma(p, q, v, loglik, n, ...), customers with x > 0
    gg.expected_spend(x, m)            # expected value of a future purchase per customer

    value = clv.clv(bg, gg, x, t_x, T, m, horizon=365, discount_rate=0.01, step=30)

Customers sharing one (x, t_x, T) can be passed once with ``weights=counts``. When the data
cannot support a fit (too few repeat buyers, NaN, negative values, t_x > T, arrays of different
lengths, a parameter running off to 0 or infinity) ``fit`` raises ``bgnbd.FitError`` with a
``reason`` code and a message that says why.
"""
