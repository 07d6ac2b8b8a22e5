"""Retention: raw snapshots become 5-minute aggregates, then age out.

Every number in a snapshot's readings (nested keys joined with dots; booleans
count as 0/1, so the average of ``checks.app.up`` is availability) is rolled
into ``health_rollups`` as count/min/avg/max per 5-minute bucket. Only whole
buckets older than ``keep_raw`` are rolled, one hour of them per transaction
so the writer is never held for long; the raw rows go in the same transaction
as their aggregates. A late row for an already rolled bucket is merged, not
duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from calmopsd.record.codec import decode_json, decode_time, encode_time
from calmopsd.record.database import Database, Tx
from calmopsd.record.scope import Scope

BUCKET = timedelta(minutes=5)
STEP = timedelta(hours=1)

Key = tuple[str, str, str | None, str]  # bucket_start, sampler, organization_id, metric


@dataclass
class Aggregate:
    count: int
    min: float
    max: float
    total: float

    def add(self, value: float) -> None:
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.total += value


@dataclass(frozen=True)
class RollupResult:
    snapshots_rolled: int
    aggregates_written: int
    rollups_deleted: int


def bucket_start(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // int(BUCKET.total_seconds()) * int(BUCKET.total_seconds())
    return datetime.fromtimestamp(seconds, UTC)


def numbers(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every numeric leaf of a readings document as ``(dotted.path, value)``; lists are skipped."""
    if isinstance(value, bool | int | float) and not isinstance(value, str):
        yield prefix, float(value)
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from numbers(inner, f"{prefix}.{key}" if prefix else str(key))


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
    with database.write() as tx:
        deleted = tx.db.execute(
            "DELETE FROM health_rollups WHERE bucket_start < ?", [encode_time(now - keep_rollups)]
        ).rowcount
    return RollupResult(rolled, written, deleted)


def _roll(tx: Tx, until: datetime) -> tuple[int, int]:
    """Aggregate and delete every raw snapshot taken before ``until``."""
    limit = encode_time(until)
    rows = tx.db.execute(
        "SELECT taken_at, sampler, organization_id, ok, readings FROM health_snapshots "
        "WHERE taken_at < ?",
        [limit],
    ).fetchall()
    aggregates: dict[Key, Aggregate] = {}
    for taken_at, sampler, organization_id, ok, readings in rows:
        bucket = encode_time(bucket_start(decode_time(taken_at)))
        for metric, value in [("ok", float(ok)), *numbers(decode_json(readings))]:
            key = (bucket, sampler, organization_id, metric)
            found = aggregates.get(key)
            if found is None:
                aggregates[key] = Aggregate(1, value, value, value)
            else:
                found.add(value)
    _store(tx, aggregates)
    tx.db.execute("DELETE FROM health_snapshots WHERE taken_at < ?", [limit])
    return len(rows), len(aggregates)


def _store(tx: Tx, aggregates: dict[Key, Aggregate]) -> None:
    """Insert new aggregates; merge into rows already there (late snapshots of a rolled bucket)."""
    if not aggregates:
        return
    first = min(key[0] for key in aggregates)
    existing = {
        (r[0], r[1], r[2], r[3]): r[4:]
        for r in tx.db.execute(
            "SELECT bucket_start, sampler, organization_id, metric, count, min, max, avg "
            "FROM health_rollups WHERE bucket_start >= ?",
            [first],
        ).fetchall()
    }
    inserts, updates = [], []
    for key, new in aggregates.items():
        old = existing.get(key)
        if old is None:
            inserts.append([*key, new.count, new.min, new.max, new.total / new.count])
            continue
        count, low, high, avg = old
        total = count + new.count
        updates.append(
            [total, min(low, new.min), max(high, new.max), (avg * count + new.total) / total, *key]
        )
    tx.db.conn.executemany(
        "INSERT INTO health_rollups (bucket_start, sampler, organization_id, metric, count, "
        "min, max, avg) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        inserts,
    )
    tx.db.conn.executemany(
        "UPDATE health_rollups SET count = ?, min = ?, max = ?, avg = ? WHERE bucket_start = ? "
        "AND sampler = ? AND organization_id IS ? AND metric = ?",
        updates,
    )


def rollups(
    database: Database, scope: Scope, *, sampler: str, metric: str, since: datetime
) -> list[tuple[datetime, int, float, float, float]]:
    """``(bucket_start, count, min, avg, max)`` of one metric in this scope, oldest first.

    The platform scope reads platform-wide aggregates; an organization scope its own.
    """
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            "SELECT bucket_start, count, min, avg, max FROM health_rollups WHERE sampler = ? "
            f"AND metric = ? AND organization_id IS ? AND bucket_start >= ? AND {where} "
            "ORDER BY bucket_start",
            [sampler, metric, scope.organization_id, encode_time(since), *params],
        ).fetchall()
    return [(decode_time(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
