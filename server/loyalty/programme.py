"""The points programme in force: earn rates, tiers, campaigns, expiry and redemption, one JSON document.

Versions live in the Programme table (``possync-server loyalty programme --load FILE``); the newest
is in force, the built-in DEFAULT until one is loaded. A document may leave keys out: they take
DEFAULT's value. Every rate is an integer or an integer ratio (never a float):

  cur            programme currency: tier spend and redemption are counted in it
  base           {"points": P, "per": U}: P points per U whole currency units (any currency)
  categories     {cat: rate}, skus {sku: rate}; a rate is {"points", "per"} (replaces base) or
                 {"mult": permille} (base x permille / 1000); a SKU's rate beats its category's
  tiers          ascending [{"name", "spend", "mult"}]: reached when the qualifying spend (minor units
                 of cur) reaches "spend"; "mult" (permille) multiplies what a sale earns; the first
                 tier is always "basic" with spend 0
  window_months  the spend a tier review looks back on; review_months: how long a tier is held
  downgrade      "one": a review lowers at most one tier; "qualify": straight to what the spend reaches
  campaigns      [{"id", "mult": permille | "bonus": points, "from", "until" (ISO, UTC if no offset;
                 until exclusive), "merchant"?: code, "cat"?: category}]
  expiry         {"mode": "never"} | {"mode": "rolling", "months": N} |
                 {"mode": "fixed", "month": M, "day": D} (earned in year Y, valid through D.M.Y+1)
  redeem         {"points": N, "value": V}: N points buy V minor units of cur off a sale
"""

import json
import re
from datetime import datetime, timezone
from fractions import Fraction

from server.db import db
from server.loyalty.ledger import LedgerError
from server.loyalty.models import Programme

DEFAULT = {
    "cur": "CNY",
    "base": {"points": 1, "per": 1},
    "categories": {},
    "skus": {},
    "tiers": [
        {"name": "basic", "spend": 0, "mult": 1000},
        {"name": "silver", "spend": 100000, "mult": 1200},
        {"name": "gold", "spend": 500000, "mult": 1500},
        {"name": "vip", "spend": 2000000, "mult": 2000},
    ],
    "window_months": 12,
    "review_months": 12,
    "downgrade": "one",
    "campaigns": [],
    "expiry": {"mode": "fixed", "month": 12, "day": 31},
    "redeem": {"points": 100, "value": 100},
}
BASIC = "basic"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,7}$")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_built = {}


def current():
    """The programme in force, built (see build): read once per call, parsed once per version."""
    sql = 'SELECT "data" FROM "%s" ORDER BY "id" DESC LIMIT 1' % Programme._meta.table_name
    row = db.execute_sql(sql).fetchone()
    text = row[0] if row else None
    if text not in _built:
        _built.clear()
        _built[text] = build(json.loads(text) if text else DEFAULT)
    return _built[text]


def in_force():
    """``{"version", "at", "data"}`` of the programme in force (version 0 = the built-in default)."""
    row = Programme.select().order_by(Programme.id.desc()).first()
    if row is None:
        return {"version": 0, "at": None, "data": build(DEFAULT)["data"]}
    return {"version": row.id, "at": row.created_at, "data": build(json.loads(row.data))["data"]}


def save(data, actor):
    """Check ``data`` as a whole and put it in force as a new version; returns the version number."""
    full = build(data)["data"]
    return Programme.create(data=json.dumps(full, ensure_ascii=False, sort_keys=True), actor=actor).id


