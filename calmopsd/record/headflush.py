"""The head file's write after a COMMIT, off the writer's path.

Why (docs/decisions.md, "Audit appends: the head's write after a COMMIT on a thread of
its own (issue 16)"): before its COMMIT every commit group writes the head file naming
its last event as pending, so when ``write()`` returns the event is durable and the
file names it. The write after the COMMIT only turns "pending" into "head", and need
not hold the writer back: a lone writer appending in a loop would otherwise wait for
three flushes per append instead of two. So the group's first writer hands it to this
thread and returns. The thread writes at once, unless a next group is under way: that
group's write before its own COMMIT carries the head (or, if it appends nothing, its
hand-off here after its COMMIT does), so the file still lags a committed head by one
group at most, and only for as long as one write takes when the store is idle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger("calmopsd.audit")


class HeadFlusher:
    """Runs ``flush`` on a thread of its own each time :meth:`request` is called, unless
    ``busy()`` says a next commit group has begun (which carries the head itself)."""

    def __init__(self, flush: Callable[[], None], busy: Callable[[], bool]):
        self._flush = flush
        self._busy = busy
        self._cond = threading.Condition()
        self._due = False  # a flush was asked for and has not run yet
        self._running = False  # a flush is being made now
        self._closed = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for the head to be written soon; returns at once."""
        with self._cond:
            if self._closed:
                return
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="calmopsd-audit-head", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every flush asked for has been made (or skipped for a next group);
        False if ``timeout`` passed first. For tests and for :meth:`close`."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._due and not self._running, timeout)

    def close(self) -> None:
        """Stop the thread after the flushes asked for; no flush is made after this."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._due or self._closed)
                if not self._due:
                    return  # closed, nothing left to write
                self._due, self._running = False, True
            try:
                if not self._busy():
                    self._flush()
            except Exception as exc:  # the next group's write carries the head
                log.error("audit.head_flush_failed", error=str(exc))
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
