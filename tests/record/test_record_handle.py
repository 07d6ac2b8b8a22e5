"""The record layer's handle on a connection (``record/handle.py``), on a real store file:
what it stood in for sqlite-utils to do, and what it refuses rather than guess."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from calmopsd.model import IncidentType, Severity
from calmopsd.record.codec import encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope


def opened(database: Database, at: datetime) -> int:
    incident = open_incident(
        database, Scope.platform(), organization_id=None, fingerprint="disk:/",
        type=IncidentType.DISK, severity=Severity.WARNING, title="Disk filling", at=at,
        actor="test",
    )  # fmt: skip
    return incident.id


def test_insert_returns_the_rows_id_and_query_reads_it_back_by_name(
    database: Database, at: datetime
) -> None:
    incident_id = opened(database, at)
    with database.read() as db:
        rows = list(
            db.query("SELECT id, title, opened_at FROM incidents WHERE id = ?", [incident_id])
        )
    assert rows == [{"id": incident_id, "title": "Disk filling", "opened_at": encode_time(at)}]


def test_an_unencoded_value_is_refused_and_nothing_is_written(
    database: Database, at: datetime
) -> None:
    row = {"action": "pm2_restart", "target": "web", "params": encode_json({}),
           "undo": encode_json({}), "started_at": at, "expires_at": encode_time(at)}  # fmt: skip
    with (
        pytest.raises(TypeError, match=r"active_actions\.started_at: encode datetime"),
        database.write() as tx,
    ):
        tx.insert("active_actions", row)
    with database.read() as db:
        assert db.execute("SELECT count(*) FROM active_actions").fetchone()[0] == 0


def test_query_refuses_a_statement_without_rows_and_columns_of_one_name(
    database: Database,
) -> None:
    with database.write() as tx:
        with pytest.raises(ValueError, match="return rows"):
            tx.db.query("UPDATE incidents SET title = title WHERE 0")
        with pytest.raises(ValueError, match="a name for each column"):
            tx.db.query("SELECT 1 AS x, 2 AS x")
        assert list(tx.db.query("SELECT 1 AS x, 2 AS y")) == [{"x": 1, "y": 2}]


def test_a_replace_fires_the_append_only_delete_trigger(database: Database, at: datetime) -> None:
    """recursive_triggers stays on, as sqlite-utils set it: INSERT OR REPLACE over an audit
    event deletes the old row first, and the table refuses that as it refuses a DELETE."""
    opened(database, at)
    with database.read() as db:
        assert db.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
        first = db.execute("SELECT * FROM incident_events ORDER BY seq LIMIT 1").fetchone()
    marks = ", ".join("?" for _ in first)
    with pytest.raises(sqlite3.DatabaseError), database.write() as tx:
        tx.db.execute(f"INSERT OR REPLACE INTO incident_events VALUES ({marks})", first)
    with database.read() as db:
        assert db.execute("SELECT * FROM incident_events ORDER BY seq LIMIT 1").fetchone() == first
