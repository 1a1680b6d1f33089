"""What a sale earns under the programme: exact rational arithmetic, rounded down once per entry.

A sale splits into its lines and the remainder they leave, which earns the base rate (lines
adding up to more than the sale, e.g. after a discount, are scaled down to it). Each part earns
its rate (the SKU's rule, else its category's, else base) exactly; their sum times the tier
multiplier, rounded down, is the earn entry. Each campaign's bonus is rounded down on its own:
"mult" adds (permille - 1000) / 1000 of the tier-multiplied points of its eligible parts (lines of
its category, else the whole sale); "bonus" adds fixed points to a sale with an eligible part.
"""

import calendar
from datetime import datetime, timedelta
from fractions import Fraction

from protocol.money import exponent


def sale_points(prog, tx, tier, when, merchant=None):
    """``(earn, [(campaign id, bonus)])`` of sale ``tx`` by a customer of ``tier``, made at ``when``."""
    # Exact points are ints (Fractions only for ratio rates or scaled lines); // rounds down.
    per_unit = 1000 * 10 ** exponent(tx["cur"])
    parts = _parts(prog, tx)
    mult = prog["mults"].get(tier, 1000)
    bonuses = []
    for c in prog["campaigns"]:
        if not c["from"] <= when < c["until"] or (c["merchant"] and c["merchant"] != merchant):
            continue
        eligible = [(amount, points) for cat, amount, points in parts if c["cat"] in (None, cat)]
        if not any(amount for amount, points in eligible):
            continue
        bonus = c["bonus"] or sum(p for a, p in eligible) * mult * (c["mult"] - 1000) // (per_unit * 1000)
        if bonus > 0:
            bonuses.append((c["id"], bonus))
    return int(sum(points for cat, amount, points in parts) * mult // per_unit), bonuses


def base_points(prog, amount, cur):
    """Points of ``amount`` minor units of ``cur`` at the base rate, rounded down (no tier, no lines)."""
    return int(amount * prog["base"] // 10 ** exponent(cur))


def _parts(prog, tx):
    """``[(category, amount, exact points before the tier multiplier)]``: the lines, then the remainder."""
    amount, lines = tx["amount"], tx.get("lines")
    if not lines or not _well_formed(lines):
        return [(None, amount, amount * prog["base"])]
    covered = sum(line["amt"] for line in lines)
    share = Fraction(amount, covered) if covered > amount else 1
    parts = []
    for line in lines:
        rate = prog["skus"].get(line.get("sku"))
        if rate is None:
            rate = prog["categories"].get(line.get("cat"), prog["base"])
        part = line["amt"] * share
        parts.append((line.get("cat"), part, part * rate))
    if covered < amount:
        parts.append((None, amount - covered, (amount - covered) * prog["base"]))
    return parts


def _well_formed(lines):
    """Lines are a list of objects with a whole ``amt`` >= 0 (else the sale earns on its total)."""
    return isinstance(lines, list) and all(
        isinstance(line, dict) and isinstance(line.get("amt"), int) and not isinstance(line["amt"], bool)
        and line["amt"] >= 0 for line in lines)


def expires_at(prog, when):
    """When points earned at ``when`` expire under the programme (None: never).

    Rolling: N months later. Fixed: valid through month-day of the next year, i.e. they expire
    at the midnight (UTC) ending that day (29 February falls back to the 28th).
    """
    mode = prog["expiry"]
    if mode[0] == "rolling":
        return add_months(when, mode[1])
    if mode[0] == "fixed":
        year = when.year + 1
        return datetime(year, mode[1], min(mode[2], calendar.monthrange(year, mode[1])[1])) + timedelta(days=1)
    return None


def qualified(prog, spend):
    """The highest tier whose spend threshold ``spend`` (minor units of the programme currency) reaches."""
    reached = prog["tiers"][0][0]
    for name, threshold, mult in prog["tiers"]:
        if spend >= threshold:
            reached = name
    return reached


def add_months(when, months):
    """``when`` moved by ``months`` (may be negative), the day clamped to the target month's length."""
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    return when.replace(year=year, month=month + 1, day=min(when.day, calendar.monthrange(year, month + 1)[1]))
