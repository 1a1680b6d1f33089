"""The built-in tags, scored on numpy arrays: one code path for the batch (all customers) and real time (a few).

- RFM: scores 1-5 by quintile cut points over the RFM window (recency: fewer days is better)
  and the eight classic segments 重要价值 ... 一般挽留 (each of R, F, M high when its score >= 3).
- Lifecycle: potential (known, never bought), new (one purchase day, recent), active, silent, lost;
  silent/lost after ``silent``/``lost`` days without a purchase, by default the gaps within which
  80 % / 95 % of the merchant's repeat purchases come (weighted by each customer's gaps).
- Value layers high/mid/low and classes VIP/ordinary/new/potential by the value metric: CLV when
  a model is in force, else spend in the RFM window.
- 忠诚顾客 loyal: repeat buyer, active, frequency score >= 4, P(alive) >= loyal_p_alive (if known).
  潜力增长客户 growth: new or active, not loyal, 90-day spend rising by growth_ratio on 2+ orders,
  or many expected purchases (top 20 %) with a money score <= 3.
  流失风险客户 churn risk: repeat buyer, not lost, churn_risk >= churn_threshold, where
  churn_risk = 0.5 (1 - P(alive)) + 0.25 frequency drop + 0.25 amount drop (last 90 days against
  the 90 before); without a model, days since last purchase / lost stands in for 1 - P(alive).
"""

import numpy as np

# code, 中文名, English name, priority (lower is shown first)
BUILTIN = (
    ("high_risk", "高风险交易待审", "high-risk sales to review", 10),
    ("cls_vip", "VIP客户", "VIP", 20),
    ("churn_risk", "流失风险客户", "churn risk", 30),
    ("loyal", "忠诚顾客", "loyal", 40),
    ("growth", "潜力增长客户", "growth potential", 50),
    ("birthday", "本月生日", "birthday this month", 60),
    ("value_high", "高价值客户", "high value", 70),
    ("value_mid", "中等价值客户", "mid value", 71),
    ("value_low", "低价值客户", "low value", 72),
    ("lc_potential", "潜在客户", "potential", 80),
    ("lc_new", "新客户", "new", 81),
    ("lc_active", "活跃客户", "active", 82),
    ("lc_silent", "沉默客户", "silent", 83),
    ("lc_lost", "流失客户", "lost", 84),
    ("rfm_important_value", "重要价值客户", "RFM important value", 90),
    ("rfm_important_develop", "重要发展客户", "RFM important to develop", 91),
    ("rfm_important_keep", "重要保持客户", "RFM important to keep", 92),
    ("rfm_important_retain", "重要挽留客户", "RFM important to win back", 93),
    ("rfm_general_value", "一般价值客户", "RFM general value", 94),
    ("rfm_general_develop", "一般发展客户", "RFM general to develop", 95),
    ("rfm_general_keep", "一般保持客户", "RFM general to keep", 96),
    ("rfm_general_retain", "一般挽留客户", "RFM general to win back", 97),
    ("cls_ordinary", "普通客户", "ordinary", 98),
    ("cls_new", "新客户(类)", "new (class)", 99),
    ("cls_potential", "潜在客户(类)", "potential (class)", 99),
)
LIFECYCLES = ("potential", "new", "active", "silent", "lost")
LAYERS = ("high", "mid", "low")
CLASSES = ("vip", "ordinary", "new", "potential")
# index = 4 * R high + 2 * F high + M high
SEGMENTS = ("general_retain", "important_retain", "general_keep", "important_keep",
            "general_develop", "important_develop", "general_value", "important_value")
FLAGS = {"loyal": 1, "growth": 2, "churn_risk": 4}
QUINTILES = (0.2, 0.4, 0.6, 0.8)
FALLBACK_THRESHOLDS = (60, 180)   # silent/lost days while no merchant has enough repeat buyers
MIN_REPEAT_BUYERS = 30


def codes_of(lifecycle, value_layer, customer_class, rfm_segment, flags=0):
    """The tag codes of one customer's one-of-several columns and flag bits."""
    out = []
    if lifecycle:
        out.append("lc_" + lifecycle)
    if value_layer:
        out.append("value_" + value_layer)
    if customer_class:
        out.append("cls_" + customer_class)
    if rfm_segment:
        out.append("rfm_" + rfm_segment)
    out.extend(code for code, bit in FLAGS.items() if flags and flags & bit)
    return out


