"""Retention: raw snapshots become 5-minute aggregates, then age out.

Every number in a snapshot's readings (its JSON path; booleans count as 0/1,
so the average of ``checks.app.up`` is availability; lists are skipped) is
rolled by SQLite itself (``json_tree``) into ``health_rollups`` as
count/min/avg/max per 5-minute bucket. Only whole buckets older than
``keep_raw`` are rolled, one hour of them per transaction so the writer is
never held for long; the raw rows go in the same transaction as their
aggregates. A late row for an already rolled bucket is merged, not
duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calmopsd.record.codec import decode_time, encode_time
from calmopsd.record.database import Database, Tx
from calmopsd.record.scope import Scope

BUCKET = timedelta(minutes=5)
STEP = timedelta(hours=1)


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
    cutoff = bucket_start(now - keep_raw)
    rolled = written = 0
    while True:
        with database.write() as tx:
            oldest = tx.db.execute("SELECT min(taken_at) FROM health_snapshots").fetchone()[0]
            if oldest is None or decode_time(oldest) >= cutoff:
                break
            until = min(cutoff, bucket_start(decode_time(oldest)) + STEP)
            batch_rolled, batch_written = _roll(tx, until)
            rolled, written = rolled + batch_rolled, written + batch_written
    return RollupResult(rolled, written, _expire(database, int((now - keep_rollups).timestamp())))


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


# Timestamps are stored in UTC, so the first 19 characters are the UTC second;
# cutting the fraction there floors it (SQLite would round it).
_BUCKET = "CAST(strftime('%s', substr(s.taken_at, 1, 19)) AS INTEGER) / 300 * 300"

_STAGE = f"""
INSERT INTO temp.rollup_stage (bucket, sampler, organization_id, metric, count, min, max, avg)
SELECT bucket, sampler, organization_id, metric, count(*), min(v), max(v), avg(v) FROM (
    SELECT {_BUCKET} AS bucket, s.sampler, s.organization_id,
           replace(substr(j.fullkey, 3), '"', '') AS metric, j.atom AS v
    FROM health_snapshots s, json_tree(s.readings) j
    WHERE s.taken_at < :until
      AND j.type IN ('integer', 'real', 'true', 'false')
      AND instr(j.fullkey, '[') = 0
    UNION ALL
    SELECT {_BUCKET}, s.sampler, s.organization_id, 'ok', s.ok
    FROM health_snapshots s WHERE s.taken_at < :until
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


def _roll(tx: Tx, until: datetime) -> tuple[int, int]:
    """Aggregate and delete every raw snapshot taken before ``until``, in SQL.

    Metrics are the dotted paths of numeric and boolean leaves outside arrays
    (``mounts./.used_percent``, ``checks.app.up``), plus ``ok`` per snapshot.
    The aggregates are staged in a temporary table so the JSON is walked once,
    then each new (sampler, organization, metric) gets its series row.
    """
    params = {"until": encode_time(until)}
    tx.db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS rollup_stage (bucket INTEGER, sampler TEXT, "
        "organization_id TEXT, metric TEXT, count INTEGER, min REAL, max REAL, avg REAL)"
    )
    tx.db.execute("DELETE FROM temp.rollup_stage")
    tx.db.execute(_STAGE, params)
    tx.db.execute(
        "INSERT OR IGNORE INTO health_rollup_series (sampler, organization_id, metric) "
        "SELECT DISTINCT sampler, organization_id, metric FROM temp.rollup_stage"
    )
    written = tx.db.execute(_MERGE).rowcount
    tx.db.execute("DELETE FROM temp.rollup_stage")
    rolled = tx.db.execute("DELETE FROM health_snapshots WHERE taken_at < :until", params).rowcount
    return rolled, written


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
