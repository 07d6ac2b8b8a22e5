"""Incident changes after opening: find by fingerprint, update, reopen, actions with outcomes."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from calmopsd.errors import ScopeError
from calmopsd.model import AuditEvent, Incident, IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import Verdict, list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.incidents import (
    add_action,
    change_status,
    find_by_fingerprint,
    get_incident,
    list_children,
    open_incident,
    reopen_incident,
    update_incident,
)
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()
ACME = Scope.organization("acme")
GLOBEX = Scope.organization("globex")
PLUS_TWO = timezone(timedelta(hours=2))


def open_memory(
    database: Database,
    at: datetime,
    organization_id: str | None = "acme",
    fingerprint: str = "memory:api",
) -> Incident:
    return open_incident(
        database,
        PLATFORM,
        organization_id=organization_id,
        fingerprint=fingerprint,
        type=IncidentType.MEMORY,
        severity=Severity.WARNING,
        title="api memory high",
        evidence={"rss_mb": 900},
        at=at,
        actor="agent",
    )


def resolve(database: Database, incident_id: int, at: datetime) -> None:
    assert change_status(
        database,
        PLATFORM,
        incident_id,
        expected=IncidentStatus.OPEN,
        new=IncidentStatus.RESOLVED,
        at=at,
        actor="agent",
        resolution="recovered",
    )


def found_id(
    database: Database,
    scope: Scope = PLATFORM,
    *,
    organization_id: str | None = "acme",
    fingerprint: str = "memory:api",
    resolved_since: datetime | None = None,
) -> int | None:
    incident = find_by_fingerprint(
        database,
        scope,
        organization_id=organization_id,
        fingerprint=fingerprint,
        resolved_since=resolved_since,
    )
    return None if incident is None else incident.id


def stored(database: Database) -> tuple[list[Any], list[AuditEvent]]:
    """Every incident row and every event: what "nothing changed" is checked against."""
    with database.read() as db:
        incidents = db.execute("SELECT * FROM incidents ORDER BY id").fetchall()
    return incidents, list_events(database, PLATFORM)


def kinds(database: Database, incident_id: int) -> list[str]:
    return [e.kind for e in list_events(database, PLATFORM, incident_id=incident_id)]


# ---- find_by_fingerprint -----------------------------------------------------------------


def test_find_by_fingerprint_returns_the_unresolved_incident_before_a_resolved_one(
    database: Database, at: datetime
) -> None:
    first = open_memory(database, at)
    resolve(database, first.id, at + timedelta(minutes=1))
    second = open_memory(database, at + timedelta(minutes=2))

    assert (first.id, second.id) == (1, 2)
    assert found_id(database) == 2
    assert found_id(database, resolved_since=at) == 2


def test_find_by_fingerprint_without_resolved_since_ignores_resolved_incidents(
    database: Database, at: datetime
) -> None:
    resolve(database, open_memory(database, at).id, at + timedelta(minutes=1))

    assert found_id(database) is None


def test_find_by_fingerprint_returns_the_most_recently_resolved_not_the_newest_id(
    database: Database, at: datetime
) -> None:
    # Incident 2 was resolved at +5 min, incident 3 (a higher id) at +4 min.
    for opened, resolved in ((0, 1), (2, 5), (3, 4)):
        incident = open_memory(database, at + timedelta(minutes=opened))
        resolve(database, incident.id, at + timedelta(minutes=resolved))

    assert found_id(database, resolved_since=at) == 2
    assert found_id(database, resolved_since=at + timedelta(minutes=1, seconds=1)) == 2


def test_resolved_since_includes_an_incident_resolved_exactly_then_and_nothing_after(
    database: Database, at: datetime
) -> None:
    resolved_at = at + timedelta(minutes=5)
    resolve(database, open_memory(database, at).id, resolved_at)

    assert found_id(database, resolved_since=resolved_at) == 1
    assert found_id(database, resolved_since=resolved_at + timedelta(microseconds=1)) is None


def test_resolved_since_in_another_timezone_compares_the_same_instant(
    database: Database, at: datetime
) -> None:
    resolved_at = at + timedelta(minutes=5)
    resolve(database, open_memory(database, at).id, resolved_at)
    # 12:05 UTC is 14:05 at +02:00; 14:06 there is one minute later.

    assert found_id(database, resolved_since=resolved_at.astimezone(PLUS_TWO)) == 1
    later = (resolved_at + timedelta(minutes=1)).astimezone(PLUS_TWO)
    assert found_id(database, resolved_since=later) is None


def test_a_platform_wide_and_an_organization_incident_are_different_problems(
    database: Database, at: datetime
) -> None:
    acme = open_memory(database, at, "acme")
    platform_wide = open_memory(database, at, None)

    assert (acme.id, platform_wide.id) == (1, 2)
    assert found_id(database, organization_id="acme") == 1
    assert found_id(database, organization_id=None) == 2
    assert found_id(database, organization_id="globex") is None


def test_platform_wide_resolved_incidents_are_not_found_for_an_organization(
    database: Database, at: datetime
) -> None:
    resolve(database, open_memory(database, at, None).id, at + timedelta(minutes=1))

    assert found_id(database, organization_id="acme", resolved_since=at) is None
    assert found_id(database, organization_id=None, resolved_since=at) == 1


def test_find_by_fingerprint_ignores_other_fingerprints(database: Database, at: datetime) -> None:
    open_memory(database, at, fingerprint="memory:worker")

    assert found_id(database, fingerprint="memory:api", resolved_since=at) is None
    assert found_id(database, fingerprint="memory:worker") == 1


@pytest.mark.parametrize(
    ("scope", "organization_id"),
    [(GLOBEX, "acme"), (ACME, None), (GLOBEX, None)],
    ids=["globex-asks-for-acme", "acme-asks-for-platform", "globex-asks-for-platform"],
)
def test_a_scope_that_cannot_see_the_organization_finds_nothing(
    database: Database, at: datetime, scope: Scope, organization_id: str | None
) -> None:
    open_memory(database, at, organization_id)
    resolved = open_memory(database, at, organization_id, fingerprint="disk:/")
    resolve(database, resolved.id, at + timedelta(minutes=1))

    assert found_id(database, scope, organization_id=organization_id) is None
    assert (
        found_id(
            database,
            scope,
            organization_id=organization_id,
            fingerprint="disk:/",
            resolved_since=at,
        )
        is None
    )
    assert found_id(database, PLATFORM, organization_id=organization_id) == 1


def test_an_organization_finds_its_own_incident(database: Database, at: datetime) -> None:
    open_memory(database, at, "acme")

    assert found_id(database, ACME, organization_id="acme") == 1


# ---- update_incident ---------------------------------------------------------------------


def test_an_update_sets_the_columns_and_appends_the_named_event_with_its_data(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    later = at + timedelta(minutes=3)

    update_incident(
        database,
        ACME,
        incident.id,
        at=later,
        actor="agent",
        event="incident.escalated",
        data={"from": "warning", "to": "critical"},
        severity=Severity.CRITICAL,
        title="api memory critical",
        last_breach_at=later,
    )

    assert get_incident(database, PLATFORM, incident.id) == replace(
        incident,
        severity=Severity.CRITICAL,
        title="api memory critical",
        updated_at=later,
        last_breach_at=later,
    )
    assert kinds(database, incident.id) == ["incident.opened", "incident.escalated"]
    escalated = list_events(database, PLATFORM, incident_id=incident.id)[-1]
    assert (escalated.kind, escalated.at, escalated.actor, escalated.organization_id) == (
        "incident.escalated",
        later,
        "agent",
        "acme",
    )
    assert escalated.data == {"from": "warning", "to": "critical"}
    assert verify_file(database.path) == Verdict(2)


def test_an_update_can_change_the_type_given_as_an_enum(database: Database, at: datetime) -> None:
    incident = open_memory(database, at)

    update_incident(
        database,
        PLATFORM,
        incident.id,
        at=at,
        actor="agent",
        event="incident.reclassified",
        data={"from": "memory", "to": "deploy"},
        type=IncidentType.DEPLOY,
    )

    found = get_incident(database, PLATFORM, incident.id)
    assert found is not None
    assert found.type is IncidentType.DEPLOY
    assert kinds(database, incident.id) == ["incident.opened", "incident.reclassified"]


@pytest.mark.parametrize(
    ("column", "value"), [("type", IncidentType.DEPLOY), ("severity", "critical")]
)
def test_a_checked_column_changes_only_with_the_event_that_tells_it(
    database: Database, at: datetime, column: str, value: object
) -> None:
    """verify-audit checks the table against the chain: a change the chain does not tell
    would read as tampering."""
    incident = open_memory(database, at)
    for event in (None, "incident.classified"):
        with pytest.raises(ValueError, match=f"{column} changes only with"):
            update_incident(
                database, PLATFORM, incident.id, at=at, actor="agent", event=event,
                **{column: value},
            )  # fmt: skip
    assert get_incident(database, PLATFORM, incident.id) == incident


def test_evidence_and_impact_round_trip_as_json(database: Database, at: datetime) -> None:
    incident = open_memory(database, at)
    evidence = {
        "rss_mb": [900, 1200.5],
        "apps": {"api": {"restarts": 3, "healthy": False}},
        "note": "grows after each deploy — ünïcode kept",
        "missing": None,
    }
    impact = {"organizations": ["acme"], "users_affected": 42}

    update_incident(
        database,
        PLATFORM,
        incident.id,
        at=at,
        actor="agent",
        event=None,
        evidence=evidence,
        impact=impact,
    )

    found = get_incident(database, PLATFORM, incident.id)
    assert found is not None
    assert (found.evidence, found.impact) == (evidence, impact)
    with database.read() as db:
        raw = db.execute("SELECT impact FROM incidents WHERE id = 1").fetchone()[0]
    assert raw == '{"organizations":["acme"],"users_affected":42}'


def test_an_update_without_an_event_changes_the_incident_and_appends_nothing(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    later = at + timedelta(minutes=1)

    update_incident(
        database,
        PLATFORM,
        incident.id,
        at=later,
        actor="agent",
        event=None,
        summary="memory grew 300 MB in 10 minutes",
    )

    assert get_incident(database, PLATFORM, incident.id) == replace(
        incident, summary="memory grew 300 MB in 10 minutes", updated_at=later
    )
    assert kinds(database, incident.id) == ["incident.opened"]


def test_an_event_that_cannot_be_appended_rolls_the_update_back(
    database: Database, at: datetime
) -> None:
    # The event's data fails to encode after the UPDATE ran: both are one transaction.
    incident = open_memory(database, at)
    before = stored(database)

    with pytest.raises(TypeError, match="not JSON serializable"):
        update_incident(
            database,
            PLATFORM,
            incident.id,
            at=at + timedelta(minutes=1),
            actor="agent",
            event="incident.escalated",
            data={"unencodable": object()},
            severity=Severity.CRITICAL,
        )

    assert stored(database) == before
    assert get_incident(database, PLATFORM, incident.id) == incident


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"status": "resolved"}, "cannot update incident columns: status"),
        ({"title": "renamed", "flaps": 7}, "cannot update incident columns: flaps"),
        (
            {"updated_at": "x", "organization_id": "globex", "summary": "s"},
            "cannot update incident columns: organization_id, updated_at",
        ),
        ({}, r"cannot update incident columns: \(none\)"),
    ],
    ids=["status", "flaps-beside-a-valid-column", "two-unknown", "none"],
)
def test_an_unknown_column_is_refused_and_nothing_changes(
    database: Database, at: datetime, columns: dict[str, Any], message: str
) -> None:
    incident = open_memory(database, at)
    before = stored(database)

    with pytest.raises(ValueError, match=f"^{message}$"):
        update_incident(
            database,
            PLATFORM,
            incident.id,
            at=at + timedelta(minutes=1),
            actor="agent",
            event="incident.escalated",
            **columns,
        )

    assert stored(database) == before


@pytest.mark.parametrize(
    ("owner", "scope"),
    [("acme", GLOBEX), (None, ACME)],
    ids=["globex-on-acme", "acme-on-platform"],
)
def test_an_update_from_a_scope_that_cannot_see_the_incident_is_refused_and_nothing_changes(
    database: Database, at: datetime, owner: str | None, scope: Scope
) -> None:
    incident = open_memory(database, at, owner)
    before, head = stored(database), database.anchor.head

    with pytest.raises(ScopeError, match=r"^no incident 1 in this scope$"):
        update_incident(
            database,
            scope,
            incident.id,
            at=at + timedelta(minutes=1),
            actor="mallory",
            event="incident.escalated",
            severity=Severity.CRITICAL,
        )

    assert stored(database) == before
    assert database.anchor.head == head


def test_an_update_of_a_missing_incident_is_refused(database: Database, at: datetime) -> None:
    with pytest.raises(ScopeError, match=r"^no incident 9 in this scope$"):
        update_incident(database, PLATFORM, 9, at=at, actor="agent", event=None, summary="x")

    assert stored(database) == ([], [])


def test_a_naive_last_breach_is_refused_before_anything_is_written(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    before = stored(database)

    with pytest.raises(ValueError, match="timestamps must be timezone-aware"):
        update_incident(
            database,
            PLATFORM,
            incident.id,
            at=at,
            actor="agent",
            event="incident.breached",
            last_breach_at=datetime(2024, 5, 1, 12, 30),
        )

    assert stored(database) == before


# ---- reopen_incident ---------------------------------------------------------------------


def test_reopening_a_resolved_incident_opens_it_with_one_more_flap(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    resolve(database, incident.id, at + timedelta(minutes=5))
    again = at + timedelta(minutes=7)

    reopened = reopen_incident(
        database, ACME, incident.id, at=again, actor="agent", reason="memory high again"
    )

    assert reopened is True
    assert get_incident(database, PLATFORM, incident.id) == replace(
        incident,
        status=IncidentStatus.OPEN,
        resolution=None,
        resolved_at=None,
        flaps=1,
        updated_at=again,
        last_breach_at=again,
    )
    event = list_events(database, PLATFORM, incident_id=incident.id)[-1]
    assert (event.kind, event.at, event.actor, event.organization_id, event.data) == (
        "incident.reopened",
        again,
        "agent",
        "acme",
        {"flaps": 1, "reason": "memory high again"},
    )


def test_a_second_reopen_of_an_open_incident_returns_false_and_writes_nothing(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    resolve(database, incident.id, at + timedelta(minutes=5))
    assert reopen_incident(database, ACME, incident.id, at=at, actor="agent", reason="first")
    before = stored(database)

    again = reopen_incident(database, ACME, incident.id, at=at, actor="agent", reason="second")

    assert again is False
    assert stored(database) == before


def test_an_incident_that_was_never_resolved_is_not_reopened(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    before = stored(database)

    assert reopen_incident(database, PLATFORM, incident.id, at=at, actor="a", reason="r") is False
    assert stored(database) == before


def test_each_reopen_counts_one_more_flap(database: Database, at: datetime) -> None:
    incident = open_memory(database, at)
    for minute in (1, 3, 5):
        resolve(database, incident.id, at + timedelta(minutes=minute))
        assert reopen_incident(
            database,
            PLATFORM,
            incident.id,
            at=at + timedelta(minutes=minute + 1),
            actor="agent",
            reason=f"flap at {minute}",
        )

    found = get_incident(database, PLATFORM, incident.id)
    assert found is not None
    assert found.flaps == 3
    reopens = [
        e.data["flaps"]
        for e in list_events(database, PLATFORM, incident_id=incident.id)
        if e.kind == "incident.reopened"
    ]
    assert reopens == [1, 2, 3]


@pytest.mark.parametrize(
    ("owner", "scope"),
    [("acme", GLOBEX), (None, ACME)],
    ids=["globex-on-acme", "acme-on-platform"],
)
def test_a_reopen_from_a_scope_that_cannot_see_the_incident_returns_false_and_writes_nothing(
    database: Database, at: datetime, owner: str | None, scope: Scope
) -> None:
    incident = open_memory(database, at, owner)
    resolve(database, incident.id, at + timedelta(minutes=1))
    before = stored(database)

    assert reopen_incident(database, scope, incident.id, at=at, actor="m", reason="r") is False
    assert stored(database) == before


def test_reopening_while_a_newer_incident_holds_the_fingerprint_is_refused_and_changes_nothing(
    database: Database, at: datetime
) -> None:
    # One unresolved incident per problem holds for reopen as for open: the caller
    # is expected to find_by_fingerprint first, which returns the newer one.
    first = open_memory(database, at)
    resolve(database, first.id, at + timedelta(minutes=1))
    open_memory(database, at + timedelta(minutes=2))
    before = stored(database)

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        reopen_incident(database, PLATFORM, first.id, at=at, actor="agent", reason="again")

    assert stored(database) == before


# ---- add_action with an outcome ----------------------------------------------------------


def test_an_action_with_an_outcome_stores_it_and_its_finish_time(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)
    finished = at + timedelta(seconds=4)

    action_id = add_action(
        database,
        ACME,
        incident.id,
        action="pm2_restart",
        params={"app": "api"},
        status="succeeded",
        at=finished,
        actor="agent",
        outcome={"exit_code": 0, "online_after_s": 3.5},
    )

    [row] = list_children(database, ACME, "incident_actions", incident.id)
    assert {k: row[k] for k in ("id", "status", "outcome", "requested_at", "finished_at")} == {
        "id": action_id,
        "status": "succeeded",
        "outcome": '{"exit_code":0,"online_after_s":3.5}',
        "requested_at": "2024-05-01T12:00:04.000000+00:00",
        "finished_at": "2024-05-01T12:00:04.000000+00:00",
    }
    event = list_events(database, PLATFORM, incident_id=incident.id)[-1]
    assert (event.kind, event.data["outcome"], event.data["finished_at"]) == (
        "action.recorded",
        {"exit_code": 0, "online_after_s": 3.5},
        "2024-05-01T12:00:04.000000+00:00",
    )


def test_an_action_without_an_outcome_has_an_empty_outcome_and_no_finish_time(
    database: Database, at: datetime
) -> None:
    incident = open_memory(database, at)

    add_action(
        database,
        ACME,
        incident.id,
        action="pm2_restart",
        params={"app": "api"},
        status="requested",
        at=at,
        actor="agent",
    )

    [row] = list_children(database, ACME, "incident_actions", incident.id)
    assert (row["outcome"], row["finished_at"]) == ("{}", None)


def test_the_finish_time_is_stored_in_utc(database: Database, at: datetime) -> None:
    incident = open_memory(database, at)

    add_action(
        database,
        PLATFORM,
        incident.id,
        action="nginx_reload",
        params={},
        status="failed",
        at=at.astimezone(PLUS_TWO),
        actor="agent",
        outcome={"error": "config test failed"},
    )

    [row] = list_children(database, PLATFORM, "incident_actions", incident.id)
    assert row["finished_at"] == at.astimezone(UTC).isoformat(timespec="microseconds")
    assert row["finished_at"] == "2024-05-01T12:00:00.000000+00:00"
