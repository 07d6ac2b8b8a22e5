"""Incidents a page at a time: filtered, newest first, through a scope.

Pages are keyed on the last row seen (``opened_at``, ``id``), not on an
offset, so an incident opened while someone pages through the list neither
repeats a row nor hides one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.model import Incident, IncidentStatus, IncidentType, Severity
from calmopsd.record.codec import encode_time
from calmopsd.record.database import Database
from calmopsd.record.incidents import INCIDENT_COLUMNS, incident_from_row
from calmopsd.record.scope import Scope


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents: each given field must match; ``since`` is on ``opened_at`` (inclusive)."""

    status: IncidentStatus | None = None
    type: IncidentType | None = None
    severity: Severity | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class PageKey:
    """The last row of the previous page: the next one starts strictly after it."""

    opened_at: str
    id: int


def page_incidents(
    database: Database,
    scope: Scope,
    wanted: IncidentFilter,
    *,
    limit: int,
    after: PageKey | None = None,
) -> tuple[list[Incident], PageKey | None]:
    """Up to ``limit`` incidents visible to ``scope``, newest first, and the key of the next
    page (None on the last one)."""
    where, scope_params = scope.filter()
    params: list[Any] = list(scope_params)
    for column, value in (
        ("status", wanted.status),
        ("type", wanted.type),
        ("severity", wanted.severity),
    ):
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value.value)
    if wanted.since is not None:
        where += " AND opened_at >= ?"
        params.append(encode_time(wanted.since))
    if after is not None:
        where += " AND (opened_at < ? OR (opened_at = ? AND id < ?))"
        params += [after.opened_at, after.opened_at, after.id]
    with database.read() as db:
        rows = db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {where} "
            "ORDER BY opened_at DESC, id DESC LIMIT ?",
            [*params, limit + 1],
        ).fetchall()
    incidents = [incident_from_row(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return incidents, None
    last = incidents[-1]
    return incidents, PageKey(encode_time(last.opened_at), last.id)
