"""SVG charts drawn on the server in plain Python: no JavaScript, no CDN, readable without a network.

Each function returns a complete ``<svg>`` element as a string with every label escaped; the
templates insert it as markup. Values are exact integers or ``Fraction`` strings turned into
floats only here, for drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from babel.numbers import format_decimal

from civicledger.web.i18n import _, current, format_number

PALETTE = ["#2f6db5", "#e07b39", "#3a9d5d", "#c8414b", "#8b62b8", "#8c6d46", "#d264a8", "#6f7b87", "#b6b53a", "#2fb3c2"]


def _svg(width: int, height: int, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )


def _fmt(value: float) -> str:
    """A chart label (drawing only: exact amounts are in the page's tables), in the page's locale."""
    if abs(value) >= 1e6:
        return format_decimal(round(value / 1e6, 1), format="#,##0.0", locale=current()) + "M"
    if abs(value) >= 1e4:
        return format_decimal(round(value / 1e3), format="#,##0", locale=current()) + "k"
    if value == int(value):
        return format_decimal(int(value), format="#,##0", locale=current())
    return format_decimal(round(value, 2), format="#,##0.00", locale=current())


def _pct(value: float, total: float) -> str:
    return format_decimal(round(100 * value / total, 1), format="0.0", locale=current()) + " %"


def bar_chart(
    rows: Sequence[tuple[str, float]],
    title: str,
    width: int = 420,
    bar: int = 22,
    labels: Sequence[str] | None = None,
) -> str:
    """Horizontal bars, one per (label, value); negative values extend left of the axis. 420 units
    wide, so on a 390 px phone the chart shrinks by a fifth at most and its labels stay legible.
    ``labels`` are the values as people read them (amounts in major units), one per row."""
    if not rows:
        return _svg(width, 40, '<text x="8" y="24" class="empty">' + escape(_("nothing yet")) + "</text>", title)
    label_w = 150
    value_w = 62 if labels is None else 96
    plot_w = width - label_w - value_w
    lo = min(0.0, min(v for _, v in rows))
    hi = max(0.0, max(v for _, v in rows))
    span = (hi - lo) or 1.0
    zero = label_w + plot_w * (-lo / span)
    parts = []
    for i, (label, value) in enumerate(rows):
        y = 6 + i * (bar + 6)
        x0 = zero if value >= 0 else zero - plot_w * (-value / span)
        w = max(1.0, plot_w * abs(value) / span)
        color = PALETTE[i % len(PALETTE)] if value >= 0 else "#c8414b"
        short = label if len(label) <= 21 else label[:19] + "…"
        shown = _fmt(value) if labels is None else labels[i]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar * 0.7:.1f}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}"><title>{escape(label)}: '
            f"{escape(shown)}</title></rect>"
            f'<text x="{label_w + plot_w + 4}" y="{y + bar * 0.7:.1f}">{escape(shown)}</text>'
        )
    height = 12 + len(rows) * (bar + 6)
    parts.append(f'<line x1="{zero:.1f}" y1="2" x2="{zero:.1f}" y2="{height - 4}" stroke="#555" stroke-width="1"/>')
    return _svg(width, height, "".join(parts), title)


def pie_chart(
    rows: Sequence[tuple[str, float]], title: str, size: int = 220, labels: Sequence[str] | None = None
) -> str:
    """A pie with its legend below it (narrow enough for a phone); zero and negative slices are
    listed but not drawn. ``labels`` are the legend's values as people read them (an amount and
    its share, from the caller's rules), one per row; without them, the value and its share of the
    drawn slices."""
    positive = [(label, v) for label, v in rows if v > 0]
    legend = {label: labels[i] for i, (label, _) in enumerate(rows)} if labels is not None else {}
    total = sum(v for _, v in positive)
    width = max(size, 320)
    cx, cy = width / 2, size / 2
    r = size / 2 - 6
    parts = []
    if total <= 0:
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="#ddd"/>')
    elif len(positive) == 1:
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{PALETTE[0]}"/>')
    else:
        angle = -math.pi / 2
        for i, (label, value) in enumerate(positive):
            sweep = 2 * math.pi * value / total
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(angle + sweep), cy + r * math.sin(angle + sweep)
            large = 1 if sweep > math.pi else 0
            parts.append(
                f'<path d="M{cx:.1f},{cy:.1f} L{x1:.2f},{y1:.2f} A{r:.1f},{r:.1f} 0 {large} 1 {x2:.2f},{y2:.2f} Z" '
                f'fill="{PALETTE[i % len(PALETTE)]}" class="slice"><title>{escape(label)}: '
                f"{escape(legend.get(label) or f'{_fmt(value)} ({_pct(value, total)})')}</title></path>"
            )
            angle += sweep
    colours = {label: PALETTE[i % len(PALETTE)] for i, (label, _) in enumerate(positive)}
    for i, (label, value) in enumerate(rows):
        y = size + 24 + i * 22
        share = f" ({_pct(value, total)})" if total > 0 and value > 0 else ""
        shown = f"{format_number(int(value))}{share}" if labels is None else labels[i]
        parts.append(
            f'<rect x="8" y="{y - 12}" width="14" height="14" fill="{colours.get(label, "#ddd")}"/>'
            f'<text x="28" y="{y}">{escape(label)}: {escape(shown)}</text>'
        )
    height = size + 16 + len(rows) * 22
    return _svg(width, height, "".join(parts), title)


def step_chart(
    points: Sequence[tuple[int, float]],
    title: str,
    lo: float,
    hi: float,
    width: int = 480,
    height: int = 220,
    guides: Sequence[float] = (),
    dates: bool = False,
) -> str:
    """A step line of (time, value) points, with horizontal guide lines (e.g. 0 and +-30); with
    ``dates``, the time axis is labelled with the dates of its first, middle and last points."""
    left, right, top, bottom = 48, 12, 12, 28 if not dates else 40
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        empty = escape(_("no published values yet"))
        return _svg(width, 40, f'<text x="8" y="24" class="empty">{empty}</text>', title)
    t0, t1 = points[0][0], points[-1][0]
    tspan = (t1 - t0) or 1

    def x(t: int) -> float:
        return left + plot_w * (t - t0) / tspan if t1 != t0 else left + plot_w / 2

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / ((hi - lo) or 1)

    parts = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    for g in guides:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(g):.1f}" y2="{y(g):.1f}" stroke="#bbb" '
            f'stroke-dasharray="4 3"/><text x="{left - 4}" y="{y(g) + 4:.1f}" text-anchor="end">{_fmt(g)}</text>'
        )
    path = []
    for i, (t, v) in enumerate(points):
        if i == 0:
            path.append(f"M{x(t):.1f},{y(v):.1f}")
        else:
            path.append(f"H{x(t):.1f} V{y(v):.1f}")
    parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for t, v in points:
        parts.append(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{PALETTE[0]}">'
            f"<title>{_day(t)}: {_fmt(v)}</title></circle>"
        )
    if dates:
        ticks = sorted({t0, t1} | ({t0 + tspan // 2} if t1 - t0 > 2 * 86_400 else set()))
        for i, t in enumerate(ticks):
            anchor = "start" if i == 0 else "end" if t == ticks[-1] else "middle"
            parts.append(
                f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#555"/>'
                f'<text x="{x(t):.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}" class="date">{_day(t)}</text>'
            )
    return _svg(width, height, "".join(parts), title)


def _day(t: int) -> str:
    """An instant's date for an axis (UTC): "2027-01-02"."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")
