"""The journal consumer in the real daemon process: its cursor outlives the process."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.process import DaemonProcess, clean_env, write_config

from calmopsd.model import IncidentType, Severity
from calmopsd.record.cursors import read_cursor
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "calmops.yaml", "state_dir: state\nlog:\n  format: json\n")


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.stop()


def run_and_stop(config_file: Path, daemons: list[DaemonProcess]) -> DaemonProcess:
    daemon = DaemonProcess("--config", str(config_file), env=clean_env())
    daemons.append(daemon)
    daemon.wait_for("daemon.ready")
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=10) == 0
    daemon.wait_for("daemon.stopped")
    return daemon


def test_a_change_made_while_the_daemon_was_down_is_journaled_once_at_its_next_start(
    config_file: Path, daemons: list[DaemonProcess]
) -> None:
    run_and_stop(config_file, daemons)  # the journal's cursor starts: events 1-2 are its run's
    store = database_path(config_file.parent / "state")
    database = Database.open(store)
    try:
        assert read_cursor(database, "journal") == 1  # daemon.stopped comes after its last round
        open_incident(
            database, Scope.platform(), organization_id="acme", fingerprint="memory:api",
            type=IncidentType.MEMORY, severity=Severity.WARNING, title="api memory high",
            at=datetime.now(UTC), actor="a person",
        )  # fmt: skip
    finally:
        database.close()

    daemon = run_and_stop(config_file, daemons)

    followed = [line for line in daemon.seen if "seq" in line and line["event"] != "audit.head"]
    assert [{k: v for k, v in line.items() if k != "timestamp"} for line in followed] == [
        {"event": "incident.opened", "level": "info", "incident_id": 1, "organization_id": "acme",
         "fingerprint": "memory:api", "type": "memory", "severity": "warning", "seq": 3},
    ]  # fmt: skip
    database = Database.open(store)
    try:
        assert read_cursor(database, "journal") == 4  # incident.opened, daemon.started
    finally:
        database.close()
