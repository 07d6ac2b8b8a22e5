"""Where each consumer of the event log stands (``consumer_cursors``).

A consumer (:mod:`calmopsd.follow`) follows ``incident_events`` by sequence
number. Its cursor is the seq of the last event it has handled: every event at
or below it is done, every event above it is still to come. A cursor only moves
forward, by compare-and-set, so two followers of one consumer (which should not
happen) cannot move it back or both claim the same batch.
"""

from __future__ import annotations

from datetime import datetime

from calmopsd.model import AuditEvent
from calmopsd.record.audit import events_after
from calmopsd.record.codec import encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

BATCH = 100


def read_cursor(database: Database, name: str) -> int | None:
    """The seq consumer ``name`` has handled up to, or None if it has never started."""
    with database.read() as db:
        row = db.execute("SELECT seq FROM consumer_cursors WHERE name = ?", [name]).fetchone()
    return None if row is None else int(row[0])


def start_cursor(database: Database, name: str, at: datetime) -> int:
    """Consumer ``name``'s cursor, created at the log's head if it has none yet.

    A new consumer starts from now: the history before it was registered is not
    replayed into it (an upgrade must not journal or notify a year of old events).
    """
    with database.write() as tx:
        tx.db.execute(
            """INSERT INTO consumer_cursors (name, seq, updated_at)
                SELECT ?, coalesce(max(seq), 0), ? FROM incident_events
                WHERE true ON CONFLICT (name) DO NOTHING""",
            [name, encode_time(at)],
        )
        row = tx.db.execute("SELECT seq FROM consumer_cursors WHERE name = ?", [name]).fetchone()
    return int(row[0])


def read_batch(database: Database, after: int, *, limit: int = BATCH) -> list[AuditEvent]:
    """The next at most ``limit`` events after seq ``after``, every organization's, in order."""
    return events_after(database, Scope.platform(), after, limit=limit)


def advance_cursor(database: Database, name: str, *, expected: int, to: int, at: datetime) -> bool:
    """Move ``name``'s cursor from ``expected`` to ``to``; False if it was not at ``expected``
    or ``to`` is not ahead of it (compare-and-set, forward only)."""
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE consumer_cursors SET seq = ?, updated_at = ?
                WHERE name = ? AND seq = ? AND ? > seq""",
            [to, encode_time(at), name, expected, to],
        ).rowcount
    return changed == 1
