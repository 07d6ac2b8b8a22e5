"""Consumers of the event log: work that follows ``incident_events`` by seq.

Each consumer is one handler, listed here under the name its cursor is stored
by (``consumer_cursors.name``): renaming one starts it afresh at the log's head.
:class:`calmopsd.follow.bus.Follower` delivers each event at least once, in
order, so a handler must be idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping

from calmopsd.follow import journal
from calmopsd.follow.bus import Handler

CONSUMERS: Mapping[str, Handler] = {
    "journal": journal.consume,
}
