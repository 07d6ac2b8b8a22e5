"""Migration 5 on a real version-4 file: rows survive the recommendations rebuild, guards return."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from calmopsd.model import Incident, IncidentStatus, IncidentType, Recommendation, Severity
from calmopsd.model import RecommendationStatus as Status
from calmopsd.record.database import Database, connect
from calmopsd.record.incidents import get_incident
from calmopsd.record.migrations import migrate
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope

OPENED = "2024-05-01T12:00:00.000000+00:00"
DECIDED = "2024-05-01T12:05:00.000000+00:00"
# The recommendation columns version 4 has; migration 5 must carry every one across.
V4_RECOMMENDATION_COLUMNS = (
    "id, incident_id, organization_id, kind, action, params, rationale, status, "
    "created_at, decided_at, decided_by"
)
V4_INCIDENT_COLUMNS = (
    "id, organization_id, fingerprint, type, severity, status, title, description, summary, "
    "evidence, resolution, opened_at, updated_at, resolved_at"
)


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cursor = conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def seed_version_4(conn: sqlite3.Connection) -> None:
    """Two incidents (acme, platform-wide) and a proposed and an approved recommendation."""
    for org, fingerprint in (("acme", "memory:api"), (None, "network:upstream")):
        insert(
            conn,
            "incidents",
            {
                "organization_id": org,
                "fingerprint": fingerprint,
                "type": "memory" if org else "network",
                "severity": "warning",
                "status": "open",
                "title": f"{fingerprint} high",
                "evidence": '{"rss_mb":900}' if org else "{}",
                "opened_at": OPENED,
                "updated_at": OPENED,
            },
        )
    insert(
        conn,
        "incident_recommendations",
        {
            "incident_id": 1,
            "organization_id": "acme",
            "kind": "safe_action",
            "action": "pm2_restart",
            "params": '{"app":"api"}',
            "rationale": "api memory has grown for an hour",
            "created_at": OPENED,
        },
    )
    insert(
        conn,
        "incident_recommendations",
        {
            "incident_id": 2,
            "organization_id": None,
            "kind": "manual",
            "rationale": "ask the upstream provider",
            "status": "approved",
            "created_at": OPENED,
            "decided_at": DECIDED,
            "decided_by": "alice",
        },
    )


@pytest.fixture
def version_4(db_path: Path) -> Path:
    """A database file at schema version 4 holding seeded rows."""
    db_path.parent.mkdir(parents=True)
    conn = connect(db_path)
    try:
        assert migrate(conn, upto=4) == [1, 2, 3, 4]
        seed_version_4(conn)
    finally:
        conn.close()
    return db_path


@pytest.fixture
def migrated(version_4: Path) -> Iterator[sqlite3.Connection]:
    """The version-4 file migrated to 5 on calmopsd's own connection settings."""
    conn = connect(version_4)
    assert migrate(conn, upto=5) == [5]
    yield conn
    conn.close()


