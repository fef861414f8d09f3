"""Bar charts drawn on the server as inline SVG: no chart library, nothing fetched, no script.

Colours come from CSS classes (the console's stylesheet), so the Content-Security-Policy can
forbid inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 76, 12, 14, 30
MAX_X_LABELS = 12


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, one per label; ``css`` picks its colour."""

    name: str
    css: str
    values: Sequence[float]


def _step(top: float, base: int) -> float:
    """A tick step of 1, 2 or 5 times a power of ``base``'s decades (or of 1024 for bytes)."""
    raw = top / 4
    unit = 1024.0 ** math.floor(math.log(raw, 1024)) if base == 1024 and raw >= 1024 else 1.0
    scaled = raw / unit
    decade = 10.0 ** math.floor(math.log10(scaled))
    for factor in (1, 2, 5, 10):
        if scaled <= factor * decade:
            return factor * decade * unit
    return 10.0 * decade * unit  # pragma: no cover - the loop ends at 10


def _ticks(top: float, base: int) -> list[float]:
    if top <= 0:
        return [0.0, 1.0]
    step = _step(top, base)
    return [step * i for i in range(math.ceil(top / step) + 1)]


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    stacked: bool = False,
    base: int = 1000,
) -> Markup:
    """An SVG bar chart: grouped bars per label (or ``stacked``), y axis labelled by ``fmt``.

    ``base`` 1024 puts the ticks on round binary sizes (1 MiB, 2 MiB…) for byte values.
    """
    count = max(len(labels), 1)
    if stacked:
        top = max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0)
    else:
        top = max((v for s in series for v in s.values), default=0)
    ticks = _ticks(top, base)
    ceiling = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / ceiling

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    slot = plot_w / count
    bar_area = slot * 0.75
    every = math.ceil(count / MAX_X_LABELS)
    for i, label in enumerate(labels):
        x0 = LEFT + slot * i + (slot - bar_area) / 2
        if stacked:
            base_value = 0.0
            for s in series:
                value = s.values[i]
                if value > 0:
                    tip = f"{label} · {s.name}: {fmt(value)}"
                    parts.append(
                        _bar(s.css, tip, x0, bar_area, y(base_value + value), y(base_value))
                    )
                base_value += value
        else:
            width = bar_area / max(len(series), 1)
            for j, s in enumerate(series):
                value = s.values[i]
                if value > 0:
                    tip = f"{label} · {s.name}: {fmt(value)}"
                    parts.append(_bar(s.css, tip, x0 + j * width, width, y(value), y(0)))
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{LEFT + slot * (i + 0.5):.1f}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
    )
    if top <= 0:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            'text-anchor="middle">No activity in this period</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()


def _bar(css: str, tip: str, x: float, width: float, top: float, bottom: float) -> str:
    return (
        f'<rect class="bar {escape(css)}" x="{x:.1f}" y="{top:.1f}" '
        f'width="{max(width - 1, 1):.1f}" height="{max(bottom - top, 0.5):.1f}">'
        f"<title>{escape(tip)}</title></rect>"
    )
