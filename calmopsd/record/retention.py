"""Retention: raw snapshots become 5-minute aggregates, then age out.

Every number in a snapshot's readings (its JSON path; booleans count as 0/1,
so the average of ``checks.app.up`` is availability; lists are skipped) is
rolled by SQLite itself (``json_tree``) into ``health_rollups`` as
count/min/avg/max per 5-minute bucket. Only whole buckets older than
``keep_raw`` are rolled, one hour of them per transaction so the writer is
never held for long; the raw rows go in the same transaction as their
aggregates. A late row for an already rolled bucket is merged, not
duplicated. Raw rows are stored as changes against keyframes
(``record/keyframes.py``), so an hour's rows are decoded into a temporary table
first, and the surviving rows that pointed at a removed keyframe are rewritten
in the same transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calmopsd.record.codec import encode_instant, encode_json
from calmopsd.record.database import Database, Tx
from calmopsd.record.keyframes import Decoder, rebase
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import chains

BUCKET = timedelta(minutes=5)
STEP = timedelta(hours=1)
_BUCKET_US = 300_000_000
_STEP_US = 3_600_000_000


@dataclass(frozen=True)
class RollupResult:
    snapshots_rolled: int
    aggregates_written: int
    rollups_deleted: int


def bucket_start(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // int(BUCKET.total_seconds()) * int(BUCKET.total_seconds())
    return datetime.fromtimestamp(seconds, UTC)


def roll_up(
    database: Database, *, now: datetime, keep_raw: timedelta, keep_rollups: timedelta
) -> RollupResult:
    """Roll whole buckets older than ``keep_raw``; delete aggregates older than ``keep_rollups``."""
    rolled = written = 0
    while (step := roll_step(database, bucket_start(now - keep_raw))) is not None:
        rolled, written = rolled + step[0], written + step[1]
    return RollupResult(rolled, written, _expire(database, int((now - keep_rollups).timestamp())))


def roll_step(database: Database, cutoff: datetime) -> tuple[int, int] | None:
    """Roll at most an hour of the oldest raw snapshots taken before ``cutoff``, in one
    transaction: ``(snapshots rolled, aggregates written)``, or None when none is older."""
    limit = encode_instant(cutoff)
    with database.write() as tx:
        oldest = oldest_snapshot(tx.db.conn)
        if oldest is None or oldest >= limit:
            return None
        return _roll(tx, min(limit, oldest // _BUCKET_US * _BUCKET_US + _STEP_US))


def oldest_snapshot(conn: sqlite3.Connection) -> int | None:
    """When the oldest raw snapshot was taken (microseconds), found chain by chain."""
    first = "SELECT min(taken_at) FROM health_snapshots WHERE sampler = ? AND organization_id IS ?"
    found = [conn.execute(first, chain).fetchone()[0] for chain in chains(conn)]
    return min(found, default=None)


def _expire(database: Database, before: int) -> int:
    """Delete aggregates older than ``before``, one series at a time (each a range of the key)."""
    deleted = 0
    with database.write() as tx:
        series = [row[0] for row in tx.db.execute("SELECT id FROM health_rollup_series")]
        for series_id in series:
            deleted += tx.db.execute(
                "DELETE FROM health_rollups WHERE series = ? AND bucket < ?", [series_id, before]
            ).rowcount
    return deleted


_STAGE = """
INSERT INTO temp.rollup_stage (bucket, sampler, organization_id, metric, count, min, max, avg)
SELECT bucket, sampler, organization_id, metric, count(*), min(v), max(v), avg(v) FROM (
    SELECT s.bucket, s.sampler, s.organization_id,
           replace(substr(j.fullkey, 3), '"', '') AS metric, j.atom AS v
    FROM temp.rollup_raw s, json_tree(s.readings) j
    WHERE j.type IN ('integer', 'real', 'true', 'false')
      AND instr(j.fullkey, '[') = 0
    UNION ALL
    SELECT s.bucket, s.sampler, s.organization_id, 'ok', s.ok FROM temp.rollup_raw s
)
GROUP BY bucket, sampler, organization_id, metric
"""

_MERGE = """
INSERT INTO health_rollups (series, bucket, count, min, max, avg)
SELECT r.id, s.bucket, s.count, s.min, s.max, s.avg
FROM temp.rollup_stage s JOIN health_rollup_series r
  ON r.sampler = s.sampler AND r.organization_id IS s.organization_id AND r.metric = s.metric
