"""The follower on a real SQLite file: cursors across restarts, failures, independent consumers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.clock import ManualClock

from calmopsd.follow import CONSUMERS
from calmopsd.follow.bus import Follower
from calmopsd.model import AuditEvent
from calmopsd.record.audit import record_event
from calmopsd.record.cursors import read_cursor
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope


def append(database: Database, at: datetime, count: int) -> None:
    for n in range(count):
        record_event(
            database, Scope.platform(), kind="test.event", actor="test", at=at, data={"n": n}
        )


class Seen:
    """A handler that keeps the seq of every event it is given, and can be told to fail."""

    def __init__(self, fail_at: set[int] | None = None):
        self.seqs: list[int] = []
        self.fail_at = fail_at if fail_at is not None else set()

    def __call__(self, event: AuditEvent) -> None:
        if event.seq in self.fail_at:
            raise RuntimeError(f"cannot handle {event.seq}")
        self.seqs.append(event.seq)


def test_the_shipped_consumers_are_the_journal() -> None:
    assert list(CONSUMERS) == ["journal", "recommendations"]


def test_nothing_is_handled_twice_across_a_restart(db_path: Path, at: datetime) -> None:
    seen = Seen()
    database = Database.open(db_path)
    follower = Follower(database, {"test": seen}, ManualClock(at), batch=2)
    follower.begin(at)
    append(database, at, 5)
    assert follower.run_once(at) == {"test": 2}
    assert follower.run_once(at) == {"test": 2}
    database.close()

    reopened = Database.open(db_path)
    try:
        assert read_cursor(reopened, "test") == 4
        again = Follower(reopened, {"test": seen}, ManualClock(at), batch=2)
        again.begin(at)
        assert again.run_once(at) == {"test": 1}
        assert again.run_once(at) == {"test": 0}
    finally:
        reopened.close()
    assert seen.seqs == [1, 2, 3, 4, 5]


def test_a_consumer_added_to_a_log_with_history_starts_after_it(
    database: Database, at: datetime
) -> None:
    append(database, at, 3)
    seen = Seen()
    follower = Follower(database, {"new": seen}, ManualClock(at))
    assert follower.run_once(at) == {"new": 0}
    append(database, at, 1)
    assert follower.run_once(at) == {"new": 1}
    assert seen.seqs == [4]


def test_a_failing_event_is_retried_with_backoff_and_later_events_wait(
    database: Database, at: datetime
) -> None:
    seen = Seen(fail_at={3})
    follower = Follower(database, {"test": seen}, ManualClock(at))
    follower.begin(at)
    append(database, at, 5)

    with capture_logs() as logs:
        assert follower.run_once(at) == {"test": 2}
        assert follower.run_once(at + timedelta(seconds=0.5)) == {"test": 0}  # backing off
        assert follower.run_once(at + timedelta(seconds=1)) == {"test": 0}  # fails again
        assert follower.run_once(at + timedelta(seconds=2.5)) == {"test": 0}  # backing off
    assert seen.seqs == [1, 2]
    assert read_cursor(database, "test") == 2
    assert [
        {k: v for k, v in line.items() if k != "exc_info"} for line in logs
    ] == [
        {
            "event": "follow.failed", "log_level": "error", "consumer": "test", "seq": 3,
            "kind": "test.event", "failures": 1, "retry_in_s": 1.0,
        },
        {
            "event": "follow.failed", "log_level": "error", "consumer": "test", "seq": 3,
            "kind": "test.event", "failures": 2, "retry_in_s": 2.0,
        },
    ]  # fmt: skip

    seen.fail_at.clear()
    with capture_logs() as logs:
        assert follower.run_once(at + timedelta(seconds=3)) == {"test": 3}
    assert seen.seqs == [1, 2, 3, 4, 5]
    assert read_cursor(database, "test") == 5
    assert logs == [
        {
            "event": "follow.recovered", "log_level": "info", "consumer": "test", "seq": 3,
            "failures": 2,
        }
    ]  # fmt: skip


def test_the_backoff_doubles_up_to_a_minute(database: Database, at: datetime) -> None:
    follower = Follower(database, {"test": Seen(fail_at={1})}, ManualClock(at))
    follower.begin(at)
    append(database, at, 1)
    now, delays = at, []
    with capture_logs():
        for _ in range(9):
            follower.run_once(now)
            delays.append((follower.backoff["test"].retry_at - now).total_seconds())
            now = follower.backoff["test"].retry_at
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert follower.backoff["test"].failures == 9


def test_two_consumers_are_independent(database: Database, at: datetime) -> None:
    stuck, fine = Seen(fail_at={2}), Seen()
    follower = Follower(database, {"stuck": stuck, "fine": fine}, ManualClock(at))
    follower.begin(at)
    append(database, at, 4)
    with capture_logs():
        assert follower.run_once(at) == {"stuck": 1, "fine": 4}
    append(database, at, 1)
    with capture_logs():
        assert follower.run_once(at + timedelta(seconds=1)) == {"stuck": 0, "fine": 1}
    assert (stuck.seqs, fine.seqs) == ([1], [1, 2, 3, 4, 5])
    assert (read_cursor(database, "stuck"), read_cursor(database, "fine")) == (1, 5)


def test_a_cursor_moved_by_another_follower_is_never_moved_back(
    database: Database, at: datetime
) -> None:
    first, second = Seen(), Seen()
    one = Follower(database, {"test": first}, ManualClock(at), batch=2)
    two = Follower(database, {"test": second}, ManualClock(at), batch=2)
    one.begin(at)
    two.begin(at)
    append(database, at, 4)
    assert one.run_once(at) == {"test": 2}
    with capture_logs() as logs:
        assert two.run_once(at) == {"test": 2}  # handled 1-2 again, but the store says 2
    assert logs == [
        {
            "event": "follow.cursor_moved", "log_level": "warning", "consumer": "test",
            "expected": 0, "handled": 2,
        }
    ]  # fmt: skip
    assert two.run_once(at) == {"test": 2}
    assert (first.seqs, second.seqs, read_cursor(database, "test")) == ([1, 2], [1, 2, 3, 4], 4)


def test_the_thread_follows_the_log_when_woken_and_stops_cleanly(
    database: Database, at: datetime
) -> None:
    handled = threading.Event()
    seen: list[int] = []

    def consume(event: AuditEvent) -> None:
        seen.append(event.seq)
        handled.set()

    follower = Follower(database, {"test": consume}, ManualClock(at), poll_s=60)
    follower.start()
    try:
        append(database, at, 1)
        follower.wake()
        assert handled.wait(5)
    finally:
        assert follower.stop(5) is True
    assert seen == [1]
    assert read_cursor(database, "test") == 1


def test_a_stop_follows_what_was_appended_before_it(database: Database, at: datetime) -> None:
    seen = Seen()
    follower = Follower(database, {"test": seen}, ManualClock(at), poll_s=60)
    follower.start()
    append(database, at, 2)
    assert follower.stop(5) is True
    assert seen.seqs == [1, 2]
    assert read_cursor(database, "test") == 2


def test_a_follower_never_started_stops_at_once(database: Database, at: datetime) -> None:
    assert Follower(database, {"test": Seen()}, ManualClock(at)).stop(0) is True


@pytest.mark.parametrize("batch", [1, 3])
def test_a_backlog_is_drained_without_waiting_for_the_poll(
    database: Database, at: datetime, batch: int
) -> None:
    done = threading.Event()
    seen: list[int] = []

    def consume(event: AuditEvent) -> None:
        seen.append(event.seq)
        if event.seq == 7:
            done.set()

    follower = Follower(database, {"test": consume}, ManualClock(at), batch=batch, poll_s=60)
    follower.begin(at)
    append(database, at, 7)
    follower.start()
    try:
        assert done.wait(5)
    finally:
        assert follower.stop(5) is True
    assert seen == [1, 2, 3, 4, 5, 6, 7]
