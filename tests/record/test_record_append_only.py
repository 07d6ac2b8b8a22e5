"""incident_events refuses UPDATE and DELETE, whoever opens the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from calmopsd.record.audit import append_event, list_events
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

CHANGES = [
    "UPDATE incident_events SET actor = 'mallory' WHERE seq = 1",
    "UPDATE incident_events SET data = '{}'",
    "DELETE FROM incident_events WHERE seq = 1",
    "DELETE FROM incident_events",
]


@pytest.fixture
def two_events(database: Database, at: datetime) -> Iterator[Database]:
    with database.write() as tx:
        append_event(tx, Scope.platform(), kind="daemon.started", actor="daemon", at=at)
        append_event(
            tx, Scope.platform(), kind="note", actor="ops", at=at, data={"text": "keep me"}
        )
    yield database


def rows(path: Path) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT seq, actor, data FROM incident_events ORDER BY seq").fetchall()
    finally:
        conn.close()


EXPECTED_ROWS = [(1, "daemon", "{}"), (2, "ops", '{"text":"keep me"}')]


@pytest.mark.parametrize("sql", CHANGES)
def test_the_writer_cannot_change_an_event(two_events: Database, sql: str) -> None:
    with (
        pytest.raises(sqlite3.IntegrityError, match="incident_events is append-only"),
        two_events.write() as tx,
    ):
        tx.db.execute(sql)

    assert rows(two_events.path) == EXPECTED_ROWS
    assert [e.seq for e in list_events(two_events, Scope.platform())] == [1, 2]


@pytest.mark.parametrize("sql", CHANGES)
def test_another_connection_cannot_change_an_event(two_events: Database, sql: str) -> None:
    conn = sqlite3.connect(two_events.path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="incident_events is append-only"):
            conn.execute(sql)
    finally:
        conn.close()

    assert rows(two_events.path) == EXPECTED_ROWS


def test_the_writer_keeps_working_after_a_refused_change(
    two_events: Database, at: datetime
) -> None:
    with pytest.raises(sqlite3.IntegrityError), two_events.write() as tx:
        tx.db.execute("DELETE FROM incident_events")

    with two_events.write() as tx:
        event = append_event(tx, Scope.platform(), kind="after", actor="daemon", at=at)

    assert event.seq == 3
    assert [e.kind for e in list_events(two_events, Scope.platform())] == [
        "daemon.started",
        "note",
        "after",
    ]
