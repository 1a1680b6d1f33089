"""Import, export and load the licence registry; an import is checked as a whole, then versioned.

Schema (full text in SCHEMA.md): one row per grant, the same columns in CSV and JSON —
``licence`` (Z + 13 digits), ``institution`` (name), ``codes`` (field-32 acquiring institution
codes, 1-11 digits), ``business_type``, ``scope`` (national | provinces | all_except),
``provinces``, ``issued``, ``expires`` (empty = long-term), ``status`` and ``status_date``
(YYYY-MM-DD). Lists are ``;``-separated in CSV and JSON arrays in JSON, which wraps the rows
as ``{"format": "possync-licence-registry/1", "note": "...", "rows": [...]}``.
Row numbers in errors are spreadsheet rows for CSV (header = row 1) and 1-based positions
in ``rows`` for JSON; row 0 means the file as a whole.
"""

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field, replace

from server.db import db
from server.licences.models import Grant, Institution, InstitutionCode, Licence, RegistryVersion
from server.licences.rows import COLUMNS, REQUIRED, Row, check_across, check_row

FORMAT = "possync-licence-registry/1"
# The demo's example registry: fictional institutions, not an authoritative list.
SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_registry.json")


class RegistryError(Exception):
    """An import that was refused; ``problems`` lists every (row, field, message) found."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = ["row %d, %s: %s" % p if p[1] else "row %d: %s" % (p[0], p[2]) for p in self.problems]
        super().__init__("licence registry refused, nothing imported (%d problem%s):\n  %s"
                         % (len(lines), "" if len(lines) == 1 else "s", "\n  ".join(lines)))


@dataclass
class Registry:
    """An in-memory registry: the rows plus lookups by licence number and field-32 code."""

    rows: list
    version: int = None
    note: str = ""
    by_licence: dict = field(default_factory=dict)
    by_code: dict = field(default_factory=dict)

    def __post_init__(self):
        self.rows = sorted(self.rows, key=lambda r: (r.licence, r.issued, r.business_type))
        for row in self.rows:
            self.by_licence.setdefault(row.licence, []).append(row)
            for code in row.codes:
                self.by_code[code] = row.licence


def parse(data, fmt):
    """Parse and validate ``data`` (bytes, fmt "json" or "csv") into a Registry; raise RegistryError."""
    raws, note, problems = (_read_json if fmt == "json" else _read_csv)(data)
    rows = []
    for number, raw in raws:
        row = check_row(number, raw, problems)
        if row is not None:
            rows.append((number, row))
    check_across(rows, problems)
    if problems:
        raise RegistryError(problems)
    codes = {}
    for _, row in rows:
        codes.setdefault(row.licence, set()).update(row.codes)
    return Registry([replace(row, codes=tuple(sorted(codes[row.licence]))) for _, row in rows], note=note)


def import_data(data, fmt, source):
    """Validate ``data`` as a whole and make it the registry in force; return the new RegistryVersion.

    On any problem RegistryError is raised and the previous registry stays untouched.
    """
    registry = parse(data, fmt)
    with db.atomic():
        for model in (Grant, InstitutionCode, Licence, Institution):
            model.delete().execute()
        licences = {}
        for row in registry.rows:
            if row.licence not in licences:
                inst = Institution.create(name=row.institution)
                licences[row.licence] = Licence.create(number=row.licence, institution=inst)
                for code in row.codes:
                    InstitutionCode.create(code=code, institution=inst)
            Grant.create(licence=licences[row.licence], business_type=row.business_type, scope=row.scope,
                         provinces=";".join(row.provinces), issued=row.issued, expires=row.expires,
                         status=row.status, status_date=row.status_date)
        last = RegistryVersion.select().order_by(RegistryVersion.number.desc()).first()
        return RegistryVersion.create(number=(last.number if last else 0) + 1, source=source[:200],
                                      sha256=hashlib.sha256(data).hexdigest(), rows=len(registry.rows),
                                      note=registry.note)


def import_file(path, fmt=None):
    """Import the registry file at ``path`` (format from its .json/.csv extension unless given)."""
    fmt = fmt or os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in ("json", "csv"):
        raise RegistryError([(0, "", "unknown file format %r (use .json or .csv)" % fmt)])
    with open(path, "rb") as f:
        data = f.read()
    return import_data(data, fmt, os.path.basename(path))


def load():
    """The registry in force, read from the database (version None and no rows before any import)."""
    current = RegistryVersion.select().order_by(RegistryVersion.number.desc()).first()
    codes = {}
    for ic in InstitutionCode.select():
        codes.setdefault(ic.institution_id, []).append(ic.code)
    query = Grant.select(Grant, Licence, Institution).join(Licence).join(Institution)
    rows = [Row(g.licence.number, g.licence.institution.name, tuple(sorted(codes.get(g.licence.institution_id, ()))),
                g.business_type, g.scope, tuple(g.provinces.split(";")) if g.provinces else (), g.issued, g.expires,
                g.status, g.status_date) for g in query]
    return Registry(rows, version=current.number if current else None, note=current.note if current else "")


def export_data(fmt, registry=None):
    """The registry (default: the one in force) as JSON or CSV bytes that import back unchanged."""
    registry = registry if registry is not None else load()
    flat = [_flat(row) for row in registry.rows]
    if fmt == "json":
        # One row per line: diffs between registry versions stay readable.
        rows = ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in flat)
        text = '{"format": %s,\n "note": %s,\n "rows": [%s]}\n' % (
            json.dumps(FORMAT), json.dumps(registry.note, ensure_ascii=False), "\n  " + rows + "\n " if rows else "")
        return text.encode("utf-8")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in flat:
        writer.writerow([";".join(v) if isinstance(v, list) else ("" if v is None else v) for v in item.values()])
    return out.getvalue().encode("utf-8")


def _flat(row):
    def day(d):
        return d.isoformat() if d else None
    return {"licence": row.licence, "institution": row.institution, "codes": list(row.codes),
            "business_type": row.business_type, "scope": row.scope, "provinces": list(row.provinces),
            "issued": day(row.issued), "expires": day(row.expires), "status": row.status,
            "status_date": day(row.status_date)}


def _read_json(data):
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeError, ValueError) as exc:
        return [], "", [(0, "", "not valid UTF-8 JSON (%s)" % exc)]
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        return [], "", [(0, "", 'expected an object {"format": "%s", "rows": [...]}' % FORMAT)]
    problems = [(0, key, "unknown key") for key in sorted(set(doc) - {"format", "note", "rows"})]
    if doc.get("format") != FORMAT:
        problems.append((0, "format", "must be %r" % FORMAT))
    note = doc.get("note", "")
    if not isinstance(note, str):
        problems.append((0, "note", "must be a string"))
        note = ""
    raws = []
    for number, raw in enumerate(doc["rows"], 1):
        if isinstance(raw, dict):
            raws.append((number, raw))
        else:
            problems.append((number, "", "a row must be an object"))
    return raws, note, problems


def _read_csv(data):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeError:
        return [], "", [(0, "", "not UTF-8 text")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) or []
    problems = [(1, name or "(blank)", "unknown column") for name in header if name not in COLUMNS]
    problems += [(1, name, "missing column") for name in REQUIRED if name not in header]
    problems += [(1, name, "column given twice") for name in set(header) if header.count(name) > 1]
    if problems:
        return [], "", problems
    raws = []
    for values in reader:
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append((number, "", "%d fields, the header has %d" % (len(values), len(header))))
            continue
        raws.append((number, dict(zip(header, values))))
    return raws, "", problems
