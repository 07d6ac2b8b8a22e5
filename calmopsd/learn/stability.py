"""The weekly stability summary of what a scope may see: the store's rows
(:mod:`calmopsd.record.stability`) through the pure figures (:mod:`calmopsd.learn.weekly`).

What the CLI, the API, the dashboard and the weekly notice all call, so they tell the
same figures.
"""

from __future__ import annotations

from calmopsd.learn.periods import Period
from calmopsd.learn.weekly import Summary, summarize
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.record.stability import stability_rows


def weekly_summary(database: Database, scope: Scope, period: Period) -> Summary:
    """``period`` against the one before it, read once from the earlier one's start."""
    rows = stability_rows(database, scope, since=period.previous().start, until=period.end)
    return summarize(rows, period, scope.organization_id)
