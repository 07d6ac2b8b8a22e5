from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.process import DaemonProcess, write_config

BASE_CONFIG = """\
state_dir: state
log:
  level: info
  format: json
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "calmops.yaml", BASE_CONFIG)


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """Every daemon a test starts is killed at teardown, whatever happened."""
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.stop()
