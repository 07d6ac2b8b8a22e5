"""The daemon in-process (no signals): stopping mid-sample, reloads that cannot apply,
samplers kept across a reload, and the config digest in the audit log."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calmopsd.clock import Clock
from calmopsd.config import load_config
from calmopsd.config.sensing import SensingConfig
from calmopsd.daemon import Daemon, Source
from calmopsd.record.audit import list_events
from calmopsd.record.scope import Scope
from calmopsd.sense import Planned


class Slow:
    """A sampler in the middle of a long round (an app not answering its health check)."""

    name = "slow"

    def __init__(self) -> None:
        self.started = threading.Event()

    def sample(self) -> dict[str, Any]:
        self.started.set()
        time.sleep(4.5)
        return {}


class Quick:
    name = "memory"  # borrows a real config section name, so reload comparisons apply

    def sample(self) -> dict[str, Any]:
        return {"value": 1}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "calmops.yaml"
    path.write_text("state_dir: state\n")
    return path


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.database is not None and daemon.scheduler.running:
            daemon.stop()


def start(config_file: Path, daemons: list[Daemon], planner: Any) -> Daemon:
    config = load_config(config_file)
    daemon = Daemon(Source(config_file), config, planner=planner, config_digest="d0")
    daemons.append(daemon)
    daemon.start()
    return daemon


def test_a_stop_during_a_slow_sample_is_clean_and_quick(
    config_file: Path, daemons: list[Daemon]
) -> None:
    slow = Slow()
    daemon = start(config_file, daemons, lambda c, k: [Planned(slow, 60, 10)])
    assert slow.started.wait(10)
    began = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - began < 2.0
    daemons.clear()


def test_a_reload_the_running_daemon_cannot_apply_keeps_the_old_config(
    capsys: pytest.CaptureFixture[str], config_file: Path, daemons: list[Daemon]
) -> None:
    calls = []

    def planner(config: SensingConfig, clock: Clock) -> list[Planned]:
        calls.append(config)
        if len(calls) == 2:  # the reload's config; the restore of the old one works
            raise RuntimeError("cannot build samplers")
        return [Planned(Quick(), 60, 5)]

    daemon = start(config_file, daemons, planner)
    config_file.write_text("state_dir: state\nthresholds:\n  memory_percent: 90\n")
    capsys.readouterr()
    daemon.reload()  # the reload reconfigures logging: read the JSON lines it writes
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [e for e in logs if e["level"] == "error"]
    assert [e["event"] for e in errors] == ["config.reload_failed"]
    assert "cannot build samplers" in errors[0]["error"]
    assert daemon.config.thresholds.memory_percent == 85.0
    assert daemon.scheduler.get_job("sample.memory") is not None
    assert daemon.database is not None
    kinds = [e.kind for e in list_events(daemon.database, Scope.platform())]
    assert kinds == ["daemon.started", "config.reload_rejected"]  # no config.reloaded
    assert daemon.stop() == 0  # here, while capsys's stream (which it logs to) is open
    daemons.clear()


def test_a_reload_whose_loader_fails_on_its_own_keeps_the_daemon_on_the_old_config(
    capsys: pytest.CaptureFixture[str],
    config_file: Path,
    daemons: list[Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fault in the loader itself (not a problem of the file) must not end the daemon.
    daemon = start(config_file, daemons, lambda c, k: [Planned(Quick(), 60, 5)])

    def broken(self: Source) -> None:
        raise OverflowError("a loader bug")

    monkeypatch.setattr(Source, "load", broken)
    capsys.readouterr()
    daemon.reload()  # logging is not reconfigured: the test's console lines, and a traceback
    said = capsys.readouterr().out
    assert "config.reload_failed" in said and "OverflowError('a loader bug')" in said
    assert daemon.scheduler.get_job("sample.memory") is not None
    kinds = [e.kind for e in list_events(daemon.database, Scope.platform())]  # type: ignore[arg-type]
    assert kinds == ["daemon.started", "config.reload_rejected"]
    assert daemon.stop() == 0
    daemons.clear()


def test_a_reload_keeps_unchanged_samplers_and_rebuilds_changed_ones(
    config_file: Path, daemons: list[Daemon]
) -> None:
    daemon = start(config_file, daemons, lambda c, k: [Planned(Quick(), 60, 5)])
    before = runner_of(daemon, "memory")
    config_file.write_text("state_dir: state\nthresholds:\n  memory_percent: 90\n")
    daemon.reload()
    assert runner_of(daemon, "memory") is before  # sensing unchanged: same runner, same memory
    config_file.write_text("state_dir: state\nsensing:\n  memory:\n    top_processes: 2\n")
    daemon.reload()
    assert runner_of(daemon, "memory") is not before


def test_the_audit_log_names_the_digest_of_the_bytes_loaded(
    config_file: Path, daemons: list[Daemon]
) -> None:
    daemon = start(config_file, daemons, lambda c, k: [])
    text = "state_dir: state\nthresholds:\n  disk_percent: 70\n"
    config_file.write_text(text)
    daemon.reload()
    assert daemon.database is not None
    reloaded = list_events(daemon.database, Scope.platform())[-1]
    assert reloaded.kind == "config.reloaded"
    assert reloaded.data["config_sha256"] == hashlib.sha256(text.encode()).hexdigest()


def runner_of(daemon: Daemon, name: str) -> object:
    assert daemon.sensing is not None
    return daemon.sensing.runners[name][1]


def test_a_reload_during_a_long_log_round_does_not_wait_for_it(
    config_file: Path, daemons: list[Daemon]
) -> None:
    daemon = start(config_file, daemons, lambda c, k: [])
    assert daemon.sensing is not None
    sensing = daemon.sensing
    holding, done = threading.Event(), threading.Event()

    def long_round() -> None:  # holds the lock as a 3-second catch-up round would
        with sensing._logs_lock:
            holding.set()
            done.wait(3)

    round_thread = threading.Thread(target=long_round)
    round_thread.start()
    assert holding.wait(5)
    config_file.write_text("state_dir: state\nlogs:\n  interval: 5s\n")
    began = time.monotonic()
    daemon.reload()
    waited = time.monotonic() - began
    done.set()
    round_thread.join(5)
    assert waited < 1.0  # the main thread, which also handles SIGTERM, was not held up
    assert sensing._logs_built is not None
    assert sensing._logs_built.logs.interval.total_seconds() == 15.0  # not applied yet
    sensing.read_logs()  # the next round applies it
    assert sensing._logs_built.logs.interval.total_seconds() == 5.0


def test_a_reload_names_the_keys_changed_as_the_file_spells_them(
    config_file: Path, daemons: list[Daemon]
) -> None:
    """Found by a tester: an edit of `for:` was logged as `rule_defaults.logs.hold`, the
    field behind the key, a name the config does not have."""
    daemon = start(config_file, daemons, lambda c, k: [])
    config_file.write_text("state_dir: state\nrule_defaults:\n  logs:\n    for: 5\n")
    daemon.reload()
    assert daemon.database is not None
    reloaded = list_events(daemon.database, Scope.platform())[-1]
    assert reloaded.kind == "config.reloaded"
    assert reloaded.data["changed"] == ["rule_defaults.logs.for"]
