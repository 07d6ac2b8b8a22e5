"""Retention: raw snapshots roll up into exact 5-minute aggregates, and the database stays small."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from support.readings import START, Drift, round_of_readings

from calmopsd.config.sensing import SensingConfig
from calmopsd.record.codec import encode_instant
from calmopsd.record.database import Database
from calmopsd.record.keyframes import Encoder, Stored
from calmopsd.record.retention import bucket_start, roll_up, rollups
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot

PLATFORM = Scope.platform()


def store(database: Database, sampler: str, at: datetime, readings: dict[str, Any]) -> None:
    add_snapshot(
        database,
        PLATFORM,
        sampler=sampler,
        taken_at=at,
        ok=True,
        duration_ms=1.0,
        readings=readings,
    )


def raw_count(database: Database) -> int:
    with database.read() as db:
        return int(db.execute("SELECT count(*) FROM health_snapshots").fetchone()[0])


def test_aggregates_match_min_avg_max_of_the_raw_values(database: Database) -> None:
    values: dict[datetime, list[float]] = defaultdict(list)
    for i in range(60):  # 15 minutes at 15 s: three whole buckets
        at = START + timedelta(seconds=15 * i)
        used = 40 + (i * 7919) % 37 + i / 10
        values[bucket_start(at)].append(used)
        store(database, "memory", at, {"used_percent": used, "top_processes": [{"pid": 1}]})

    result = roll_up(
        database,
        now=START + timedelta(days=15),
        keep_raw=timedelta(days=14),
        keep_rollups=timedelta(days=400),
    )

    assert result.snapshots_rolled == 60
    assert raw_count(database) == 0
    got = rollups(database, PLATFORM, sampler="memory", metric="used_percent", since=START)
    expected = [
        (bucket, len(v), min(v), statistics.fmean(v), max(v))
        for bucket, v in sorted(values.items())
    ]
    assert [(b, c, lo, round(avg, 9), hi) for b, c, lo, avg, hi in got] == [
        (b, c, lo, round(avg, 9), hi) for b, c, lo, avg, hi in expected
    ]


def test_nested_numbers_and_booleans_are_rolled_and_lists_and_text_are_not(
    database: Database,
) -> None:
    readings = {
        "checks": {
            "app": {
                "up": True,
                "latency_ms": 12.5,
                "failure": None,
                "detail": "x",
                "failed_dependencies": [3],
            }
        }
    }
    store(database, "http", START, readings)
    roll_up(
        database,
        now=START + timedelta(days=15),
        keep_raw=timedelta(days=14),
        keep_rollups=timedelta(days=400),
    )
    with database.read() as db:
        metrics = db.execute(
            "SELECT r.metric, h.avg FROM health_rollups h "
            "JOIN health_rollup_series r ON r.id = h.series ORDER BY r.metric"
        ).fetchall()
    assert metrics == [("checks.app.latency_ms", 12.5), ("checks.app.up", 1.0), ("ok", 1.0)]


def test_only_whole_buckets_older_than_the_raw_retention_are_rolled(database: Database) -> None:
    now = START + timedelta(days=14, minutes=7)  # cutoff: START + 5 min
    for minute in (0, 4, 5, 6, 8):
        store(database, "disk", START + timedelta(minutes=minute), {"mounts": {"/": {"x": 1}}})

    result = roll_up(
        database, now=now, keep_raw=timedelta(days=14), keep_rollups=timedelta(days=400)
    )

    assert result.snapshots_rolled == 2
    assert raw_count(database) == 3
    assert rollups(database, PLATFORM, sampler="disk", metric="mounts./.x", since=START) == [
        (START, 2, 1.0, 1.0, 1.0)
    ]


def test_a_late_snapshot_for_a_rolled_bucket_is_merged_not_duplicated(database: Database) -> None:
    later = START + timedelta(days=20)
    store(database, "memory", START, {"used_percent": 10.0})
    store(database, "memory", START + timedelta(minutes=1), {"used_percent": 20.0})
    roll_up(database, now=later, keep_raw=timedelta(days=14), keep_rollups=timedelta(days=400))
    store(database, "memory", START + timedelta(minutes=2), {"used_percent": 60.0})

    roll_up(database, now=later, keep_raw=timedelta(days=14), keep_rollups=timedelta(days=400))

    assert rollups(database, PLATFORM, sampler="memory", metric="used_percent", since=START) == [
        (START, 3, 10.0, 30.0, 60.0)
    ]


def test_aggregates_older_than_their_retention_are_deleted(database: Database) -> None:
    store(database, "memory", START, {"used_percent": 10.0})
    roll_up(
        database,
        now=START + timedelta(days=15),
        keep_raw=timedelta(days=14),
        keep_rollups=timedelta(days=400),
    )
    result = roll_up(
        database,
        now=START + timedelta(days=401),
        keep_raw=timedelta(days=14),
        keep_rollups=timedelta(days=400),
    )
    assert result.rollups_deleted == 2  # "ok" and "used_percent" of the one bucket
    assert rollups(database, PLATFORM, sampler="memory", metric="used_percent", since=START) == []


# 30 days must fit in 64 MiB (issue 16): 14 days of raw snapshots (362,880 of them)
# and 16 of roll-ups (41 series x 288 buckets x 44 B a day, bench/rollup_size.py: 8 MiB).
# So a raw snapshot, with its index entry, may take (64 - 8) MiB / 362,880 = 161 B.
# bench/storage.py runs the whole 30 days; this runs one and holds the rate.
RAW_BYTES_PER_SNAPSHOT = 150


def test_a_day_of_default_sampling_is_stored_within_the_thirty_day_budget(
    tmp_path: Path,
) -> None:
    """Every default sampler at its default interval for a day, through the writer's encoder,
    the readings drifting from round to round as a real host's do (support/readings.py)."""
    sensing = SensingConfig()
    drift = Drift(round_of_readings(sensing))
    intervals = {name: getattr(sensing, name).interval for name in drift.last}
    assert intervals == {
        "memory": timedelta(seconds=15),
        "disk": timedelta(seconds=15),
        "pm2": timedelta(seconds=30),
        "http": timedelta(seconds=15),
        "dependencies": timedelta(seconds=15),
    }
    database = Database.open(tmp_path / "calmopsd.db")
    encoder = Encoder()
    due = sorted(
        (START + i * step, name, step)
        for name, step in intervals.items()
        for i in range(timedelta(days=1) // step)
    )
    with database.write() as tx:
        for at, name, step in due:
            values = drift.next(name, step.total_seconds())
            encoder.insert(tx.db.conn, Stored(encode_instant(at), name, None, True, 1.5, values))
    with database.read() as db:
        raw = db.execute(
            "SELECT sum(pgsize) FROM dbstat "
            "WHERE name IN ('health_snapshots', 'health_snapshots_by_chain')"
        ).fetchone()[0]
    database.close()
    print(f"one day: {len(due)} snapshots, {raw / len(due):.1f} B each with the index")
    assert len(due) == 25_920
    assert raw / len(due) < RAW_BYTES_PER_SNAPSHOT


def test_encode_instant_sorts_like_time() -> None:
    earlier, later = START, START + timedelta(microseconds=1)
    assert encode_instant(earlier) < encode_instant(later)
