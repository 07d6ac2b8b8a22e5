"""What the dashboard reads beyond single incidents: weekly figures, milestones, sparklines.

Every query goes through a :class:`Scope`, like the rest of ``record/``. These are
aggregates in SQL (a count and an average per week over ten thousand incidents is
one indexed scan, not ten thousand rows brought into Python), and each reads in one
snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from calmopsd.record.codec import decode_time, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import snapshots_since

# The Monday that starts the ISO week of a stored time ('weekday 0' is the next Sunday
# or the day itself; six days back from it is that week's Monday).
_WEEK = "date({col}, 'weekday 0', '-6 days')"


@dataclass(frozen=True)
class Week:
    """One week's incidents: opened in it, resolved in it, and how long those took."""

    start: date
    opened: int
    resolved: int
    mttr_s: float | None  # mean opened → resolved of the incidents resolved that week
    by_resolution: dict[str, int]


def weeks_since(database: Database, scope: Scope, since: datetime) -> list[Week]:
    """Weeks from the one holding ``since`` on, newest first; a week with nothing is left out."""
    where, params = scope.filter()
    at = encode_time(since)
    opened_sql = (
        f"SELECT {_WEEK.format(col='opened_at')} AS w, count(*) FROM incidents "
        f"WHERE {where} AND opened_at >= ? GROUP BY w"
    )
    resolved_sql = (
        f"SELECT {_WEEK.format(col='resolved_at')} AS w, coalesce(resolution, 'unknown'), "
        "count(*), sum((julianday(resolved_at) - julianday(opened_at)) * 86400.0) "
        f"FROM incidents WHERE {where} AND resolved_at IS NOT NULL AND resolved_at >= ? "
        "GROUP BY w, 2"
    )
    with database.read() as db:
        opened = dict(db.execute(opened_sql, [*params, at]).fetchall())
        resolved = db.execute(resolved_sql, [*params, at]).fetchall()
    return _weeks(opened, resolved)


def _weeks(opened: dict[str, int], resolved: Iterable[tuple[Any, ...]]) -> list[Week]:
    totals: dict[str, list[float]] = {}
    kinds: dict[str, dict[str, int]] = {}
    for week, resolution, count, seconds in resolved:
        total = totals.setdefault(week, [0, 0.0])
        total[0] += count
        total[1] += seconds or 0.0
        kinds.setdefault(week, {})[resolution] = count
    found = []
    for week in sorted(set(opened) | set(totals), reverse=True):
        count, seconds = totals.get(week, [0, 0.0])
        found.append(
            Week(date.fromisoformat(week), opened.get(week, 0), int(count),
                 seconds / count if count else None, dict(sorted(kinds.get(week, {}).items())))
        )  # fmt: skip
    return found


def first_moves(
    database: Database, scope: Scope, incident_ids: list[int], to: str
) -> dict[int, datetime]:
    """When each incident first moved to status ``to`` (for ``monitoring``: stabilized)."""
    if not incident_ids:
        return {}
    where, params = scope.filter()
    marks = ",".join("?" * len(incident_ids))
    sql = (
        "SELECT incident_id, min(at) FROM incident_events "
        f"WHERE incident_id IN ({marks}) AND kind = 'incident.status_changed' "
        f"AND json_extract(data, '$.to') = ? AND {where} GROUP BY incident_id"
    )
    with database.read() as db:
        rows = db.execute(sql, [*incident_ids, to, *params]).fetchall()
    return {incident_id: decode_time(at) for incident_id, at in rows}


@dataclass(frozen=True)
class Point:
    taken_at: datetime
    values: dict[str, Any]


def readings_since(database: Database, scope: Scope, sampler: str, since: datetime) -> list[Point]:
    """The host's readings of one sampler since ``since``, oldest first, as ``scope`` may
    see them: whole for the super-admin; for an organization only its own part of the
    log rates (``organizations.<its id>``), and nothing of the other samplers — the
    host's processes and mounts, and other organizations' traffic, are not its business.
    """
    if not scope.is_super_admin and sampler != "logs":
        return []
    points = [
        Point(s.taken_at, s.readings)
        for s in snapshots_since(database, Scope.platform(), sampler=sampler, since=since)
        if s.organization_id is None and s.ok
    ]
    if scope.is_super_admin:
        return points
    own = scope.organization_id or ""
    return [Point(p.taken_at, _own_part(p.values, own)) for p in points]


def _own_part(values: dict[str, Any], own: str) -> dict[str, Any]:
    organizations = values.get("organizations")
    mine = organizations.get(own) if isinstance(organizations, dict) else None
    return {"organizations": {own: mine}} if mine is not None else {}
