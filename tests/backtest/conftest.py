"""The recorded history (history.py), written once per module into a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backtest.history import Recorded, record

from calmopsd.record.database import Database, database_path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Recorded]]:
    """The state directory holding the history, closed once written (readers open it)."""
    state = tmp_path_factory.mktemp("backtest") / "state"
    database = Database.open(database_path(state))
    try:
        recorded = record(database)
    finally:
        database.close()
    yield state, recorded
