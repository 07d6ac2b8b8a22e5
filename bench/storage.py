"""How large the store grows over DAYS days of default sampling (default 30).

Every default sampler at its default interval — memory, disk for ``/``, one health
check and one probe every 15 s, PM2 every 30 s — written through the snapshot
writer's own encoder, hour by hour, and rolled up hourly as the daemon does with
the default retention (14 days raw, then 5-minute aggregates). The readings come
from the real samplers once and drift from round to round (tests/support/readings.py),
so the compact encoding is measured on readings that change.

The reference, in the same run: the same last 14 days of readings as the previous
layout stored them (one row of canonical JSON and an ISO time per snapshot, two
indexes), written into a database migrated only up to the migration before the
compact one.

    .venv/bin/python bench/storage.py [DAYS]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.readings import START, Drift, round_of_readings

from calmopsd.config.sensing import RetentionConfig, SensingConfig
from calmopsd.record.codec import (
    decode_instant,
    encode_instant,
    encode_json,
    encode_time,
)
from calmopsd.record.connection import connect
from calmopsd.record.database import Database
from calmopsd.record.keyframes import Encoder, Stored
from calmopsd.record.migrations import MIGRATIONS, migrate
from calmopsd.record.retention import roll_up

COMPACT = next(m.version for m in MIGRATIONS if m.name.startswith("compact raw snapshots"))
HOUR = timedelta(hours=1)


def rounds(sensing: SensingConfig, drift: Drift, hour: int) -> list[tuple[str, int, dict]]:
    """Every snapshot of one hour, in time order: (sampler, microseconds, readings)."""
    due = []
    for name in drift.last:
        step = getattr(sensing, name).interval
        due += [(START + hour * HOUR + i * step, name, step) for i in range(HOUR // step)]
    due.sort()
    return [(n, encode_instant(at), drift.next(n, step.total_seconds())) for at, n, step in due]


def sizes(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    found = dict(rows)
    found["(free pages)"] = free * page
    return found


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    sensing, retention = SensingConfig(), RetentionConfig()
    drift = Drift(round_of_readings(sensing))
    with tempfile.TemporaryDirectory() as tmp:
        new_path, old_path = Path(tmp) / "calmopsd.db", Path(tmp) / "old.db"
        database = Database.open(new_path)
        # Size is measured here, not durability: no fsyncs (outside any transaction).
        database._writer.execute("PRAGMA synchronous = OFF")
        old = connect(old_path)
        migrate(old, upto=COMPACT - 1)
        old.execute("PRAGMA synchronous = OFF")
        encoder = Encoder()
        kept_from = days * 24 - retention.raw_snapshots // HOUR
        json_bytes = snapshots = 0
        for hour in range(days * 24):
            batch = rounds(sensing, drift, hour)
            with database.write() as tx:
                for name, at, values in batch:
                    encoder.insert(tx.db.conn, Stored(at, name, None, True, 1.5, values))
            if hour >= kept_from:
                old_rows = [_old_row(name, at, values) for name, at, values in batch]
                json_bytes += sum(len(r[3]) for r in old_rows)
                snapshots += len(old_rows)
                old.execute("BEGIN")
                old.executemany(
                    "INSERT INTO health_snapshots (taken_at, sampler, ok, duration_ms, "
                    "readings) VALUES (?, ?, 1, ?, ?)",
                    old_rows,
                )
                old.execute("COMMIT")
            roll_up(
                database,
                now=START + (hour + 1) * HOUR,
                keep_raw=retention.raw_snapshots,
                keep_rollups=retention.rollups,
            )
        with database.read() as db:
            kept = db.execute("SELECT count(*) FROM health_snapshots").fetchone()[0]
            frames = db.execute(
                "SELECT count(*) FROM health_snapshots WHERE base IS NULL"
            ).fetchone()[0]
        database.close()
        old.close()
        size, old_size = new_path.stat().st_size, old_path.stat().st_size
        tables = sizes(new_path)
    mib = 2**20
    print(
        f"{days} days of default sampling: {size / mib:.1f} MiB, {kept} raw snapshots kept "
        f"({frames} keyframes)"
    )
    shown = sorted(((v, k) for k, v in tables.items() if v >= mib / 20), reverse=True)
    print("  by table: " + ", ".join(f"{k} {v / mib:.1f}" for v, k in shown))
    print(
        f"reference, the same {snapshots} last raw snapshots in the previous layout: "
        f"{old_size / mib:.1f} MiB ({json_bytes / mib:.1f} MiB of readings JSON)"
    )
    print(
        f"store_mib={size / mib:.1f} raw_bytes_per_snapshot="
        f"{_raw(tables) / max(kept, 1):.1f} vs_previous_raw_layout={size / old_size:.2f}"
    )


def _old_row(name: str, at: int, values: dict) -> tuple[str, str, float, str]:
    return (encode_time(decode_instant(at)), name, 1.5, encode_json(values))


def _raw(tables: dict[str, int]) -> int:
    return tables.get("health_snapshots", 0) + tables.get("health_snapshots_by_chain", 0)


if __name__ == "__main__":
    main()
