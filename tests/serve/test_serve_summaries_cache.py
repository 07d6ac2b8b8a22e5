"""The weekly summary is kept for a minute, and not a moment longer than the event log
stays still: a new event is in the next one at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.clock import ManualClock

from calmopsd.model import IncidentType, Severity
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope
from calmopsd.serve.summaries import Summaries
from calmopsd.serve.tokens import Caller

ROOT = Caller("root", Scope.platform(), "viewer", True, "token:root")
NOW = datetime(2026, 3, 11, 12, 0, 30, tzinfo=UTC)


def opened(database: Database, n: int, at: datetime) -> None:
    open_incident(database, Scope.platform(), organization_id=None, fingerprint=f"memory:{n}",
                  type=IncidentType.MEMORY, severity=Severity.WARNING, title=f"m{n}", at=at,
                  actor="calmopsd")  # fmt: skip


def test_a_summary_is_kept_until_the_event_log_moves(tmp_path: Path) -> None:
    database = Database.open(database_path(tmp_path / "state"))
    try:
        clock = ManualClock(NOW)
        opened(database, 1, NOW - timedelta(days=1))
        summaries = Summaries(database, clock, trace_reads=False)
        first = summaries.weekly(ROOT, None, None)
        clock.advance(timedelta(seconds=20))  # the same minute: the same summary object
        assert summaries.weekly(ROOT, None, None) is first
        assert first.this.opened == 1
        opened(database, 2, NOW - timedelta(hours=1))
        again = summaries.weekly(ROOT, None, None)
        assert again is not first and again.this.opened == 2
    finally:
        database.close()
