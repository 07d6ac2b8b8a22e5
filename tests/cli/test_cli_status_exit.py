"""``calmopsd status`` answers in its exit code, like ``monit summary``: 3 when no daemon holds
the store, 4 when a sampler's readings are stale, 0 otherwise; a failed reload shows on the
screen. The real CLI in a subprocess, beside a real daemon (in this process) on its store."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.process import calmopsd

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.sense import Planned

CONFIG = "state_dir: state\nlog:\n  format: json\napi:\n  enabled: false\n"


class Memory:
    name = "memory"

    def sample(self) -> dict[str, Any]:
        return {"used_percent": 20.0, "total_bytes": 8 << 30, "available_bytes": 6 << 30}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(CONFIG)
    planned = [Planned(Memory(), 1, 1)]  # stale after 3 × 1 s + 1 s
    running = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: planned)
    running.start()
    yield running
    if running.scheduler.running:
        running.stop()


def status(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return calmopsd("status", "--state-dir", str(state), *args)


def until_exit(
    state: Path, code: int, deadline_s: float = 20.0
) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + deadline_s
    while True:
        result = status(state)
        if result.returncode == code or time.monotonic() > deadline:
            assert (result.returncode, result.stderr) == (code, ""), result.stdout
            return result
        time.sleep(0.2)


def test_the_help_says_what_each_exit_status_means() -> None:
    shown = calmopsd("status", "--help").stdout
    assert "3  no daemon holds the store" in shown
    assert "4  a daemon runs, but a sampler's latest reading is stale" in shown


def test_without_a_daemon_it_still_prints_the_screen_and_exits_3(tmp_path: Path) -> None:
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(CONFIG)
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: [])
    daemon.start()
    daemon.stop()
    result = status(tmp_path / "state")
    assert (result.returncode, result.stderr) == (3, "")
    lines = result.stdout.splitlines()
    assert lines[0] == "Daemon: not running (nothing is sampled or acted on; readings grow old)"
    assert "Open incidents: none" in lines


def test_a_running_daemon_with_fresh_readings_exits_0_and_a_failed_reload_shows(
    tmp_path: Path, daemon: Daemon
) -> None:
    state = tmp_path / "state"
    until_exit(state, 0)
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(CONFIG + "sensing: {memory: {interval: nonsense}}\n")
    daemon.reload()
    result = until_exit(state, 0)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Daemon: running (pid ")
    assert lines[1].startswith("Config: the reload at ")
    assert " FAILED; running on the config loaded " in lines[1]
    as_json = json.loads(status(state, "--json").stdout)
    assert as_json["config"]["last_reload_successful"] is False
    assert as_json["config"]["last_load"] == "config.reload_rejected"
    assert as_json["stale"] == []


def test_readings_that_stop_coming_exit_4_naming_the_sampler(
    tmp_path: Path, daemon: Daemon
) -> None:
    state = tmp_path / "state"
    until_exit(state, 0)
    daemon.scheduler.pause()  # the jobs stop; the daemon still holds the store
    result = until_exit(state, 4)
    memory = next(line for line in result.stdout.splitlines() if line.startswith("  memory"))
    assert "STALE: no fresh reading for 3 of its intervals" in memory
    as_json = status(state, "--json")
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout)["stale"] == ["memory"]
    daemon.scheduler.resume()
    until_exit(state, 0)


def test_a_config_with_problems_still_names_the_store_status_reads(tmp_path: Path) -> None:
    """Found by a tester: mid-edit of the config (the running daemon keeps its old copy),
    `status` refused to say anything without --state-dir."""
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(CONFIG)
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: [])
    daemon.start()
    daemon.stop()
    config_file.write_text(CONFIG + "thresholds:\n  memory_percent: lots\n")
    result = calmopsd("status", "--config", str(config_file))
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        f"calmopsd: {config_file} has 1 problem (calmopsd check-config lists them); "
        f"reading the store in {(tmp_path / 'state').resolve()}\n"
    )
    assert result.stdout.splitlines()[0].startswith("Daemon: not running")
    for unknown in ("state_dir: [a, b]\n", "state_dir: state\n  bad: [\n"):
        config_file.write_text(unknown)
        refused = calmopsd("status", "--config", str(config_file))
        assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
        assert str(config_file) in refused.stderr
