"""Consumers of the event log: work that follows ``incident_events`` by seq.

Each consumer is one handler, made for the daemon's store and listed here under the
name its cursor is stored by (``consumer_cursors.name``): renaming one starts it
afresh at the log's head.
:class:`calmopsd.follow.bus.Follower` delivers each event at least once, in
order, so a handler must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from calmopsd.follow import journal, obsolete
from calmopsd.follow.bus import Handler
from calmopsd.record.database import Database

CONSUMERS: Mapping[str, Callable[[Database], Handler]] = {
    "journal": lambda _database: journal.consume,
    "recommendations": obsolete.obsolete_with_incident,
}


def consumers_for(database: Database) -> dict[str, Handler]:
    """Every consumer's handler, for ``database``."""
    return {name: make(database) for name, make in CONSUMERS.items()}
