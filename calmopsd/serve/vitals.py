"""What ``/metrics`` and ``/-/ready`` read that only the running daemon knows.

The daemon (``daemon/serving.py``) hands these over as callables, so each scrape
reads them as they are at that moment — never a copy taken when the app was made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from calmopsd.config.actions import ActionsConfig
from calmopsd.config.api import MetricsAccess
from calmopsd.fleet.forwarder import PostCounts
from calmopsd.model import Reading
from calmopsd.record.database import Database
from calmopsd.record.loads import Cadence, Load, last_load


@dataclass(frozen=True)
class Vitals:
    """The daemon's live state, each part read when asked."""

    latest: Callable[[], Mapping[str, Reading]]  # each sampler's latest reading, in memory
    sampling: Callable[[], Mapping[str, Cadence]]  # the samplers scheduled now
    running: Callable[[], bool]  # the scheduler runs
    actions: Callable[[], ActionsConfig]  # the budgets in force
    metrics: Callable[[], MetricsAccess]  # api.metrics, as the last reload left it
    # Alertmanager posts by outcome (None: forwarding is off)
    forwarded: Callable[[], PostCounts | None] = lambda: None


class Loads:
    """The newest config load from the audit log, read on from where the last call stood
    (scrapes run on several server threads at once)."""

    def __init__(self, database: Database):
        self.database = database
        self._known: Load | None = None
        self._lock = threading.Lock()

    def current(self) -> Load | None:
        with self._lock:
            self._known = last_load(self.database, self._known)
            return self._known