def _quantiles(values, qs, weights=None):
    if values.size == 0:
        return None
    if weights is None:
        return [float(v) for v in np.quantile(values, qs)]
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order], dtype=float)
    idx = np.searchsorted(cum, np.asarray(qs) * cum[-1], side="left")
    return [float(values[order][min(i, values.size - 1)]) for i in idx]


def lifecycle_thresholds(merchant, first_day, last_day, days):
    """``{merchant or "": [silent_after, lost_after]}`` from each merchant's inter-purchase gaps.

    A merchant with fewer than MIN_REPEAT_BUYERS repeat buyers gets the overall figures. Settings
    are applied on top by ``with_overrides``.
    """
    repeat = days >= 2
    gaps = (last_day[repeat] - first_day[repeat]) / (days[repeat] - 1.0)
    weights = days[repeat] - 1.0
    owners = merchant[repeat]
    out = {}

    def fit(g, w, fallback):
        if g.size < MIN_REPEAT_BUYERS:
            return list(fallback)
        silent, lost = _quantiles(g, (0.8, 0.95), w)
        silent = max(1, int(np.ceil(silent)))
        return [silent, max(silent + 1, int(np.ceil(lost)))]

    overall = fit(gaps, weights, FALLBACK_THRESHOLDS)
    out[""] = overall
    for code in sorted({m for m in owners.tolist() if m}):
        mine = owners == code
        out[code] = fit(gaps[mine], weights[mine], overall)
    return out


def with_overrides(thresholds, settings, per_merchant):
    """``thresholds`` of a past run with today's settings applied (they may have changed since)."""
    out = {code: _override(pair, settings, per_merchant.get(code, {})) for code, pair in thresholds.items()}
    out[""] = _override(thresholds.get("", FALLBACK_THRESHOLDS), settings)
    return out


def _override(pair, *layers):
    silent, lost = pair
    for layer in layers:
        silent = layer.get("silent_after_days") or silent
        lost = layer.get("lost_after_days") or lost
    return [int(silent), int(max(lost, silent + 1))]


def cut_points(cols, settings):
    """Quintile cut points (recency, frequency, money), value-layer and VIP cuts, expected-purchase cut."""
    buyer = cols["days"] > 0
    inw = buyer & (cols["rfm_orders"] > 0)
    rec = (cols["today"] - cols["last_day"])[inw]
    value, metric = value_metric(cols)
    v = value[buyer]
    params = {"r": _quantiles(rec, QUINTILES), "f": _quantiles(cols["rfm_orders"][inw], QUINTILES),
              "m": _quantiles(cols["rfm_spend"][inw], QUINTILES), "metric": metric}
    shares = (1 - settings["vip_share"], 1 - settings["high_share"], 1 - settings["high_share"] - settings["mid_share"])
    params["vip"], params["high"], params["mid"] = _quantiles(v, shares) or (None, None, None)
    exp = cols["exp_90d"][buyer]
    exp = exp[np.isfinite(exp)]
    params["exp"] = (_quantiles(exp, (0.8,)) or [None])[0]
    return params


def value_metric(cols):
    """``(values, name)``: CLV where the model gives one for every customer, else spend in the RFM window."""
    clv = cols["clv"]
    if clv.size and np.isfinite(clv[cols["days"] > 0]).all():
        return np.nan_to_num(clv), "clv"
    return cols["rfm_spend"].astype(float), "spend"


def _score(values, cuts, higher_better=True):
    if cuts is None:
        return np.ones(values.shape, dtype=np.int64)
    pos = np.searchsorted(np.asarray(cuts, dtype=float), values, side="left")
    return 1 + pos if higher_better else 5 - pos


