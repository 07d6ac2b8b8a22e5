"""The weekly stability summary as the API, the dashboard and the CLI serve it.

Read through the caller's scope, like incidents: an organization's token gets its own
organization's summary; a super-admin gets the platform's (every organization's and the
platform's own) or, narrowed with ``organization_id``
(:func:`~calmopsd.serve.narrow.narrowed`), one organization's, traced as
``api.bypass_read``. A week or stretch that cannot be read is a 400, never a 500.
"""

from __future__ import annotations

import structlog

from calmopsd.clock import Clock
from calmopsd.errors import InvalidRequest
from calmopsd.learn.periods import Period, chosen
from calmopsd.learn.stability import weekly_summary
from calmopsd.learn.weekly import Summary
from calmopsd.record.database import Database
from calmopsd.serve.tokens import Caller

log = structlog.get_logger("calmopsd.serve")


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
        return weekly_summary(self.database, reader.scope, period)

    def period(self, week: str | None, since: str | None) -> Period:
        try:
            return chosen(week, since, self.clock.now())
        except ValueError as exc:
            raise InvalidRequest(str(exc), "invalid_query") from None
