"""Small server-rendered SVG charts for the finance console.

Inline SVG, drawn here from numbers: nothing is loaded from elsewhere, the pages work
offline, and a test can read the bars and points back out of the markup (each carries
``data-*`` attributes with the value it stands for).
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .money import dollars


def _nice_top(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 100
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


@dataclass(frozen=True)
class Series:
    key: str  # machine name, e.g. "renewals"
    label: str
    color: str
    values: list[int]  # cents, one per category


def _frame(width, height, left, top, plot_w, plot_h, top_value, ticks=4) -> list[str]:
    parts = []
    for i in range(ticks + 1):
        value = top_value * i // ticks
        y = top + plot_h - plot_h * i / ticks
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#666">{escape(dollars(value))}</text>'
        )
    return parts


def stacked_bars_svg(
    *, categories: list[str], series: list[Series], title: str, width=880, height=300
) -> SafeString:
    """One bar per category, each series stacked on the one before, with a legend."""
    right, top, bottom = 16, 34, 34
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top_value = _nice_top(max(totals, default=0))
    left = round(_label_room([dollars(top_value * i // 4) for i in range(5)]))
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(categories), 1)
    bar_w = slot * 0.6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart stacked-bars" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
        *_frame(width, height, left, top, plot_w, plot_h, top_value),
    ]
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for s in series:
            value = s.values[i]
            h = plot_h * value / top_value if value > 0 else 0
            base -= h
            parts.append(
                f'<rect class="bar" data-series="{escape(s.key)}" '
                f'data-category="{escape(category)}" data-value="{value}" '
                f'x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.color}"><title>{escape(category)}: {escape(s.label)} '
                f"{escape(dollars(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'font-size="11" fill="#444">{escape(category)}</text>'
        )
    legend_x = left
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="8" width="12" height="12" fill="{s.color}"/>'
            f'<text x="{legend_x + 17}" y="18" font-size="12" fill="#333">'
            f"{escape(s.label)}</text>"
        )
        legend_x += 24 + 8 * len(s.label)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _label_room(labels: list[str], font_px: float = 11) -> float:
    """Width the longest label needs (sans-serif digits are about 0.6 em), plus a gap."""
    return max((len(label) for label in labels), default=4) * font_px * 0.62 + 14


def balance_line_svg(
    *,
    points: list[tuple[datetime, int]],
    title: str,
    by_day: bool = False,
    width=880,
    height=260,
    dots_up_to=120,
) -> SafeString:
    """The balance as a step line over the whole period of ``points`` (first to last):
    it holds each value until the next point, then steps. Dates along the bottom, dollars
    up the side, each axis wide enough for its labels. Points carry ``data-value`` and
    ``data-at``; dots are drawn while there are few enough to tell apart."""
    right, top, bottom = 16, 16, 34
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart balance-line" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'style="max-width:100%;height:auto" '
        f'aria-label="{escape(title)}" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#666">'
            "No entries yet.</text></svg>"
        )
        return mark_safe("".join(parts))
    top_value = _nice_top(max(value for _, value in points))
    ticks = 4
    left = round(_label_room([dollars(top_value * i // ticks) for i in range(ticks + 1)]))
    plot_w, plot_h = width - left - right, height - top - bottom
    parts += _frame(width, height, left, top, plot_w, plot_h, top_value, ticks)
    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds() or 1.0

    def x_of(at):
        return left + plot_w * (at - first).total_seconds() / span

    def y_of(value):
        return top + plot_h - plot_h * max(value, 0) / top_value

    steps = []
    for i, (at, value) in enumerate(points):
        x, y = x_of(at), y_of(value)
        if i:
            steps.append(f"{x:.1f},{steps[-1].split(',')[1]}")  # hold, then step
        steps.append(f"{x:.1f},{y:.1f}")
    parts.append(
        '<polyline class="steps" fill="none" stroke="#417690" stroke-width="2" '
        f'points="{" ".join(steps)}"/>'
    )
    dots = len(points) <= dots_up_to
    fmt = "%Y-%m-%d" if by_day else "%Y-%m-%d %H:%M"
    for at, value in points:
        label = f"{timezone.localtime(at).strftime(fmt)}: {dollars(value)}"
        parts.append(
            f'<circle class="point" data-value="{value}" data-at="{at.isoformat()}" '
            f'cx="{x_of(at):.1f}" cy="{y_of(value):.1f}" r="{3 if dots else 0}" '
            f'fill="#417690"><title>{escape(label)}</title></circle>'
        )
    date_ticks = 5 if span > 86400 * 4 else 2
    for i in range(date_ticks):
        at = first + (last - first) * i / (date_ticks - 1)
        anchor = "start" if i == 0 else "end" if i == date_ticks - 1 else "middle"
        parts.append(
            f'<text x="{x_of(at):.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}" '
            f'font-size="11" fill="#444">{timezone.localtime(at):%Y-%m-%d}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
