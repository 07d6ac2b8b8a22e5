"""A recorded history of two weeks (2026-W09 and 2026-W10) for the weekly summary, written
through ``record/`` functions in time order, with figures a person can compute by hand.

W09 (the week before): P disk warning (platform, ``disk:/``) detected in 4 min, resolved
in 40 min; Q app critical (acme, ``app:api``) 2 min, 60 min, with a manual
recommendation still waiting when the week ended; health checks as roll-ups only
(retention rolled them): api 4 of 5 up, web 5 of 5.

W10: A disk warning (platform, ``disk:/``) 2 min to detect, reopened twice, last resolved
2 h 8 min after it opened; B app critical (acme, ``app:api``) 1 min, 20 min; C memory
warning (globex) 5 min, 30 min; D app warning (acme, ``app:api``) 30 s, still open.
pm2_restart ran 3 times (A: held; B: held then did not hold; B: failed); clear_temp one
dry run; rate_limit_uploads shadowed once; refusals: pm2_restart budget_spent,
nginx_reload cooldown, clear_temp paused. Approvals: B's expired, D's waiting at the end.
Raw checks: api 3 of 4 up, web 4 of 4, and a failed round. After the week: an incident
and a reading that must not count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calmopsd.model import IncidentStatus, IncidentType, RecommendationStatus, Severity
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import add_action, change_status, open_incident, reopen_incident
from calmopsd.record.recommendations import add_recommendation, decide_recommendation
from calmopsd.record.retention import roll_up
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot

PLATFORM = Scope.platform()
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # 2026-W10 begins
AGENT = "calmopsd"
OPEN, MONITORING, RESOLVED = IncidentStatus.OPEN, IncidentStatus.MONITORING, IncidentStatus.RESOLVED


def at(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def opened(
    db: Database, org: str | None, fingerprint: str, kind: str, severity: str, rule: str,
    began: datetime, when: datetime,
) -> int:  # fmt: skip
    evidence = {"breach": {"rule": rule, "started_at": began.isoformat()}}
    return open_incident(
        db, PLATFORM, organization_id=org, fingerprint=fingerprint, type=IncidentType(kind),
        severity=Severity(severity), title=fingerprint, at=when, actor=AGENT, evidence=evidence,
    ).id  # fmt: skip


def event(db: Database, incident: int, kind: str, when: datetime, **data: Any) -> None:
    record_event(db, PLATFORM, kind=kind, actor=AGENT, at=when, incident_id=incident, data=data)


def move(
    db: Database, incident: int, old: IncidentStatus, new: IncidentStatus, when: datetime
) -> None:
    assert change_status(db, PLATFORM, incident, expected=old, new=new, at=when, actor=AGENT,
                         resolution="recovered" if new is RESOLVED else None)  # fmt: skip


def decided(db: Database, rec: int, new: RecommendationStatus, when: datetime) -> None:
    assert decide_recommendation(db, PLATFORM, rec, expected=RecommendationStatus.PROPOSED,
                                 new=new, at=when, actor="dana")  # fmt: skip


def checks(db: Database, when: datetime, **up: bool) -> None:
    readings = {"checks": {name: {"up": ok, "status": 200 if ok else 503, "latency_ms": 5.0}
                           for name, ok in up.items()}}  # fmt: skip
    add_snapshot(db, PLATFORM, sampler="http", taken_at=when, ok=True, duration_ms=1.0,
                 readings=readings)  # fmt: skip


def recorded(db: Database) -> dict[str, int]:
    """Write the history; the incidents' ids by letter."""
    ids: dict[str, int] = {}
    _week_before(db, ids)
    _the_week(db, ids)
    ids["after"] = opened(db, None, "memory:host", "memory", "warning", "memory_used",
                          at(7, 0, 5), at(7, 0, 10))  # fmt: skip
    checks(db, at(7, 0, 30), api=False, web=False)
    return ids


