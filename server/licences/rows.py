"""Registry rows: the columns shared by CSV and JSON, one row's checks and the checks across rows.

See SCHEMA.md for the format; every problem is a (row number, field, message) tuple.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from server.licences import vocab

COLUMNS = ("licence", "institution", "codes", "business_type", "scope", "provinces",
           "issued", "expires", "status", "status_date")
REQUIRED = ("licence", "institution", "business_type", "scope", "issued", "status")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


@dataclass(frozen=True)
class Row:
    """One grant of one licence, in canonical form (full province names, dates as date)."""

    licence: str
    institution: str
    codes: tuple
    business_type: str
    scope: str
    provinces: tuple
    issued: date
    expires: date = None
    status: str = "valid"
    status_date: date = None

    def ends(self):
        """The first day the grant's status stops it, or None (lapsed: the day after expiry)."""
        if self.status_date is None and self.status == "lapsed" and self.expires is not None:
            return self.expires + timedelta(days=1)
        return self.status_date if self.status in vocab.ENDING else None


def check_row(number, raw, problems):
    """One raw row (strings or JSON values) as a Row, or None after adding its problems."""
    start = len(problems)

    def bad(name, message):
        problems.append((number, name, message))

    for name in sorted(set(raw) - set(COLUMNS)):
        bad(name, "unknown column")
    for name in REQUIRED:
        if _blank(raw.get(name)):
            bad(name, "required")
    for name in ("licence", "institution", "scope", "status"):
        if raw.get(name) is not None and not isinstance(raw.get(name), str):
            bad(name, "must be text")
    licence = _text(raw.get("licence"))
    if licence and not vocab.LICENCE_RE.match(licence):
        bad("licence", "%r is not Z followed by 13 digits" % licence)
    institution = _text(raw.get("institution"))
    codes = _list(raw.get("codes"), "codes", bad)
    for code in codes:
        if not vocab.CODE_RE.match(code):
            bad("codes", "%r is not 1-11 digits" % code)
    btype = vocab.business_type(raw.get("business_type"))
    if btype is None and not _blank(raw.get("business_type")):
        bad("business_type", "unknown business type %r" % raw.get("business_type"))
    scope = _text(raw.get("scope"))
    scope = "national" if scope == "全国" else scope
    if scope and scope not in vocab.SCOPES:
        bad("scope", "%r is not one of %s (or 全国)" % (scope, ", ".join(vocab.SCOPES)))
    provinces = []
    for text in _list(raw.get("provinces"), "provinces", bad):
        name = vocab.province(text)
        if name is None:
            bad("provinces", "unknown province %r" % text)
        elif name not in provinces:
            provinces.append(name)
    if scope == "national" and provinces:
        bad("provinces", "must be empty for a national scope")
    if scope in ("provinces", "all_except") and not provinces:
        bad("provinces", "required for scope %s" % scope)
    issued, expires, status_date = (_date(raw.get(n), n, bad) for n in ("issued", "expires", "status_date"))
    if issued and expires and expires < issued:
        bad("expires", "%s is before issued %s" % (expires, issued))
    if issued and status_date and status_date < issued:
        bad("status_date", "%s is before issued %s" % (status_date, issued))
    status = _text(raw.get("status"))
    if status and status not in vocab.STATUSES:
        bad("status", "%r is not one of %s" % (status, ", ".join(vocab.STATUSES)))
    if status in ("voluntary_exit", "cancelled", "revoked") and status_date is None:
        bad("status_date", "required for status %s" % status)
    if status == "lapsed" and status_date is None and expires is None:
        bad("status_date", "required for a lapsed grant without expiry")
    if status in ("valid", "renewed", "renewal_pending") and status_date is not None:
        bad("status_date", "only for lapsed, voluntary_exit, cancelled or revoked")
    if len(problems) > start:
        return None
    provinces = tuple(sorted(provinces, key=vocab.PROVINCES.index))
    return Row(licence, institution, tuple(sorted(set(codes))), btype, scope, provinces,
               issued, expires, status, status_date)


def check_across(rows, problems):
    """Problems between rows: one name per licence, one licence per name and code, no overlaps."""
    first = {}  # (column, value) -> (row number, Row) where that value was first seen
    for number, row in rows:
        for column, other in (("licence", "institution"), ("institution", "licence")):
            value = getattr(row, column)
            seen_at, seen = first.setdefault((column, value), (number, row))
            if getattr(seen, other) != getattr(row, other):
                problems.append((number, column, "duplicate: %s already has %s %r (row %d)"
                                 % (value, other, getattr(seen, other), seen_at)))
        for code in row.codes:
            seen_at, seen = first.setdefault(("codes", code), (number, row))
            if seen.licence != row.licence:
                problems.append((number, "codes", "code %s already belongs to %s (row %d)"
                                 % (code, seen.licence, seen_at)))
    by_class = {}
    for number, row in rows:
        by_class.setdefault((row.licence, vocab.REFORM[row.business_type]), []).append((number, row))
    for group in by_class.values():
        group.sort(key=lambda item: item[1].issued)
        reach = group[0]  # the earlier grant that runs longest
        for n2, b in group[1:]:
            n1, a = reach
            if a.expires is None or b.issued <= a.expires:
                problems.append((n2, "issued", "grant %s from %s overlaps %s of row %d (%s to %s)"
                                 % (b.business_type, b.issued, a.business_type, n1, a.issued, a.expires or "open")))
            if a.expires is not None and (b.expires is None or b.expires > a.expires):
                reach = (n2, b)
    problems.sort(key=lambda p: p[0])


def _blank(value):
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _text(value):
    return value.strip() if isinstance(value, str) else None


def _list(value, name, bad):
    if _blank(value):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    bad(name, "must be a list of strings or a ;-separated string")
    return []


def _date(value, name, bad):
    if _blank(value):
        return None
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    bad(name, "%r is not a date YYYY-MM-DD" % (value,))
    return None
