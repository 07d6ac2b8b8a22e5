"""The daemon's log job: lines written to a real nginx log become a stored ``logs`` reading,
and a restart of the daemon neither loses nor recounts a line."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calmopsd.clock import Clock
from calmopsd.config import Config, load_config
from calmopsd.config.sensing import SensingConfig
from calmopsd.daemon import Daemon, Source
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import snapshots_since
from calmopsd.sense import Planned


def no_samplers(config: SensingConfig, clock: Clock) -> list[Planned]:
    return []


def combined_lines(count: int, at: datetime, status: int = 200) -> str:
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return "".join(
        f'127.0.0.1 - - [{stamp}] "GET /item/{i} HTTP/1.1" {status} 5 "-" "test"\n'
        for i in range(count)
    )


def latest_logs_reading(daemon: Daemon, deadline_s: float, wanted: int) -> dict[str, Any]:
    """Wait (bounded) for a stored logs snapshot whose source totals reach ``wanted``."""
    assert daemon.database is not None
    deadline = time.monotonic() + deadline_s
    since = datetime(2000, 1, 1, tzinfo=UTC)
    readings: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stored = snapshots_since(daemon.database, Scope.platform(), sampler="logs", since=since)
        if stored:
            readings = stored[-1].readings
            if readings["sources"]["web"]["totals"]["requests"] >= wanted:
                return readings
        time.sleep(0.1)
    raise AssertionError(f"no logs reading with {wanted} requests; last: {readings}")


def run_once(config: Config, config_file: Path, wanted: int) -> dict[str, Any]:
    daemon = Daemon(Source(config_file), config, planner=no_samplers)
    daemon.start()
    try:
        return latest_logs_reading(daemon, 15, wanted)
    finally:
        assert daemon.stop() == 0


def test_log_lines_become_a_stored_reading_and_survive_a_restart_exactly(tmp_path: Path) -> None:
    access_log = tmp_path / "access.log"
    two_minutes_ago = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    access_log.write_text(
        combined_lines(30, two_minutes_ago) + combined_lines(4, two_minutes_ago, 502)
    )
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(
        "state_dir: state\n"
        "logs:\n  interval: 200ms\n  start_at: beginning\n"
        f"  nginx:\n    - name: web\n      paths: [{access_log}]\n"
    )
    config = load_config(config_file)

    first = run_once(config, config_file, 34)
    assert first["sources"]["web"]["totals"]["requests"] == 34
    assert first["sources"]["web"]["totals"]["server_errors"] == 4
    assert first["platform"]["5m"]["server_errors"] == 4

    with access_log.open("a") as log:
        log.write(combined_lines(6, two_minutes_ago + timedelta(seconds=30), 500))
    second = run_once(config, config_file, 40)
    assert second["sources"]["web"]["totals"]["requests"] == 40  # 34 + 6: none twice, none lost
    assert second["sources"]["web"]["totals"]["server_errors"] == 10
