"""Which config file is read: --config beats $CALMOPS_CONFIG beats /etc beats the shipped one."""

from __future__ import annotations

from pathlib import Path

from calmopsd.config import SHIPPED_CONFIG, SYSTEM_CONFIG, resolve_config_path


def test_the_system_path_is_under_etc() -> None:
    assert str(SYSTEM_CONFIG) == "/etc/calmopsd/calmops.yaml"


def test_an_explicit_path_wins_over_everything(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.touch()
    chosen = resolve_config_path("mine.yaml", {"CALMOPS_CONFIG": "env.yaml"}, system_config=system)
    assert chosen == Path("mine.yaml")


def test_the_environment_wins_over_the_system_file(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.touch()
    chosen = resolve_config_path(None, {"CALMOPS_CONFIG": "env.yaml"}, system_config=system)
    assert chosen == Path("env.yaml")


def test_the_system_file_is_used_when_it_exists(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.touch()
    assert resolve_config_path(None, {}, system_config=system) == system


def test_empty_values_count_as_not_given(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.touch()
    assert resolve_config_path("", {"CALMOPS_CONFIG": ""}, system_config=system) == system


def test_the_shipped_file_is_the_last_resort(tmp_path: Path) -> None:
    chosen = resolve_config_path(None, {}, system_config=tmp_path / "absent.yaml")
    assert chosen == SHIPPED_CONFIG
    assert chosen.is_file()
