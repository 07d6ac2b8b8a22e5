"""Part of a fault recovers, or a further symptom joins, and the agent plans again.

A dependency down, the app it broke (errored) and the failing health check are one
incident; pausing background jobs is what fits the dependency. The errored app calls
for a restart, from the ``app`` playbook, once the plan for the dependency is done.
"""

from __future__ import annotations

from datetime import timedelta

from support.scenario import Scenario, ScriptedExecutor, check, http, pm2, probes

from calmopsd.model import IncidentStatus
from calmopsd.record.actions import add_active, get_active, mark_reverted
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

MIN = timedelta(minutes=1)


def broken(s: Scenario) -> None:
    s.feed("pm2", pm2(api={}))
    s.feed("dependencies", probes(postgres=False), times=3)
    s.feed("pm2", pm2(api={"status": "errored"}))
    s.feed("http", http(health=check("connection_refused", via_nginx=False)), times=3)


def requested(s: Scenario) -> list[tuple[str, dict[str, object]]]:
    return [(r.action.value, r.params) for r in s.executor.requests]


def test_a_fault_with_a_dependency_and_an_errored_app_is_one_incident(
    database: Database,
) -> None:
    s = Scenario(database)
    broken(s)
    (incident,) = s.incidents()
    assert incident.type == "dependency"
    assert requested(s) == [("pause_jobs", {})]  # monitoring the pause: nothing more yet


def test_the_app_still_errored_is_restarted_once_the_pause_is_done(database: Database) -> None:
    s = Scenario(database)
    broken(s)
    (incident,) = s.incidents()
    for _ in range(3):  # postgres is back; api is still errored
        s.feed("dependencies", probes(postgres=True), every=MIN, times=6)
        s.feed("pm2", pm2(api={"status": "errored"}), every=MIN)
    assert requested(s) == [("pause_jobs", {}), ("pm2_restart", {"app": "api"})]
    assert "restarted PM2 app `api`" in s.get(incident.id).summary


def test_what_still_fires_once_the_dependency_is_back_retypes_the_incident(
    database: Database,
) -> None:
    """The dependency recovered; the errored app it left is an app problem now: the
    incident's type, headline and plan follow what still fires, and a restart resumes
    from them."""
    s = Scenario(database)
    broken(s)
    (incident,) = s.incidents()
    s.feed("dependencies", probes(postgres=True), every=MIN, times=16)  # past its clear_for
    s.feed("pm2", pm2(api={"status": "errored"}), every=MIN)
    now = s.get(incident.id)
    assert now.type == "app"
    reclassified = [e.data for e in s.events(incident.id) if e.kind == "incident.reclassified"]
    assert [(d["from"], d["to"]) for d in reclassified] == [("dependency", "app")]
    assert now.summary.splitlines()[0].startswith("PM2 app `api`")
    assert now.evidence["first_breach"]["rule"] == "dependency_down"
    assert ("pm2_restart", {"app": "api"}) in requested(s)
    after = Scenario(database, start=s.now)  # a restart resumes from the new headline
    assert after.agent.tracked[incident.id].breach.rule == now.evidence["breach"]["rule"]


def test_a_further_symptom_of_a_held_incident_is_planned_for_at_once(
    database: Database,
) -> None:
    """Pausing is refused (not allowed): the incident stays open, a person asked. The app
    errored that then joins it is restarted at once, not left to the end of the outage."""
    s = Scenario(
        database, executor=ScriptedExecutor(pause_jobs="refused", refused_for="not_allowed")
    )
    s.feed("pm2", pm2(api={}))
    s.feed("dependencies", probes(postgres=False), times=3)
    (incident,) = s.incidents()
    assert s.get(incident.id).status is IncidentStatus.OPEN
    s.feed("pm2", pm2(api={"status": "errored"}))
    assert requested(s) == [("pause_jobs", {}), ("pm2_restart", {"app": "api"})]


def test_a_repeat_of_the_breach_that_opened_it_plans_nothing_again(database: Database) -> None:
    s = Scenario(
        database, executor=ScriptedExecutor(pause_jobs="refused", refused_for="not_allowed")
    )
    s.feed("dependencies", probes(postgres=False), times=3)
    (incident,) = s.incidents()
    s.feed("dependencies", probes(postgres=False, redis=False), times=3)  # a second probe
    assert requested(s) == [("pause_jobs", {})]
    assert s.kinds(incident.id).count("recommendation.proposed") == 1


def test_nothing_is_planned_again_while_what_opened_it_still_fires(database: Database) -> None:
    s = Scenario(database)
    broken(s)
    (incident,) = s.incidents()
    s.feed("pm2", pm2(api={}))  # api back online first; postgres still down
    s.feed("http", http(health=True), every=MIN, times=20)
    assert "incident.replanned" not in s.kinds(incident.id)


def test_a_worker_calmopsd_paused_is_no_symptom_and_counts_again_once_the_pause_ends(
    database: Database,
) -> None:
    """Found by the fault harness: the pause stopped ``worker``, whose "not online"
    breach joined the dependency incident and kept it open (and the pause extended)."""
    s = Scenario(database)
    active = add_active(
        database, Scope.platform(), action="pause_jobs", target="jobs", incident_id=None,
        organization_id=None, params={}, undo={"apps": ["worker"], "flag_file": None},
        started_at=s.now, expires_at=s.now + timedelta(minutes=30), actor="calmopsd",
    )  # fmt: skip
    s.feed("pm2", pm2(api={}, worker={"status": "stopped"}), times=4)
    assert s.incidents() == []
    pause = get_active(database, active)
    assert pause is not None
    assert mark_reverted(
        database, Scope.platform(), pause, at=s.now, actor="calmopsd", ok=True, detail="ended"
    )
    s.feed("pm2", pm2(api={}, worker={"status": "stopped"}), times=4)  # still down after it
    assert [i.fingerprint for i in s.incidents()] == ["app:app=worker"]
