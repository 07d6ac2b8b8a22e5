"""Database.write and Database.open: all or nothing, and nothing left behind on failure."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from commit_support import break_at_commit

from calmopsd.errors import AuditError, SchemaTooNewError
from calmopsd.model import IncidentType, Severity
from calmopsd.record.audit import Verdict, append_event, list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.head import head_path_for
from calmopsd.record.incidents import list_incidents, open_incident
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


class Boom(Exception):
    pass


def open_descriptors(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (Linux /proc)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += fd.readlink() == path
        except OSError:
            continue  # the descriptor iterdir itself used is already closed
    return count


def test_an_exception_inside_write_rolls_back_every_row_of_the_transaction(
    database: Database, at: datetime
) -> None:
    with pytest.raises(Boom), database.write() as tx:
        incident_id = tx.insert(
            "incidents",
            {
                "organization_id": None,
                "fingerprint": "disk:/",
                "type": "disk",
                "severity": "critical",
                "status": "open",
                "title": "disk full",
                "opened_at": "2024-05-01T12:00:00.000000+00:00",
                "updated_at": "2024-05-01T12:00:00.000000+00:00",
            },
        )
        append_event(tx, PLATFORM, kind="incident.opened", actor="t", at=at, incident_id=1)
        raise Boom

    assert incident_id == 1
    assert list_incidents(database, PLATFORM) == []
    assert list_events(database, PLATFORM) == []


def test_a_failed_commit_rolls_back_and_the_writer_keeps_working(
    database: Database, at: datetime
) -> None:
    # A deferred constraint is checked at COMMIT: the simplest real way to make it fail.
    with (
        pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"),
        database.write() as tx,
    ):
        append_event(tx, PLATFORM, kind="doomed", actor="t", at=at)
        break_at_commit(tx)

    with database.write() as tx:
        event = append_event(tx, PLATFORM, kind="after", actor="t", at=at)

    assert event.seq == 1
    assert [e.kind for e in list_events(database, PLATFORM)] == ["after"]
    assert verify_file(database.path) == Verdict(1)


def test_a_failed_open_leaves_no_connection_on_the_file(db_path: Path) -> None:
    Database.open(db_path).close()
    head_path_for(db_path).write_text("not json\n")

    for _ in range(3):
        with pytest.raises(AuditError, match="unreadable audit head file"):
            Database.open(db_path)

    assert open_descriptors(db_path) == 0


def test_a_refused_migration_leaves_no_connection_on_the_file(db_path: Path) -> None:
    Database.open(db_path).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'newer')")
    conn.close()

    with pytest.raises(SchemaTooNewError, match="schema version 999"):
        Database.open(db_path)

    assert open_descriptors(db_path) == 0


def test_a_closed_database_holds_no_connection_on_the_file(db_path: Path, at: datetime) -> None:
    database = Database.open(db_path)
    open_incident(
        database,
        PLATFORM,
        organization_id=None,
        fingerprint="memory:api",
        type=IncidentType.MEMORY,
        severity=Severity.INFO,
        title="x",
        at=at,
        actor="t",
    )
    assert open_descriptors(db_path) >= 2  # the writer and this thread's reader

    database.close()

    assert open_descriptors(db_path) == 0