def build(data):
    """The programme ``data`` checked and made ready to compute with; LedgerError listing every problem."""
    problems = []
    if not isinstance(data, dict):
        raise LedgerError("programme: must be a JSON object (see server/loyalty/programme.py)")
    unknown = sorted(set(data) - set(DEFAULT))
    if unknown:
        problems.append("unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULT))))
    full = dict(DEFAULT, **{k: v for k, v in data.items() if k in DEFAULT})
    out = {"data": full, "cur": full["cur"], "downgrade": full["downgrade"]}
    if not (isinstance(full["cur"], str) and re.match(r"^[A-Z]{3}$", full["cur"])):
        problems.append("cur: an ISO 4217 code such as CNY")
    out["base"] = _rate(full["base"], None, "base", problems, mult_ok=False)
    for name in ("categories", "skus"):
        rules = full[name]
        if not isinstance(rules, dict):
            problems.append("%s: an object {name: rate}" % name)
            rules = {}
        out[name] = {k: _rate(v, out["base"], "%s.%s" % (name, k), problems) for k, v in rules.items()}
    out["tiers"] = _tiers(full["tiers"], problems)
    out["mults"] = {name: mult for name, spend, mult in out["tiers"]}
    out["rank"] = {name: n for n, (name, spend, mult) in enumerate(out["tiers"])}
    for name in ("window_months", "review_months"):
        if not _int(full[name], 1, 120):
            problems.append("%s: a whole number of months, 1 to 120" % name)
    out["window"], out["review"] = full["window_months"], full["review_months"]
    if full["downgrade"] not in ("one", "qualify"):
        problems.append('downgrade: "one" or "qualify"')
    out["campaigns"] = _campaigns(full["campaigns"], problems)
    out["expiry"] = _expiry(full["expiry"], problems)
    redeem = full["redeem"]
    if not (isinstance(redeem, dict) and set(redeem) == {"points", "value"}
            and _int(redeem["points"], 1) and _int(redeem["value"], 1)):
        problems.append('redeem: {"points": N, "value": V} with N, V whole numbers >= 1')
    else:
        out["redeem"] = (redeem["points"], redeem["value"])
    if problems:
        raise LedgerError("programme refused, nothing changed: " + "; ".join(problems))
    return out


def parse_time(text):
    """ISO 8601 text as a naive UTC datetime (no offset = UTC); ValueError if it is not one."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo is None else when.astimezone(timezone.utc).replace(tzinfo=None)


def _int(value, low, high=None):
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _rate(rule, base, where, problems, mult_ok=True):
    """A rate as exact points per whole currency unit: an int when whole, else a Fraction."""
    if isinstance(rule, dict) and set(rule) == {"points", "per"} and _int(rule["points"], 0) and _int(rule["per"], 1):
        rate = Fraction(rule["points"], rule["per"])
    elif mult_ok and isinstance(rule, dict) and set(rule) == {"mult"} and _int(rule["mult"], 0):
        rate = base * Fraction(rule["mult"], 1000)
    else:
        problems.append('%s: {"points": P, "per": U}%s with whole numbers'
                        % (where, ' or {"mult": permille}' * mult_ok))
        rate = Fraction(0)
    return rate.numerator if rate.denominator == 1 else rate


def _tiers(tiers, problems):
    ok = isinstance(tiers, list) and tiers and all(
        isinstance(t, dict) and set(t) == {"name", "spend", "mult"} and isinstance(t["name"], str)
        and NAME.match(t["name"]) and _int(t["spend"], 0) and _int(t["mult"], 0) for t in tiers)
    if not ok:
        problems.append('tiers: a list of {"name": lowercase up to 8 letters, "spend": minor units, "mult": permille}')
        return [(BASIC, 0, 1000)]
    if tiers[0]["name"] != BASIC or tiers[0]["spend"] != 0:
        problems.append('tiers: the first tier is "basic" with spend 0')
    if any(a["spend"] >= b["spend"] for a, b in zip(tiers, tiers[1:])):
        problems.append("tiers: spends must rise strictly from one tier to the next")
    if len({t["name"] for t in tiers}) != len(tiers):
        problems.append("tiers: each name once")
    return [(t["name"], t["spend"], t["mult"]) for t in tiers]


def _campaigns(campaigns, problems):
    if not isinstance(campaigns, list):
        problems.append("campaigns: a list")
        return []
    out, seen = [], set()
    for n, c in enumerate(campaigns):
        where = "campaigns[%d]" % n
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not CAMPAIGN_ID.match(c["id"]):
            problems.append("%s: needs an id of 1-32 letters, digits, '_', '-' or '.'" % where)
            continue
        where = "campaign %s" % c["id"]
        if c["id"] in seen:
            problems.append("%s: the id is used twice" % where)
        seen.add(c["id"])
        extra = set(c) - {"id", "mult", "bonus", "from", "until", "merchant", "cat"}
        if extra:
            problems.append("%s: unknown key(s) %s" % (where, ", ".join(sorted(extra))))
        if ("mult" in c) == ("bonus" in c) or not (_int(c.get("mult"), 1001) or _int(c.get("bonus"), 1)):
            problems.append('%s: give either "mult" (permille above 1000) or "bonus" (points >= 1)' % where)
        for name in ("merchant", "cat"):
            if name in c and not (isinstance(c[name], str) and c[name]):
                problems.append("%s: %s must be a non-empty text" % (where, name))
        try:
            start, until = parse_time(c["from"]), parse_time(c["until"])
        except (KeyError, AttributeError, ValueError):
            problems.append('%s: "from" and "until" are ISO times such as 2025-11-01T00:00:00+08:00' % where)
            continue
        if until <= start:
            problems.append("%s: until must come after from" % where)
        out.append({"id": c["id"], "mult": c.get("mult"), "bonus": c.get("bonus"), "from": start, "until": until,
                    "merchant": c.get("merchant"), "cat": c.get("cat")})
    return out


def _expiry(expiry, problems):
    mode = expiry.get("mode") if isinstance(expiry, dict) else None
    if mode == "never" and set(expiry) == {"mode"}:
        return ("never",)
    if mode == "rolling" and set(expiry) == {"mode", "months"} and _int(expiry["months"], 1, 120):
        return ("rolling", expiry["months"])
    if (mode == "fixed" and set(expiry) == {"mode", "month", "day"} and _int(expiry["month"], 1, 12)
            and _int(expiry["day"], 1, DAYS[expiry["month"] - 1])):
        return ("fixed", expiry["month"], expiry["day"])
    problems.append('expiry: {"mode": "never"}, {"mode": "rolling", "months": 1-120} or '
                    '{"mode": "fixed", "month": 1-12, "day": a day of that month}')
    return ("never",)
