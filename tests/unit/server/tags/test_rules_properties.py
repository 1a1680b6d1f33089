"""Property tests for the rule language: any text gives a Rule or a RuleError and nothing else, and
for every rule evaluate() agrees with to_sql() run on SQLite, row by row, missing values included."""

import math
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.tags import rules
from server.tags.rules import RuleError

FEATURES = {"i1": "int", "i2": "int", "n1": "num", "s1": "str", "s2": "str", "b1": "bool"}
SQL_TYPES = {"int": "INTEGER", "num": "REAL", "str": "TEXT", "bool": "INTEGER"}
COLUMNS = {name: "t." + name for name in FEATURES}
TAG_SQL = "EXISTS (SELECT 1 FROM tag WHERE tag.cid = t.id AND tag.code = ?)"
TAGS = ("vip", "new", "gone")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values and literals are drawn from small pools so equal values meet often; the extremes check that
# Python and SQLite compare 64-bit integers with doubles alike.
INT_POOL = (-2 ** 63, -1, 0, 1, 2, 5, 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1)
STR_POOL = ("", "a", "b", "gold", "é", "积分", "\"", "'", "\\", "\x00", "a\nb")
ints = st.sampled_from(INT_POOL) | st.integers(-3, 6)
strs = st.sampled_from(STR_POOL) | st.text(max_size=3)


def quote(s, q):
    return q + s.replace("\\", "\\\\").replace(q, "\\" + q) + q


space = st.sampled_from([" ", "  ", "\t", "\n", "\u3000"])
num_lit = st.one_of(ints.map(str),
                    st.builds("{}.{}".format, st.integers(-3, 6), st.sampled_from(["0", "5", "25", "0000000001"])),
                    st.sampled_from(["9007199254740993.0", "0.3", "2.5"]))
str_lit = st.builds(quote, strs, st.sampled_from(["'", "\""]))
bool_lit = st.sampled_from(["true", "false", "TRUE", "False"])
has_tag = st.builds("has_tag({})".format, st.builds(quote, st.sampled_from(TAGS + ("other",)), st.just("'")))
OPERANDS = {"number": st.sampled_from(["i1", "i2", "n1"]) | num_lit,
            "string": st.sampled_from(["s1", "s2"]) | str_lit,
            "bool": st.sampled_from(["b1"]) | bool_lit | has_tag}
LITERALS = {"number": num_lit, "string": str_lit, "bool": bool_lit}
OPS = {"number": ["==", "!=", "<", "<=", ">", ">="], "string": ["==", "!="], "bool": ["==", "!="]}


@st.composite
def comparison(draw):
    kind = draw(st.sampled_from(sorted(OPERANDS)))
    left = draw(OPERANDS[kind])
    form = draw(st.sampled_from(["op", "in", "bare"] if kind == "bool" else ["op", "in"]))
    if form == "bare":
        return left
    if form == "in":
        items = draw(st.lists(LITERALS[kind], min_size=1, max_size=4))
        word = draw(st.sampled_from(["in", "not in", "IN", "not  In"]))
        return "%s %s (%s)" % (left, word, ", ".join(items))
    op = draw(st.sampled_from(OPS[kind]))
    return "%s%s%s%s%s" % (left, draw(space), op, draw(space), draw(OPERANDS[kind]))


def combine(children):
    return st.one_of(
        st.builds("{} {} {}".format, children, st.sampled_from(["and", "AND", "or", "Or"]), children),
        st.builds("not {}".format, children),
        st.builds("({})".format, children))


rule_text = st.recursive(comparison(), combine, max_leaves=10)

values = st.fixed_dictionaries({
    "i1": st.none() | ints | st.sampled_from([2.5, 5.0]),
    "i2": st.none() | ints,
    "n1": st.none() | st.integers(-3, 6) | st.floats() | st.sampled_from([0.3, 2.5, 0.0, -0.0, 2.0 ** 53, math.nan]),
    "s1": st.none() | strs,
    "s2": st.none() | strs,
    "b1": st.none() | st.booleans(),
})
rows = st.lists(st.tuples(values, st.sets(st.sampled_from(TAGS))), min_size=1, max_size=12)


