"""Incidents: one unresolved per problem, compare-and-set status, children and snapshots."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from calmopsd.model import HealthSnapshot, Incident, IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.incidents import (
    add_action,
    change_status,
    get_incident,
    list_children,
    list_incidents,
    open_incident,
)
from calmopsd.record.recommendations import add_recommendation
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot, latest_snapshots

PLATFORM = Scope.platform()


def open_memory(database: Database, at: datetime, organization_id: str | None = "acme") -> Incident:
    return open_incident(
        database,
        PLATFORM,
        organization_id=organization_id,
        fingerprint="memory:api",
        type=IncidentType.MEMORY,
        severity=Severity.WARNING,
        title="api memory high",
        at=at,
        actor="agent",
    )


def incident_count(database: Database) -> int:
    with database.read() as db:
        count: int = db.execute("SELECT count(*) FROM incidents").fetchone()[0]
    return count


def test_an_opened_incident_reads_back_with_its_opened_event(
    database: Database, at: datetime
) -> None:
    incident = open_incident(
        database,
        Scope.organization("acme"),
        organization_id="acme",
        fingerprint="upload:/api/upload",
        type=IncidentType.UPLOAD,
        severity=Severity.CRITICAL,
        title="upload 5xx",
        description="413s from nginx",
        evidence={"rate": 0.25},
        at=at,
        actor="agent",
    )

    assert incident == Incident(
        id=1,
        organization_id="acme",
        fingerprint="upload:/api/upload",
        type=IncidentType.UPLOAD,
        severity=Severity.CRITICAL,
        status=IncidentStatus.OPEN,
        title="upload 5xx",
        description="413s from nginx",
        summary="",
        evidence={"rate": 0.25},
        resolution=None,
        opened_at=at,
        updated_at=at,
        resolved_at=None,
        flaps=0,
        impact={},
        last_breach_at=at,
    )
    [event] = list_events(database, PLATFORM, incident_id=1)
    assert (event.kind, event.organization_id, event.actor, event.data) == (
        "incident.opened",
        "acme",
        "agent",
        {
            "fingerprint": "upload:/api/upload",
            "type": "upload",
            "severity": "critical",
            "title": "upload 5xx",
        },
    )


def test_a_second_unresolved_incident_with_the_same_fingerprint_is_refused(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        open_memory(database, at)

    assert incident_count(database) == 1
    assert [e.kind for e in list_events(database, PLATFORM)] == ["incident.opened"]


def test_a_monitoring_incident_still_blocks_its_fingerprint(
    database: Database, at: datetime
) -> None:
    first = open_memory(database, at)
    assert change_status(
        database,
        PLATFORM,
        first.id,
        expected=IncidentStatus.OPEN,
        new=IncidentStatus.MONITORING,
        at=at,
        actor="agent",
    )

    with pytest.raises(sqlite3.IntegrityError):
        open_memory(database, at)


def test_after_resolving_the_first_a_new_incident_opens(database: Database, at: datetime) -> None:
    first = open_memory(database, at)
    later = at + timedelta(minutes=5)
    assert change_status(
        database,
        PLATFORM,
        first.id,
        expected=IncidentStatus.OPEN,
        new=IncidentStatus.RESOLVED,
        at=later,
        actor="agent",
        resolution="memory back under threshold",
    )

    second = open_memory(database, later)

    assert second.id == 2
    resolved = get_incident(database, PLATFORM, first.id)
    assert resolved is not None
    assert (resolved.status, resolved.resolution, resolved.resolved_at) == (
        IncidentStatus.RESOLVED,
        "memory back under threshold",
        later,
    )
    assert [i.id for i in list_incidents(database, PLATFORM, status=IncidentStatus.OPEN)] == [2]


def test_the_same_fingerprint_may_be_open_in_another_organization_and_platform_wide(
    database: Database, at: datetime
) -> None:
    ids = [open_memory(database, at, org).id for org in ("acme", "globex", None)]

    assert ids == [1, 2, 3]
    assert {(i.organization_id, i.fingerprint) for i in list_incidents(database, PLATFORM)} == {
        ("acme", "memory:api"),
        ("globex", "memory:api"),
        (None, "memory:api"),
    }


def test_a_status_change_from_the_wrong_status_is_refused_and_appends_nothing(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)

    changed = change_status(
        database,
        PLATFORM,
        incident.id,
        expected=IncidentStatus.MONITORING,
        new=IncidentStatus.RESOLVED,
        at=at,
        actor="agent",
    )

    assert changed is False
    assert get_incident(database, PLATFORM, incident.id) == incident
    assert [e.kind for e in list_events(database, PLATFORM)] == ["incident.opened"]


def test_actions_and_recommendations_are_stored_with_their_events(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    acme = Scope.organization("acme")

    action_id = add_action(
        database,
        acme,
        incident.id,
        action="pm2_restart",
        params={"app": "api"},
        status="executed",
        at=at,
        actor="agent",
    )
    recommendation_id = add_recommendation(
        database,
        acme,
        incident.id,
        kind="manual",
        rationale="raise the memory limit",
        at=at,
        actor="agent",
    )

    assert (action_id, recommendation_id) == (1, 1)
    [action] = list_children(database, acme, "incident_actions", incident.id)
    assert {k: action[k] for k in ("organization_id", "action", "params", "status")} == {
        "organization_id": "acme",
        "action": "pm2_restart",
        "params": '{"app":"api"}',
        "status": "executed",
    }
    [recommendation] = list_children(database, acme, "incident_recommendations")
    assert (recommendation["status"], recommendation["rationale"]) == (
        "proposed",
        "raise the memory limit",
    )
    assert [e.kind for e in list_events(database, acme)] == [
        "incident.opened",
        "action.recorded",
        "recommendation.proposed",
    ]


def test_list_children_refuses_a_table_that_is_not_a_child_table(database: Database) -> None:
    with pytest.raises(ValueError, match="not a child table: incidents"):
        list_children(database, PLATFORM, "incidents")


def test_latest_snapshots_keeps_the_newest_per_sampler(database: Database, at: datetime) -> None:
    for minute, sampler in [(0, "memory"), (1, "disk"), (2, "memory")]:
        add_snapshot(
            database,
            PLATFORM,
            sampler=sampler,
            taken_at=at + timedelta(minutes=minute),
            ok=sampler == "disk",
            duration_ms=1.5,
            readings={"minute": minute},
        )

    assert latest_snapshots(database, PLATFORM) == [
        HealthSnapshot(2, at + timedelta(minutes=1), "disk", None, True, 1.5, {"minute": 1}),
        HealthSnapshot(3, at + timedelta(minutes=2), "memory", None, False, 1.5, {"minute": 2}),
    ]


def test_a_naive_timestamp_is_refused_before_anything_is_written(database: Database) -> None:
    with pytest.raises(ValueError, match="timestamps must be timezone-aware"):
        open_memory(database, datetime(2024, 5, 1, 12, 0))

    assert incident_count(database) == 0
