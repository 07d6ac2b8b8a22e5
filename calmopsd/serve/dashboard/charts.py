"""The health page's charts: each ordered rule's series over the last hours, as sparklines.

The rules are the ones in force (their thresholds become the lines); the values come
from the stored snapshots through the viewer's scope (:func:`~calmopsd.record.history.
readings_since`), so an organization sees only its own log rates. A rule's metric path
is walked here the way the detector walks it (``{label}`` fans out), without importing
``detect``. Points are thinned to one per pixel column, keeping the value nearest the
breach, so a short spike is never drawn away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from calmopsd.config.metrics import is_fraction
from calmopsd.config.rules import ORDERING, RuleConfig, metric_segments, walk
from calmopsd.record.database import Database
from calmopsd.record.history import Point, readings_since
from calmopsd.record.scope import Scope
from calmopsd.serve.dashboard.sparkline import WIDTH, Level, breach_share, sparkline

WINDOW = timedelta(hours=6)
COLUMNS = int(WIDTH)


@dataclass(frozen=True)
class Chart:
    rule: str
    series: str  # the rule's metric with its labels filled in
    unit: str
    last: float | None
    peak: float | None
    threshold: float
    op: str
    breach_share: float
    svg: Markup


def charts(
    database: Database, scope: Scope, rules: Sequence[RuleConfig], now: datetime
) -> list[Chart]:
    """One chart per series of every rule that compares a number with ``> >= < <=``."""
    drawn = [r for r in rules if r.op in ORDERING and _number(r.threshold) is not None]
    found: list[Chart] = []
    for sampler in sorted({r.sampler for r in drawn}):
        points = readings_since(database, scope, sampler, now - WINDOW)
        for rule in (r for r in drawn if r.sampler == sampler):
            for labels, series in sorted(_series(points, rule, now).items()):
                found.append(_chart(rule, labels, series))
    return found


def _series(
    points: list[Point], rule: RuleConfig, now: datetime
) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
    start = now - WINDOW
    segments = metric_segments(rule.metric)
    scale = 100.0 if is_fraction(rule.metric) else 1.0
    found: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for point in points:
        for labels, value in walk(point.values, segments, {}):
            number = _number(value)
            if number is None or any(labels.get(k) != v for k, v in rule.where.items()):
                continue
            key = tuple(sorted(labels.items()))
            found.setdefault(key, []).append(
                ((point.taken_at - start).total_seconds(), number * scale)
            )
    return {key: _thin(series, rule.op) for key, series in found.items()}


def _chart(
    rule: RuleConfig, labels: tuple[tuple[str, str], ...], series: list[tuple[float, float]]
) -> Chart:
    scale = 100.0 if is_fraction(rule.metric) else 1.0
    threshold = float(_number(rule.threshold) or 0.0) * scale
    levels = [Level(threshold, "threshold")]
    if rule.critical is not None:
        levels.append(Level(rule.critical * scale, "critical"))
    name = rule.metric
    for label, value in labels:
        name = name.replace("{" + label + "}", value)
    unit = "%" if scale == 100.0 or name.endswith("percent") else ""
    values = [v for _, v in series]
    last = values[-1] if values else None
    peak = (max(values) if rule.op in (">", ">=") else min(values)) if values else None
    share = breach_share(series, rule.op, threshold)
    title = (
        f"{name}, last {WINDOW.total_seconds() / 3600:g} h: "
        + (
            f"now {last:.4g}{unit}, worst {peak:.4g}{unit}; "
            if last is not None and peak is not None
            else "no readings; "
        )
        + f"breach when {rule.op} {threshold:.4g}{unit}; in breach {share:.0%} of the time"
    )
    svg = sparkline(series, span_s=WINDOW.total_seconds(), op=rule.op, levels=levels, title=title)
    return Chart(rule.name, name, unit, last, peak, threshold, rule.op, share, svg)


def _thin(series: list[tuple[float, float]], op: str) -> list[tuple[float, float]]:
    """At most one point per pixel column: the one nearest the breach side."""
    if len(series) <= COLUMNS:
        return series
    width = WINDOW.total_seconds() / COLUMNS
    worse = max if op in (">", ">=") else min
    columns: dict[int, list[tuple[float, float]]] = {}
    for point in series:
        columns.setdefault(int(point[0] // width), []).append(point)
    return [worse(group, key=lambda p: p[1]) for _, group in sorted(columns.items())]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