def sql_results(rule, data):
    """rule.to_sql() run over data [(values, tags)] in an in-memory SQLite, one result per row."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, %s)"
               % ", ".join("%s %s" % (n, SQL_TYPES[k]) for n, k in FEATURES.items()))
    db.execute("CREATE TABLE tag (cid INTEGER, code TEXT)")
    for i, (vals, tags) in enumerate(data):
        db.execute("INSERT INTO t VALUES (?, %s)" % ", ".join("?" * len(FEATURES)), [i] + [vals[n] for n in FEATURES])
        db.executemany("INSERT INTO tag VALUES (?, ?)", [(i, code) for code in tags])
    sql, params = rule.to_sql(COLUMNS, tag_sql=TAG_SQL)
    return [r[0] for r in db.execute("SELECT %s FROM t ORDER BY id" % sql, params)]


def assert_agree(rule, data):
    expected = [int(rule.evaluate(vals, tags)) for vals, tags in data]
    assert sql_results(rule, data) == expected, rule.to_sql(COLUMNS, tag_sql=TAG_SQL)


def parse_or_error(text):
    """The Rule for text, or None after checking the RuleError is well formed; nothing else may escape."""
    try:
        return rules.parse(text, FEATURES)
    except RuleError as e:
        assert 1 <= e.column <= max(len(text), rules.MAX_LENGTH) + 1
        assert str(e).startswith("column %d: " % e.column) and e.message
        return None


@SETTINGS
@given(rule_text, rows)
def test_evaluate_agrees_with_sql_on_generated_rules(text, data):
    rule = rules.parse(text, FEATURES)
    assert rule.features <= set(FEATURES)
    assert_agree(rule, data)


@SETTINGS
@given(st.text(max_size=60), rows)
def test_random_text_gives_a_rule_or_a_rule_error(text, data):
    rule = parse_or_error(text)
    if rule is not None:
        assert_agree(rule, data)


TOKENS = ["i1", "n1", "s1", "b1", "x1", "has_tag", "and", "or", "not", "in", "true", "false", "(", ")",
          ",", "-", "==", "!=", "<", "<=", ">", ">=", "=", "!", "1", "2.5", "0.", "'a'", "\"b\"", "'", "\\",
          "99999999999999999999", " ", "\u3000", "\x00", "\uff08", "é"]


@SETTINGS
@given(st.builds(str.join, st.sampled_from(["", " "]), st.lists(st.sampled_from(TOKENS), max_size=25)), rows)
def test_token_soup_gives_a_rule_or_a_rule_error(text, data):
    rule = parse_or_error(text)
    if rule is not None:
        assert_agree(rule, data)


@SETTINGS
@given(rule_text, st.integers(0, 200), st.integers(0, 4), st.sampled_from(TOKENS + ["", "\ud800"]), rows)
def test_mutated_rules_give_a_rule_or_a_rule_error(text, at, cut, insert, data):
    at = at % (len(text) + 1)
    rule = parse_or_error(text[:at] + insert + text[at + cut:])
    if rule is not None:
        assert_agree(rule, data)


@SETTINGS
@given(rule_text, st.dictionaries(st.sampled_from(sorted(FEATURES)), st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=2), st.binary(max_size=2), st.booleans(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=1), st.integers(), max_size=1))),
    st.sets(st.text(max_size=3)))
def test_evaluate_never_raises_on_values_of_any_type(text, vals, tags):
    assert rules.parse(text, FEATURES).evaluate(vals, tags) in (True, False)


@SETTINGS
@given(st.integers(1, 2 * rules.MAX_DEPTH))
def test_nesting_beyond_the_limit_is_a_rule_error(depth):
    text = "not (" * depth + "b1" + ")" * depth
    rule = parse_or_error(text)
    assert (rule is not None) == (2 * depth <= rules.MAX_DEPTH)
    if rule is not None:
        assert rule.evaluate({"b1": True}) is (depth % 2 == 0)


def test_nan_is_a_missing_value_on_both_sides():
    # SQLite stores NaN as NULL, so evaluate() must treat it as absent, not as Python's NaN != 1.
    data = [(dict(dict.fromkeys(FEATURES), n1=math.nan), ())]
    for text, expected in (("n1 != 1", False), ("n1 not in (1)", False), ("not n1 == 1", True)):
        rule = rules.parse(text, FEATURES)
        assert rule.evaluate(data[0][0]) is expected
        assert sql_results(rule, data) == [int(expected)]
