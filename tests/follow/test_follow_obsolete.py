"""Recommendations end with their incident: the ``recommendations`` consumer on a real
SQLite file, delivered by the real follower."""

from __future__ import annotations

from datetime import datetime, timedelta

from support.clock import ManualClock

from calmopsd.follow import consumers_for
from calmopsd.follow.bus import Follower
from calmopsd.model import IncidentStatus, IncidentType, RecommendationStatus, Severity
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, open_incident
from calmopsd.record.recommendations import (
    add_recommendation,
    decide_recommendation,
    list_recommendations,
)
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def incident_with_advice(database: Database, at: datetime, org: str | None = "acme") -> int:
    incident = open_incident(
        database, PLATFORM, organization_id=org, fingerprint="upload:host",
        type=IncidentType.UPLOAD, severity=Severity.WARNING, title="uploads", at=at,
        actor="calmopsd",
    )  # fmt: skip
    for rationale in ("raise the limit", "check the bucket", "call the vendor"):
        add_recommendation(
            database, PLATFORM, incident.id, kind="manual", rationale=rationale, at=at,
            actor="calmopsd", expires_at=at + timedelta(days=1),
        )  # fmt: skip
    return incident.id


def statuses(database: Database, incident_id: int) -> list[str]:
    return [r.status.value for r in list_recommendations(database, PLATFORM, incident_id)]


def resolve(database: Database, incident_id: int, at: datetime, actor: str = "dana") -> None:
    assert change_status(
        database, PLATFORM, incident_id, expected=IncidentStatus.OPEN,
        new=IncidentStatus.RESOLVED, at=at, actor=actor, resolution="manual",
    )  # fmt: skip


def test_what_was_still_proposed_ends_when_its_incident_resolves(
    database: Database, at: datetime
) -> None:
    follower = Follower(database, consumers_for(database), ManualClock(at))
    follower.begin(at)
    incident_id = incident_with_advice(database, at)
    first, second, _ = list_recommendations(database, PLATFORM, incident_id)
    decide_recommendation(
        database, PLATFORM, first.id, expected=RecommendationStatus.PROPOSED,
        new=RecommendationStatus.APPROVED, at=at, actor="dana",
    )  # fmt: skip
    decide_recommendation(
        database, PLATFORM, second.id, expected=RecommendationStatus.PROPOSED,
        new=RecommendationStatus.REJECTED, at=at, actor="dana",
    )  # fmt: skip
    follower.run_once(at)
    assert statuses(database, incident_id) == ["approved", "rejected", "proposed"]

    resolve(database, incident_id, at + timedelta(minutes=5))
    follower.run_once(at + timedelta(minutes=5))
    assert statuses(database, incident_id) == ["approved", "rejected", "obsolete"]
    (ended,) = [e for e in list_events(database, PLATFORM) if e.kind == "recommendation.obsolete"]
    assert (ended.incident_id, ended.actor, ended.data["note"]) == (
        incident_id,
        "calmopsd",
        "its incident was resolved",
    )
    assert ended.at == at + timedelta(minutes=5)  # when the incident resolved, not later
    assert verify_file(database.path).ok


def test_a_repeated_delivery_changes_nothing(database: Database, at: datetime) -> None:
    incident_id = incident_with_advice(database, at, org=None)
    resolve(database, incident_id, at)
    (resolved,) = [
        e for e in list_events(database, PLATFORM) if e.kind == "incident.status_changed"
    ]
    handle = consumers_for(database)["recommendations"]
    handle(resolved)
    before = len(list_events(database, PLATFORM))
    handle(resolved)  # at least once: after a crash between the work and its cursor
    assert len(list_events(database, PLATFORM)) == before
    assert statuses(database, incident_id) == ["obsolete"] * 3


def test_other_incidents_and_other_changes_keep_their_advice(
    database: Database, at: datetime
) -> None:
    follower = Follower(database, consumers_for(database), ManualClock(at))
    follower.begin(at)
    kept = incident_with_advice(database, at, org="acme")
    ended = incident_with_advice(database, at, org="globex")
    assert change_status(
        database, PLATFORM, kept, expected=IncidentStatus.OPEN,
        new=IncidentStatus.MONITORING, at=at, actor="dana",
    )  # fmt: skip
    resolve(database, ended, at)
    follower.run_once(at)
    assert statuses(database, kept) == ["proposed"] * 3
    assert statuses(database, ended) == ["obsolete"] * 3
