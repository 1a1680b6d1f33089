"""Registry import/export: whole-file validation, versions, and CSV/JSON round trips on a real SQLite file."""

import hashlib
import json
import os

import pytest

from server.licences import registry
from server.licences.models import Grant, Institution, InstitutionCode, Licence, RegistryVersion

SAMPLE = os.path.join(os.path.dirname(registry.__file__), "sample_registry.json")
HEADER = "licence,institution,codes,business_type,scope,provinces,issued,expires,status,status_date\n"
GOOD = [
    "Z1000000000001,甲支付有限公司,10000001;10000011,银行卡收单,national,,2020-01-10,2025-01-09,renewed,",
    "Z1000000000001,甲支付有限公司,10000021,支付交易处理Ⅰ类,national,,2025-01-10,,valid,",
    "Z1000000000002,乙支付有限公司,10000002,银行卡收单,provinces,广东;海南,2020-01-10,2025-01-09,valid,",
]


def csv_bytes(*rows):
    return (HEADER + "\n".join(rows) + "\n").encode("utf-8")


def sample_bytes():
    with open(SAMPLE, "rb") as f:
        return f.read()


def test_sample_is_marked_as_sample_data():
    doc = json.loads(sample_bytes())
    assert "SAMPLE DATA" in doc["note"] and "NOT an authoritative list" in doc["note"]


def test_import_writes_the_tables_and_a_version(app):
    version = registry.import_file(SAMPLE)
    assert (version.number, version.source, version.rows) == (1, "sample_registry.json", 11)
    assert version.sha256 == hashlib.sha256(sample_bytes()).hexdigest()
    assert "SAMPLE DATA" in version.note
    assert Institution.select().count() == 6 and Licence.select().count() == 6
    assert Grant.select().count() == 11 and InstitutionCode.select().count() == 7
    code = InstitutionCode.get(code="48991311")
    assert Licence.get(institution=code.institution).number == "Z2099131000011"
    grant = Grant.get(business_type="支付交易处理Ⅰ类")
    assert grant.expires is None and grant.status == "valid"


def test_load_gives_back_what_was_imported(app):
    registry.import_data(csv_bytes(*GOOD), "csv", "t.csv")
    loaded = registry.load()
    assert loaded.version == 1
    assert loaded.rows == registry.parse(csv_bytes(*GOOD), "csv").rows
    # codes given on different rows of one licence are merged
    assert loaded.by_code == {"10000001": "Z1000000000001", "10000011": "Z1000000000001",
                              "10000021": "Z1000000000001", "10000002": "Z1000000000002"}
    assert loaded.by_licence["Z1000000000002"][0].provinces == ("广东省", "海南省")


def test_load_before_any_import_is_empty(app):
    loaded = registry.load()
    assert loaded.version is None and loaded.rows == [] and loaded.by_code == {}


def test_a_new_import_replaces_the_registry_and_counts_up(app):
    registry.import_file(SAMPLE)
    version = registry.import_data(csv_bytes(*GOOD), "csv", "t.csv")
    assert version.number == 2 and RegistryVersion.select().count() == 2
    assert sorted(l.number for l in Licence.select()) == ["Z1000000000001", "Z1000000000002"]
    assert registry.load().version == 2


def test_json_export_of_the_sample_is_the_sample(app):
    registry.import_file(SAMPLE)
    assert registry.export_data("json") == sample_bytes()


def test_csv_round_trip_and_csv_equals_json(app, tmp_path):
    registry.import_file(SAMPLE)
    first = registry.export_data("csv")
    path = tmp_path / "again.csv"
    path.write_bytes(first)
    registry.import_file(str(path))
    assert registry.export_data("csv") == first
    assert registry.load().rows == registry.parse(sample_bytes(), "json").rows


def test_csv_accepts_bom_any_column_order_and_blank_lines(app):
    data = ("\ufeffstatus,scope,issued,business_type,institution,licence\n\n"
            "valid,全国,2020-01-10,支付交易处理I类,甲,Z1000000000001\n").encode("utf-8")
    row = registry.parse(data, "csv").rows[0]
    assert (row.scope, row.business_type, row.codes, row.expires) == ("national", "支付交易处理Ⅰ类", (), None)


OVERLAP = "Z1000000000001,甲支付有限公司,10000021,支付交易处理Ⅰ类,national,,2024-05-01,,valid,"


@pytest.mark.parametrize("rows, row, field, words", [
    ([GOOD[0].replace("Z1000000000001", "Z100000000001")], 2, "licence", "Z followed by 13 digits"),
    ([GOOD[0], GOOD[2].replace("Z1000000000002", "Z1000000000001")], 3, "licence", "duplicate"),
    ([GOOD[0], GOOD[2].replace("乙支付有限公司", "甲支付有限公司")], 3, "institution", "duplicate"),
    ([GOOD[0], OVERLAP], 3, "issued", "overlaps"),
    ([GOOD[0].replace("2025-01-09", "2019-01-09")], 2, "expires", "before issued"),
    ([GOOD[0].replace("renewed", "dormant")], 2, "status", "not one of"),
    ([GOOD[0].replace("银行卡收单", "跨境支付")], 2, "business_type", "unknown business type"),
    ([GOOD[2].replace("海南", "火星")], 2, "provinces", "unknown province"),
    ([GOOD[2].replace("广东;海南", "")], 2, "provinces", "required for scope provinces"),
    ([GOOD[0].replace(",,2020", ",广东,2020")], 2, "provinces", "empty for a national scope"),
    ([GOOD[0].replace("national", "regional")], 2, "scope", "not one of"),
    ([GOOD[0].replace("2020-01-10", "2020-02-30")], 2, "issued", "not a date"),
    ([GOOD[0].replace("renewed,", "revoked,")], 2, "status_date", "required for status revoked"),
    ([GOOD[0].replace("renewed,", "valid,2021-01-01")], 2, "status_date", "only for"),
    ([GOOD[0].replace("10000001;", "1000000000012;")], 2, "codes", "1-11 digits"),
    ([GOOD[0], GOOD[2].replace("10000002", "10000001")], 3, "codes", "already belongs to"),
    ([GOOD[0].replace("甲支付有限公司", "")], 2, "institution", "required"),
    ([GOOD[0] + ",extra"], 2, "", "11 fields"),
])
def test_bad_csv_rows_are_named_by_row_and_field(app, rows, row, field, words):
    with pytest.raises(registry.RegistryError) as err:
        registry.import_data(csv_bytes(*rows), "csv", "bad.csv")
    assert any(p[0] == row and p[1] == field and words in p[2] for p in err.value.problems), err.value.problems
    assert "row %d" % row in str(err.value)


