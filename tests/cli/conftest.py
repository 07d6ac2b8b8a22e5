"""Fixtures of the CLI tests: a filled store (cli_scenario.py), daemons killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_scenario import Filled, fill
from support.process import DaemonProcess
from support.scenario import T0


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    """On the scenario's fixed timeline (its proposals long expired by the real clock)."""
    return fill(tmp_path, T0)


@pytest.fixture
def fresh(tmp_path: Path) -> Filled:
    return fill(tmp_path, datetime.now(UTC) - timedelta(minutes=10))


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.stop()
