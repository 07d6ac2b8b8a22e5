"""Durations are bounded, so no accepted config can overflow the scheduler's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from calmopsd.config import load_config
from calmopsd.errors import ConfigError


def test_a_duration_beyond_ten_years_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text("sensing:\n  memory:\n    interval: 3000000d\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:3: sensing.memory.interval: must be at most 3650d (got '3000000d')"
    ]


def test_ten_years_exactly_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text("retention:\n  rollups: 3650d\n")
    assert load_config(path).retention.rollups.days == 3650