def test_unknown_and_missing_columns_are_reported_on_the_header(app):
    data = b"licence,institution,business_type,scope,issued,colour\nZ1000000000001,x,y,z,w,v\n"
    with pytest.raises(registry.RegistryError) as err:
        registry.parse(data, "csv")
    assert err.value.problems == [(1, "colour", "unknown column"), (1, "status", "missing column")]


def test_every_problem_of_the_file_is_listed_at_once(app):
    rows = [GOOD[0].replace("renewed", "dormant"), GOOD[1], GOOD[2].replace("海南", "火星").replace("2025-01-09", "2019")]
    with pytest.raises(registry.RegistryError) as err:
        registry.parse(csv_bytes(*rows), "csv")
    assert [(p[0], p[1]) for p in err.value.problems] == [(2, "status"), (4, "provinces"), (4, "expires")]
    assert "3 problems" in str(err.value)


def test_a_refused_import_leaves_the_previous_registry_in_force(app):
    registry.import_file(SAMPLE)
    before = registry.load()
    with pytest.raises(registry.RegistryError):
        registry.import_data(csv_bytes(GOOD[0], GOOD[1], OVERLAP), "csv", "bad.csv")
    after = registry.load()
    assert after.version == 1 and after.rows == before.rows
    assert RegistryVersion.select().count() == 1


def json_doc(rows, **extra):
    return json.dumps(dict({"format": registry.FORMAT, "rows": rows}, **extra), ensure_ascii=False).encode("utf-8")


GOOD_JSON = {"licence": "Z1000000000002", "institution": "乙", "codes": ["10000002"], "business_type": "银行卡收单",
             "scope": "provinces", "provinces": ["44", "海南省"], "issued": "2020-01-10", "expires": None,
             "status": "valid", "status_date": None}


def test_json_rows_parse_like_csv_rows():
    row = registry.parse(json_doc([GOOD_JSON]), "json").rows[0]
    assert row.provinces == ("广东省", "海南省") and row.codes == ("10000002",) and row.expires is None


@pytest.mark.parametrize("data, row, field, words", [
    (b"{not json", 0, "", "not valid UTF-8 JSON"),
    (b"[]", 0, "", "expected an object"),
    (json_doc([GOOD_JSON], format="other/1"), 0, "format", "must be"),
    (json_doc([GOOD_JSON], extra=1), 0, "extra", "unknown key"),
    (json_doc([GOOD_JSON, "row"]), 2, "", "must be an object"),
    (json_doc([dict(GOOD_JSON, colour="red")]), 1, "colour", "unknown column"),
    (json_doc([dict(GOOD_JSON, licence=1000000000002)]), 1, "licence", "must be text"),
    (json_doc([dict(GOOD_JSON, codes=[10000002])]), 1, "codes", "list of strings"),
    (json_doc([GOOD_JSON, GOOD_JSON]), 2, "issued", "overlaps"),
])
def test_bad_json_is_refused_with_row_and_field(data, row, field, words):
    with pytest.raises(registry.RegistryError) as err:
        registry.parse(data, "json")
    assert any(p[0] == row and p[1] == field and words in p[2] for p in err.value.problems), err.value.problems


def test_overlap_is_found_past_a_shorter_grant():
    long_ = dict(GOOD_JSON, issued="2010-01-01", expires="2030-01-01")
    short = dict(GOOD_JSON, issued="2011-01-01", expires="2012-01-01")
    later = dict(GOOD_JSON, issued="2015-01-01", expires="2016-01-01")
    with pytest.raises(registry.RegistryError) as err:
        registry.parse(json_doc([long_, short, later]), "json")
    assert [p[0] for p in err.value.problems] == [2, 3]


def test_import_file_refuses_an_unknown_extension(app, tmp_path):
    path = tmp_path / "reg.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(registry.RegistryError, match="unknown file format"):
        registry.import_file(str(path))


def test_a_failure_while_writing_rolls_the_whole_import_back(app, monkeypatch):
    registry.import_file(SAMPLE)
    before = registry.load()
    calls = []

    def failing_create(**fields):
        calls.append(fields)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return Grant.insert(**fields).execute()

    monkeypatch.setattr(Grant, "create", failing_create)
    with pytest.raises(RuntimeError):
        registry.import_data(csv_bytes(*GOOD), "csv", "t.csv")
    monkeypatch.undo()
    after = registry.load()
    assert after.version == 1 and after.rows == before.rows
