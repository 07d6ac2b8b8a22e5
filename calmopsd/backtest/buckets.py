"""How a 5-minute roll-up stands in for one rule's readings.

Where raw snapshots have aged out, ``health_rollups`` keep, per sampler, metric and
5-minute bucket, the count, min, average and max of every number (booleans as 0/1).
One bucket becomes one reading per rule, stamped at the bucket's end (the first
moment all of it is known), holding the bucket's worst value *for that rule*: a
rule that fires above a threshold is judged on the bucket's max, one that fires
below on its min, so a breach inside the five minutes is never averaged away. Each
rule gets its own reading because two rules on one metric may look at opposite ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from calmopsd.config.metrics import metric_kind
from calmopsd.config.rules import RuleConfig, metric_segments
from calmopsd.detect.state import compares
from calmopsd.model import Reading
from calmopsd.record.rollups import Aggregate, RollupBucket

APPROXIMATION = (
    "Periods kept only as 5-minute roll-ups are replayed as one reading per bucket, "
    "stamped at the bucket's end, holding the bucket's worst value for each rule: its max "
    "for > and >=, its min for < and <=, for == and != whichever extreme breaches. A rule's "
    "`for` in readings counts buckets there (for: 3 is 15 minutes), so it confirms later "
    "than raw readings would; a `for` or `clear_for` that is a duration counts time. A "
    "sum_over rule sums the bucket (average x count), a volume is the bucket's max. Text "
    "values (PM2 statuses) are not rolled up, so rules on them are silent there, and "
    "classification has no PM2, health-check or probe detail there: a breach takes its "
    "sampler's or its rule's type."
)

OK_METRIC = "ok"  # the roll-up of each snapshot's ok flag
ALL_FAILED = "every snapshot of this sampler in the bucket failed"


def bucket_reading(rule: RuleConfig, bucket: RollupBucket) -> Reading:
    """The reading ``rule`` is judged on for ``bucket`` (a failed one when every
    snapshot in the bucket failed: like a failed reading, it says nothing)."""
    ok = bucket.metrics.get(OK_METRIC)
    if ok is not None and ok.max < 1:
        return Reading(rule.sampler, bucket.end, False, 0.0, {}, error=ALL_FAILED)
    values: dict[str, Any] = {}
    for labels, aggregate in matching(rule.metric, bucket.metrics):
        place(values, rule.metric, labels, worst(rule, aggregate))
    if rule.volume is not None:
        for labels, aggregate in matching(rule.volume.metric, bucket.metrics):
            place(values, rule.volume.metric, labels, aggregate.max)
    return Reading(rule.sampler, bucket.end, True, 0.0, values)


def worst(rule: RuleConfig, aggregate: Aggregate) -> Any:
    """The bucket's value most in breach of ``rule`` (see the module's docstring)."""
    if rule.sum_over is not None:
        total = round(aggregate.avg * aggregate.count, 6)
        return int(total) if total.is_integer() else total
    low, high = _typed(rule, aggregate.min), _typed(rule, aggregate.max)
    if rule.op in (">", ">="):
        return high
    if rule.op in ("<", "<="):
        return low
    return low if compares(rule.op, low, rule.threshold) else high


def _typed(rule: RuleConfig, figure: float) -> Any:
    """A rolled 0/1 back to false/true for a boolean metric; numbers stay numbers."""
    try:
        kind = metric_kind(rule.sampler, rule.metric)
    except ValueError:
        kind = None
    return figure >= 0.5 if kind == "bool" else figure


def pattern(metric: str) -> re.Pattern[str]:
    """A rule's metric path as a pattern over rolled metric names (``mounts./.used_percent``:
    the dotted JSON path), each ``{label}`` a named group."""
    parts = [
        f"(?P<{name}>.+?)" if is_label else re.escape(name)
        for name, is_label in metric_segments(metric)
    ]
    return re.compile(r"\.".join(parts) + "$")


def matching(
    metric: str, metrics: Mapping[str, Aggregate]
) -> Iterator[tuple[dict[str, str], Aggregate]]:
    """Every rolled metric ``metric`` names, with the labels its ``{label}`` parts bound."""
    found = pattern(metric)
    for name, aggregate in metrics.items():
        match = found.match(name)
        if match is not None:
            yield match.groupdict(), aggregate


def place(values: dict[str, Any], metric: str, labels: Mapping[str, str], value: Any) -> None:
    """Put ``value`` where ``metric`` (its labels filled in) points inside ``values``."""
    node = values
    segments = metric_segments(metric)
    for name, is_label in segments[:-1]:
        node = node.setdefault(labels[name] if is_label else name, {})
    last, is_label = segments[-1]
    node[labels[last] if is_label else last] = value
