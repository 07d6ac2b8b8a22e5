"""A real daemon started outside systemd, under a permissive umask, keeps its state dir and
every file in it to its own user: no other local user reads any organization's incidents."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.process import clean_env, write_config

CONFIG = """\
state_dir: state
log:
  level: info
  format: json
api:
  listen: 127.0.0.1:0
sensing:
  pm2:
    enabled: false
"""
# What a started daemon keeps there, with a pause thrown through its API.
EXPECTED = {
    "calmopsd.db",
    "calmopsd.db-wal",
    "calmopsd.db-shm",
    "calmopsd.db.lock",
    "calmopsd.db.audit-head",
    "api.token",
    "api.address",
    "actions.paused",
}


def modes(state: Path) -> dict[str, str]:
    """Every entry under ``state``, as ``kind mode``."""
    found = {}
    for entry in sorted(state.rglob("*")):
        info = entry.lstat()
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
        found[str(entry.relative_to(state))] = f"{kind} {stat.S_IMODE(info.st_mode):04o}"
    return found


def private(found: dict[str, str]) -> dict[str, str]:
    return {
        name: "dir 0700" if mode.startswith("dir") else "file 0600" for name, mode in found.items()
    }


class Daemon:
    """``calmopsd run`` under ``umask``, read until it says it is ready."""

    def __init__(self, config: Path, umask: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "calmopsd", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            umask=umask,
        )
        self.events: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line).get("event", "")
            self.events.append(event)
            if event == "daemon.ready":
                self.ready.set()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


def cli(config: Path, umask: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calmopsd", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        umask=umask,
        check=False,
    )


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_daemon_started_under_a_loose_umask_keeps_everything_private(
    tmp_path: Path, umask: int
) -> None:
    config = write_config(tmp_path / "calmops.yaml", CONFIG)
    state = tmp_path / "state"
    daemon = Daemon(config, umask)
    try:
        assert daemon.ready.wait(30), daemon.events
        paused = cli(config, umask, "actions", "pause")
        assert paused.returncode == 0, paused.stderr
        running = modes(state)
    finally:
        code = daemon.stop()
    stopped = modes(state)

    assert code == 0
    assert set(running) >= EXPECTED, running
    assert running == private(running)
    assert stopped == private(stopped)
    assert "calmopsd.db.audit-head" in stopped  # rewritten at the stop, still private
    assert "state_dir.open_to_others" not in daemon.events


def test_a_pause_by_the_cli_before_any_store_makes_the_state_dir_private(tmp_path: Path) -> None:
    config = write_config(tmp_path / "calmops.yaml", CONFIG)

    paused = cli(config, 0o000, "actions", "pause")

    assert paused.returncode == 0, paused.stderr
    assert modes(tmp_path / "state") == {"actions.paused": "file 0600"}
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
