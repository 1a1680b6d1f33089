"""Small helpers every bench shares: percentiles, a plain-text table, the RESULT line."""

import sys


def percentile(values, p):
    """The nearest-rank ``p``-th percentile (0-100) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))  # ceil(p/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


def summary(values):
    """``(p50, p99, max)`` of ``values`` (0.0 each for none)."""
    return percentile(values, 50), percentile(values, 99), max(values) if values else 0.0


def num(value):
    """A number as the RESULT line and the tables write it: no units, sensible precision."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return "%.0f" % value
    if abs(value) >= 1:
        return "%.2f" % value
    return "%.3f" % value


def table(headers, rows):
    """Return ``rows`` (lists of str or numbers) as an aligned text table with ``headers``."""
    cells = [list(headers)] + [[c if isinstance(c, str) else num(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def result_line(name, pairs):
    """``RESULT <name> key=value ...`` from ``[(key, number), ...]`` in the given order."""
    return "RESULT " + name + " " + " ".join("%s=%s" % (k, num(v)) for k, v in pairs)


def progress(text):
    """One line of progress for people, on stderr so stdout stays the table and the RESULT line."""
    print(text, file=sys.stderr, flush=True)
