"""How large a year and more of 5-minute roll-ups grows, in the real schema.

Writes DAYS days (default 400, the default `retention.rollups`) of aggregates for
SERIES series (default 41: the default samplers with two PM2 apps, one check and
one probe) straight into a freshly migrated database and prints its size. The
reference in the same run is the raw data's own floor: the same rows as packed
binary (series id, bucket, count, three doubles), so the ratio is SQLite's cost.

    .venv/bin/python bench/rollup_size.py [DAYS] [SERIES]
"""

from __future__ import annotations

import random
import struct
import sys
import tempfile
from pathlib import Path

from calmopsd.record.database import Database

BUCKETS_PER_DAY = 288
ROW = struct.Struct("<iqiddd")


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    series = int(sys.argv[2]) if len(sys.argv) > 2 else 41
    rng = random.Random(7)
    start = 1_700_000_000 // 300 * 300
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calmopsd.db"
        database = Database.open(path)
        with database.write() as tx:
            tx.db.conn.executemany(
                "INSERT INTO health_rollup_series (sampler, organization_id, metric) "
                "VALUES ('bench', NULL, ?)",
                [(f"metric.{i}",) for i in range(series)],
            )
        for day in range(days):
            rows = [
                (s, start + (day * BUCKETS_PER_DAY + b) * 300, 20, v, v + 1, v + 0.5)
                for b in range(BUCKETS_PER_DAY)
                for s in range(1, series + 1)
                for v in [rng.random() * 100]
            ]
            with database.write() as tx:
                tx.db.conn.executemany(
                    "INSERT INTO health_rollups (series, bucket, count, min, max, avg) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
        database.close()
        size = path.stat().st_size
    count = days * BUCKETS_PER_DAY * series
    floor = count * ROW.size
    print(
        f"{days} days x {series} series: {count} roll-up rows, {size / 2**20:.1f} MiB "
        f"({size / count:.1f} B/row); packed binary floor {floor / 2**20:.1f} MiB"
    )
    print(
        f"rollup_mib={size / 2**20:.1f} bytes_per_row={size / count:.1f} "
        f"vs_packed_floor={size / floor:.2f}"
    )


if __name__ == "__main__":
    main()
