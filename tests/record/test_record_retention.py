"""Retention: raw snapshots roll up into exact 5-minute aggregates, and the database stays small."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
from support.clock import ManualClock

from calmopsd.config.sensing import (
    DependenciesSamplerConfig,
    DependencyProbeConfig,
    HttpCheckConfig,
    HttpSamplerConfig,
    RetentionConfig,
    SensingConfig,
)
from calmopsd.model import Reading
from calmopsd.record.codec import encode_time
from calmopsd.record.database import Database
from calmopsd.record.retention import bucket_start, roll_up, rollups
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot, snapshot_row
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.http import HttpSampler
from calmopsd.sense.memory import MemorySampler
from calmopsd.sense.pm2 import Pm2Source, Pm2State
from calmopsd.sense.pm2 import values as pm2_values
from calmopsd.sense.pm2_parse import read_instances, summarize
from calmopsd.sense.tcp import DependencySampler

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


# The 30-day size test stores what the real samplers produce, so the shape cannot drift.
NOW_MS = int(START.timestamp() * 1000)


def jlist_entry(name: str, pm_id: int, exec_mode: str) -> dict[str, Any]:
    """One ``pm2 jlist`` element as PM2 7.0.4 prints it (its environment cut short)."""
    pm2_env = {
        "name": name,
        "pm_id": pm_id,
        "status": "online",
        "restart_time": 3,
        "unstable_restarts": 0,
        "exec_mode": exec_mode,
        "pm_uptime": NOW_MS - 86_400_000,
        "created_at": NOW_MS - 7 * 86_400_000,
        "exit_code": 0,
        "version": "1.4.2",
        "instances": 2 if exec_mode == "cluster_mode" else 1,
        "node_version": "20.20.2",
        "versioning": {"revision": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "branch": "main"},
        "env": {"NODE_ENV": "production", "PM2_HOME": "/home/app/.pm2"},
        "pm_exec_path": f"/srv/app/{name}.js",
    }
    return {
        "pid": 12000 + pm_id,
        "name": name,
        "pm2_env": pm2_env,
        "pm_id": pm_id,
        "monit": {"memory": 180_000_000 + pm_id, "cpu": 2.5},
    }


def pm2_reading() -> dict[str, Any]:
    """Two apps, one in cluster mode with 2 instances, through the sampler's own parser.

    The second of two samples: with a sample before it, restart_increase and
    the rest are filled in, as in steady state.
    """
    listed = [
        jlist_entry("api", 0, "cluster_mode"),
        jlist_entry("api", 1, "cluster_mode"),
        jlist_entry("worker", 2, "fork_mode"),
    ]
    parsed = read_instances(listed)
    assert parsed is not None
    instances, skipped = parsed
    _, marks = summarize(instances, NOW_MS - 30_000, None)
    apps, _ = summarize(instances, NOW_MS, marks)
    return pm2_values(
        Pm2State.OK,
        Path("/home/app/.pm2"),
        source=Pm2Source.RPC.value,
        pm2_version="7.0.4",
        apps=apps,
        instances=[i.as_values(NOW_MS) for i in instances],
        skipped=skipped,
        gone=[],
    )


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"db":"ok","cache":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def round_of_readings(sensing: SensingConfig) -> dict[str, dict[str, Any]]:
    """One reading of every default sampler: memory and disk of this machine, one health
    check and one probe against a healthy loopback server, PM2 from a recorded list."""
    clock = ManualClock(START)
    disk = DiskSampler(sensing.disk, clock=clock)
    used = psutil.disk_usage("/").used
    disk.seed([("/", START - timedelta(hours=1), used - 2**20)])  # a fill rate, as in steady state
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        url = f"http://127.0.0.1:{port}/health"
        http = HttpSamplerConfig(checks=[HttpCheckConfig(name="app", url=url, body={"db": "ok"})])
        probe = DependencyProbeConfig(name="postgres", host="127.0.0.1", port=port)
        readings = {
            "memory": MemorySampler(sensing.memory).sample(),
            "disk": disk.sample(),
            "pm2": pm2_reading(),
            "http": HttpSampler(http).sample(),
            "dependencies": DependencySampler(DependenciesSamplerConfig(probes=[probe])).sample(),
        }
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert readings["http"]["checks"]["app"]["up"] is True
    assert readings["dependencies"]["probes"]["postgres"]["up"] is True
    assert readings["disk"]["mounts"]["/"]["fill_bytes_per_hour"] is not None
    return readings


DAYS = 30  # 420 prints the steady state, roll-ups at their 400 days (~10 min; then fails)
DB_SIZE_LIMIT = 256 * 2**20  # after 30 days; stated in bench/RESULTS.md and docs/decisions.md


def test_thirty_days_of_default_sampling_stays_under_the_stated_size(tmp_path: Path) -> None:
    """Every default sampler at its default interval for 30 days, rolled up daily.

    Not the steady state: raw rows stop growing after 14 days, but roll-ups grow
    until they are 400 days old (docs/decisions.md, "Database size").
    """
    sensing, retention = SensingConfig(), RetentionConfig()
    assert (retention.raw_snapshots, retention.rollups) == (timedelta(days=14), timedelta(days=400))
    readings = round_of_readings(sensing)
    intervals = {name: getattr(sensing, name).interval for name in readings}
    assert intervals == {
        "memory": timedelta(seconds=15),
        "disk": timedelta(seconds=15),
        "pm2": timedelta(seconds=30),
        "http": timedelta(seconds=15),
        "dependencies": timedelta(seconds=15),
    }
    templates = {
        name: snapshot_row(Reading(name, START, True, 1.5, values))
        for name, values in readings.items()
    }
    per_day = {name: timedelta(days=1) // interval for name, interval in intervals.items()}
    database = Database.open(tmp_path / "calmopsd.db")
    for day in range(DAYS):
        midnight = START + timedelta(days=day)
        rows = [
            {**templates[name], "taken_at": encode_time(midnight + i * intervals[name])}
            for name, count in per_day.items()
            for i in range(count)
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
            now=midnight + timedelta(days=1),
            keep_raw=retention.raw_snapshots,
            keep_rollups=retention.rollups,
        )
    kept = raw_count(database)
    database.close()
    size = (tmp_path / "calmopsd.db").stat().st_size + _wal_size(tmp_path)
    row_bytes = {name: len(row["readings"]) for name, row in templates.items()}
    print(
        f"{DAYS} days of default sampling: {size / 2**20:.1f} MiB, {kept} raw snapshots kept; "
        f"readings JSON bytes per row: {row_bytes}"
    )
    assert kept == 14 * sum(per_day.values())
    assert size < DB_SIZE_LIMIT


def _wal_size(directory: Path) -> int:
    wal = directory / "calmopsd.db-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_encode_time_sorts_like_time() -> None:
    earlier, later = START, START + timedelta(microseconds=1)
    assert encode_time(earlier) < encode_time(later)
