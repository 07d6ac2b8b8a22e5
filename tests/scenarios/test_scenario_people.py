"""A person acts (API, CLI) and the agent follows: the change is carried out on the
agent's thread, in one transaction with the agent's following of it, as the daemon's
``Responder.in_agent`` does (:meth:`Scenario.person`).

Found by a review of the agent's following of the store: each test failed before its fix.
(A change landing while the agent writes a summary, tested here once, cannot happen any
more: people's changes and the agent's inputs are one queue.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from support.scenario import (
    Scenario,
    ScriptedExecutor,
    logs,
    memory,
    pm2,
    probes,
    shadow_executor,
)

from calmopsd.config import Config
from calmopsd.model import IncidentStatus
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status
from calmopsd.record.scope import Scope
from calmopsd.respond.approvals import approve

MIN = timedelta(minutes=1)
TICK = timedelta(seconds=30)
PLATFORM = Scope.platform()


def move(s: Scenario, incident_id: int, new: IncidentStatus, **extra: Any) -> None:
    now = s.get(incident_id).status
    assert s.person(
        incident_id,
        lambda: change_status(
            s.database, PLATFORM, incident_id, expected=now, new=new, at=s.now, actor="dana",
            **extra,
        ),
    )  # fmt: skip


def test_an_approved_action_that_failed_is_not_told_as_carried_out(database: Database) -> None:
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))
    incident = s.only()
    (rec,) = s.recommendations(incident.id)
    s.executor.outcomes["pm2_restart"] = "failed"
    approve(
        database, PLATFORM, rec.id, actor="dana", at=s.now,
        state_of=s.agent.series_state, run=s.run_approved,
    )  # fmt: skip
    s.wait(TICK)
    next_line = s.get(incident.id).summary.splitlines()[-1]
    assert next_line == (
        "Next: a person's call: restart PM2 app `api` was approved but failed (exit 1); "
        "calmopsd keeps watching. Runbook: calmopsd runbook app."
    )


@pytest.mark.parametrize("playbook", [["rate_limit_uploads", "pause_jobs"], None])
def test_traffic_too_thin_to_judge_is_not_taken_for_a_symptom_back(
    database: Database, playbook: list[str] | None
) -> None:
    config = Config.model_validate({"playbook": {"upload": playbook}} if playbook else {})
    s = Scenario(database, config)
    s.feed("logs", logs(uploads=400, upload_failures=80), times=3)
    incident = s.only()
    assert incident.status is IncidentStatus.MONITORING
    s.feed("logs", logs(uploads=5, upload_failures=0), every=MIN, times=15)  # the night
    assert "incident.not_holding" not in s.kinds(incident.id)
    assert [r.action.value for r in s.executor.requests] == ["rate_limit_uploads"]


def test_monitoring_set_by_a_person_starts_a_watch_of_its_own(database: Database) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    s.feed("memory", memory(92), times=3)  # restarted: the agent's own watch
    incident = s.only()
    s.feed("memory", memory(70), every=MIN, times=11)  # clearing past that watch
    move(s, incident.id, IncidentStatus.OPEN)  # not convinced
    s.wait(TICK)
    s.feed("memory", memory(92), every=MIN, times=2)  # back in breach
    move(s, incident.id, IncidentStatus.MONITORING)  # "I fixed it: watch it"
    s.wait(TICK)
    assert s.get(incident.id).status is IncidentStatus.MONITORING
    assert "incident.not_holding" not in s.kinds(incident.id)
    assert s.get(incident.id).summary.splitlines()[-2].startswith("Now: monitoring for 10 min")


def test_an_incident_a_person_reopens_is_followed_again(database: Database) -> None:
    s = Scenario(database, executor=shadow_executor(database))
    s.feed("dependencies", probes(postgres=False), times=3)
    incident = s.only()
    move(s, incident.id, IncidentStatus.RESOLVED, resolution="manual", data={"note": "restarted"})
    s.wait(TICK)
    move(s, incident.id, IncidentStatus.OPEN)
    s.wait(TICK)
    summary = s.get(incident.id).summary
    assert "Now: resolved" not in summary and "Now: open" in summary
    s.feed("dependencies", probes(postgres=True), every=MIN, times=20)  # it recovers
    assert s.get(incident.id).resolution == "recovered"
