"""The SVG bar charts: well-formed, accessible, escaped, and saying the same numbers as their tables."""

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from dashboard.home.charts import HORIZONTAL, VERTICAL, Bar, Chart, format_compact, format_number, nice_ticks

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


class TableReader(HTMLParser):
    """The caption, header cells and rows (th text, td text, td data-value, link) of the chart's table."""

    def __init__(self):
        super().__init__()
        self.caption, self.headers, self.rows, self.foot = "", [], [], None
        self._cell, self._where, self._row, self._in = None, "", None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("thead", "tbody", "tfoot"):
            self._where = tag
        elif tag == "caption":
            self._in = "caption"
        elif tag == "tr":
            self._row = {"label": "", "text": "", "value": None, "url": None, "scope": None}
        elif tag in ("th", "td"):
            self._in = tag
            if tag == "td":
                self._row["value"] = attrs.get("data-value")
            elif self._where != "thead":
                self._row["scope"] = attrs.get("scope")
            else:
                assert attrs.get("scope") == "col"
                self.headers.append("")
        elif tag == "a" and self._row is not None:
            self._row["url"] = attrs["href"]

    def handle_endtag(self, tag):
        if tag in ("th", "td", "caption"):
            self._in = None
        elif tag == "tr" and self._where != "thead":
            if self._where == "tfoot":
                self.foot = self._row
            else:
                self.rows.append(self._row)

    def handle_data(self, data):
        if self._in == "caption":
            self.caption += data
        elif self._in == "th" and self._where == "thead":
            self.headers[-1] += data
        elif self._in == "th":
            self._row["label"] += data
        elif self._in == "td":
            self._row["text"] += data


def read_table(html: str) -> TableReader:
    reader = TableReader()
    reader.feed(html)
    return reader


MONTHS = [
    Bar("Apr", 12, long_label="April 2025", sublabel="2025", url="/staff/members/?joined_after=2025-04-01"),
    Bar("May", 0, long_label="May 2025"),
    Bar("Jun", 1530, long_label="June 2025"),
    Bar("Jul", 7, long_label="July 2025"),
]


@pytest.mark.parametrize("orientation", [VERTICAL, HORIZONTAL])
def test_the_svg_is_well_formed_and_names_itself_for_screen_readers(orientation):
    chart = Chart(
        id="chart-test",
        title="Applications per month",
        bars=MONTHS,
        label_heading="Month",
        value_heading="Applications",
        orientation=orientation,
    )
    root = parse(chart.svg)

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-test-title chart-test-desc"
    title = root.find("svg:title", NS)
    desc = root.find("svg:desc", NS)
    assert title.get("id") == "chart-test-title" and title.text == "Applications per month"
    assert desc.get("id") == "chart-test-desc"
    assert "4 bars" in desc.text and "June 2025: 1,530" in desc.text
    # One bar per value, each with a tooltip giving its full label and exact value.
    bars = root.findall("svg:g[@class='chart-bar']", NS)
    assert [bar.find("svg:title", NS).text for bar in bars] == [
        "April 2025: 12",
        "May 2025: 0",
        "June 2025: 1,530",
        "July 2025: 7",
    ]
    rects = [bar.find("svg:rect", NS) for bar in bars]
    size = "height" if orientation == VERTICAL else "width"
    sizes = [float(rect.get(size)) for rect in rects]
    # Bars are proportional to their values: the biggest is the longest, zero draws nothing.
    assert sizes[1] == 0
    assert sizes[2] == max(sizes)
    assert sizes[0] / sizes[2] == pytest.approx(12 / 1530, rel=0.02)
    assert sizes[3] / sizes[2] == pytest.approx(7 / 1530, rel=0.05)


def test_nothing_a_strict_content_security_policy_would_block():
    chart = Chart(id="c1", title="T", bars=MONTHS, label_heading="M", value_heading="V")
    html = str(chart.html)
    assert "<script" not in html.lower()
    assert "style=" not in html.lower()
    assert not re.search(r"\son\w+=", html)  # onclick=, onload=, ...
    assert "javascript:" not in html.lower()


def test_every_text_is_escaped():
    evil = '<script>alert("x")</script> & Sons\' "Ltd"'
    chart = Chart(
        id="chart-evil",
        title=f"Title {evil}",
        bars=[Bar(evil, 5, url='/x/?a=1&b="2"'), Bar("Plain", 3)],
        label_heading=f"Label {evil}",
        value_heading="Value",
        orientation=HORIZONTAL,
        unit="KES",
    )
    html = str(chart.html)
    assert "<script>" not in html
    root = parse(str(chart.svg))
    assert root.find("svg:title", NS).text == f"Title {evil}"
    texts = ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(text.startswith("<script>") for text in texts)  # drawn as text, truncated
    table = read_table(str(chart.table))
    assert table.caption == f"Title {evil}"
    assert table.rows[0]["label"] == evil
    assert table.rows[0]["url"] == '/x/?a=1&b="2"'
    assert table.headers == [f"Label {evil}", "Value"]


