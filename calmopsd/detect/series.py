"""Reading values → the series a rule watches: one value per set of labels.

A rule's metric path is walked through ``Reading.values``; a ``{label}`` segment
fans out over every key of the mapping at that level. A key that is missing, or
a level that is not a mapping, yields no series: a mount whose reading holds
only ``{"error": …}`` simply has no ``used_percent`` this round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calmopsd.config.rules import RuleConfig, metric_segments, walk
from calmopsd.model import Labels


def select(values: Mapping[str, Any], rule: RuleConfig) -> dict[Labels, Any]:
    """Every series of ``rule`` in ``values`` whose labels match ``rule.where``."""
    found: dict[Labels, Any] = {}
    for labels, value in walk(values, metric_segments(rule.metric), {}):
        if all(labels.get(k) == v for k, v in rule.where.items()):
            found[tuple(sorted(labels.items()))] = value
    return found


def lookup(values: Mapping[str, Any], metric: str, labels: Labels) -> Any:
    """The value at ``metric``, its ``{label}`` segments filled from ``labels``; None if absent."""
    bound = dict(labels)
    node: Any = values
    for name, is_label in metric_segments(metric):
        key = bound.get(name) if is_label else name
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node
