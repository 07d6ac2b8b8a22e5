"""Compact snapshots (issue 16): what a sampler produced is what every reader gets back.

Readings are stored as the changes since a keyframe (record/keyframes.py); these
tests write through the store's own writers and read through its own readers, on
real SQLite files, and compare with what was written — value, type and key order.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.readings import START, Drift, round_of_readings

from calmopsd.config.sensing import SensingConfig
from calmopsd.model import Reading
from calmopsd.record.database import Database
from calmopsd.record.frames import Frame, apply, changes
from calmopsd.record.history import readings_since
from calmopsd.record.retention import roll_up, rollups
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import (
    SnapshotWriter,
    add_snapshot,
    latest_snapshots,
    snapshots_since,
)
from calmopsd.shapes import SHAPES

PLATFORM = Scope.platform()
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


def same(got: Any, written: Any) -> bool:
    """Equal as JSON text (1 and 1.0, 0.0 and -0.0 differ), keys in the order readers have
    always had them: sorted, as the store has always written them."""
    return json.dumps(got) == json.dumps(written, sort_keys=True)


def with_leaves_changed(value: Any, new: list[Any]) -> Any:
    """``value`` with its leaves replaced, in order, by ``new`` (same structure)."""
    frame = Frame.of(value)
    changed = [x for i, v in enumerate(new[: len(frame.values)]) for x in (i, v)]
    return apply(frame, changed)


@given(keyframe=JSON, new=st.lists(SCALARS, max_size=12))
def test_readings_with_the_keyframes_structure_come_back_exactly(keyframe: Any, new: list) -> None:
    readings = with_leaves_changed(keyframe, new)
    frame = Frame.of(keyframe)
    changed = changes(frame, readings)
    assert changed is not None
    assert same(apply(frame, changed), readings)


@given(keyframe=JSON, readings=JSON)
def test_any_readings_come_back_exactly_or_become_a_keyframe(keyframe: Any, readings: Any) -> None:
    frame = Frame.of(keyframe)
    changed = changes(frame, readings)
    if changed is not None:
        assert same(apply(frame, changed), readings)
    else:
        assert Frame.of(readings).paths != frame.paths


def test_only_the_leaves_that_changed_are_kept() -> None:
    keyframe = {"a": 1, "b": {"c": 2.0, "d": [True, None]}, "e": []}
    readings = {"a": 1, "b": {"c": -0.0, "d": [1, None]}, "e": {}}
    assert changes(Frame.of(keyframe), readings) == [1, -0.0, 2, 1, 4, {}]


def test_a_decoded_value_shares_nothing_with_its_keyframe() -> None:
    frame = Frame.of({"gone": [], "x": 1})
    first = apply(frame, [])
    first["gone"].append(1)
    assert apply(frame, []) == {"gone": [], "x": 1}


def store(database: Database, sampler: str, minute: float, readings: Any) -> None:
    add_snapshot(
        database,
        PLATFORM,
        sampler=sampler,
        taken_at=START + timedelta(minutes=minute),
        ok=True,
        duration_ms=1.25,
        readings=readings,
    )


@settings(max_examples=40, deadline=None)
@given(
    sampler=st.sampled_from(sorted(SHAPES)),
    raw=st.lists(JSON, min_size=1, max_size=6),
    changed=st.lists(st.lists(SCALARS, max_size=12), max_size=6),
)
def test_every_samplers_shape_reads_back_as_written(
    sampler: str, raw: list[Any], changed: list[list[Any]]
) -> None:
    """Values each shape writes (from any stored JSON), and the same with leaves moved."""
    shaped = [SHAPES[sampler].parse(r).to_values() for r in raw]
    written = shaped + [with_leaves_changed(shaped[0], new) for new in changed]
    with tempfile.TemporaryDirectory() as tmp:
        database = Database.open(Path(tmp) / "calmopsd.db")
        for i, readings in enumerate(written):
            store(database, sampler, i, readings)
        got = [
            s.readings for s in snapshots_since(database, PLATFORM, sampler=sampler, since=START)
        ]
        latest = latest_snapshots(database, PLATFORM)
        database.close()
    assert len(got) == len(written)
    assert all(same(g, w) for g, w in zip(got, written, strict=True))
    assert [s.sampler for s in latest] == [sampler]
    assert same(latest[0].readings, written[-1])


def real_readings(hours: int) -> list[Reading]:
    """The default samplers' readings for ``hours`` hours from 40 minutes past an hour."""
    sensing = SensingConfig()
    drift = Drift(round_of_readings(sensing))
    begin = START + timedelta(minutes=40)
    found = []
    for name in drift.last:
        step = getattr(sensing, name).interval
        for i in range(timedelta(hours=hours) // step):
            values = drift.next(name, step.total_seconds())
            found.append(Reading(name, begin + i * step, True, 2.5, values))
    found.sort(key=lambda r: r.taken_at)
    return found


def written_by_the_writer(path: Path, readings: list[Reading]) -> Database:
    database = Database.open(path)
    writer = SnapshotWriter(database)
    writer.start()
    for reading in readings:
        assert writer.submit(reading)
    assert writer.stop(timeout_s=30)
    return database


def test_the_default_samplers_readings_read_back_through_every_reader(tmp_path: Path) -> None:
    readings = real_readings(hours=2)
    failed = Reading("memory", readings[-1].taken_at + timedelta(seconds=1), False, 3.0, {}, "boom")
    database = written_by_the_writer(tmp_path / "calmopsd.db", [*readings, failed])
    for sampler in ("memory", "disk", "pm2", "http", "dependencies"):
        mine = [r for r in readings if r.sampler == sampler]
        stored = snapshots_since(database, PLATFORM, sampler=sampler, since=START)
        ok = [s for s in stored if s.ok]
        assert [(s.taken_at, s.duration_ms) for s in ok] == [(r.taken_at, 2.5) for r in mine]
        assert all(same(s.readings, r.values) for s, r in zip(ok, mine, strict=True))
        points = readings_since(database, PLATFORM, sampler, START)
        assert all(same(p.values, r.values) for p, r in zip(points, mine, strict=True))
    latest = {s.sampler: s for s in latest_snapshots(database, PLATFORM)}
    assert latest["memory"].readings == {"error": "boom"}
    assert same(latest["pm2"].readings, [r for r in readings if r.sampler == "pm2"][-1].values)
    with database.read() as db:
        frames = db.execute("SELECT count(*) FROM health_snapshots WHERE base IS NULL").fetchone()
    # a keyframe per sampler per hour begun (3 hours touched), and the failed reading's
    assert frames[0] == 5 * 3 + 1
    database.close()


def test_rows_after_a_rolled_bucket_read_the_same_once_their_keyframe_is_gone(
    tmp_path: Path,
) -> None:
    readings = real_readings(hours=2)
    database = written_by_the_writer(tmp_path / "calmopsd.db", readings)
    cutoff = START + timedelta(hours=1, minutes=10)  # inside an hour whose keyframe is older

    roll_up(
        database,
        now=cutoff + timedelta(days=14),
        keep_raw=timedelta(days=14),
        keep_rollups=timedelta(days=400),
    )

    for sampler in ("memory", "pm2"):
        kept = [r for r in readings if r.sampler == sampler and r.taken_at >= cutoff]
        stored = snapshots_since(database, PLATFORM, sampler=sampler, since=START)
        assert [s.taken_at for s in stored] == [r.taken_at for r in kept]
        assert all(same(s.readings, r.values) for s, r in zip(stored, kept, strict=True))
    rolled = [r.values["used_percent"] for r in readings if r.sampler == "memory"]
    rolled = rolled[: sum(1 for r in readings if r.sampler == "memory" and r.taken_at < cutoff)]
    got = rollups(database, PLATFORM, sampler="memory", metric="used_percent", since=START)
    assert sum(c for _, c, *_ in got) == len(rolled)
    assert min(lo for _, _, lo, _, _ in got) == min(rolled)
    assert max(hi for *_, hi in got) == max(rolled)
    database.close()
