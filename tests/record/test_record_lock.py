"""One process writes a database at a time; a failed head write does not look like tampering."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from calmopsd.errors import StoreError
from calmopsd.record.audit import append_event, verify_file
from calmopsd.record.database import Database
from calmopsd.record.head import head_path_for, read_head
from calmopsd.record.scope import Scope


def test_a_second_open_of_the_same_database_is_refused_naming_the_holder(db_path: Path) -> None:
    first = Database.open(db_path)
    try:
        with pytest.raises(StoreError, match=r"in use by another calmopsd \(pid \d+\)"):
            Database.open(db_path)
    finally:
        first.close()
    Database.open(db_path).close()  # released on close


def test_a_head_file_that_cannot_be_written_is_logged_and_written_on_the_next_append(
    database: Database, at: datetime
) -> None:
    head_file = head_path_for(database.path)
    blocker = head_file.with_name(head_file.name + ".tmp")
    blocker.mkdir()  # the temp file cannot be created: os.open fails
    with database.write() as tx:
        append_event(tx, Scope.platform(), kind="t.one", actor="test", at=at)
    assert database.settle_head(10)  # the flusher's try fails the same way
    assert read_head(head_file).seq == 0  # type: ignore[union-attr]
    blocker.rmdir()
    with database.write() as tx:
        event = append_event(tx, Scope.platform(), kind="t.two", actor="test", at=at)
    assert database.settle_head(10)
    assert read_head(head_file) is not None
    assert read_head(head_file).seq == event.seq == 2  # type: ignore[union-attr]
    assert database.anchor.frozen_reason is None
    assert verify_file(database.path).ok
