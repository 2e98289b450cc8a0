"""Bar charts drawn in Python as inline SVG: no JavaScript, no CDN, no Node.

Nothing here needs a relaxed Content-Security-Policy: no <script>, no event handlers, no style
attributes (colours and sizes are SVG presentation attributes such as fill= and font-size=).

The SVG is a picture: role="img", named by its <title> and described by its <desc>. The numbers
themselves belong in an HTML table beside it (`Chart.rows`), which is what screen readers, copy and
paste and exports use. Every piece of text is escaped, so labels may come from user data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

VERTICAL = "vertical"
HORIZONTAL = "horizontal"

SVG_NS = "http://www.w3.org/2000/svg"
TEXT_COLOUR = "currentColor"
GRID_COLOUR = "#adb5bd"
DEFAULT_BAR_COLOUR = "#198754"  # Bootstrap's success green, the colour of the navbar
MUTED_BAR_COLOUR = "#6c757d"  # Bootstrap's secondary grey
FONT_SIZE = 12
SMALL_FONT_SIZE = 11
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


@dataclass(frozen=True)
class Bar:
    """One bar. `label` is drawn on the axis; `long_label` (default: `label`) goes in the table and the
    tooltip; `sublabel` is an optional second line under a vertical bar (e.g. the year under "Jan");
    `url` links the bar's row in the table."""

    label: str
    value: int | float
    long_label: str = ""
    sublabel: str = ""
    url: str = ""
    colour: str = ""  # this bar's fill, e.g. a muted one for "Other"; default: the chart's

    @property
    def full_label(self) -> str:
        return self.long_label or self.label


@dataclass(frozen=True)
class Row:
    """One line of the chart's data table."""

    label: str
    value: int | float
    display_value: str
    url: str