def _week_before(db: Database, ids: dict[str, int]) -> None:
    ids["P"] = opened(
        db, None, "disk:/", "disk", "warning", "disk_used", at(-3, 10, 0), at(-3, 10, 4)
    )
    move(db, ids["P"], OPEN, RESOLVED, at(-3, 10, 44))
    ids["Q"] = opened(db, "acme", "app:api", "app", "critical", "app_errors", at(-2, 12, 0),
                      at(-2, 12, 2))  # fmt: skip
    ids["Q-rec"] = add_recommendation(db, PLATFORM, ids["Q"], kind="manual", rationale="look",
                                      at=at(-2, 12, 30), actor=AGENT)  # fmt: skip
    move(db, ids["Q"], OPEN, RESOLVED, at(-2, 13, 2))
    for minute in range(5):
        checks(db, at(-1, 1, minute), api=minute < 4, web=True)
    # Retention rolls the week before into 5-minute buckets (the raw rows go).
    roll_up(db, now=at(0, 0, 5), keep_raw=timedelta(minutes=5), keep_rollups=timedelta(days=365))


def _the_week(db: Database, ids: dict[str, int]) -> None:
    decided(db, ids["Q-rec"], RecommendationStatus.REJECTED, at(1, 9, 0))
    a = ids["A"] = opened(
        db, None, "disk:/", "disk", "warning", "disk_used", at(1, 10, 0), at(1, 10, 2)
    )
    event(db, a, "action.executed", at(1, 10, 4), action="clear_temp", status="dry_run")
    event(db, a, "action.executed", at(1, 10, 5), action="pm2_restart", status="succeeded")
    add_action(db, PLATFORM, a, action="pm2_restart", params={"app": "api"}, status="succeeded",
               at=at(1, 10, 5), actor=AGENT)  # fmt: skip
    move(db, a, OPEN, MONITORING, at(1, 10, 5))
    move(db, a, MONITORING, RESOLVED, at(1, 10, 32))
    for hour in (11, 12):
        assert reopen_incident(db, PLATFORM, a, at=at(1, hour, 0), actor=AGENT, reason="again")
        move(db, a, OPEN, RESOLVED, at(1, hour, 10))
    b = ids["B"] = opened(db, "acme", "app:api", "app", "critical", "app_errors", at(2, 8, 0),
                          at(2, 8, 1))  # fmt: skip
    event(db, b, "action.executed", at(2, 8, 3), action="pm2_restart", status="succeeded")
    ids["B-rec"] = add_recommendation(db, PLATFORM, b, kind="safe_action", action="nginx_reload",
                                      rationale="reload", at=at(2, 8, 5), actor=AGENT,
                                      expires_at=at(2, 8, 35))  # fmt: skip
    event(db, b, "action.ineffective", at(2, 8, 10), action="pm2_restart")
    event(db, b, "action.executed", at(2, 8, 12), action="pm2_restart", status="failed")
    move(db, b, OPEN, RESOLVED, at(2, 8, 21))
    decided(db, ids["B-rec"], RecommendationStatus.EXPIRED, at(2, 8, 36))
    c = ids["C"] = opened(db, "globex", "memory:host", "memory", "warning", "memory_used",
                          at(3, 9, 0), at(3, 9, 5))  # fmt: skip
    event(db, c, "action.refused", at(3, 9, 6), action="pm2_restart", reason="budget_spent")
    event(db, c, "action.refused", at(3, 9, 7), action="nginx_reload", reason="cooldown")
    event(db, c, "action.refused", at(3, 9, 8), action="clear_temp", reason="paused")
    event(db, c, "action.shadowed", at(3, 9, 9), action="rate_limit_uploads")
    move(db, c, OPEN, RESOLVED, at(3, 9, 35))
    d = ids["D"] = opened(db, "acme", "app:api", "app", "warning", "app_errors", at(4, 10, 0),
                          at(4, 10, 0, 30))  # fmt: skip
    add_recommendation(db, PLATFORM, d, kind="manual", rationale="look", at=at(4, 10, 1),
                       actor=AGENT, expires_at=at(10, 0, 0))  # fmt: skip
    for minute in range(4):
        checks(db, at(5, 1, minute), api=minute < 3, web=True)
    add_snapshot(db, PLATFORM, sampler="http", taken_at=at(5, 1, 4), ok=False, duration_ms=1.0,
                 readings={"error": "timeout"})  # fmt: skip
