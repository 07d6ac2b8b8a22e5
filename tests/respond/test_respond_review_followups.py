"""Review of the decide/apply refactor (97cc373, d650914): behaviour the old agent had
that the new one lost. Each test passes on dc31d29 and fails after the refactor."""

from __future__ import annotations

from datetime import timedelta

from support.scenario import Scenario, ScriptedExecutor, memory, pm2

from calmopsd.config import Config
from calmopsd.model import Incident, IncidentStatus, OutcomeStatus
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()
MIN = timedelta(minutes=1)
TICK = timedelta(seconds=30)
BIG, SMALL = {"memory_bytes": 900 << 20}, {"memory_bytes": 100 << 20}


def next_line(s: Scenario, incident_id: int) -> str:
    incident: Incident = s.get(incident_id)
    return incident.summary.splitlines()[-1]


def test_an_older_recommendation_expiring_leaves_the_next_step_on_the_newer_one(
    database: Database,
) -> None:
    """agent.py _expire_recommendations hands the *expired* recommendation to
    recommendation_followed, which never checks it is the one the next step points at."""
    config = Config.model_validate(
        {
            "incidents": {"recommendation_expiry": "30m"},
            "playbook": {"memory": ["pm2_restart", "pause_jobs"]},
        }
    )
    executor = ScriptedExecutor(pause_jobs="refused", refused_for="not_allowed")
    s = Scenario(database, config, executor=executor)
    s.feed("pm2", pm2(api=BIG, worker=SMALL))
    s.feed("memory", memory(92), times=3)  # restarted: advice #1 (raise the limit)
    incident = s.only()
    s.feed("memory", memory(92), every=MIN, times=12)  # did not hold: pause refused, #2
    _first, second = s.recommendations(incident.id)
    assert next_line(s, incident.id).endswith(
        f"(recommendation #{second.id}). Runbook: calmopsd runbook memory."
    )
    s.feed("memory", memory(92), every=MIN, times=20)  # #1 expires, #2 does not yet
    assert [r.status.value for r in s.recommendations(incident.id)] == ["expired", "proposed"]
    assert next_line(s, incident.id) == (
        "Next: pause background jobs by hand, or allow it in actions: in the config "
        f"(recommendation #{second.id}). Runbook: calmopsd runbook memory."
    )


def refused_restart(database: Database, config: Config | None = None) -> tuple[Scenario, int, int]:
    s = Scenario(database, config, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))
    incident = s.only()
    (rec,) = s.recommendations(incident.id)
    assert next_line(s, incident.id) == (
        f"Next: approve: restart PM2 app `api`, or dismiss (recommendation #{rec.id}). "
        "Runbook: calmopsd runbook app."
    )
    return s, incident.id, rec.id


def test_an_approved_action_that_ran_is_told_as_carried_out(database: Database) -> None:
    """The daemon's way (Responder._approved, then _Done): the recommendation goes
    approved, then executed, and the agent follows each at once (the tick's reconcile
    used to, within 30 s)."""
    s, incident_id, rec_id = refused_restart(database)
    s.executor.outcomes["pm2_restart"] = "succeeded"
    assert s.approve(rec_id).status == "executed"
    assert s.get(incident_id).status is IncidentStatus.MONITORING
    assert next_line(s, incident_id) == (
        f"Next: see that it holds: recommendation #{rec_id} was carried out by dana. "
        "Runbook: calmopsd runbook app."
    )


def test_an_approval_refused_as_expired_is_told_in_the_next_step(database: Database) -> None:
    """approvals._refusal expires the recommendation itself (between two ticks); the tick's
    expiry then never sees it, and nothing else follows it."""
    config = Config.model_validate({"incidents": {"recommendation_expiry": "30m"}})
    s, incident_id, rec_id = refused_restart(database, config)
    rec = get_recommendation(database, PLATFORM, rec_id)
    assert rec is not None and rec.expires_at is not None
    late = rec.expires_at + timedelta(seconds=1)
    assert s.approve(rec_id, at=late).status == "refused"
    assert next_line(s, incident_id) == (
        f"Next: a person's call: recommendation #{rec_id} expired unanswered; "
        "calmopsd keeps watching. Runbook: calmopsd runbook app."
    )


def test_an_approval_whose_status_change_is_lost_is_refused_not_requested(
    database: Database,
) -> None:
    """A second writer (decisions.md: the CLI on a store no daemon held, a second agent)
    moves the incident first. Old: run_approved answered a refusal. New: the decision's
    first effect, the Move, loses; Applier.apply reports no incident (Applied(None,
    False)), so the agent does not follow the store, and run_approved answers None
    ("requested") with nothing in the outbox: the daemon's caller would wait 300 s."""
    s, incident_id, rec_id = refused_restart(database)
    assert change_status(
        database, PLATFORM, incident_id, expected=IncidentStatus.OPEN,
        new=IncidentStatus.MONITORING, at=s.now, actor="cli:dana",
    )  # fmt: skip
    rec = get_recommendation(database, PLATFORM, rec_id)
    assert rec is not None
    with database.unit():
        outcome = s.agent.run_approved(rec, "dana", s.now)
    assert s.agent.take_requests() == []
    assert outcome is not None and outcome.status is OutcomeStatus.REFUSED
