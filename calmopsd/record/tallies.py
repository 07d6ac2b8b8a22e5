"""Counts over the store for ``/metrics``: grouped, so a scrape costs one query each.

Every count is read through a :class:`Scope` like any other tenant read; the
metrics are the platform's view, so ``/metrics`` passes the platform's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from calmopsd.record.actions import RUN_KINDS
from calmopsd.record.codec import decode_time, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope


@dataclass(frozen=True)
class OpenCount:
    """Unresolved incidents of one type, severity, status and organization ("" for none)."""

    type: str
    severity: str
    status: str
    organization: str
    count: int


@dataclass(frozen=True)
class OutcomeCount:
    """Actions recorded for incidents, by action and outcome (``incident_actions.status``)."""

    action: str
    outcome: str
    count: int


def open_incidents(database: Database, scope: Scope) -> list[OpenCount]:
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"""SELECT type, severity, status, coalesce(organization_id, ''), count(*)
                FROM incidents WHERE status != 'resolved' AND {where}
                GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
            params,
        ).fetchall()
    return [OpenCount(str(a), str(b), str(c), str(d), int(n)) for a, b, c, d, n in rows]


def action_outcomes(database: Database, scope: Scope) -> list[OutcomeCount]:
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"""SELECT action, status, count(*) FROM incident_actions WHERE {where}
                GROUP BY 1, 2 ORDER BY 1, 2""",
            params,
        ).fetchall()
    return [OutcomeCount(str(a), str(s), int(n)) for a, s, n in rows]


@dataclass(frozen=True)
class Run:
    """One run an action's budget counts: an intent, or a shadowed run."""

    action: str
    target: str
    kind: str
    at: datetime


def recent_runs(database: Database, since: datetime, *, dry_runs: bool) -> list[Run]:
    """Every run since ``since``, as the executor's budget finds them
    (:func:`calmopsd.record.actions.runs_since`), for all actions in one scan."""
    dry = "" if dry_runs else "AND coalesce(json_extract(data, '$.dry_run'), 0) = 0"
    with database.read() as db:
        rows = db.execute(
            f"""SELECT json_extract(data, '$.action'), json_extract(data, '$.target'), kind, at
                FROM incident_events
                WHERE kind IN ({",".join("?" * len(RUN_KINDS))}) AND at >= ? {dry}
                ORDER BY seq""",
            [*RUN_KINDS, encode_time(since)],
        ).fetchall()
    return [Run(str(a), str(t), str(k), decode_time(at)) for a, t, k, at in rows]
