"""Lone appends written by whichever writer commits next: one thread switch each.

Why (docs/decisions.md, "Audit appends, third pass"): an event appended in a
transaction of its own (:func:`calmopsd.record.audit.record_event`) has no work of its
caller's to run on the writer connection, only the event. Taking a turn on the
connection anyway cost each such append two thread switches and a savepoint, and with
many writers those switches, not the disk, bounded the rate. So such an append is
queued instead, and the first writer of the next group to commit writes every queued
event just before its COMMIT, in the order they were queued; the caller waits only for
that COMMIT. When no writer is going to commit (none has the connection, none waits
for it, and no caller already became one for the queue), the caller itself becomes
that writer: a lone append runs on its own thread, as before.

Each caller still returns only once its event is durable, or with the error that kept
it from being so: an event is never reported written that its group did not commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calmopsd.errors import StoreError
from calmopsd.model import AuditEvent


@dataclass(eq=False)
class QueuedAppend:
    """One event to append in the next commit group, and what became of it."""

    kind: str
    actor: str
    at: datetime
    data: dict[str, Any]
    # Encoded by the caller, on its own thread: a value that cannot be encoded fails
    # there, never in the group that writes the queue.
    at_text: str
    data_text: str
    incident_id: int | None
    organization_id: str | None  # already resolved and checked against the caller's scope
    taken: bool = False  # a commit group has it: its caller need not write
    event: AuditEvent | None = None  # as appended, once its group committed
    error: BaseException | None = None  # why it was not appended
    done: threading.Event = field(default_factory=threading.Event)

    def settle(self, event: AuditEvent | None, error: BaseException | None) -> None:
        self.event, self.error = event, error
        self.done.set()


class AppendQueue:
    """Queued lone appends, and which caller, if any, is on its way to write them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[QueuedAppend] = []
        # The item whose caller became the writer for the queue, while no group has
        # taken the queue since: that caller's group will write whatever is queued now.
        self._collector: QueuedAppend | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, item: QueuedAppend, gathering: Callable[[], bool]) -> bool:
        """Queue ``item``; True when no writer will take it: the caller must write (begin
        or join a group, whose COMMIT writes the queue). ``gathering``: whether an open
        group has still to take the queue (asked after the item is in it, so a group
        sealed just after still takes it)."""
        with self._lock:
            self._items.append(item)
            if self._collector is not None or gathering():
                return False
            self._collector = item
            return True

    def take(self) -> list[QueuedAppend]:
        """Everything queued, for the group about to commit (its first writer, sealed)."""
        with self._lock:
            items, self._items = self._items, []
            self._collector = None
            for item in items:
                item.taken = True
            return items

    def abandon(
        self, item: QueuedAppend, error: BaseException, gathering: Callable[[], bool]
    ) -> None:
        """``item``'s caller raised before any group took it (its BEGIN failed, or it was
        interrupted): ``item`` leaves the queue. If that caller was the writer the others
        queued since wait for, they are left to a group gathering now, or else fail (a
        :class:`StoreError` from ``error``: nothing of them was written), and the next
        caller writes."""
        with self._lock:
            if item in self._items:
                self._items.remove(item)
            if self._collector is not item:
                return  # a group took the queue since, or another caller writes for it
            self._collector = None
            if gathering():
                return
            stranded, self._items = self._items, []
        for other in stranded:
            other.taken = True
            reason = f"the writer it waited for could not begin ({error!r})"
            failure = StoreError(f"audit event {other.kind!r} not appended: {reason}")
            failure.__cause__ = error
            other.settle(None, failure)
