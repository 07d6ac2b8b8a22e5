"""The event log's time never runs backwards, so a timeline read by seq reads in time."""

from __future__ import annotations

from datetime import datetime, timedelta

from calmopsd.record.audit import list_events, record_event, verify_file
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def test_an_event_stamped_before_the_last_one_is_recorded_at_the_last_ones_time(
    database: Database, at: datetime
) -> None:
    """The executor's outcome at 12:00:20, then a reading taken at 12:00:05 and taken up
    after it: the reading's events come after the outcome, in time as in seq."""
    first = record_event(
        database, PLATFORM, kind="action.executed", actor="calmopsd",
        at=at + timedelta(seconds=20), data={},
    )  # fmt: skip
    late = record_event(
        database, PLATFORM, kind="incident.breach_added", actor="calmopsd",
        at=at + timedelta(seconds=5), data={},
    )  # fmt: skip
    later = record_event(
        database, PLATFORM, kind="incident.held", actor="calmopsd",
        at=at + timedelta(seconds=30), data={},
    )  # fmt: skip
    assert [e.at for e in (first, late, later)] == [
        at + timedelta(seconds=20),
        at + timedelta(seconds=20),
        at + timedelta(seconds=30),
    ]
    stored = list_events(database, PLATFORM)
    assert [e.at for e in stored] == sorted(e.at for e in stored)
    assert [e.seq for e in stored] == [1, 2, 3]
    assert verify_file(database.path).ok  # the hash covers the time as recorded


def test_events_in_time_order_keep_their_own_times(database: Database, at: datetime) -> None:
    times = [at, at + timedelta(microseconds=1), at + timedelta(hours=1)]
    for moment in times:
        record_event(database, PLATFORM, kind="test", actor="t", at=moment, data={})
    assert [e.at for e in list_events(database, PLATFORM)] == times