def test_the_table_says_what_the_chart_draws():
    chart = Chart(
        id="chart-revenue",
        title="Revenue per month",
        bars=MONTHS,
        label_heading="Month",
        value_heading="Received",
        unit="KES",
    )
    table = read_table(str(chart.table))
    root = parse(str(chart.svg))

    assert table.caption == "Revenue per month"
    assert table.headers == ["Month", "Received"]
    assert [row["scope"] for row in table.rows] == ["row"] * 4
    assert [(row["label"], int(row["value"]), row["text"]) for row in table.rows] == [
        ("April 2025", 12, "KES 12"),
        ("May 2025", 0, "KES 0"),
        ("June 2025", 1530, "KES 1,530"),
        ("July 2025", 7, "KES 7"),
    ]
    assert table.rows[0]["url"] == "/staff/members/?joined_after=2025-04-01"
    assert table.foot["label"] == "Total" and int(table.foot["value"]) == 1549 and table.foot["text"] == "KES 1,549"
    tooltips = [bar.find("svg:title", NS).text for bar in root.findall("svg:g[@class='chart-bar']", NS)]
    assert tooltips == [f"{row['label']}: {row['text']}" for row in table.rows]


def test_a_vertical_chart_labels_months_and_marks_the_year():
    chart = Chart(id="c", title="T", bars=MONTHS, label_heading="M", value_heading="V")
    root = parse(str(chart.svg))
    texts = [node.text for node in root.iter("{http://www.w3.org/2000/svg}text")]
    for label in ("Apr", "May", "Jun", "Jul", "2025"):
        assert label in texts
    # The axis goes up to a round number at or above the biggest bar.
    assert "2k" in texts and "0" in texts


@pytest.mark.parametrize("bars", [[], [Bar("A", 0), Bar("B", 0)]])
@pytest.mark.parametrize("orientation", [VERTICAL, HORIZONTAL])
def test_no_data_or_all_zeros_still_draws_a_valid_chart(bars, orientation):
    chart = Chart(id="c", title="Nothing yet", bars=bars, label_heading="M", value_heading="V", orientation=orientation)
    root = parse(str(chart.svg))
    assert root.find("svg:desc", NS).text in ("No data.", "2 bars, all zero.")
    assert len(root.findall("svg:g[@class='chart-bar']", NS)) == len(bars)
    assert int(read_table(str(chart.table)).foot["value"]) == 0


def test_ids_must_be_safe_to_use_as_ids():
    with pytest.raises(ValueError):
        Chart(id='x" onload="alert(1)', title="T", bars=[], label_heading="M", value_heading="V")
    with pytest.raises(ValueError):
        Chart(id="c", title="T", bars=[], label_heading="M", value_heading="V", orientation="diagonal")


def test_long_labels_are_shortened_in_the_picture_but_not_in_the_table():
    name = "The Very Long Name Of A Membership Category For Testing"
    chart = Chart(id="c", title="T", bars=[Bar(name, 3)], label_heading="M", value_heading="V", orientation=HORIZONTAL)
    root = parse(str(chart.svg))
    texts = [node.text for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert name not in texts and any(text and text.endswith("\N{HORIZONTAL ELLIPSIS}") for text in texts)
    assert read_table(str(chart.table)).rows[0]["label"] == name


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (1530, [0, 500, 1000, 1500, 2000]),
        (100, [0, 50, 100]),
        (2_400_000, [0, 1_000_000, 2_000_000, 3_000_000]),
    ],
)
def test_nice_ticks(maximum, ticks):
    assert nice_ticks(maximum) == ticks


def test_number_formats():
    assert format_number(1234567) == "1,234,567"
    assert format_number(1500, "KES") == "KES 1,500"
    assert format_compact(950) == "950"
    assert format_compact(1000) == "1k"
    assert format_compact(1250) == "1.2k"
    assert format_compact(2_500_000) == "2.5M"


def test_a_bar_may_have_its_own_colour():
    chart = Chart(
        id="c",
        title="T",
        bars=[Bar("Nairobi", 5), Bar("Other", 9, colour="#6c757d")],
        label_heading="M",
        value_heading="V",
        orientation=HORIZONTAL,
        colour="#198754",
    )
    rects = parse(str(chart.svg)).findall("svg:g/svg:rect", NS)
    assert [rect.get("fill") for rect in rects] == ["#198754", "#6c757d"]


def test_the_table_is_behind_a_summary_that_names_the_chart():
    chart = Chart(id="chart-x", title="Members by region", bars=MONTHS, label_heading="M", value_heading="V")
    html = str(chart.html)
    assert html.index("<svg") < html.index("<details")
    assert re.search(r'<summary[^>]*>Show the numbers<span class="visually-hidden">: Members by region</span>', html)
    assert 'id="chart-x-table"' in html
