"""The store's cap: what gives way when calmopsd's own data reaches ``retention.max_store_size``.

A monitoring daemon's data must never be what fills the disk. The cap is on the
bytes the database holds (its pages in use: pages freed by deletions are reused
by SQLite before the file grows, so the file stays within about one retention
round of the cap). Measured after each hourly retention round; when over, only
health data gives way, oldest first, until the store is under the cap again:

1. raw snapshots are rolled up early, an hour at a time (their 5-minute
   aggregates are kept; the last :data:`RAW_FLOOR` of raw snapshots stays);
2. then the oldest roll-ups are deleted, a day at a time.

The audit chain, incidents and everything else are never touched: if they alone
pass the cap, the cap stays unmet and says so. Each round over the cap logs one
``retention.cap_reached`` warning (a log line, not an audit event: no incident
changed).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from calmopsd.record.database import Database
from calmopsd.record.retention import bucket_start, roll_step

RAW_FLOOR = timedelta(hours=1)
ROLLUP_STEP_S = 86_400

log = structlog.get_logger("calmopsd.record")


@dataclass(frozen=True)
class CapResult:
    """One check of the cap: bytes in use before and after, and what gave way."""

    cap_bytes: int
    used_before: int
    used_after: int
    snapshots_rolled_early: int
    rollups_deleted: int

    @property
    def reached(self) -> bool:
        return self.used_before > self.cap_bytes

    @property
    def met(self) -> bool:
        return self.used_after <= self.cap_bytes


def used_bytes(database: Database) -> int:
    """The bytes of the database's pages in use (not its free pages)."""
    with database.read() as db:
        return _used(db.conn)


def _used(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def enforce_cap(database: Database, *, cap_bytes: int, now: datetime) -> CapResult:
    """Bring the store under ``cap_bytes`` by giving up health data, oldest first."""
    before = used = used_bytes(database)
    rolled = deleted = 0
    floor = bucket_start(now - RAW_FLOOR)
    while used > cap_bytes and (step := roll_step(database, floor)) is not None:
        rolled += step[0]
        used = used_bytes(database)
    while used > cap_bytes and (gone := _delete_oldest_rollups(database)):
        deleted += gone
        used = used_bytes(database)
    result = CapResult(cap_bytes, before, used, rolled, deleted)
    if result.reached:
        log.warning(
            "retention.cap_reached",
            cap_bytes=cap_bytes,
            used_bytes=before,
            used_after=used,
            snapshots_rolled_early=rolled,
            rollups_deleted=deleted,
            met=result.met,
        )
    return result


def _delete_oldest_rollups(database: Database) -> int:
    """Delete the oldest day of roll-ups, series by series (each a range of the key)."""
    with database.write() as tx:
        conn = tx.db.conn
        series = [row[0] for row in conn.execute("SELECT id FROM health_rollup_series")]
        first = "SELECT min(bucket) FROM health_rollups WHERE series = ?"
        firsts = [conn.execute(first, [s]).fetchone()[0] for s in series]
        oldest = min((f for f in firsts if f is not None), default=None)
        if oldest is None:
            return 0
        return sum(
            conn.execute(
                "DELETE FROM health_rollups WHERE series = ? AND bucket < ?",
                [s, oldest + ROLLUP_STEP_S],
            ).rowcount
            for s in series
        )
