"""Recommendations: stored with expiry and evidence, decided once by compare-and-set, per scope."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from calmopsd.errors import ScopeError
from calmopsd.model import AuditEvent, IncidentType, Recommendation, Severity
from calmopsd.model import RecommendationStatus as Status
from calmopsd.record.audit import Verdict, list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.incidents import open_incident
from calmopsd.record.recommendations import (
    add_recommendation,
    decide_recommendation,
    due_to_expire,
    get_recommendation,
    list_recommendations,
    record_refusal,
)
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()
ACME = Scope.organization("acme")
OTHER = Scope.organization("other")
THREADS = 8


def open_memory(database: Database, at: datetime, organization_id: str | None = "acme") -> int:
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
    ).id


def propose(
    database: Database,
    at: datetime,
    incident_id: int = 1,
    *,
    expires_at: datetime | None = None,
    rationale: str = "restart api: memory has grown for an hour",
) -> int:
    return add_recommendation(
        database,
        PLATFORM,
        incident_id,
        kind="safe_action",
        action="pm2_restart",
        params={"app": "api"},
        rationale=rationale,
        at=at,
        actor="agent",
        expires_at=expires_at,
    )


def approve(
    database: Database,
    recommendation_id: int,
    at: datetime,
    *,
    scope: Scope = ACME,
    actor: str = "alice",
) -> bool:
    return decide_recommendation(
        database,
        scope,
        recommendation_id,
        expected=Status.PROPOSED,
        new=Status.APPROVED,
        at=at,
        actor=actor,
    )


def recommendation(database: Database, recommendation_id: int) -> Recommendation:
    found = get_recommendation(database, PLATFORM, recommendation_id)
    assert found is not None
    return found


def stored(database: Database) -> tuple[list[Any], list[AuditEvent]]:
    """Every recommendation row and every event: what "nothing changed" is checked against."""
    with database.read() as db:
        rows = db.execute("SELECT * FROM incident_recommendations ORDER BY id").fetchall()
    return rows, list_events(database, PLATFORM)


def events(database: Database, kind: str) -> list[AuditEvent]:
    return [e for e in list_events(database, PLATFORM) if e.kind == kind]


# ---- storing -------------------------------------------------------------------------------


def test_expiry_evidence_and_preconditions_read_back_through_get_and_list(
    database: Database, at: datetime
) -> None:
    incident_id = open_memory(database, at)
    expires_at = at + timedelta(minutes=15)

    recommendation_id = add_recommendation(
        database,
        ACME,
        incident_id,
        kind="safe_action",
        action="pm2_restart",
        params={"app": "api"},
        rationale="restart api: memory has grown for an hour",
        at=at,
        actor="agent",
        expires_at=expires_at,
        evidence={"rss_mb": [700, 800, 900], "window": "1h"},
        preconditions={"app": "api", "rss_mb_at_least": 850},
    )

    expected = Recommendation(
        id=1,
        incident_id=1,
        organization_id="acme",
        kind="safe_action",
        action="pm2_restart",
        params={"app": "api"},
        rationale="restart api: memory has grown for an hour",
        status=Status.PROPOSED,
        created_at=at,
        expires_at=expires_at,
        evidence={"rss_mb": [700, 800, 900], "window": "1h"},
        preconditions={"app": "api", "rss_mb_at_least": 850},
        decided_at=None,
        decided_by=None,
        decision_note=None,
    )
    assert recommendation_id == 1
    assert get_recommendation(database, ACME, 1) == expected
    assert list_recommendations(database, ACME, incident_id) == [expected]
    [proposed] = events(database, "recommendation.proposed")
    assert proposed.data == {
        "id": 1,
        "kind": "safe_action",
        "action": "pm2_restart",
        "params": {"app": "api"},
        "rationale": "restart api: memory has grown for an hour",
        "created_at": "2024-05-01T12:00:00.000000+00:00",
        "expires_at": "2024-05-01T12:15:00.000000+00:00",
        "evidence": {"rss_mb": [700, 800, 900], "window": "1h"},
        "preconditions": {"app": "api", "rss_mb_at_least": 850},
    }


def test_a_recommendation_without_extras_has_no_expiry_and_empty_evidence(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)

    add_recommendation(
        database, ACME, 1, kind="manual", rationale="raise the limit", at=at, actor="agent"
    )

    found = recommendation(database, 1)
    assert (found.action, found.params, found.expires_at, found.evidence, found.preconditions) == (
        None,
        {},
        None,
        {},
        {},
    )


def test_list_recommendations_returns_one_incidents_in_id_order(
    database: Database, at: datetime
) -> None:
    open_memory(database, at, "acme")
    open_memory(database, at, None)
    for incident_id, rationale in ((1, "first"), (2, "platform"), (1, "second")):
        propose(database, at, incident_id, rationale=rationale)

    assert [(r.id, r.rationale) for r in list_recommendations(database, ACME, 1)] == [
        (1, "first"),
        (3, "second"),
    ]
    assert [r.id for r in list_recommendations(database, PLATFORM, 2)] == [2]
    assert list_recommendations(database, ACME, 2) == []


# ---- deciding ------------------------------------------------------------------------------


def test_a_proposed_recommendation_is_approved_once_with_who_when_and_why(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    propose(database, at)
    proposed = recommendation(database, 1)
    decided = at + timedelta(minutes=2)

    approved = decide_recommendation(
        database,
        ACME,
        1,
        expected=Status.PROPOSED,
        new=Status.APPROVED,
        at=decided,
        actor="alice",
        note="go ahead",
        data={"readings": {"rss_mb": 910}},
    )

    assert approved is True
    assert recommendation(database, 1) == replace(
        proposed,
        status=Status.APPROVED,
        decided_at=decided,
        decided_by="alice",
        decision_note="go ahead",
    )
    [event] = events(database, "recommendation.approved")
    assert (event.incident_id, event.organization_id, event.actor, event.at, event.data) == (
        1,
        "acme",
        "alice",
        decided,
        {"id": 1, "from": "proposed", "note": "go ahead", "readings": {"rss_mb": 910}},
    )


def test_a_second_approval_returns_false_and_changes_nothing(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    propose(database, at)
    assert approve(database, 1, at, actor="alice")
    before = stored(database)

    assert approve(database, 1, at + timedelta(minutes=1), actor="bob") is False
    assert stored(database) == before
    assert recommendation(database, 1).decided_by == "alice"


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=1)], ids=["at-expiry", "after"])
def test_an_approval_at_or_after_expiry_returns_false_and_changes_nothing(
    database: Database, at: datetime, late: timedelta
) -> None:
    open_memory(database, at)
    expires_at = at + timedelta(minutes=10)
    propose(database, at, expires_at=expires_at)
    before = stored(database)

    assert approve(database, 1, expires_at + late) is False
    assert stored(database) == before
    assert recommendation(database, 1).status is Status.PROPOSED


def test_an_approval_one_microsecond_before_expiry_succeeds(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    expires_at = at + timedelta(minutes=10)
    propose(database, at, expires_at=expires_at)

    assert approve(database, 1, expires_at - timedelta(microseconds=1)) is True
    assert recommendation(database, 1).status is Status.APPROVED


def test_a_recommendation_refused_as_expired_can_then_be_expired(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    expires_at = at + timedelta(minutes=10)
    propose(database, at, expires_at=expires_at)
    late = expires_at + timedelta(minutes=1)
    assert approve(database, 1, late) is False

    expired = decide_recommendation(
        database, PLATFORM, 1, expected=Status.PROPOSED, new=Status.EXPIRED, at=late, actor="agent"
    )

    assert expired is True
    found = recommendation(database, 1)
    assert (found.status, found.decided_at, found.decided_by) == (Status.EXPIRED, late, "agent")
    assert [e.kind for e in list_events(database, PLATFORM, incident_id=1)] == [
        "incident.opened",
        "recommendation.proposed",
        "recommendation.expired",
    ]
    assert approve(database, 1, late) is False


def test_an_approved_recommendation_is_executed_after_its_expiry(
    database: Database, at: datetime
) -> None:
    # Expiry bounds the proposal only: once approved in time, execution may finish later.
    open_memory(database, at)
    expires_at = at + timedelta(minutes=10)
    propose(database, at, expires_at=expires_at)
    assert approve(database, 1, at)

    executed = decide_recommendation(
        database,
        PLATFORM,
        1,
        expected=Status.APPROVED,
        new=Status.EXECUTED,
        at=expires_at + timedelta(minutes=5),
        actor="agent",
    )

    assert executed is True
    assert recommendation(database, 1).status is Status.EXECUTED
    [event] = events(database, "recommendation.executed")
    assert event.data == {"id": 1, "from": "approved", "note": None}


def test_of_eight_racing_approvals_exactly_one_wins_and_one_event_is_written(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    propose(database, at, expires_at=at + timedelta(hours=1))
    start = threading.Barrier(THREADS)
    results: dict[str, bool] = {}
    failures: list[BaseException] = []

    def race(actor: str) -> None:
        try:
            start.wait(timeout=10)
            results[actor] = approve(database, 1, at, actor=actor)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=race, args=(f"admin-{n}",), daemon=True) for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [t.name for t in threads if t.is_alive()] == []
    assert failures == []
    assert sorted(results.values()) == [False] * (THREADS - 1) + [True]
    [winner] = [actor for actor, won in results.items() if won]
    [event] = events(database, "recommendation.approved")
    assert (event.actor, recommendation(database, 1).decided_by) == (winner, winner)
    assert verify_file(database.path) == Verdict(3)


# ---- expiry and refusals -------------------------------------------------------------------


def test_due_to_expire_lists_only_proposed_recommendations_past_their_expiry(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    soon, later = at + timedelta(minutes=5), at + timedelta(minutes=10)
    propose(database, at, expires_at=soon, rationale="soon")  # 1
    propose(database, at, expires_at=later, rationale="later")  # 2
    propose(database, at, rationale="never")  # 3
    propose(database, at, expires_at=soon, rationale="approved in time")  # 4
    propose(database, at, expires_at=soon, rationale="rejected")  # 5
    assert approve(database, 4, at)
    assert decide_recommendation(
        database, ACME, 5, expected=Status.PROPOSED, new=Status.REJECTED, at=at, actor="alice"
    )

    def due(moment: datetime) -> list[int]:
        return [r.id for r in due_to_expire(database, PLATFORM, moment)]

    assert due(soon - timedelta(microseconds=1)) == []
    assert due(soon) == [1]
    assert due(later) == [1, 2]
    assert due(at + timedelta(days=365)) == [1, 2]


def test_an_expired_recommendation_is_no_longer_due(database: Database, at: datetime) -> None:
    open_memory(database, at)
    soon = at + timedelta(minutes=5)
    propose(database, at, expires_at=soon)
    [due] = due_to_expire(database, PLATFORM, soon)

    assert decide_recommendation(
        database, PLATFORM, due.id, expected=Status.PROPOSED, new=Status.EXPIRED, at=soon, actor="a"
    )
    assert due_to_expire(database, PLATFORM, soon) == []


def test_a_refused_approval_is_recorded_with_its_reason_detail_and_actor(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    propose(database, at)
    before_rows, _ = stored(database)
    refused_at = at + timedelta(minutes=3)

    record_refusal(
        database,
        ACME,
        recommendation(database, 1),
        at=refused_at,
        actor="bob",
        reason="stale",
        detail="api memory is back under 850 MB",
    )

    [event] = events(database, "recommendation.approval_refused")
    assert (event.incident_id, event.organization_id, event.actor, event.at, event.data) == (
        1,
        "acme",
        "bob",
        refused_at,
        {"id": 1, "reason": "stale", "detail": "api memory is back under 850 MB"},
    )
    assert stored(database)[0] == before_rows
    assert verify_file(database.path) == Verdict(3)


# ---- other organizations -------------------------------------------------------------------


@pytest.mark.parametrize("owner", ["acme", None], ids=["acme", "platform"])
def test_another_organization_cannot_see_or_decide_a_recommendation(
    database: Database, at: datetime, owner: str | None
) -> None:
    incident_id = open_memory(database, at, owner)
    propose(database, at, incident_id, expires_at=at + timedelta(minutes=5))
    before, head = stored(database), database.anchor.head

    assert get_recommendation(database, OTHER, 1) is None
    assert list_recommendations(database, OTHER, incident_id) == []
    assert due_to_expire(database, OTHER, at + timedelta(hours=1)) == []
    for new in (Status.APPROVED, Status.REJECTED, Status.EXPIRED):
        assert (
            decide_recommendation(
                database,
                OTHER,
                1,
                expected=Status.PROPOSED,
                new=new,
                at=at,
                actor="mallory",
            )
            is False
        )
    assert stored(database) == before
    assert database.anchor.head == head


def test_another_organization_cannot_record_a_refusal_on_a_recommendation(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    propose(database, at)
    before = stored(database)

    with pytest.raises(ScopeError, match=r"^no incident 1 in this scope$"):
        record_refusal(
            database,
            OTHER,
            recommendation(database, 1),
            at=at,
            actor="mallory",
            reason="stale",
            detail="x",
        )

    assert stored(database) == before


def test_the_owning_organization_can_decide_its_own_recommendation(
    database: Database, at: datetime
) -> None:
    open_memory(database, at)
    propose(database, at)

    assert approve(database, 1, at, scope=ACME) is True
    assert get_recommendation(database, ACME, 1) == recommendation(database, 1)
