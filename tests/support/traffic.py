"""Request traffic counted by the real per-minute windows, as the logs sampler reads it.

Each round adds the lines that arrived since the last one to their minute and
reads the windows back (``calmopsd.sense.logs.windows``, settle included), so a
test's readings repeat a minute's window as often as the real sampler does: a
window is complete ``settle`` after its minute and then read every round until
the next minute is complete.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from calmopsd.sense.logs.windows import Windows, epoch_minute

SETTLE = timedelta(seconds=10)


class Traffic:
    def __init__(self, seed: int = 11, settle: timedelta = SETTLE) -> None:
        self.windows = Windows(max_organizations=50, settle=settle)
        self.windows.start("web")
        self.random = random.Random(seed)
        self.minutes: dict[int, list[int]] = {}  # minute → [requests, server errors]

    def read(self, now: datetime, requests: int, server_errors: int) -> dict[str, Any]:
        """Count ``requests`` lines (``server_errors`` of them 5xx) in ``now``'s minute,
        then the ``logs`` reading's values at ``now``."""
        minute = epoch_minute(now)
        self.windows.add("web", {(minute, None): [requests, server_errors, 0, 0, 0, 0]}, now)
        seen = self.minutes.setdefault(minute, [0, 0])
        seen[0], seen[1] = seen[0] + requests, seen[1] + server_errors
        self.windows.prune(now, ["web"])
        return self.windows.values(now)

    def noisy(
        self, now: datetime, per_second: float, error_share: float, seconds: int
    ) -> dict[str, Any]:
        """A round of about ``per_second`` requests for ``seconds``, each a 5xx with
        probability ``error_share``: the noise of a real busy host."""
        requests = round(per_second * seconds * self.random.uniform(0.75, 1.25))
        errors = sum(self.random.random() < error_share for _ in range(requests))
        return self.read(now, requests, errors)

    def worst_minute(self) -> int:
        """The most server errors any one minute held."""
        return max((errors for _, errors in self.minutes.values()), default=0)
