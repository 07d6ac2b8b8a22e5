"""Organization isolation is enforced by the store: each scope sees and writes only its own.

Two organizations ("acme", "globex") and platform-wide rows (organization_id
NULL) are put in every tenant table; then every read path is checked for the
exact set of ids each scope sees, and every write path for what it refuses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from calmopsd.errors import ScopeError
from calmopsd.model import IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import append_event, list_events
from calmopsd.record.database import Database
from calmopsd.record.head import AuditHead, head_path_for, read_head
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

OWNERS: tuple[str | None, ...] = ("acme", "globex", None)
TABLES = (
    "incidents",
    "incident_events",
    "incident_actions",
    "incident_recommendations",
    "health_snapshots",
)
PLATFORM = Scope.platform()


@dataclass
class Tenants:
    """Which ids each owner (organization id, or None for platform) holds, per table."""

    database: Database
    incident: dict[str | None, int]
    ids: dict[str, dict[str | None, set[int]]]

    def visible_to(self, table: str, owners: tuple[str | None, ...]) -> set[int]:
        return set().union(*(self.ids[table][owner] for owner in owners))


def _seed_owner(database: Database, owner: str | None, at: datetime) -> dict[str, set[int]]:
    scope = Scope.organization(owner) if owner else PLATFORM
    name = owner or "platform"
    incident = open_incident(
        database,
        scope,
        organization_id=owner,
        fingerprint="memory:api",
        type=IncidentType.MEMORY,
        severity=Severity.WARNING,
        title=f"{name} api memory high",
        at=at,
        actor="agent",
    )
    action = add_action(
        database,
        scope,
        incident.id,
        action="pm2_restart",
        params={"app": f"{name}-api"},
        status="executed",
        at=at,
        actor="agent",
    )
    recommendation = add_recommendation(
        database,
        scope,
        incident.id,
        kind="manual",
        rationale=f"{name}: add memory",
        at=at,
        actor="agent",
    )
    with database.write() as tx:
        note = append_event(
            tx, scope, kind="note", actor="ops", at=at, organization_id=owner, data={"o": name}
        )
    snapshot = add_snapshot(
        database,
        scope,
        sampler=f"memory-{name}",
        taken_at=at,
        ok=True,
        duration_ms=2.0,
        readings={"used": 1},
        organization_id=owner,
    )
    events = {e.seq for e in list_events(database, PLATFORM) if e.organization_id == owner}
    assert note.seq in events
    return {
        "incidents": {incident.id},
        "incident_events": events,
        "incident_actions": {action},
        "incident_recommendations": {recommendation},
        "health_snapshots": {snapshot},
    }


@pytest.fixture
def tenants(database: Database, at: datetime) -> Tenants:
    seeded = {owner: _seed_owner(database, owner, at) for owner in OWNERS}
    ids = {table: {owner: seeded[owner][table] for owner in OWNERS} for table in TABLES}
    incident = {owner: next(iter(seeded[owner]["incidents"])) for owner in OWNERS}
    return Tenants(database, incident, ids)


def visible(database: Database, scope: Scope) -> dict[str, set[int]]:
    """Every id each read path returns to ``scope``."""
    return {
        "incidents": {i.id for i in list_incidents(database, scope)},
        "incident_events": {e.seq for e in list_events(database, scope)},
        "incident_actions": {r["id"] for r in list_children(database, scope, "incident_actions")},
        "incident_recommendations": {
            r["id"] for r in list_children(database, scope, "incident_recommendations")
        },
        "health_snapshots": {s.id for s in latest_snapshots(database, scope)},
    }


def row_counts(database: Database) -> dict[str, int]:
    with database.read() as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def head(database: Database) -> AuditHead | None:
    assert database.settle_head(10)  # the write after the last COMMIT is the flusher's
    return read_head(head_path_for(database.path))


# ---- reads ---------------------------------------------------------------------------


def test_the_seed_puts_rows_of_every_owner_in_every_table(tenants: Tenants) -> None:
    assert tenants.incident == {"acme": 1, "globex": 2, None: 3}
    assert tenants.ids["incident_events"] == {
        "acme": {1, 2, 3, 4},
        "globex": {5, 6, 7, 8},
        None: {9, 10, 11, 12},
    }
    for table in TABLES:
        assert all(tenants.ids[table][owner] for owner in OWNERS), table


@pytest.mark.parametrize("organization", ["acme", "globex"])
def test_an_organization_sees_exactly_its_own_rows(tenants: Tenants, organization: str) -> None:
    seen = visible(tenants.database, Scope.organization(organization))

    assert seen == {table: tenants.ids[table][organization] for table in TABLES}


def test_the_platform_sees_every_row(tenants: Tenants) -> None:
    seen = visible(tenants.database, PLATFORM)

    assert seen == {table: tenants.visible_to(table, OWNERS) for table in TABLES}


def test_an_organization_without_rows_sees_nothing(tenants: Tenants) -> None:
    seen = visible(tenants.database, Scope.organization("initech"))

    assert seen == {table: set() for table in TABLES}


@pytest.mark.parametrize("owner", ["globex", None])
def test_another_owners_incident_reads_as_absent(tenants: Tenants, owner: str | None) -> None:
    acme = Scope.organization("acme")
    other = tenants.incident[owner]

    assert get_incident(tenants.database, acme, other) is None
    assert list_events(tenants.database, acme, incident_id=other) == []
    assert list_children(tenants.database, acme, "incident_actions", other) == []
    assert get_incident(tenants.database, PLATFORM, other) is not None


# ---- writes that must be refused -------------------------------------------------------


@pytest.mark.parametrize("owner", ["globex", None])
def test_a_status_change_on_another_owners_incident_changes_nothing(
    tenants: Tenants, owner: str | None, at: datetime
) -> None:
    database, other = tenants.database, tenants.incident[owner]
    before = get_incident(database, PLATFORM, other)
    counts, anchored = row_counts(database), head(database)

    changed = change_status(
        database,
        Scope.organization("acme"),
        other,
        expected=IncidentStatus.OPEN,
        new=IncidentStatus.RESOLVED,
        at=at,
        actor="mallory",
    )

    assert changed is False
    assert get_incident(database, PLATFORM, other) == before
    assert (row_counts(database), head(database)) == (counts, anchored)


def _add_action(database: Database, scope: Scope, incident_id: int, at: datetime) -> None:
    add_action(
        database,
        scope,
        incident_id,
        action="pm2_restart",
        params={},
        status="executed",
        at=at,
        actor="mallory",
    )


def _add_recommendation(database: Database, scope: Scope, incident_id: int, at: datetime) -> None:
    add_recommendation(
        database, scope, incident_id, kind="manual", rationale="x", at=at, actor="mallory"
    )


def _append_event(database: Database, scope: Scope, incident_id: int, at: datetime) -> None:
    with database.write() as tx:
        append_event(tx, scope, kind="note", actor="mallory", at=at, incident_id=incident_id)


CHILD_WRITES: dict[str, Callable[[Database, Scope, int, datetime], None]] = {
    "add_action": _add_action,
    "add_recommendation": _add_recommendation,
    "append_event": _append_event,
}


@pytest.mark.parametrize("owner", ["globex", None])
@pytest.mark.parametrize("write", CHILD_WRITES)
def test_a_child_row_on_another_owners_incident_is_refused_and_nothing_written(
    tenants: Tenants, write: str, owner: str | None, at: datetime
) -> None:
    database = tenants.database
    counts, anchored = row_counts(database), head(database)

    with pytest.raises(ScopeError, match=f"no incident {tenants.incident[owner]} in this scope"):
        CHILD_WRITES[write](database, Scope.organization("acme"), tenants.incident[owner], at)

    assert (row_counts(database), head(database)) == (counts, anchored)
    assert database.anchor.head == anchored


@pytest.mark.parametrize("owner", ["globex", None])
def test_opening_an_incident_for_another_owner_is_refused(
    tenants: Tenants, owner: str | None, at: datetime
) -> None:
    database = tenants.database
    counts, anchored = row_counts(database), head(database)

    with pytest.raises(ScopeError, match="scope 'acme' cannot write rows of"):
        open_incident(
            database,
            Scope.organization("acme"),
            organization_id=owner,
            fingerprint="disk:/",
            type=IncidentType.DISK,
            severity=Severity.CRITICAL,
            title="not yours",
            at=at,
            actor="mallory",
        )

    assert (row_counts(database), head(database)) == (counts, anchored)


def test_an_organization_snapshot_without_an_owner_is_its_own(
    tenants: Tenants, at: datetime
) -> None:
    snapshot_id = add_snapshot(
        tenants.database,
        Scope.organization("acme"),
        sampler="logs",
        taken_at=at,
        ok=True,
        duration_ms=1.0,
        readings={},
    )

    visible = {s.id for s in latest_snapshots(tenants.database, Scope.organization("acme"))}
    assert snapshot_id in visible
    hidden = {s.id for s in latest_snapshots(tenants.database, Scope.organization("globex"))}
    assert snapshot_id not in hidden


@pytest.mark.parametrize("owner", ["globex"])
def test_a_snapshot_for_another_owner_is_refused(
    tenants: Tenants, owner: str | None, at: datetime
) -> None:
    database = tenants.database
    counts = row_counts(database)

    with pytest.raises(ScopeError):
        add_snapshot(
            database,
            Scope.organization("acme"),
            sampler="memory",
            taken_at=at,
            ok=True,
            duration_ms=1.0,
            readings={},
            organization_id=owner,
        )

    assert row_counts(database) == counts


def test_an_organization_event_naming_another_organization_is_refused(
    tenants: Tenants, at: datetime
) -> None:
    database = tenants.database
    counts, anchored = row_counts(database), head(database)

    with pytest.raises(ScopeError, match="scope 'acme' cannot write rows of globex"):
        _append_event_for(database, Scope.organization("acme"), "globex", at)

    assert (row_counts(database), head(database)) == (counts, anchored)


def test_an_organization_event_without_an_owner_belongs_to_the_organization(
    database: Database, at: datetime
) -> None:
    event = _append_event_for(database, Scope.organization("acme"), None, at)

    assert event == ("acme", 1)


def _append_event_for(
    database: Database, scope: Scope, organization_id: str | None, at: datetime
) -> tuple[str | None, int]:
    with database.write() as tx:
        event = append_event(
            tx, scope, kind="note", actor="ops", at=at, organization_id=organization_id
        )
    return event.organization_id, event.seq


# ---- organization ids ---------------------------------------------------------------------

HOSTILE_IDS = [
    "acme' OR '1'='1",
    "acme; DROP TABLE incidents; --",
    "../etc",
    "acme/../globex",
    "ACME",
    "",
    " acme",
    "acme\n",
    "-acme",
    "_acme",
    "acmé",
    "a" * 64,
    "a" * 200,
]


@pytest.mark.parametrize("organization_id", HOSTILE_IDS)
def test_a_hostile_organization_id_is_not_a_scope(organization_id: str) -> None:
    with pytest.raises(ScopeError, match="invalid organization id"):
        Scope.organization(organization_id)


@pytest.mark.parametrize("organization_id", ["a", "acme", "acme-eu_2", "0", "a" * 63])
def test_a_boring_organization_id_is_a_scope(organization_id: str) -> None:
    assert Scope.organization(organization_id).organization_id == organization_id


@pytest.mark.parametrize("organization_id", HOSTILE_IDS[:4])
def test_the_platform_cannot_write_rows_for_a_hostile_organization_id(
    database: Database, organization_id: str, at: datetime
) -> None:
    with pytest.raises(ScopeError, match="invalid organization id"):
        open_incident(
            database,
            PLATFORM,
            organization_id=organization_id,
            fingerprint="memory:api",
            type=IncidentType.MEMORY,
            severity=Severity.INFO,
            title="x",
            at=at,
            actor="agent",
        )

    assert row_counts(database)["incidents"] == 0


# ---- the database's own guard ---------------------------------------------------------------

RAW_CHILD_INSERTS = {
    "incident_events": (
        "INSERT INTO incident_events (seq, at, incident_id, organization_id, kind, actor, data,"
        " prev_hash, hash) VALUES (100, '2024-05-01', ?, ?, 'note', 'raw', '{}', 'x', 'y')"
    ),
    "incident_actions": (
        "INSERT INTO incident_actions (incident_id, organization_id, action, status,"
        " requested_by, requested_at) VALUES (?, ?, 'pm2_restart', 'executed', 'raw', 'now')"
    ),
    "incident_recommendations": (
        "INSERT INTO incident_recommendations (incident_id, organization_id, kind, rationale,"
        " created_at) VALUES (?, ?, 'manual', 'raw', 'now')"
    ),
}


@pytest.mark.parametrize("row_owner", ["globex", None])
@pytest.mark.parametrize("table", RAW_CHILD_INSERTS)
def test_the_database_refuses_a_child_row_in_another_organization_than_its_incident(
    tenants: Tenants, table: str, row_owner: str | None
) -> None:
    database = tenants.database
    counts = row_counts(database)
    params: list[Any] = [tenants.incident["acme"], row_owner]

    with (
        pytest.raises(sqlite3.IntegrityError, match=f"{table}.organization_id must match"),
        database.write() as tx,
    ):
        tx.db.execute(RAW_CHILD_INSERTS[table], params)

    assert row_counts(database) == counts


@pytest.mark.parametrize("table", ["incident_actions", "incident_recommendations"])
def test_the_database_accepts_a_raw_child_row_in_its_incidents_organization(
    tenants: Tenants, table: str
) -> None:
    database = tenants.database
    before = row_counts(database)[table]

    with database.write() as tx:
        tx.db.execute(RAW_CHILD_INSERTS[table], [tenants.incident["globex"], "globex"])

    assert row_counts(database)[table] == before + 1
