"""The fast rows of the fault-scenario harness (bench/scenarios, issue 11), asserted.

Each test runs one scenario exactly as ``bench/scenarios/run.py`` does: the real daemon
(``python -m calmopsd run``) on a short-interval config, real PM2 apps under a private
PM2_HOME, a real health check and TCP dependency; for ``disk_filled`` a 64 MiB tmpfs
(as root). Every wait in a scenario has a deadline and the scenario a hard timeout;
clean-up (daemon, PM2, the mount) runs whatever failed, and a process left running
fails the test. Only scenarios that take under about 30 s are here (not the two
health-check ones, whose fault a restart by hand ends); the others, and the log-traffic
ones (minutes each), run with the harness itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"
sys.path.insert(0, str(HARNESS))

import run as harness  # noqa: E402


def scenario(name: str) -> harness.Scenario:
    return next(s for s in harness.SCENARIOS if s.name == name)


def ran_cleanly(outcome: harness.Outcome) -> None:
    assert outcome.error is None, outcome.cells
    assert outcome.left == []


def test_a_quiet_host_opens_nothing_while_every_sampler_reads() -> None:
    outcome = harness.run_one(scenario("baseline"))

    ran_cleanly(outcome)
    assert {"pm2", "http", "dependencies"} <= outcome.samplers
    assert outcome.incidents == []
    assert outcome.cells[1:3] == ["no", "0"]


def test_an_errored_app_is_one_app_incident_restarted_and_verified() -> None:
    outcome = harness.run_one(scenario("errored_app"))

    ran_cleanly(outcome)
    incidents = [(i["type"], i["org"], i["status"], i["resolution"]) for i in outcome.incidents]
    assert incidents == [("app", None, "resolved", "recovered")]
    restarts = [(e["action"], e["target"], e["status"]) for e in outcome.executed]
    assert restarts == [("pm2_restart", "web", "succeeded")]  # succeeded: verified by new pids
    assert outcome.cells[1:5] == ["yes", "1", "app", "platform"]


def test_a_full_disk_is_cleared_of_old_uploads_and_resolves_without_ineffective() -> None:
    outcome = harness.run_one(scenario("disk_filled"))

    ran_cleanly(outcome)
    assert "disk" in outcome.samplers
    incidents = [(i["type"], i["status"], i["resolution"]) for i in outcome.incidents]
    assert incidents == [("disk", "resolved", "recovered")]
    clears = [(e["action"], e["status"]) for e in outcome.executed]
    assert clears == [("clear_temp", "succeeded")]
    notes = outcome.cells[-1]
    assert "4 of 4 fresh files kept, 0 old left; 0 action.ineffective" in notes


def test_a_leaking_app_is_one_memory_incident_cured_by_a_verified_restart() -> None:
    outcome = harness.run_one(scenario("memory_leak"))

    ran_cleanly(outcome)
    incidents = [(i["type"], i["status"], i["resolution"]) for i in outcome.incidents]
    assert incidents == [("memory", "resolved", "recovered")]
    restarts = [(e["action"], e["target"], e["status"]) for e in outcome.executed]
    assert restarts == [("pm2_restart", "web", "succeeded")]


def test_a_dependency_down_past_the_pause_is_one_incident_whose_pause_is_extended() -> None:
    outcome = harness.run_one(scenario("dependency_down"))

    ran_cleanly(outcome)
    incidents = [(i["type"], i["status"], i["resolution"]) for i in outcome.incidents]
    assert incidents == [("dependency", "resolved", "recovered")]
    pauses = [(e["action"], e["status"]) for e in outcome.executed]
    assert pauses == [("pause_jobs", "succeeded")]
    assert "extension(s)" in outcome.cells[-1]


def test_a_daemon_killed_mid_incident_resolves_it_after_its_restart_with_the_chain_intact() -> None:
    outcome = harness.run_one(scenario("kill9_mid_incident"))

    ran_cleanly(outcome)
    incidents = [(i["type"], i["status"], i["resolution"]) for i in outcome.incidents]
    assert incidents == [("dependency", "resolved", "recovered")]
    assert "verify-audit rc=0" in outcome.cells[-1]
