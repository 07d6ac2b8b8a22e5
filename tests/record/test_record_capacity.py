"""The store's cap (issue 16): over it, raw snapshots are rolled up early (the last hour
stays raw), then the oldest roll-ups go; incidents and the audit chain never do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from structlog.testing import capture_logs
from support.readings import START, Drift, round_of_readings

from calmopsd.config.sensing import SensingConfig
from calmopsd.model import IncidentType, Reading, Severity
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.capacity import enforce_cap, used_bytes
from calmopsd.record.database import Database
from calmopsd.record.incidents import list_incidents, open_incident
from calmopsd.record.retention import roll_up
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import SnapshotWriter, snapshots_since

PLATFORM = Scope.platform()
HOURS = 8
NOW = START + timedelta(hours=HOURS)


def filled(path: Path) -> Database:
    """Eight hours of the default samplers' readings, the first three rolled up, an incident."""
    sensing = SensingConfig()
    drift = Drift(round_of_readings(sensing))
    database = Database.open(path)
    writer = SnapshotWriter(database)
    writer.start()
    for name in list(drift.last):
        step = getattr(sensing, name).interval
        for i in range(timedelta(hours=HOURS) // step):
            values = drift.next(name, step.total_seconds())
            writer.submit(Reading(name, START + i * step, True, 1.0, values))
    assert writer.stop(timeout_s=30)
    roll_up(database, now=START + timedelta(days=14, hours=3), keep_raw=timedelta(days=14),
            keep_rollups=timedelta(days=400))  # fmt: skip
    open_incident(
        database, PLATFORM, organization_id=None, fingerprint="memory:host",
        type=IncidentType.MEMORY, severity=Severity.WARNING, title="memory high", at=START,
        actor="calmopsd", evidence={},
    )  # fmt: skip
    return database


def raw_hours(database: Database) -> set[int]:
    stored = snapshots_since(database, PLATFORM, sampler="memory", since=START)
    return {int((s.taken_at - START) / timedelta(hours=1)) for s in stored}


def rollup_rows(database: Database) -> int:
    with database.read() as db:
        return int(db.execute("SELECT count(*) FROM health_rollups").fetchone()[0])


def test_under_the_cap_nothing_gives_way_and_nothing_is_said(db_path: Path) -> None:
    database = filled(db_path)
    with capture_logs() as logs:
        result = enforce_cap(database, cap_bytes=used_bytes(database), now=NOW)
    assert (result.reached, result.snapshots_rolled_early, result.rollups_deleted) == (False, 0, 0)
    assert raw_hours(database) == {3, 4, 5, 6, 7}
    assert logs == []
    database.close()


def test_over_the_cap_the_oldest_raw_snapshots_are_rolled_up_first(db_path: Path) -> None:
    database = filled(db_path)
    rows_before = rollup_rows(database)
    cap = used_bytes(database) - 4096

    with capture_logs() as logs:
        result = enforce_cap(database, cap_bytes=cap, now=NOW)

    assert result.reached and result.met
    assert result.snapshots_rolled_early > 0
    assert result.rollups_deleted == 0
    assert min(raw_hours(database)) > 3  # the oldest raw hours went first, rolled up
    assert rollup_rows(database) > rows_before
    assert [e for e in logs if e["event"] == "retention.cap_reached"] == [
        {"event": "retention.cap_reached", "log_level": "warning", "cap_bytes": cap,
         "used_bytes": result.used_before, "used_after": result.used_after,
         "snapshots_rolled_early": result.snapshots_rolled_early, "rollups_deleted": 0,
         "met": True},
    ]  # fmt: skip
    database.close()


def test_a_cap_incidents_alone_pass_takes_health_data_only_and_says_it_is_unmet(
    db_path: Path,
) -> None:
    database = filled(db_path)
    events = list_events(database, PLATFORM)

    with capture_logs() as logs:
        result = enforce_cap(database, cap_bytes=4096, now=NOW)

    assert result.reached and not result.met
    assert raw_hours(database) == {7}  # the last hour stays raw
    assert rollup_rows(database) == 0
    assert [i.title for i in list_incidents(database, PLATFORM)] == ["memory high"]
    assert list_events(database, PLATFORM) == events
    assert [e["met"] for e in logs if e["event"] == "retention.cap_reached"] == [False]
    database.close()
    assert verify_file(db_path).ok
