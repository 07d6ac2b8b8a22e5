"""A sparkline as inline SVG, from numbers alone: a pure function, no I/O, no state.

The chart is the last hours of one series: the values as a line, each threshold as a
dashed horizontal line, and the stretches where the value was in breach shaded. Only
numbers computed here and the escaped ``title`` go into the markup, so what comes out
is safe to place in a page as is. The ``<title>`` says in words what the picture shows
(screen readers read it; sighted people get it on hover).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 240.0, 48.0, 3.0
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip


@dataclass(frozen=True)
class Level:
    """A threshold drawn across the chart."""

    value: float
    name: str  # "threshold", "critical"


def in_breach(value: float, op: str, threshold: float) -> bool:
    compare = _OPS.get(op)
    return compare is not None and compare(value, threshold)


def sparkline(
    points: Sequence[tuple[float, float]],
    *,
    span_s: float,
    op: str,
    levels: Sequence[Level],
    title: str,
) -> Markup:
    """``points`` are (seconds from the chart's start, value), oldest first, within
    ``span_s``; the first level is the breach threshold, compared with ``op``."""
    values = [v for _, v in points] + [level.value for level in levels]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0

    def x(seconds: float) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * max(0.0, min(seconds, span_s)) / span_s, 1)

    def y(value: float) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / (high - low), 1)

    threshold = levels[0].value if levels else None
    parts = [
        f'<svg class="spark" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" width="{WIDTH:g}" '
        f'height="{HEIGHT:g}" role="img" focusable="false"><title>{escape(title)}</title>'
    ]
    if threshold is not None:
        parts += _shading(points, op, threshold, x, span_s)
    for level in levels:
        parts.append(
            f'<line class="level {escape(level.name)}" x1="{PAD:g}" x2="{WIDTH - PAD:g}" '
            f'y1="{y(level.value)}" y2="{y(level.value)}"/>'
        )
    if points:
        coords = " ".join(f"{x(t)},{y(v)}" for t, v in points)
        parts.append(f'<polyline class="series" points="{coords}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # numbers and escaped text only


def _shading(
    points: Sequence[tuple[float, float]],
    op: str,
    threshold: float,
    x: Callable[[float], float],
    span_s: float,
) -> list[str]:
    """One rectangle per run of points in breach, from the first of the run to the point
    after its last (or the chart's end)."""
    rects: list[str] = []
    start: float | None = None
    for index, (seconds, value) in enumerate(points):
        bad = in_breach(value, op, threshold)
        if bad and start is None:
            start = seconds
        if start is not None and (not bad or index == len(points) - 1):
            end = seconds if not bad else span_s
            left, right = x(start), x(end)
            rects.append(
                f'<rect class="breach" x="{left}" y="0" width="{max(right - left, 1.0):g}" '
                f'height="{HEIGHT:g}"/>'
            )
            start = None
    return rects


def breach_share(points: Sequence[tuple[float, float]], op: str, threshold: float) -> float:
    """The share of points in breach (0 with no points)."""
    if not points:
        return 0.0
    return sum(in_breach(v, op, threshold) for _, v in points) / len(points)
