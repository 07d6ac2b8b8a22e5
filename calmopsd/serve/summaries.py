"""The weekly stability summary as the API, the dashboard and the CLI serve it.

Read through the caller's scope, like incidents: an organization's token gets its own
organization's summary; a super-admin gets the platform's (every organization's and the
platform's own) or, narrowed with ``organization_id``
(:func:`~calmopsd.serve.narrow.narrowed`), one organization's, traced as
``api.bypass_read``. A week or stretch that cannot be read is a 400, never a 500.

A summary reads weeks of events and health-check counts (a few hundred milliseconds on
a busy store), and a page is looked at again and again: each one is kept for a minute
(:data:`KEPT_S`), and until the event log moves (its last seq is part of the key). A
stretch up to now is taken to the minute, so a reload within it is the same summary.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import structlog

from calmopsd.clock import Clock
from calmopsd.errors import InvalidRequest
from calmopsd.learn.periods import Period, chosen
from calmopsd.learn.stability import weekly_summary
from calmopsd.learn.weekly import Summary
from calmopsd.record.database import Database
from calmopsd.serve.tokens import Caller

log = structlog.get_logger("calmopsd.serve")

KEPT_S = 60.0
MOST_KEPT = 64
_kept: OrderedDict[tuple[object, ...], tuple[float, Summary]] = OrderedDict()
_kept_lock = threading.Lock()


class Summaries:
    def __init__(self, database: Database, clock: Clock, *, trace_reads: bool = True):
        self.database = database
        self.clock = clock
        self.trace_reads = trace_reads

    def weekly(self, reader: Caller, week: str | None, since: str | None) -> Summary:
        """``reader``: the caller, already narrowed to the organization asked for."""
        period = self.period(week, since)
        if reader.super_admin and reader.scope.organization_id is not None and self.trace_reads:
            log.warning("api.bypass_read", token=reader.name, what="summary",
                        organizations=[reader.scope.organization_id])  # fmt: skip
        key = (str(self.database.path), reader.scope.organization_id, period.start,
               period.end, self._last_seq())  # fmt: skip
        with _kept_lock:
            found = _kept.get(key)
            if found is not None and found[0] > time.monotonic():
                return found[1]
        summary = weekly_summary(self.database, reader.scope, period)
        with _kept_lock:
            _kept[key] = (time.monotonic() + KEPT_S, summary)
            _kept.move_to_end(key)
            while len(_kept) > MOST_KEPT:
                _kept.popitem(last=False)
        return summary

    def _last_seq(self) -> int:
        with self.database.read() as db:
            row = db.execute("SELECT coalesce(max(seq), 0) FROM incident_events").fetchone()
        return int(row[0])

    def period(self, week: str | None, since: str | None) -> Period:
        # To the minute: "the last 7 days" asked twice within it is one summary.
        now = self.clock.now().replace(second=0, microsecond=0)
        try:
            return chosen(week, since, now)
        except ValueError as exc:
            raise InvalidRequest(str(exc), "invalid_query") from None
