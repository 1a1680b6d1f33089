"""SVG charts: well-formed XML whatever the labels, and drawing what they are given."""

import xml.etree.ElementTree as ET
from fractions import Fraction

from server.analytics import charts

NS = "{http://www.w3.org/2000/svg}"
NASTY = 'Berlin <Mitte> & "Süd" 流失风险客户 \'x\''


def parse(svg):
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return root


def texts(root):
    return [t.text for t in root.iter(NS + "text")]


def test_heat_table_has_a_cell_per_cohort_month_shaded_by_retention():
    table = [{"cohort": "2025-01", "size": 3, "active": [3, 1, 0], "rates": [Fraction(1), Fraction(1, 3), Fraction(0)]},
             {"cohort": "2025-02", "size": 2, "active": [2, 1], "rates": [Fraction(1), Fraction(1, 2)]}]
    root = parse(charts.heat_table(table, title=NASTY))
    cells = list(root.iter(NS + "rect"))
    assert len(cells) == 5
    assert [c.get("fill") for c in cells[:3]] == ["#08306b", charts._heat(Fraction(1, 3)), "#ffffff"]
    assert {"2025-01 (3)", "2025-02 (2)", "100.0%", "33.3%", "0.0%", "50.0%", NASTY} <= set(texts(root))
    assert root.find(NS + "title").text == NASTY


def test_empty_heat_table_says_so():
    assert "no cohorts in this window" in texts(parse(charts.heat_table([])))


def test_bar_heights_are_proportional_to_the_values():
    root = parse(charts.bar_chart(["1", "2", NASTY], [4, 2, 0], "Customers <by> purchases"))
    bars = list(root.iter(NS + "rect"))
    assert [float(b.get("height")) for b in bars] == [200.0, 100.0, 0.0]
    assert NASTY in texts(root) and "Customers <by> purchases" in texts(root)
    assert bars[0].find(NS + "title").text == "1: 4"


def test_all_zero_bars_still_draw():
    root = parse(charts.bar_chart(["a"], [0], "t"))
    assert [float(b.get("height")) for b in root.iter(NS + "rect")] == [0.0]


def test_line_chart_one_polyline_per_series_through_every_point():
    root = parse(charts.line_chart(["2025-01", "2025-02", "2025-03"], [(NASTY, [0, 5, 10]), ("lost", [10, 5, 0])],
                                   "Segments"))
    lines = list(root.iter(NS + "polyline"))
    assert [l.find(NS + "title").text for l in lines] == [NASTY, "lost"]
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert [x for x, _ in first] == [60.0, 120.0, 180.0]
    assert [y for _, y in first] == [240.0, 140.0, 40.0]  # 0 at the bottom, the highest value at the top
    assert {"2025-01", "2025-03", NASTY} <= set(texts(root))


def test_line_chart_without_series_is_still_valid():
    parse(charts.line_chart([], [], "nothing yet"))