def score(cols, params, thresholds, settings):
    """Every built-in score and tag for the customers in ``cols`` (dict of equal-length arrays).

    ``cols``: today (scalar), days, first_day, last_day, merchant (object), rfm_orders, rfm_spend,
    orders_90d, spend_90d, orders_prev_90d, spend_prev_90d, p_alive, exp_90d, clv (NaN = unknown).
    Returns arrays rfm_r/f/m (0 = no score), rfm_segment, lifecycle, value_layer, customer_class
    (object, None for none), flags, churn_risk (NaN for non-buyers).
    """
    n = cols["days"].size
    today = cols["today"]
    buyer = cols["days"] > 0
    since = np.where(buyer, today - np.nan_to_num(cols["last_day"].astype(float)), 0)
    # Before the first recompute there are no cut points: no RFM scores, layers or VIPs yet.
    scored = buyer if params.get("f") is not None else np.zeros(n, dtype=bool)
    inw = scored & (cols["rfm_orders"] > 0)
    r = np.where(inw, _score(since, params.get("r"), False), np.where(scored, 1, 0))
    f = np.where(inw, _score(cols["rfm_orders"], params.get("f")), np.where(scored, 1, 0))
    m = np.where(inw, _score(cols["rfm_spend"], params.get("m")), np.where(scored, 1, 0))
    seg = np.array(SEGMENTS, dtype=object)[4 * (r >= 3) + 2 * (f >= 3) + (m >= 3)]
    seg[~scored] = None

    silent, lost = _thresholds(cols["merchant"], thresholds)
    days = cols["days"]
    life = np.full(n, "lost", dtype=object)
    life[since <= lost] = "silent"
    life[since <= silent] = "active"
    life[(days == 1) & (since <= silent)] = "new"
    life[~buyer] = "potential"

    value = value_metric(cols)[0]
    layer = np.full(n, None, dtype=object)
    if params.get("mid") is not None:
        layer[buyer] = "low"
        layer[buyer & (value >= params["mid"])] = "mid"
        layer[buyer & (value >= params["high"]) & (value > 0)] = "high"
    klass = np.full(n, "ordinary", dtype=object)
    if params.get("vip") is not None:
        klass[(value >= params["vip"]) & (value > 0) & (life != "lost")] = "vip"
    klass[life == "new"] = "new"
    klass[~buyer] = "potential"

    p_alive = cols["p_alive"]
    base = np.where(np.isfinite(p_alive), 1 - np.nan_to_num(p_alive), np.minimum(1.0, since / lost))
    freq_drop = _drop(cols["orders_90d"], cols["orders_prev_90d"])
    amount_drop = _drop(cols["spend_90d"], cols["spend_prev_90d"])
    churn = np.where(buyer, 0.5 * base + 0.25 * freq_drop + 0.25 * amount_drop, np.nan)

    active = life == "active"
    loyal = (days >= 3) & active & (f >= 4) & ~(np.nan_to_num(p_alive, nan=1.0) < settings["loyal_p_alive"])
    rising = ((cols["orders_90d"] >= 2) & (cols["spend_90d"] > 0)
              & (cols["spend_90d"] >= settings["growth_ratio"] * cols["spend_prev_90d"]))
    if params.get("exp") is not None:
        rising |= (np.nan_to_num(cols["exp_90d"]) >= params["exp"]) & (m <= 3)
    growth = (active | (life == "new")) & ~loyal & rising
    churning = (days >= 2) & (life != "lost") & (np.nan_to_num(churn) >= settings["churn_threshold"])
    flags = loyal * FLAGS["loyal"] + growth * FLAGS["growth"] + churning * FLAGS["churn_risk"]
    return {"rfm_r": r, "rfm_f": f, "rfm_m": m, "rfm_segment": seg, "lifecycle": life, "value_layer": layer,
            "customer_class": klass, "flags": flags.astype(np.int64), "churn_risk": churn}


def _thresholds(merchant, thresholds):
    default = thresholds.get("", list(FALLBACK_THRESHOLDS))
    pairs = [thresholds.get(m or "", default) for m in merchant.tolist()] if len(thresholds) > 1 else None
    if pairs is None:
        return float(default[0]), float(default[1])
    arr = np.asarray(pairs, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _drop(recent, before):
    before = before.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(before > 0, 1.0 - recent / np.where(before > 0, before, 1.0), 0.0)
    return np.clip(drop, 0.0, 1.0)
