"""The charts are inline SVG whose bars and points carry the numbers they draw."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from billing.charts import Series, balance_line_svg, stacked_bars_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_stacked_bars_hold_each_month_and_series_with_heights_in_proportion():
    svg = stacked_bars_svg(
        title="Revenue",
        categories=["Sep 2026", "Oct 2026"],
        series=[
            Series("first_month", "First-month charges", "#79aec8", [30_000, 0]),
            Series("renewals", "Renewals", "#417690", [15_000, 45_000]),
        ],
    )

    root = ET.fromstring(str(svg))
    bars = root.findall(f"{SVG}rect[@class='bar']")
    drawn = {(b.get("data-category"), b.get("data-series")): b for b in bars}
    assert {key: int(b.get("data-value")) for key, b in drawn.items()} == {
        ("Sep 2026", "first_month"): 30_000,
        ("Sep 2026", "renewals"): 15_000,
        ("Oct 2026", "first_month"): 0,
        ("Oct 2026", "renewals"): 45_000,
    }

    def height(key):
        return float(drawn[key].get("height"))

    # 45,000 is the tallest stack either month: both stacks reach the same height.
    sep = height(("Sep 2026", "first_month")) + height(("Sep 2026", "renewals"))
    assert abs(sep - height(("Oct 2026", "renewals"))) < 0.2
    assert abs(height(("Sep 2026", "first_month")) - 2 * height(("Sep 2026", "renewals"))) < 0.2
    assert height(("Oct 2026", "first_month")) == 0
    # Renewals sit on top of first-month charges.
    first = drawn[("Sep 2026", "first_month")]
    assert float(drawn[("Sep 2026", "renewals")].get("y")) + height(
        ("Sep 2026", "renewals")
    ) == pytest_approx(float(first.get("y")))


def pytest_approx(value):
    return pytest.approx(value, abs=0.2)


def test_balance_line_has_one_point_per_entry_in_time_order_and_scale():
    points = [
        (datetime(2026, 10, 1, tzinfo=UTC), 300_000),
        (datetime(2026, 10, 2, tzinfo=UTC), 285_000),
        (datetime(2026, 10, 11, tzinfo=UTC), 0),
    ]

    root = ET.fromstring(str(balance_line_svg(points=points, title="Balance")))

    circles = root.findall(f"{SVG}circle[@class='point']")
    assert [int(c.get("data-value")) for c in circles] == [300_000, 285_000, 0]
    xs = [float(c.get("cx")) for c in circles]
    ys = [float(c.get("cy")) for c in circles]
    assert xs == sorted(xs) and (xs[1] - xs[0]) * 10 == pytest_approx(xs[2] - xs[0])
    assert ys[0] < ys[1] < ys[2]  # higher balance, higher on the page
    # a step line: each balance held until the next entry, then a step
    steps = [
        tuple(map(float, p.split(","))) for p in root.find(f"{SVG}polyline").get("points").split()
    ]
    assert len(steps) == 5
    assert steps[1] == (xs[1], ys[0]) and steps[2] == (xs[1], ys[1])


def test_an_empty_wallet_says_so_instead_of_drawing():
    svg = str(balance_line_svg(points=[], title="Balance"))

    assert "No entries yet." in svg and "<circle" not in svg


def test_chart_text_is_escaped():
    svg = stacked_bars_svg(
        title="<script>", categories=["<b>"], series=[Series("s", "<i>", "#000", [1])]
    )

    assert "<script>" not in svg and "&lt;b&gt;" in svg
    ET.fromstring(str(svg))  # still well-formed
