"""A recorded history with known answers: three days of real snapshots and the incidents
the agent opened on them, the first day kept only as roll-ups.

Memory is read every minute from 08:00 to 17:00 and every five minutes otherwise, the
disk every five; the shipped rules (``for: 3``,
``clear_for: 15m``) open, and the store holds, these incidents (times on the days
after T0, 2026-03-02 00:00 UTC)::

    day 0 10:00-10:40  memory 91 %           opened 10:02, recovered 10:55   (roll-ups only)
    day 1 09:00-09:03  memory 88 % (3 min)   opened 09:02, recovered 09:18   noise
    day 1 14:00-16:00  memory 93 %           opened 14:02, recovered 16:15   a pm2_restart worked
    day 2 06:00        a health check        opened 06:00, resolved by a person (no snapshots)
    day 2 12:00-13:00  disk / at 85 %        opened 12:10, recovered 13:15
    day 2 18:00        opened by a person    (manual: not compared)

Raw snapshots older than day 1 00:00 are rolled up by the real retention job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from support.scenario import disk, memory

from calmopsd.model import IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, open_incident
from calmopsd.record.retention import roll_up
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot

T0 = datetime(2026, 3, 2, tzinfo=UTC)
END = T0 + timedelta(days=3) - timedelta(minutes=5)  # the last reading
PLATFORM = Scope.platform()
MINUTE = timedelta(minutes=1)


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return T0 + timedelta(days=day, hours=hour, minutes=minute)


def memory_percent(moment: datetime) -> float:
    spans = [
        (at(0, "10:00"), at(0, "10:40"), 91.0),
        (at(1, "09:00"), at(1, "09:03"), 88.0),
        (at(1, "14:00"), at(1, "16:00"), 93.0),
    ]
    return next((level for start, end, level in spans if start <= moment < end), 60.0)


def disk_percent(moment: datetime) -> float:
    return 85.0 if at(2, "12:00") <= moment < at(2, "13:00") else 70.0


@dataclass(frozen=True)
class Recorded:
    """The incident ids, in the order of the table above."""

    rolled: int
    blip: int
    long: int
    check: int
    disk: int
    manual: int


def record(database: Database) -> Recorded:
    """Write the history (snapshots in one transaction), then roll up the first day."""
    with database.unit():
        moment = T0
        while moment <= END:
            if moment.minute % 5 == 0 or 8 <= moment.hour < 17:
                _snapshot(database, "memory", moment, memory(memory_percent(moment)))
            if moment.minute % 5 == 0:
                _snapshot(database, "disk", moment, disk(disk_percent(moment)))
            moment += MINUTE
        recorded = Recorded(
            rolled=_incident(
                database, "memory_used", "memory:host", at(0, "10:02"), at(0, "10:55"), "recovered"
            ),
            blip=_incident(
                database, "memory_used", "memory:host", at(1, "09:02"), at(1, "09:18"), "recovered"
            ),
            long=_incident(
                database,
                "memory_used",
                "memory:host",
                at(1, "14:02"),
                at(1, "16:15"),
                "recovered",
                helped=True,
            ),
            check=_incident(
                database,
                "health_check_failing",
                "network:check=web",
                at(2, "06:00"),
                at(2, "07:00"),
                "manual",
            ),
            disk=_incident(
                database, "disk_used", "disk:mount=/", at(2, "12:10"), at(2, "13:15"), "recovered"
            ),
            manual=_incident(database, None, "manual:1", at(2, "18:00"), None, None),
        )
    roll_up(database, now=END, keep_raw=END - at(1, "00:00"), keep_rollups=timedelta(days=30))
    return recorded


def _snapshot(
    database: Database, sampler: str, moment: datetime, values: dict[str, object]
) -> None:
    add_snapshot(
        database,
        PLATFORM,
        sampler=sampler,
        taken_at=moment,
        ok=True,
        duration_ms=1.0,
        readings=values,
    )


def _incident(
    database: Database,
    rule: str | None,
    fingerprint: str,
    opened: datetime,
    resolved: datetime | None,
    resolution: str | None,
    *,
    helped: bool = False,
) -> int:
    kind = IncidentType(fingerprint.split(":")[0]) if rule else IncidentType.APP
    evidence = {"breach": {"rule": rule}} if rule else {}
    incident = open_incident(
        database,
        PLATFORM,
        organization_id=None,
        fingerprint=fingerprint,
        type=kind,
        severity=Severity.WARNING,
        title=rule or "by hand",
        at=opened,
        actor="calmopsd",
        evidence=evidence,
    )
    if helped:
        record_event(
            database,
            PLATFORM,
            kind="action.executed",
            actor="calmopsd",
            at=opened + timedelta(minutes=1),
            incident_id=incident.id,
            data={"action": "pm2_restart", "status": "succeeded"},
        )
    if resolved is not None:
        change_status(
            database,
            PLATFORM,
            incident.id,
            expected=IncidentStatus.OPEN,
            new=IncidentStatus.RESOLVED,
            at=resolved,
            actor="calmopsd",
            resolution=resolution,
        )
    return incident.id
