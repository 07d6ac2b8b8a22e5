"""Group commit: write transactions that arrive together share one COMMIT.

Why (docs/decisions.md, "Audit appends: one commit group, one head write before its
COMMIT (issue 16)"): a durable append costs the head file's flush before the COMMIT
and the COMMIT's own fsync, each far slower than the append's work. So a writer that
arrives while another's transaction is still open joins it, in a SAVEPOINT of its own
(a failing writer undoes only its own changes), and the writer that began the group
commits for all of them once those already waiting have joined: one head write
before, one COMMIT, and one head write after, made on a thread of its own
(:mod:`.headflush`). A lone writer commits at once, as before.

Every writer still returns only after the COMMIT of its group: durable, with the head
file naming its events (as the head, or as the group's pending end).

:class:`Turns` only decides who may use the writer connection and which group a writer
joins; :class:`calmopsd.record.database.Database` does the SQL.
"""

from __future__ import annotations

import threading

from calmopsd.errors import StoreClosed
from calmopsd.record.head import AuditHead

MAX_GROUP = 32  # writers in one group: bounds how long the first one waits for the others


class Group:
    """One SQLite write transaction and the writers in it, in the order they ran."""

    def __init__(self) -> None:
        self.size = 0  # writers whose changes stand in the transaction
        # (the hash the group's first event links to, the group's last event)
        self.appended: tuple[str, AuditHead] | None = None
        self.closed = False  # sealed for its COMMIT: no one joins any more
        self.lost: BaseException | None = None  # an error that ended the transaction early
        self.error: BaseException | None = None  # why the group did not commit
        self.done = threading.Event()

    def take(self, first_prev: str | None, last: AuditHead | None) -> None:
        """Count a writer whose changes stand, with the events it appended, if any."""
        self.size += 1
        if first_prev is not None and last is not None:
            self.extend(first_prev, last)

    def extend(self, first_prev: str, last: AuditHead) -> None:
        """Events appended after everything before them in the group (queued ones too)."""
        prev = self.appended[0] if self.appended is not None else first_prev
        self.appended = (prev, last)


class Turns:
    """Whose turn it is on the writer connection, and which group a writer joins.

    Each hand-off wakes one thread, never all of them: the next writer waiting for the
    connection, or, once none waits (or the group is full or ended), the group's first
    writer waiting to commit. Waking every waiter at each hand-off cost each append as
    many thread switches as there were writers (most of an append's time with eight).
    """

    def __init__(self, max_group: int = MAX_GROUP) -> None:
        self._max = max_group
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)  # writers waiting for the connection
        self._sealing = threading.Condition(self._lock)  # a first writer waiting to commit
        self._busy = False  # someone is using the writer connection
        self._waiting = 0  # writers waiting for the connection
        self._open: Group | None = None  # the group a writer arriving now joins
        self._closing = False  # the store is closing: no group begins any more

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def taken(self) -> bool:
        """Whether another writer has the connection or waits for it: a next group is under
        way, and its first writer will commit (and write the head) after it."""
        with self._lock:
            return self._busy or self._waiting > 0

    def gathering(self) -> bool:
        """Whether a group is open and not yet sealed: its first writer has still to take
        the queued lone appends (:mod:`.queued`), just after it seals."""
        with self._lock:
            return self._open is not None and not self._open.closed

    def enter(self) -> Group | None:
        """Wait for the connection; return the open group to join, or None: begin one
        (then call :meth:`begun`)."""
        with self._lock:
            self._waiting += 1
            while self._busy or self._full():
                self._turn.wait()
            self._waiting -= 1
            if self._closing and self._open is None:  # it would begin a group: refused
                self._turn.notify_all()  # the closer, and the writers waiting behind this one
                self._sealing.notify()
                raise StoreClosed("the store is closed (or closing): no write begins")
            self._busy = True
            return self._open

    def shut(self) -> None:
        """For closing the store: no group begins from now on; wait for the group under
        way to commit (writers already waiting may still join it), then hold the
        connection. Writers that come later are refused, none is left waiting."""
        with self._lock:
            self._closing = True
            while self._busy or self._open is not None:
                self._turn.wait()
            self._busy = True

    def _full(self) -> bool:
        """Whether the open group takes no one more: sealed, ended, or at its limit."""
        group = self._open
        return group is not None and (group.closed or group.size >= self._max)

    def begun(self) -> Group:
        """The caller of :meth:`enter` began a transaction: the group others may join."""
        with self._lock:
            self._open = Group()
            return self._open

    def leave(self) -> None:
        """Give the connection to the next writer (or to the open group's commit)."""
        with self._lock:
            self._busy = False
            if self._open is not None and (self._full() or not self._waiting):
                self._sealing.notify()  # its first writer commits now (if it waits yet)
            elif self._waiting:
                self._turn.notify()
            if self._closing:
                self._turn.notify_all()  # the closer waits on it, uncounted

    def lose(self, group: Group, error: BaseException) -> None:
        """A writer's error ended the group's transaction: no one may join it."""
        with self._lock:
            group.lost = error
            group.closed = True

    def seal(self, group: Group) -> None:
        """For the group's first writer, after its own changes: let the writers already
        waiting join (up to the limit), then hold the connection for the COMMIT."""
        with self._lock:
            while (self._waiting or self._busy) and group.size < self._max and not group.closed:
                self._sealing.wait()
            group.closed = True
            while self._busy:
                self._sealing.wait()
            self._busy = True
            self._open = None
