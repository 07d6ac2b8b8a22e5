"""Migration 9 on a real version-8 file: the incidents table is rebuilt for the ``app``
type with its children still pointing at it, and every guard comes back."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from calmopsd.errors import StoreError
from calmopsd.model import IncidentType, Severity
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.incidents import add_action, get_incident, list_incidents, open_incident
from calmopsd.record.recommendations import add_recommendation, list_recommendations
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def version_8_with_history(db_path: Path, at: datetime) -> dict[str, object]:
    old = Database.open(db_path, upto=8)
    assert old.schema_version() == 8
    incident = open_incident(
        old, PLATFORM, organization_id="acme", fingerprint="network:app=api",
        type=IncidentType.NETWORK, severity=Severity.CRITICAL, title="api errored", at=at,
        actor="calmopsd", evidence={"breach": {"rule": "pm2_app_errored"}},
    )  # fmt: skip
    add_action(
        old, PLATFORM, incident.id, action="pm2_restart", params={"app": "api"},
        status="succeeded", at=at, actor="calmopsd", outcome={"detail": "ok"},
    )  # fmt: skip
    add_recommendation(
        old, PLATFORM, incident.id, kind="manual", rationale="read the error log", at=at,
        actor="calmopsd",
    )  # fmt: skip
    kept = {
        "incident": get_incident(old, PLATFORM, incident.id),
        "events": len(list_events(old, PLATFORM)),
    }
    old.close()
    return kept


def test_the_rebuild_keeps_every_incident_and_what_points_at_it(
    db_path: Path, at: datetime
) -> None:
    before = version_8_with_history(db_path, at)
    upgraded = Database.open(db_path)
    try:
        assert upgraded.schema_version() >= 9
        (incident,) = list_incidents(upgraded, PLATFORM)
        assert incident == before["incident"]
        assert len(list_events(upgraded, PLATFORM)) == before["events"]
        assert [r.rationale for r in list_recommendations(upgraded, PLATFORM, incident.id)] == [
            "read the error log"
        ]
        opened = open_incident(
            upgraded, PLATFORM, organization_id=None, fingerprint="app:app=web",
            type=IncidentType.APP, severity=Severity.WARNING, title="web crashing", at=at,
            actor="calmopsd",
        )  # fmt: skip
        assert opened.type is IncidentType.APP
    finally:
        upgraded.close()
    assert verify_file(db_path).ok
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_the_rebuilt_table_keeps_its_guards(db_path: Path, at: datetime) -> None:
    version_8_with_history(db_path, at)
    Database.open(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA foreign_keys = ON")
    try:
        with pytest.raises(sqlite3.IntegrityError):  # a second unresolved incident, same problem
            conn.execute(
                "INSERT INTO incidents (organization_id, fingerprint, type, severity, status, "
                "title, opened_at, updated_at) VALUES ('acme', 'network:app=api', 'network', "
                "'warning', 'open', 't', 'x', 'x')"
            )
        with pytest.raises(sqlite3.IntegrityError):  # an action of another organization
            conn.execute(
                "INSERT INTO incident_actions (incident_id, organization_id, action, params, "
                "status, requested_at, requested_by, outcome) "
                "VALUES (1, 'globex', 'pm2_restart', '{}', 'succeeded', 'x', 'x', '{}')"
            )
        with pytest.raises(sqlite3.IntegrityError):  # a row for no incident at all
            conn.execute(
                "INSERT INTO incident_recommendations (incident_id, organization_id, kind, "
                "rationale, created_at) VALUES (99, NULL, 'manual', 'r', 'x')"
            )
    finally:
        conn.close()


def test_a_reference_without_its_row_stops_the_rebuild(db_path: Path, at: datetime) -> None:
    version_8_with_history(db_path, at)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute(
        "INSERT INTO incident_recommendations (incident_id, organization_id, kind, rationale, "
        "created_at) VALUES (99, NULL, 'manual', 'orphan', 'x')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="would leave a reference without its row"):
        Database.open(db_path)
    conn = sqlite3.connect(db_path)
    try:  # nothing of the migration stayed
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (8,)
        assert conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'incidents_v9'"
        ).fetchone() == (0,)
    finally:
        conn.close()
