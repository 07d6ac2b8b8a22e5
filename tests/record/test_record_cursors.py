"""Consumer cursors in a real SQLite file: start at the head, only go forward, survive a reopen."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from calmopsd.record.audit import record_event
from calmopsd.record.cursors import advance_cursor, read_batch, read_cursor, start_cursor
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope


def append(database: Database, at: datetime, count: int) -> None:
    for n in range(count):
        record_event(
            database, Scope.platform(), kind="test.event", actor="test", at=at, data={"n": n}
        )


def test_a_new_consumer_starts_at_the_head_of_the_log(database: Database, at: datetime) -> None:
    append(database, at, 3)
    assert read_cursor(database, "journal") is None
    assert start_cursor(database, "journal", at) == 3
    append(database, at, 1)
    assert start_cursor(database, "journal", at) == 3  # an existing cursor is kept
    assert read_cursor(database, "journal") == 3


def test_a_consumer_of_an_empty_log_starts_at_0(database: Database, at: datetime) -> None:
    assert start_cursor(database, "journal", at) == 0


def test_the_cursor_moves_only_forward_and_only_from_where_it_is(
    database: Database, at: datetime
) -> None:
    start_cursor(database, "journal", at)
    assert advance_cursor(database, "journal", expected=0, to=5, at=at) is True
    assert advance_cursor(database, "journal", expected=5, to=3, at=at) is False
    assert advance_cursor(database, "journal", expected=5, to=5, at=at) is False
    assert advance_cursor(database, "journal", expected=0, to=9, at=at) is False
    assert advance_cursor(database, "unknown", expected=0, to=1, at=at) is False
    assert read_cursor(database, "journal") == 5


def test_a_cursor_survives_a_reopen_of_the_database(db_path: Path, at: datetime) -> None:
    first = Database.open(db_path)
    start_cursor(first, "journal", at)
    assert advance_cursor(first, "journal", expected=0, to=2, at=at)
    first.close()
    again = Database.open(db_path)
    try:
        assert read_cursor(again, "journal") == 2
        assert start_cursor(again, "journal", at) == 2
    finally:
        again.close()


def test_batches_are_bounded_and_start_after_the_cursor(database: Database, at: datetime) -> None:
    append(database, at, 7)
    assert [e.seq for e in read_batch(database, 0, limit=3)] == [1, 2, 3]
    assert [e.seq for e in read_batch(database, 5, limit=3)] == [6, 7]
    assert read_batch(database, 7, limit=3) == []
    assert read_batch(database, 2, limit=1)[0].data == {"n": 2}