def format_number(value: int | float, unit: str = "") -> str:
    """1234567 -> "1,234,567"; with a unit: "KES 1,234,567"."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{unit} {text}" if unit else text


def format_compact(value: int | float) -> str:
    """Short axis labels: 950 -> "950", 1200 -> "1.2k", 2500000 -> "2.5M"."""
    for threshold, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= threshold:
            scaled = value / threshold
            text = f"{scaled:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.1f}"


def nice_ticks(maximum: float, intervals: int = 4) -> list[float]:
    """Axis ticks from 0 to a round number at or above `maximum`, about `intervals` steps apart.

    Steps are 1, 2 or 5 times a power of ten, never below 1 (the values are counts and shillings).
    """
    if maximum <= 0:
        return [0, 1]
    raw_step = maximum / intervals
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(step, 1)
    top = step * math.ceil(maximum / step)
    count = round(top / step)
    return [step * i for i in range(count + 1)]


def truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + ELLIPSIS


_ID_RE = re.compile(r"^[A-Za-z][\w-]*$")


@dataclass
class Chart:
    """A bar chart and the table of its numbers.

    `id` must be unique on the page (it names the SVG's <title> and <desc>). `unit` prefixes values in
    the table and on the bars ("KES"). Vertical charts suit time series, horizontal ones suit long labels.
    """

    id: str
    title: str
    bars: list[Bar]
    label_heading: str
    value_heading: str
    orientation: str = VERTICAL
    unit: str = ""
    colour: str = DEFAULT_BAR_COLOUR
    summary: str = ""
    width: int = 640

    def __post_init__(self):
        if not _ID_RE.match(self.id):
            raise ValueError(f"Chart id {self.id!r} must start with a letter and hold only letters, digits, - and _.")
        if self.orientation not in (VERTICAL, HORIZONTAL):
            raise ValueError(f"Unknown orientation {self.orientation!r}.")

    @property
    def title_id(self) -> str:
        return f"{self.id}-title"

    @property
    def desc_id(self) -> str:
        return f"{self.id}-desc"

    @property
    def total(self) -> int | float:
        return sum(bar.value for bar in self.bars)

    @property
    def maximum(self) -> int | float:
        return max((bar.value for bar in self.bars), default=0)

    def format(self, value: int | float) -> str:
        return format_number(value, self.unit)

    @property
    def rows(self) -> list[Row]:
        return [Row(bar.full_label, bar.value, self.format(bar.value), bar.url) for bar in self.bars]

    @property
    def description(self) -> str:
        """What a screen reader hears after the title: the shape of the data, in words."""
        if self.summary:
            return self.summary
        if not self.bars:
            return "No data."
        if self.maximum <= 0:
            return f"{len(self.bars)} bars, all zero."
        top = max(self.bars, key=lambda bar: bar.value)
        return (
            f"{len(self.bars)} bars; total {self.format(self.total)}; "
            f"highest {top.full_label}: {self.format(top.value)}. The numbers are in the table below."
        )

    @cached_property
    def svg(self) -> SafeString:
        height, body = self._vertical() if self.orientation == VERTICAL else self._horizontal()
        head = (
            f'<svg xmlns="{SVG_NS}" viewBox="0 0 {self.width} {height}" width="{self.width}" height="{height}" '
            f'role="img" aria-labelledby="{escape(self.title_id)} {escape(self.desc_id)}" '
            f'class="chart w-100 h-auto" id="{escape(self.id)}" font-size="{FONT_SIZE}">'
            f'<title id="{escape(self.title_id)}">{escape(self.title)}</title>'
            f'<desc id="{escape(self.desc_id)}">{escape(self.description)}</desc>'
        )
        return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every piece of text above is escaped

    @property
    def table(self) -> SafeString:
        """The chart's numbers as a real table (caption, th scope), inside a <details> that opens without
        JavaScript. Rows link where the bars have a `url`."""
        rows = format_html_join(
            "",
            '<tr><th scope="row" class="fw-normal">{}</th><td class="text-end" data-value="{}">{}</td></tr>',
            (
                (
                    format_html('<a href="{}">{}</a>', row.url, row.label) if row.url else row.label,
                    row.value,
                    row.display_value,
                )
                for row in self.rows
            ),
        )
        return format_html(
            '<details class="mt-2"><summary class="small">Show the numbers'
            '<span class="visually-hidden">: {}</span></summary>'
            '<div class="table-responsive"><table class="table table-sm mb-0" id="{}-table">'
            "<caption>{}</caption>"
            '<thead><tr><th scope="col">{}</th><th scope="col" class="text-end">{}</th></tr></thead>'
            "<tbody>{}</tbody>"
            '<tfoot><tr><th scope="row">Total</th><td class="text-end" data-value="{}">{}</td></tr></tfoot>'
            "</table></div></details>",
            self.title,
            self.id,
            self.title,
            self.label_heading,
            self.value_heading,
            rows,
            self.total,
            self.format(self.total),
        )

    @property
    def html(self) -> SafeString:
        """The SVG followed by its table: what a page shows under the chart's heading."""
        return format_html("{}{}", self.svg, self.table)

    # --- drawing -----------------------------------------------------------------------------------

    def _bar(self, bar: Bar, x: float, y: float, width: float, height: float) -> str:
        tooltip = f"{bar.full_label}: {self.format(bar.value)}"
        return (
            f'<g class="chart-bar"><title>{escape(tooltip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{max(height, 0):.1f}" '
            f'fill="{escape(bar.colour or self.colour)}" rx="2"/></g>'
        )

    def _vertical(self) -> tuple[int, list[str]]:
        left, right, top, bottom = 56, 8, 18, 44
        plot_height = 200
        height = top + plot_height + bottom
        plot_width = self.width - left - right
        ticks = nice_ticks(self.maximum)
        scale = plot_height / ticks[-1]
        baseline = top + plot_height
        parts: list[str] = []

        for tick in ticks:
            y = baseline - tick * scale
            dashes = "" if tick == 0 else ' stroke-dasharray="3 3"'
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" stroke="{GRID_COLOUR}" '
                f'stroke-width="{1 if tick == 0 else 0.5}"{dashes}/>'
            )
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT_COLOUR}" '
                f'font-size="{SMALL_FONT_SIZE}">{escape(format_compact(tick))}</text>'
            )

        slot = plot_width / max(len(self.bars), 1)
        bar_width = slot * 0.7
        for index, bar in enumerate(self.bars):
            bar_height = max(bar.value, 0) * scale
            x = left + index * slot + (slot - bar_width) / 2
            centre = left + index * slot + slot / 2
            parts.append(self._bar(bar, x, baseline - bar_height, bar_width, bar_height))
            if bar.value:
                parts.append(
                    f'<text x="{centre:.1f}" y="{baseline - bar_height - 4:.1f}" text-anchor="middle" '
                    f'fill="{TEXT_COLOUR}" font-size="{SMALL_FONT_SIZE}">{escape(format_compact(bar.value))}</text>'
                )
            parts.append(
                f'<text x="{centre:.1f}" y="{baseline + 16}" text-anchor="middle" fill="{TEXT_COLOUR}">'
                f"{escape(truncate(bar.label, 8))}</text>"
            )
            if bar.sublabel:
                parts.append(
                    f'<text x="{centre:.1f}" y="{baseline + 32}" text-anchor="middle" fill="{TEXT_COLOUR}" '
                    f'font-size="{SMALL_FONT_SIZE}">{escape(truncate(bar.sublabel, 8))}</text>'
                )
        return height, parts

    def _horizontal(self) -> tuple[int, list[str]]:
        label_width, value_width, top, bottom, row_height = 170, 96, 8, 8, 26
        plot_width = self.width - label_width - value_width
        height = top + row_height * max(len(self.bars), 1) + bottom
        maximum = self.maximum if self.maximum > 0 else 1
        scale = plot_width / maximum
        parts: list[str] = []
        parts.append(
            f'<line x1="{label_width}" y1="{top}" x2="{label_width}" y2="{height - bottom}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
        )
        if not self.bars:
            parts.append(
                f'<text x="{label_width + 8}" y="{top + row_height * 0.65:.1f}" fill="{TEXT_COLOUR}">No data</text>'
            )
        for index, bar in enumerate(self.bars):
            y = top + index * row_height
            bar_length = max(bar.value, 0) * scale
            text_y = y + row_height * 0.65
            parts.append(
                f'<text x="{label_width - 8}" y="{text_y:.1f}" text-anchor="end" fill="{TEXT_COLOUR}">'
                f"{escape(truncate(bar.label, 24))}</text>"
            )
            parts.append(self._bar(bar, label_width, y + 4, bar_length, row_height - 8))
            parts.append(
                f'<text x="{label_width + bar_length + 6:.1f}" y="{text_y:.1f}" fill="{TEXT_COLOUR}" '
                f'font-size="{SMALL_FONT_SIZE}">{escape(self.format(bar.value))}</text>'
            )
        return height, parts
