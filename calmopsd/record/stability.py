"""What the weekly stability summary reads, through a :class:`Scope` like every tenant read.

One call, :func:`stability_rows`, brings back as typed rows everything the summary of a
stretch of time and the one before it needs; the figures themselves are computed
elsewhere (``learn/weekly.py``, pure). From the audit chain: the incidents opened,
reopened or resolved then, each with the events its timings are read from, and the
action, refusal and ineffective events. From the recommendations: those that could
have been pending or have expired then. From the health checks: per check, how many
``http`` readings said it was up — raw snapshots read through
:mod:`calmopsd.record.snapshots` and, where retention has rolled them, 5-minute
buckets through :mod:`calmopsd.record.rollups` (how either is stored is theirs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.model import AuditEvent, Incident
from calmopsd.record.audit import events_of_incidents, events_of_kinds
from calmopsd.record.check_hours import check_hours, hour_of, ups
from calmopsd.record.codec import decode_instant, decode_time, encode_instant, encode_time
from calmopsd.record.database import Database
from calmopsd.record.incidents import incidents_by_ids
from calmopsd.record.rollups import rollup_buckets
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import snapshots_between

# Events of the stretch the summary counts; an incident's timings read its own below.
COUNTED = (
    "incident.opened",
    "incident.reopened",
    "incident.status_changed",
    "action.executed",
    "action.shadowed",
    "action.refused",
    "action.ineffective",
)
TIMED = ("incident.opened", "incident.status_changed", "action.recorded")
_UP = ".up"


@dataclass(frozen=True)
class Timed:
    """An incident, and its events :func:`calmopsd.learn.timings.timings` reads."""

    incident: Incident
    events: tuple[AuditEvent, ...]


@dataclass(frozen=True)
class Asked:
    """A recommendation, as far as "pending or expired" needs it."""

    id: int
    incident_id: int
    status: str
    created_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None


@dataclass(frozen=True)
class CheckCount:
    """Readings of one health check at ``at`` (a raw reading: 1; a roll-up bucket: its
    count) and how many of them said it was up (a bucket: its average times its count)."""

    check: str
    at: datetime
    readings: int
    up: float


@dataclass(frozen=True)
class StabilityRows:
    events: tuple[AuditEvent, ...]  # COUNTED kinds since ``since``, oldest first
    incidents: Mapping[int, Timed]  # every incident one of ``events`` is about
    asked: tuple[Asked, ...]
    checks: tuple[CheckCount, ...]


def stability_rows(
    database: Database, scope: Scope, *, since: datetime, until: datetime
) -> StabilityRows:
    """Everything from ``since`` to ``until`` this scope may see (events to the present:
    an action's run is judged ineffective after it)."""
    events = tuple(events_of_kinds(database, scope, COUNTED, since=since))
    ids = sorted({e.incident_id for e in events if e.incident_id is not None})
    return StabilityRows(
        events,
        _timed(database, scope, ids),
        _asked(database, scope, since, until),
        _checks(database, scope, since, until),
    )


def _timed(database: Database, scope: Scope, ids: list[int]) -> dict[int, Timed]:
    events = events_of_incidents(database, scope, ids, sorted(TIMED))
    return {
        incident.id: Timed(incident, tuple(events[incident.id]))
        for incident in incidents_by_ids(database, scope, ids)
    }


def _asked(database: Database, scope: Scope, since: datetime, until: datetime) -> tuple[Asked, ...]:
    """Recommendations made before ``until`` and not decided before ``since``."""
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            "SELECT id, incident_id, status, created_at, expires_at, decided_at "
            f"FROM incident_recommendations WHERE created_at < ? "
            f"AND (decided_at IS NULL OR decided_at >= ?) AND {where} ORDER BY id",
            [encode_time(until), encode_time(since), *params],
        ).fetchall()
    return tuple(
        Asked(int(r[0]), int(r[1]), str(r[2]), decode_time(r[3]), _time(r[4]), _time(r[5]))
        for r in rows
    )


def _checks(
    database: Database, scope: Scope, since: datetime, until: datetime
) -> tuple[CheckCount, ...]:
    """The hours counted as readings were stored (:mod:`calmopsd.record.check_hours`), and
    for the time before counting began, roll-up buckets (older: retention rolled them)
    then raw readings; a failed round of the sampler says nothing of any check and is
    left out."""
    counted = check_hours(
        database, scope, since_us=hour_of(encode_instant(since)), until_us=encode_instant(until)
    )
    counts = [CheckCount(h.check, decode_instant(h.hour), h.readings, float(h.up)) for h in counted]
    # Counting began with the first counted hour: what came before is read the old way.
    if counted:
        until = min(until, decode_instant(counted[0].hour))
    if until <= since:
        return tuple(counts)
    for bucket in rollup_buckets(database, scope, since=since, until=until):
        if bucket.sampler != "http" or bucket.start >= until:
            continue
        for metric, aggregate in bucket.metrics.items():
            check = _check_of(metric)
            if check is not None:
                counts.append(
                    CheckCount(
                        check, bucket.start, aggregate.count, aggregate.avg * aggregate.count
                    )
                )
    for snapshot in snapshots_between(database, scope, sampler="http", since=since, until=until):
        if not snapshot.ok:
            continue
        for name, up in ups(snapshot.readings):
            counts.append(CheckCount(name, snapshot.taken_at, 1, float(up)))
    return tuple(counts)


def _check_of(metric: str) -> str | None:
    """``checks.api.up`` → ``api`` (roll-ups keep a name with dots unquoted: ``checks.a.b.up``
    is check ``a.b``)."""
    if not metric.startswith("checks.") or not metric.endswith(_UP):
        return None
    return metric[len("checks.") : -len(_UP)] or None


def _time(value: Any) -> datetime | None:
    return None if value is None else decode_time(value)
