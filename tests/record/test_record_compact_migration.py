"""The compact-snapshots migration (issue 16) on a real file the previous layout wrote:
every row reads back as before — time to the microsecond, readings, flags — and new
snapshots are written compactly after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from calmopsd.record.codec import encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.migrations import MIGRATIONS
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot, latest_snapshots, snapshots_since

PLATFORM = Scope.platform()
COMPACT = next(m.version for m in MIGRATIONS if m.name.startswith("compact raw snapshots"))
AT = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)

# What the previous SnapshotWriter inserted: ISO time, canonical JSON, one row each.
OLD_ROWS: list[dict[str, Any]] = [
    {"taken_at": AT, "sampler": "memory", "organization_id": None, "ok": 1,
     "duration_ms": 1.234, "readings": {"used_percent": 41.5, "top_processes": [{"pid": 1}]}},
    {"taken_at": AT + timedelta(microseconds=1), "sampler": "pm2", "organization_id": None,
     "ok": 0, "duration_ms": 2.0, "readings": {"error": "pm2 not running"}},
    {"taken_at": AT + timedelta(seconds=15), "sampler": "logs", "organization_id": "acme",
     "ok": 1, "duration_ms": 0.5, "readings": {"organizations": {"acme": {"requests": 3}}}},
    {"taken_at": AT + timedelta(seconds=15), "sampler": "memory", "organization_id": None,
     "ok": 1, "duration_ms": 1.0, "readings": {"used_percent": 42.0, "top_processes": []}},
]  # fmt: skip


def previous_layout(path: Path) -> None:
    old = Database.open(path, upto=COMPACT - 1)
    with old.write() as tx:
        for row in OLD_ROWS:
            encoded = {
                "taken_at": encode_time(row["taken_at"]),
                "readings": encode_json(row["readings"]),
            }
            tx.insert("health_snapshots", {**row, **encoded})
    old.close()


def test_every_old_row_reads_back_as_the_previous_code_read_it(db_path: Path) -> None:
    previous_layout(db_path)

    upgraded = Database.open(db_path)

    got = [
        (s.id, s.taken_at, s.sampler, s.organization_id, s.ok, s.duration_ms, s.readings)
        for sampler in ("logs", "memory", "pm2")
        for s in snapshots_since(upgraded, PLATFORM, sampler=sampler, since=AT)
    ]
    assert got == [
        (1 + OLD_ROWS.index(r), r["taken_at"], r["sampler"], r["organization_id"],
         bool(r["ok"]), r["duration_ms"], r["readings"])
        for sampler in ("logs", "memory", "pm2")
        for r in OLD_ROWS if r["sampler"] == sampler
    ]  # fmt: skip
    assert [s.id for s in latest_snapshots(upgraded, PLATFORM)] == [3, 4, 2]
    assert [s.id for s in latest_snapshots(upgraded, Scope.organization("acme"))] == [3]
    upgraded.close()


def test_after_it_new_snapshots_are_changes_against_a_keyframe(db_path: Path) -> None:
    previous_layout(db_path)
    upgraded = Database.open(db_path)
    later = AT + timedelta(hours=1, seconds=1)
    for i, used in enumerate((50.0, 50.5, 51.0)):
        add_snapshot(
            upgraded, PLATFORM, sampler="memory", taken_at=later + timedelta(seconds=15 * i),
            ok=True, duration_ms=1.0, readings={"used_percent": used, "top_processes": []},
        )  # fmt: skip

    with sqlite_utils.Database(db_path) as raw:
        rows = raw.execute(
            "SELECT base, readings FROM health_snapshots WHERE id > 4 ORDER BY id"
        ).fetchall()
        indexes = {row[1] for row in raw.execute("PRAGMA index_list('health_snapshots')")}
    assert rows == [
        (None, '{"top_processes":[],"used_percent":50.0}'),
        (5, "[1,50.5]"),
        (5, "[1,51.0]"),
    ]
    assert indexes == {"health_snapshots_by_chain"}
    stored = snapshots_since(upgraded, PLATFORM, sampler="memory", since=later)
    assert [json.dumps(s.readings) for s in stored] == [
        f'{{"top_processes": [], "used_percent": {u}}}' for u in (50.0, 50.5, 51.0)
    ]
    upgraded.close()
