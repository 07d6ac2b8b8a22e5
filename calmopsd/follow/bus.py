"""The follower: delivers the event log to each consumer, from its stored cursor.

For each consumer, a round (:meth:`Follower.run_once`):

1. skips the consumer while it is backing off after a failure;
2. reads at most one batch of events after its cursor (creating the cursor at
   the log's head the first time the consumer is seen);
3. calls the handler for each event in seq order, stopping at the first that
   raises — later events wait behind it, so nothing is lost or reordered;
4. stores the cursor at the last event handled (compare-and-set, forward only).

A crash between 3 and 4 hands the same events over again after the restart:
delivery is at-least-once and handlers must be idempotent. A failing handler
is one ``follow.failed`` line and a retry after a growing delay; the other
consumers never notice. The daemon runs rounds in a thread (:meth:`start`)
every :data:`POLL_S`, at once after :meth:`wake`, and a last one at :meth:`stop`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from calmopsd.clock import Clock
from calmopsd.model import AuditEvent
from calmopsd.record.cursors import BATCH, advance_cursor, read_batch, start_cursor
from calmopsd.record.database import Database

log = structlog.get_logger("calmopsd.follow")

Handler = Callable[[AuditEvent], None]

POLL_S = 1.0
FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class Backoff:
    """A consumer stopped at ``seq`` after ``failures`` tries in a row; next try at ``retry_at``."""

    seq: int
    failures: int
    retry_at: datetime


class Follower:
    """Runs every consumer in ``consumers`` (name → handler) over ``database``'s event log."""

    def __init__(
        self,
        database: Database,
        consumers: Mapping[str, Handler],
        clock: Clock,
        *,
        batch: int = BATCH,
        poll_s: float = POLL_S,
    ):
        self.database = database
        self.consumers = dict(consumers)
        self.clock = clock
        self.batch = batch
        self.poll_s = poll_s
        self.backoff: dict[str, Backoff] = {}
        self._cursors: dict[str, int] = {}
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, now: datetime) -> None:
        """Create the cursor of every consumer that has none, at the log's head.

        The daemon calls this before anything appends, so no event of its run is
        older than a new consumer's start.
        """
        for name in self.consumers:
            self._cursors[name] = start_cursor(self.database, name, now)

    def run_once(self, now: datetime) -> dict[str, int]:
        """One round over every consumer; how many events each one handled."""
        return {name: self._follow(name, handler, now) for name, handler in self.consumers.items()}

    def _follow(self, name: str, handler: Handler, now: datetime) -> int:
        waiting = self.backoff.get(name)
        if waiting is not None and waiting.retry_at > now:
            return 0
        cursor = self._cursors.get(name)
        if cursor is None:
            cursor = self._cursors[name] = start_cursor(self.database, name, now)
        handled, count = cursor, 0
        for event in read_batch(self.database, cursor, limit=self.batch):
            try:
                handler(event)
            except Exception:  # one consumer's failure must not stop the others
                self._failed(name, event, now)
                break
            handled, count = event.seq, count + 1
        else:
            self._recovered(name)
        if count:
            self._store(name, cursor, handled, now)
        return count

    def _store(self, name: str, cursor: int, handled: int, now: datetime) -> None:
        if advance_cursor(self.database, name, expected=cursor, to=handled, at=now):
            self._cursors[name] = handled
            return
        # Someone else moved it (a second follower of this consumer): go on from
        # where the store says, so this one never moves it back.
        log.warning("follow.cursor_moved", consumer=name, expected=cursor, handled=handled)
        self._cursors.pop(name, None)

    def _failed(self, name: str, event: AuditEvent, now: datetime) -> None:
        before = self.backoff.get(name)
        failures = before.failures + 1 if before is not None and before.seq == event.seq else 1
        delay = min(FIRST_RETRY * 2 ** (failures - 1), LONGEST_RETRY)
        self.backoff[name] = Backoff(event.seq, failures, now + delay)
        log.exception(
            "follow.failed",
            consumer=name,
            seq=event.seq,
            kind=event.kind,
            failures=failures,
            retry_in_s=delay.total_seconds(),
        )

    def _recovered(self, name: str) -> None:
        before = self.backoff.pop(name, None)
        if before is not None:
            log.info("follow.recovered", consumer=name, seq=before.seq, failures=before.failures)

    # -- the daemon's thread -------------------------------------------------------

    def start(self) -> None:
        """Create missing cursors now, then run rounds in a thread until :meth:`stop`."""
        self.begin(self.clock.now())
        self._thread = threading.Thread(target=self._run, name="follow", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the next round now instead of at the end of the poll interval."""
        self._woken.set()

    def stop(self, timeout: float) -> bool:
        """Stop after one last round (what was appended before the stop is followed now,
        not at the next start); False if that did not end within ``timeout``."""
        self._stopping.set()
        self._woken.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            self._woken.clear()
            # Read before the round: a stop asked for during a round needs one more
            # round, begun after the stop, to see what was appended just before it.
            last = self._stopping.is_set()
            try:
                handled = self.run_once(self.clock.now())
            except Exception:  # the store failed (locked, disk): try again next round
                log.exception("follow.round_failed")
                handled = {}
            if last:
                return
            if self._stopping.is_set():
                continue
            if any(count >= self.batch for count in handled.values()):
                continue  # a backlog: the next batch without waiting
            self._woken.wait(self.poll_s)
