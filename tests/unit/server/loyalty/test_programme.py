"""The programme document: the built-in default, versions in force, whole-document checks."""

import pytest

from server.loyalty import programme
from server.loyalty.ledger import LedgerError
from server.loyalty.models import Programme


def test_the_default_is_in_force_until_one_is_loaded(app):
    now = programme.in_force()
    assert now["version"] == 0 and now["data"] == programme.DEFAULT
    assert programme.current()["tiers"][0] == ("basic", 0, 1000)


def test_a_loaded_programme_is_in_force_and_keeps_defaults_for_what_it_leaves_out(app):
    version = programme.save({"base": {"points": 2, "per": 1}, "expiry": {"mode": "never"}}, "cli:root")
    now = programme.in_force()
    assert now["version"] == version and now["data"]["base"] == {"points": 2, "per": 1}
    assert now["data"]["tiers"] == programme.DEFAULT["tiers"]
    assert programme.current()["base"] == 2 and programme.current()["expiry"] == ("never",)
    assert Programme.get_by_id(version).actor == "cli:root"
    programme.save({}, "cli:root")
    assert programme.current()["base"] == 1


def test_a_bad_document_lists_every_problem_and_changes_nothing(app):
    programme.save({"base": {"points": 2, "per": 1}}, "cli:root")
    bad = {"base": {"points": 1.5, "per": 1}, "tiers": [{"name": "silver", "spend": 10, "mult": 1000}],
           "campaigns": [{"id": "x", "mult": 2000, "bonus": 5, "from": "2025-01-02", "until": "2025-01-01"}],
           "expiry": {"mode": "fixed", "month": 2, "day": 30}, "redeem": {"points": 0, "value": 1},
           "downgrade": "all", "colour": "red"}
    with pytest.raises(LedgerError) as err:
        programme.save(bad, "cli:root")
    text = str(err.value)
    for part in ("unknown key(s) colour", "base:", 'the first tier is "basic"', 'either "mult"',
                 "until must come after from", "expiry:", "redeem:", "downgrade:", "nothing changed"):
        assert part in text
    assert programme.current()["base"] == 2


@pytest.mark.parametrize("doc, problem", [
    ([], "must be a JSON object"),
    ({"tiers": [{"name": "basic", "spend": 0, "mult": 1000}, {"name": "gold", "spend": 0, "mult": 1500}]},
     "rise strictly"),
    ({"tiers": [{"name": "basic", "spend": 0, "mult": 1000}, {"name": "basic", "spend": 5, "mult": 1500}]},
     "each name once"),
    ({"tiers": [{"name": "Basic!", "spend": 0, "mult": 1000}]}, "tiers:"),
    ({"categories": {"x": {"mult": -1}}}, "categories.x"),
    ({"skus": {"x": {"points": 1, "per": 0}}}, "skus.x"),
    ({"campaigns": [{"id": "a", "bonus": 1, "from": "soon", "until": "later"}]}, "ISO times"),
    ({"campaigns": [{"id": "a b", "bonus": 1, "from": "2025-01-01", "until": "2025-02-01"}]}, "needs an id"),
    ({"campaigns": [{"id": "a", "bonus": 1, "from": "2025-01-01", "until": "2025-02-01", "cat": ""}]},
     "cat must be"),
    ({"campaigns": [{"id": "a", "mult": 900, "from": "2025-01-01", "until": "2025-02-01"}]}, "above 1000"),
    ({"window_months": 0}, "window_months"),
    ({"cur": "yuan"}, "cur:"),
])
def test_each_kind_of_problem_is_named(doc, problem):
    with pytest.raises(LedgerError) as err:
        programme.build(doc)
    assert problem in str(err.value)


def test_parse_time_is_utc():
    assert str(programme.parse_time("2025-06-01T08:00:00+08:00")) == "2025-06-01 00:00:00"
    assert str(programme.parse_time("2025-06-01T08:00:00")) == "2025-06-01 08:00:00"
