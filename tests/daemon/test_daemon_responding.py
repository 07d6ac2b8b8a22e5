"""The incident agent inside the daemon: readings from the sampling jobs open incidents in
the real store, a failing agent never stops a job, and only reloads that change what the
agent is built from replace it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.model import IncidentType, Reading
from calmopsd.record.audit import list_events
from calmopsd.record.incidents import list_incidents
from calmopsd.record.scope import Scope
from calmopsd.respond.agent import Agent
from calmopsd.sense import Planned

ROUND_S = 0.05  # the fake sampler's interval: a few rounds take well under a second


class HighMemory:
    """A memory sampler on a host whose memory stays at 97 %."""

    name = "memory"  # the real section name, so the shipped memory rule watches it

    def __init__(self) -> None:
        self.rounds = 0
        self._lock = threading.Lock()

    def sample(self) -> dict[str, Any]:
        with self._lock:
            self.rounds += 1
        return {"used_percent": 97.0, "available_bytes": 3 * 2**28, "top_processes": []}


class BrokenAgent:
    """An agent with a bug in both of its ways in."""

    def __init__(self) -> None:
        self.calls = 0
        self.tracked: dict[int, object] = {}
        self.in_flight: dict[int, object] = {}

    def take_requests(self) -> list[object]:
        return []

    def resume(self, now: object) -> None:
        pass

    def observe(self, reading: Reading) -> None:
        self.calls += 1
        raise RuntimeError("agent bug")

    def tick(self, now: object) -> None:
        raise RuntimeError("agent bug")


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


def start(config_file: Path, daemons: list[Daemon], *samplers: Any) -> Daemon:
    planned = [Planned(s, ROUND_S, 5) for s in samplers]
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: planned)
    daemons.append(daemon)
    daemon.start()
    return daemon


def wait_until(condition: Callable[[], bool], deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_memory_at_97_percent_for_several_rounds_opens_one_explained_memory_incident(
    config_file: Path, daemons: list[Daemon]
) -> None:
    memory = HighMemory()
    daemon = start(config_file, daemons, memory)
    database = daemon.database
    assert database is not None
    scope = Scope.platform()

    wait_until(lambda: any(i.summary for i in list_incidents(database, scope)))
    seen = memory.rounds
    wait_until(lambda: memory.rounds >= seen + 5)  # more breaching rounds: still one incident

    [incident] = list_incidents(database, scope)
    assert incident.type is IncidentType.MEMORY
    assert incident.summary is not None
    assert incident.summary.splitlines()[0].startswith("Memory at 97 % on the host")
    kinds = [e.kind for e in list_events(database, scope, incident_id=incident.id)]
    assert kinds.count("incident.opened") == 1
    assert "incident.classified" in kinds


def test_an_agent_that_raises_is_logged_and_the_sampling_jobs_keep_running(
    config_file: Path, daemons: list[Daemon]
) -> None:
    memory = HighMemory()
    daemon = start(config_file, daemons, memory)
    assert daemon.responding is not None and daemon.sensing is not None
    broken = BrokenAgent()
    with capture_logs() as logs:
        daemon.responding.agent = cast(Agent, broken)  # the one test that swaps in a bug
        wait_until(lambda: broken.calls >= 3)  # the job ran again after each failure
        daemon.sensing.read_logs()  # the log job passes its reading on the same way
        daemon.responding.tick()  # the tick job's way in fails the same way, quietly
        wait_until(lambda: any(e.get("step") == "tick" for e in logs))
    failed = [e for e in logs if e["event"] == "agent.failed"]
    assert {e["step"] for e in failed} == {"observe", "tick"}
    assert all(e["exc_info"] is True for e in failed)
    assert {"memory", "logs"} <= {e["sampler"] for e in failed if e["step"] == "observe"}
    assert daemon.scheduler.get_job("sample.memory") is not None
    assert daemon.scheduler.get_job("respond.tick") is not None
    rounds = memory.rounds
    wait_until(lambda: memory.rounds > rounds)
    assert daemon.sensing.latest["memory"].values["used_percent"] == 97.0


def test_only_a_reload_that_changes_what_the_agent_is_built_from_replaces_it(
    config_file: Path, daemons: list[Daemon]
) -> None:
    daemon = start(config_file, daemons)
    assert daemon.responding is not None
    first = daemon.responding.agent
    assert first is not None

    config_file.write_text("state_dir: state\nlog:\n  level: warning\n")
    daemon.reload()
    assert daemon.config.log.level == "warning"
    assert daemon.responding.agent is first

    config_file.write_text(
        "state_dir: state\nlog:\n  level: warning\nthresholds:\n  memory_percent: 90\n"
    )
    daemon.reload()
    rebuilt = daemon.responding.agent
    assert rebuilt is not None and rebuilt is not first
    assert rebuilt.rules["memory_used"].threshold == 90.0

    config_file.write_text(
        "state_dir: state\nthresholds:\n  memory_percent: 90\n"
        "rule_defaults:\n  memory:\n    clear_for: 1h\n"
    )
    daemon.reload()
    again = daemon.responding.agent
    assert again is not None and again is not rebuilt
    assert again.rules["memory_used"].clear_for == timedelta(hours=1)


def test_the_daemon_ends_an_action_in_force_on_time_and_follows_the_cli(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    from datetime import UTC, datetime, timedelta

    from support.clock import ManualClock  # type: ignore[import-not-found]

    from calmopsd.act import control
    from calmopsd.model import ActionRequest, SafeAction
    from calmopsd.record.actions import list_active

    flag = tmp_path / "jobs.paused"
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(
        f"state_dir: state\nactions:\n  mode: enforce\n  pause_jobs:\n    flag_file: {flag}\n"
    )
    clock = ManualClock(datetime.now(UTC))
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: [],
                    clock=clock)  # fmt: skip
    daemons.append(daemon)
    daemon.start()
    responder = daemon.responding
    assert responder.executor is not None and daemon.database is not None
    pause = ActionRequest(SafeAction.PAUSE_JOBS, {"ttl": "5m"}, None, None, "test")
    assert responder.executor.request(pause, clock.now()).worked
    assert flag.exists()

    control.pause(tmp_path / "state", "dana")
    clock.advance(timedelta(minutes=5))
    responder.tick()
    assert responder.settle(10.0)
    assert not flag.exists()
    assert list_active(daemon.database) == []
    kinds = [e.kind for e in list_events(daemon.database, Scope.platform())]
    assert kinds[-2:] == ["action.reverted", "actions.paused"]
    refused = responder.executor.request(pause, clock.now())
    assert refused.reason == "paused"


def test_the_agents_tick_runs_at_incidents_tick_and_a_reload_moves_it(
    config_file: Path, daemons: list[Daemon]
) -> None:
    config_file.write_text("state_dir: state\nincidents:\n  tick: 2s\n")
    daemon = start(config_file, daemons)
    job = daemon.scheduler.get_job("respond.tick")
    assert job is not None and job.trigger.interval == timedelta(seconds=2)

    config_file.write_text("state_dir: state\nincidents:\n  tick: 45s\n")
    daemon.reload()
    job = daemon.scheduler.get_job("respond.tick")
    assert job is not None and job.trigger.interval == timedelta(seconds=45)
