"""Retention: raw snapshots roll up into exact 5-minute aggregates, and the database stays small."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calmopsd.model import Reading
from calmopsd.record.codec import encode_time
from calmopsd.record.database import Database
from calmopsd.record.retention import bucket_start, roll_up, rollups
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot, snapshot_row

START = datetime(2026, 3, 1, tzinfo=UTC)
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
        metrics = db.execute("SELECT metric, avg FROM health_rollups ORDER BY metric").fetchall()
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


# What each default sampler stores per round, in the shape the real samplers produce.
ROUND = {
    "memory": {
        "used_percent": 41.27,
        "total_bytes": 25276514304,
        "available_bytes": 14842347520,
        "swap_used_percent": 0.0,
        "swap_total_bytes": 0,
        "top_processes": [
            {"name": f"node /srv/app/worker-{i}.js", "pid": 12000 + i, "rss_bytes": 512_000_000 - i}
            for i in range(5)
        ],
    },
    "disk": {
        "mounts": {
            "/": {
                "used_percent": 21.6,
                "used_bytes": 23570132992,
                "free_bytes": 85374160896,
                "total_bytes": 270553174016,
                "inodes_used_percent": 2.52,
                "fill_bytes_per_hour": 1048576,
                "hours_until_full": 81418.2,
            }
        }
    },
    "pm2": {
        "available": True,
        "apps": {
            f"app-{i}": {
                "status": "online",
                "restart_time": 3,
                "unstable_restarts": 0,
                "uptime_s": 86400,
                "memory_bytes": 180_000_000,
                "cpu_percent": 2.5,
                "instances": 2,
                "version": "1.4.2",
                "revision": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
                "restarts_since_last": 0,
                "version_changed": False,
            }
            for i in range(2)
        },
    },
    "http": {
        "checks": {
            "app": {
                "up": True,
                "status": 200,
                "latency_ms": 12.5,
                "failure": None,
                "detail": None,
                "failed_dependencies": [],
            }
        }
    },
    "dependencies": {
        "probes": {"postgres": {"up": True, "latency_ms": 0.4, "failure": None, "detail": None}}
    },
}
DB_SIZE_LIMIT = 256 * 2**20  # stated in bench/RESULTS.md


def test_thirty_days_of_15_second_sampling_stays_under_the_stated_size(tmp_path: Path) -> None:
    """Every default sampler every 15 s for 30 days, rolled up daily: the steady state."""
    database = Database.open(tmp_path / "calmopsd.db")
    rounds_per_day = 24 * 60 * 4
    templates = [snapshot_row(Reading(name, START, True, 1.5, v)) for name, v in ROUND.items()]
    for day in range(30):
        rows = [
            {**template, "taken_at": encode_time(START + timedelta(days=day, seconds=15 * i))}
            for i in range(rounds_per_day)
            for template in templates
        ]
        with database.write() as tx:
            tx.db.conn.executemany(
                "INSERT INTO health_snapshots (taken_at, sampler, organization_id, ok, "
                "duration_ms, readings) VALUES (:taken_at, :sampler, :organization_id, :ok, "
                ":duration_ms, :readings)",
                rows,
            )
        roll_up(
            database,
            now=START + timedelta(days=day + 1),
            keep_raw=timedelta(days=14),
            keep_rollups=timedelta(days=400),
        )
    kept = raw_count(database)
    database.close()
    size = (tmp_path / "calmopsd.db").stat().st_size + _wal_size(tmp_path)
    print(f"30 days of default sampling: {size / 2**20:.1f} MiB, {kept} raw snapshots kept")
    assert kept == 14 * rounds_per_day * len(ROUND)
    assert size < DB_SIZE_LIMIT


def _wal_size(directory: Path) -> int:
    wal = directory / "calmopsd.db-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_encode_time_sorts_like_time() -> None:
    earlier, later = START, START + timedelta(microseconds=1)
    assert encode_time(earlier) < encode_time(later)