def rows(conn: sqlite3.Connection, columns: str, table: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()


def test_every_version_4_incident_and_recommendation_column_survives_unchanged(
    version_4: Path,
) -> None:
    conn = connect(version_4)
    try:
        incidents_before = rows(conn, V4_INCIDENT_COLUMNS, "incidents")
        recommendations_before = rows(conn, V4_RECOMMENDATION_COLUMNS, "incident_recommendations")

        assert migrate(conn, upto=5) == [5]

        assert rows(conn, V4_INCIDENT_COLUMNS, "incidents") == incidents_before
        assert rows(conn, V4_RECOMMENDATION_COLUMNS, "incident_recommendations") == (
            recommendations_before
        )
    finally:
        conn.close()
    assert recommendations_before == [
        (
            1,
            1,
            "acme",
            "safe_action",
            "pm2_restart",
            '{"app":"api"}',
            "api memory has grown for an hour",
            "proposed",
            OPENED,
            None,
            None,
        ),
        (
            2,
            2,
            None,
            "manual",
            None,
            "{}",
            "ask the upstream provider",
            "approved",
            OPENED,
            DECIDED,
            "alice",
        ),
    ]


def test_the_new_columns_take_their_defaults_on_old_rows(migrated: sqlite3.Connection) -> None:
    assert rows(migrated, "id, flaps, impact, last_breach_at", "incidents") == [
        (1, 0, "{}", None),
        (2, 0, "{}", None),
    ]
    assert rows(
        migrated,
        "id, expires_at, evidence, preconditions, decision_note",
        "incident_recommendations",
    ) == [(1, None, "{}", "{}", None), (2, None, "{}", "{}", None)]


def test_migrated_rows_read_back_through_the_store(version_4: Path, at: datetime) -> None:
    database = Database.open(version_4)
    try:
        recommendation = get_recommendation(database, Scope.organization("acme"), 1)
        incident = get_incident(database, Scope.organization("acme"), 1)
    finally:
        database.close()

    assert recommendation == Recommendation(
        id=1,
        incident_id=1,
        organization_id="acme",
        kind="safe_action",
        action="pm2_restart",
        params={"app": "api"},
        rationale="api memory has grown for an hour",
        status=Status.PROPOSED,
        created_at=at,
        expires_at=None,
        evidence={},
        preconditions={},
    )
    assert incident == Incident(
        id=1,
        organization_id="acme",
        fingerprint="memory:api",
        type=IncidentType.MEMORY,
        severity=Severity.WARNING,
        status=IncidentStatus.OPEN,
        title="memory:api high",
        description="",
        summary="",
        evidence={"rss_mb": 900},
        resolution=None,
        opened_at=at,
        updated_at=at,
        resolved_at=None,
        flaps=0,
        impact={},
        last_breach_at=None,
    )


def test_version_4_refuses_the_expired_status(version_4: Path) -> None:
    conn = connect(version_4)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            conn.execute("UPDATE incident_recommendations SET status = 'expired' WHERE id = 1")
    finally:
        conn.close()


def test_after_migration_expired_is_accepted_and_bogus_still_refused(
    migrated: sqlite3.Connection,
) -> None:
    migrated.execute("UPDATE incident_recommendations SET status = 'expired' WHERE id = 1")

    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        migrated.execute("UPDATE incident_recommendations SET status = 'bogus' WHERE id = 2")

    assert rows(migrated, "id, status", "incident_recommendations") == [
        (1, "expired"),
        (2, "approved"),
    ]


@pytest.mark.parametrize(
    ("incident_id", "organization_id"),
    [(1, "globex"), (1, None), (2, "acme")],
    ids=["acme-incident-globex-row", "acme-incident-platform-row", "platform-incident-acme-row"],
)
def test_the_same_organization_trigger_still_refuses_a_mismatched_row(
    migrated: sqlite3.Connection, incident_id: int, organization_id: str | None
) -> None:
    with pytest.raises(
        sqlite3.IntegrityError,
        match=r"^incident_recommendations\.organization_id must match its incident$",
    ):
        insert(
            migrated,
            "incident_recommendations",
            {
                "incident_id": incident_id,
                "organization_id": organization_id,
                "kind": "manual",
                "rationale": "not yours",
                "created_at": OPENED,
            },
        )

    assert migrated.execute("SELECT count(*) FROM incident_recommendations").fetchone()[0] == 2


def test_a_row_in_its_incidents_organization_is_still_accepted(
    migrated: sqlite3.Connection,
) -> None:
    new_id = insert(
        migrated,
        "incident_recommendations",
        {
            "incident_id": 1,
            "organization_id": "acme",
            "kind": "manual",
            "rationale": "raise the limit",
            "created_at": OPENED,
        },
    )

    assert new_id == 3


def test_the_rebuilt_table_still_refuses_an_unknown_incident(
    migrated: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        insert(
            migrated,
            "incident_recommendations",
            {
                "incident_id": 99,
                "kind": "manual",
                "rationale": "orphan",
                "created_at": OPENED,
            },
        )


def test_the_recommendation_index_and_trigger_exist_again_on_the_rebuilt_table(
    migrated: sqlite3.Connection,
) -> None:
    attached = migrated.execute(
        "SELECT type, name FROM sqlite_master "
        "WHERE tbl_name = 'incident_recommendations' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY type, name"
    ).fetchall()
    leftovers = migrated.execute(
        "SELECT name FROM sqlite_master WHERE name = 'incident_recommendations_v5'"
    ).fetchall()
    plan = migrated.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM incident_recommendations WHERE incident_id = 1"
    ).fetchall()

    assert attached == [
        ("index", "incident_recommendations_by_incident"),
        ("index", "incident_recommendations_open"),
        ("table", "incident_recommendations"),
        ("trigger", "incident_recommendations_same_org"),
    ]
    assert leftovers == []
    assert plan[0][3] == (
        "SEARCH incident_recommendations"
        " USING COVERING INDEX incident_recommendations_by_incident (incident_id=?)"
    )


def test_the_migrated_file_passes_integrity_and_foreign_key_checks(
    migrated: sqlite3.Connection,
) -> None:
    assert migrated.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert migrated.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_migration_5_that_fails_half_way_leaves_version_4_as_it_was(version_4: Path) -> None:
    # A stray table with the rebuild's name makes migration 5 fail after it has
    # already added the incident columns: those must be rolled back with it.
    conn = connect(version_4)
    try:
        conn.execute("CREATE TABLE incident_recommendations_v5 (x INTEGER)")
        schema_before = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        recommendations_before = rows(conn, "*", "incident_recommendations")

        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(conn)

        assert conn.in_transaction is False
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (4,)
        assert (
            conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
            == schema_before
        )
        assert rows(conn, "*", "incident_recommendations") == recommendations_before
    finally:
        conn.close()
