"""The journal consumer: the agent's lines for each incident change, from the stored events."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime, timedelta
from typing import Any

from structlog.testing import capture_logs
from support.clock import ManualClock

from calmopsd.follow import journal
from calmopsd.follow.bus import Follower
from calmopsd.model import AuditEvent, IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import list_events, record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, open_incident, reopen_incident, update_incident
from calmopsd.record.recommendations import add_recommendation
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def one_incident_s_life(database: Database, at: datetime) -> None:
    """What the agent records for an upload incident of acme, and one platform event."""
    record_event(database, PLATFORM, kind="daemon.started", actor="calmopsd", at=at)
    incident = open_incident(
        database, PLATFORM, organization_id="acme", fingerprint="upload:acme",
        type=IncidentType.UPLOAD, severity=Severity.WARNING, title="acme uploads failing",
        at=at, actor="calmopsd",
    )  # fmt: skip
    i = incident.id
    record_event(database, PLATFORM, kind="incident.classified", actor="calmopsd", at=at,
                 incident_id=i, data={"type": "upload"})  # fmt: skip
    record_event(database, PLATFORM, kind="incident.held", actor="calmopsd", at=at, incident_id=i,
                 data={"reason": "deploy_window", "detail": "api deployed 2m ago"})  # fmt: skip
    update_incident(database, PLATFORM, i, at=at, actor="calmopsd", event="incident.escalated",
                    data={"from": "warning", "to": "critical", "reason": "r"},
                    severity=Severity.CRITICAL)  # fmt: skip
    add_recommendation(database, PLATFORM, i, kind="manual", rationale="look at the deploy",
                       at=at, actor="calmopsd")  # fmt: skip
    change_status(database, PLATFORM, i, expected=IncidentStatus.OPEN,
                  new=IncidentStatus.STABILIZING, at=at, actor="calmopsd")  # fmt: skip
    change_status(database, PLATFORM, i, expected=IncidentStatus.STABILIZING,
                  new=IncidentStatus.RESOLVED, at=at, actor="calmopsd",
                  resolution="recovered")  # fmt: skip
    reopen_incident(database, PLATFORM, i, at=at + timedelta(minutes=3), actor="calmopsd",
                    reason="upload_failures breached again within 30m of recovering")  # fmt: skip


def journal_lines(database: Database, at: datetime) -> list[MutableMapping[str, Any]]:
    follower = Follower(database, {"journal": journal.consume}, ManualClock(at))
    with capture_logs() as logs:
        follower.run_once(at)
    return logs


def test_each_incident_change_is_one_line_with_the_agent_s_fields_and_its_seq(
    database: Database, at: datetime
) -> None:
    Follower(database, {"journal": journal.consume}, ManualClock(at)).begin(at)
    one_incident_s_life(database, at)

    lines = journal_lines(database, at)

    org = {"incident_id": 1, "organization_id": "acme"}
    assert lines == [
        {"event": "incident.opened", "log_level": "info", **org, "fingerprint": "upload:acme",
         "type": "upload", "severity": "warning", "seq": 2},
        {"event": "incident.held", "log_level": "info", **org, "reason": "deploy_window", "seq": 4},
        {"event": "incident.escalated", "log_level": "warning", **org, "severity": "critical",
         "seq": 5},
        {"event": "recommendation.proposed", "log_level": "info", **org, "recommendation_id": 1,
         "kind": "manual", "seq": 6},
        {"event": "incident.status_changed", "log_level": "info", **org, "status": "stabilizing",
         "resolution": None, "seq": 7},
        {"event": "incident.status_changed", "log_level": "info", **org, "status": "resolved",
         "resolution": "recovered", "seq": 8},
        {"event": "incident.reopened", "log_level": "info", **org, "flaps": 1, "seq": 9},
    ]  # fmt: skip


def test_a_platform_incident_s_line_says_organization_none(
    database: Database, at: datetime
) -> None:
    Follower(database, {"journal": journal.consume}, ManualClock(at)).begin(at)
    open_incident(
        database, PLATFORM, organization_id=None, fingerprint="disk:/", type=IncidentType.DISK,
        severity=Severity.CRITICAL, title="disk / full", at=at, actor="calmopsd",
    )  # fmt: skip
    assert journal_lines(database, at) == [
        {"event": "incident.opened", "log_level": "info", "incident_id": 1,
         "organization_id": None, "fingerprint": "disk:/", "type": "disk",
         "severity": "critical", "seq": 1},
    ]  # fmt: skip


def test_events_that_are_not_incident_changes_write_nothing(at: datetime) -> None:
    event = AuditEvent(7, at, None, None, "daemon.started", "calmopsd", {"pid": 1}, "0", "1")
    with capture_logs() as logs:
        journal.consume(event)
    assert logs == []


def test_a_line_delivered_twice_is_the_same_line(database: Database, at: datetime) -> None:
    # At-least-once: a crash before the cursor is stored hands the event over again;
    # the repeated line is identical, seq included, so a reader can tell.
    Follower(database, {"journal": journal.consume}, ManualClock(at)).begin(at)
    record_event(database, PLATFORM, kind="daemon.started", actor="calmopsd", at=at)
    open_incident(
        database, PLATFORM, organization_id="acme", fingerprint="memory:api",
        type=IncidentType.MEMORY, severity=Severity.WARNING, title="api memory high",
        at=at, actor="calmopsd",
    )  # fmt: skip
    events = [e for e in list_events(database, PLATFORM) if e.kind == "incident.opened"]
    with capture_logs() as logs:
        journal.consume(events[0])
        journal.consume(events[0])
    assert logs[0] == logs[1]
    assert logs[0]["seq"] == 2
