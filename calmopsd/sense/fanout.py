"""Probe several targets at once, so one hung target does not hold up the rest.

During an outage several health checks time out together; run one after
another, four 5-second timeouts would fill a 15-second interval. At once, a
round takes about as long as its slowest target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

LIMIT = 8  # threads at most per round


def each_at_once(targets: Sequence[T], probe: Callable[[T], R]) -> list[R]:
    """``probe`` every target, up to :data:`LIMIT` at a time; results in target order."""
    if len(targets) <= 1:
        return [probe(t) for t in targets]
    with ThreadPoolExecutor(min(LIMIT, len(targets)), thread_name_prefix="probe") as pool:
        return list(pool.map(probe, targets))


def round_bound(timeouts: Sequence[float]) -> float:
    """The longest a round may take: waves of :data:`LIMIT`, each at most twice the
    slowest timeout (connecting and reading are timed separately), plus a second."""
    if not timeouts:
        return 1.0
    waves = math.ceil(len(timeouts) / LIMIT)
    return waves * 2 * max(timeouts) + 1.0
