"""The schedule: a sampler that raises or hangs becomes a reading; the others keep time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import structlog
from support.clock import ManualClock

from calmopsd.clock import Clock
from calmopsd.config import Config
from calmopsd.config.sensing import SensingConfig
from calmopsd.daemon import Daemon, Source
from calmopsd.model import HealthSnapshot
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import snapshots_since
from calmopsd.sense import Planned
from calmopsd.sense.sampler import SamplerRunner


class Steady:
    name = "steady"

    def sample(self) -> dict[str, Any]:
        return {"value": 1}


class Stuck:
    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()

    def sample(self) -> dict[str, Any]:
        self.release.wait(30)
        return {}


class Broken:
    name = "broken"

    def sample(self) -> dict[str, Any]:
        raise RuntimeError("sensor fell off")


def test_a_raising_sampler_becomes_a_failed_reading_and_one_log_event() -> None:
    with structlog.testing.capture_logs() as logs:
        reading = SamplerRunner(Broken(), ManualClock(), timeout_s=5).take()
    assert (reading.ok, reading.error, reading.values) == (
        False,
        "RuntimeError: sensor fell off",
        {},
    )
    assert logs == [
        {
            "event": "sampler.failed",
            "sampler": "broken",
            "error": "RuntimeError: sensor fell off",
            "log_level": "warning",
        }
    ]


def test_a_hung_sampler_times_out_and_is_not_started_again_while_it_hangs() -> None:
    stuck = Stuck()
    runner = SamplerRunner(stuck, ManualClock(), timeout_s=0.2)
    first = runner.take()
    second = runner.take()
    stuck.release.set()
    assert (first.ok, first.error) == (False, "timed out after 0.2s")
    assert (second.ok, second.error) == (False, "previous attempt still running")
    assert second.duration_ms == 0.0


def test_a_hanging_sampler_does_not_delay_the_others_snapshots(tmp_path: Path) -> None:
    stuck = Stuck()

    def planner(config: SensingConfig, clock: Clock) -> list[Planned]:
        return [Planned(Steady(), 0.2, 1.0), Planned(stuck, 0.2, 0.5)]

    config_file = tmp_path / "calmops.yaml"
    config_file.write_text("")
    daemon = Daemon(Source(config_file), Config(state_dir=tmp_path / "state"), planner=planner)
    daemon.start()
    try:
        deadline = time.monotonic() + 10
        steady = stored("steady", daemon)
        while time.monotonic() < deadline and len(steady) < 8:
            time.sleep(0.1)
            steady = stored("steady", daemon)
        hung = stored("stuck", daemon)
    finally:
        stuck.release.set()
        assert daemon.stop() == 0
    assert len(steady) >= 8, f"only {len(steady)} steady snapshots in 10 s"
    assert all(s.ok for s in steady)
    gaps = [(b.taken_at - a.taken_at).total_seconds() for a, b in pairwise(steady)]
    assert max(gaps) < 0.45, gaps  # the stuck sampler's 0.5 s timeouts never delay it
    assert hung and not any(s.ok for s in hung)
    assert {s.readings["error"] for s in hung} <= {
        "timed out after 0.5s",
        "previous attempt still running",
    }


def stored(sampler: str, daemon: Daemon) -> list[HealthSnapshot]:
    """The sampler's snapshots so far, read back from the store."""
    assert daemon.database is not None
    since = datetime(2000, 1, 1, tzinfo=UTC)
    return snapshots_since(daemon.database, Scope.platform(), sampler=sampler, since=since)
