"""The daemon's log job: lines written to a real nginx log become a stored ``logs`` reading,
and a restart of the daemon neither loses nor recounts a line."""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support.process import DaemonProcess, clean_env

from calmopsd.clock import Clock
from calmopsd.config import Config, load_config
from calmopsd.config.sensing import SensingConfig
from calmopsd.daemon import Daemon, Source
from calmopsd.record.keyframes import Decoder
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


def test_a_daemon_killed_mid_file_resumes_without_missing_or_recounting(tmp_path: Path) -> None:
    """SIGKILL while a 7 MiB backlog is read 1 MiB per round; the next daemon finishes it."""
    access_log = tmp_path / "access.log"
    two_minutes_ago = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    lines = 80_000
    access_log.write_text(combined_lines(lines, two_minutes_ago))
    assert access_log.stat().st_size > 6 * 2**20
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(
        "state_dir: state\nlog:\n  format: json\n"
        "sensing:\n  memory: {enabled: false}\n  disk: {enabled: false}\n  pm2: {enabled: false}\n"
        "logs:\n  interval: 300ms\n  start_at: beginning\n  max_read_per_round: 1\n"
        f"  nginx:\n    - name: web\n      paths: [{access_log}]\n"
    )
    database = tmp_path / "state" / "calmopsd.db"

    first = DaemonProcess("--config", str(config_file), env=clean_env())
    try:
        first.wait_for("daemon.ready")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and stored_totals(database) in (None, 0):
            time.sleep(0.05)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
    finally:
        first.stop()
    partial = stored_totals(database)
    assert partial is not None and 0 < partial < lines  # killed mid-file

    second = DaemonProcess("--config", str(config_file), env=clean_env())
    try:
        second.wait_for("daemon.ready")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and stored_totals(database) != lines:
            time.sleep(0.1)
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=10) == 0
    finally:
        second.stop()
    assert stored_totals(database) == lines


def stored_totals(database: Path) -> int | None:
    """Requests the newest stored logs reading counts in total (read as another process would)."""
    if not database.exists():
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute(
            "SELECT id, base, readings FROM health_snapshots "
            "WHERE sampler = 'logs' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        readings = None if row is None else Decoder(conn).readings(*row)
    return None if readings is None else int(readings["sources"]["web"]["totals"]["requests"])