WHERE true
ON CONFLICT (series, bucket) DO UPDATE SET
    avg = (avg * count + excluded.avg * excluded.count) / (count + excluded.count),
    count = count + excluded.count,
    min = min(min, excluded.min),
    max = max(max, excluded.max)
"""


def _roll(tx: Tx, until: int) -> tuple[int, int]:
    """Aggregate and delete every raw snapshot taken before ``until`` (microseconds).

    Metrics are the dotted paths of numeric and boolean leaves outside arrays
    (``mounts./.used_percent``, ``checks.app.up``), plus ``ok`` per snapshot.
    The rows are decoded into ``temp.rollup_raw`` (whole readings, as JSON) and
    their aggregates staged in a temporary table so the JSON is walked once,
    then each new (sampler, organization, metric) gets its series row.
    """
    conn = tx.db.conn
    for table in _TEMP_TABLES:
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}")
        conn.execute(f"DELETE FROM temp.{table.split(' ')[0]}")
    _decode_before(conn, until)
    conn.execute(_STAGE)
    conn.execute(
        "INSERT OR IGNORE INTO health_rollup_series (sampler, organization_id, metric) "
        "SELECT DISTINCT sampler, organization_id, metric FROM temp.rollup_stage"
    )
    written = conn.execute(_MERGE).rowcount
    conn.execute("DELETE FROM temp.rollup_stage")
    conn.execute("DELETE FROM temp.rollup_raw")
    rebase(conn, until)
    rolled = 0
    for chain in chains(conn):
        rolled += conn.execute(
            "DELETE FROM health_snapshots WHERE sampler = ? AND organization_id IS ? "
            "AND taken_at < ?",
            [*chain, until],
        ).rowcount
    return rolled, written


_TEMP_TABLES = (
    "rollup_stage (bucket INTEGER, sampler TEXT, organization_id TEXT, metric TEXT, "
    "count INTEGER, min REAL, max REAL, avg REAL)",
    "rollup_raw (bucket INTEGER, sampler TEXT, organization_id TEXT, ok INTEGER, readings TEXT)",
)


def _decode_before(conn: sqlite3.Connection, until: int) -> None:
    """Every raw snapshot taken before ``until``, whole, into ``temp.rollup_raw``."""
    decoder = Decoder(conn)
    for chain in chains(conn):
        rows = conn.execute(
            "SELECT id, taken_at, ok, base, readings FROM health_snapshots "
            "WHERE sampler = ? AND organization_id IS ? AND taken_at < ?",
            [*chain, until],
        ).fetchall()
        decoded = (
            (taken_at // _BUCKET_US * (_BUCKET_US // 1_000_000), *chain, ok, readings)
            for row_id, taken_at, ok, base, text in rows
            if (readings := decoder.readings(row_id, base, text)) is not None
        )
        conn.executemany(
            "INSERT INTO temp.rollup_raw (bucket, sampler, organization_id, ok, readings) "
            "VALUES (?, ?, ?, ?, ?)",
            ((b, s, o, ok, encode_json(r)) for b, s, o, ok, r in decoded),
        )


def rollups(
    database: Database, scope: Scope, *, sampler: str, metric: str, since: datetime
) -> list[tuple[datetime, int, float, float, float]]:
    """``(bucket_start, count, min, avg, max)`` of one metric in this scope, oldest first.

    The platform scope reads platform-wide aggregates; an organization scope its own.
    """
    where, params = scope.filter("r.organization_id")
    with database.read() as db:
        rows = db.execute(
            "SELECT h.bucket, h.count, h.min, h.avg, h.max FROM health_rollups h "
            "JOIN health_rollup_series r ON r.id = h.series "
            "WHERE r.sampler = ? AND r.metric = ? AND r.organization_id IS ? AND h.bucket >= ? "
            f"AND {where} ORDER BY h.bucket",
            [sampler, metric, scope.organization_id, int(since.timestamp()), *params],
        ).fetchall()
    return [(datetime.fromtimestamp(r[0], UTC), r[1], r[2], r[3], r[4]) for r in rows]
