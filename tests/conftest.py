"""Fixtures shared by every test: a fixed moment, a store in tmp_path, clean logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from calmopsd.record.database import Database, database_path


@pytest.fixture
def at() -> datetime:
    """A fixed, timezone-aware moment: nothing in the store reads the clock."""
    return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return database_path(tmp_path / "state")


@pytest.fixture
def database(db_path: Path) -> Iterator[Database]:
    """A migrated database in a real file under tmp_path, closed at teardown."""
    opened = Database.open(db_path)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """Code under test may reconfigure logging (a daemon reload does): undo it after each test,
    so no test writes to another test's captured, closed stdout."""
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.WARNING)
