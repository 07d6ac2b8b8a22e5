"""Stabilize first, explain, ask: the playbook, deploys, organizations, recommendations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.scenario import (
    Scenario,
    ScriptedExecutor,
    check,
    disk,
    http,
    logs,
    memory,
    pm2,
    probes,
    shadow_executor,
)

from calmopsd.config import Config
from calmopsd.model import IncidentStatus, IncidentType, RecommendationStatus
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, list_incidents
from calmopsd.record.scope import Scope
from calmopsd.respond.approvals import approve, reject

MIN = timedelta(minutes=1)
BIG, SMALL = {"memory_bytes": 900 << 20}, {"memory_bytes": 100 << 20}


def first_request(s: Scenario) -> tuple[str, dict[str, str]] | None:
    if not s.executor.requests:
        return None
    request = s.executor.requests[0]
    return request.action.value, request.params


@pytest.mark.parametrize(
    ("name", "feed", "expected"),
    [
        ("memory restarts the app holding the most memory",
         [("pm2", pm2(api=BIG, worker=SMALL), 1), ("memory", memory(92), 3)],
         ("pm2_restart", {"app": "api"})),
        ("disk clears temp uploads", [("disk", disk(86), 3)], ("clear_temp", {})),
        ("uploads under load are rate-limited",
         [("logs", logs(uploads=400, upload_failures=80), 3)], ("rate_limit_uploads", {})),
        ("one organization's failing uploads get no host-wide limit",
         [("logs", logs(uploads=400, upload_failures=80, organizations=[("acme", 0)]), 3)],
         None),
        ("uploads failing because the disk is full clear temp files instead",
         [("disk", disk(86), 3), ("logs", logs(uploads=400, upload_failures=80), 3)],
         ("clear_temp", {})),
        ("a failing dependency pauses background jobs",
         [("dependencies", probes(postgres=False), 3)], ("pause_jobs", {})),
        ("nginx answering 502 while every app is online reloads nginx",
         [("pm2", pm2(api={}), 1), ("http", http(web=502), 3)], ("nginx_reload", {})),
        ("a check through nginx that nothing answers reloads nothing (no 502 from nginx)",
         [("pm2", pm2(api={}), 1), ("http", http(web="connection_refused"), 3)], None),
        ("a check straight to the app's port reloads nothing, whatever it answers",
         [("pm2", pm2(api={}), 1), ("http", http(web=check(502, via_nginx=False)), 3)], None),
        ("an app crashing while PM2 restarts it is not restarted again",
         [("pm2", pm2(api={"restart_increase": 3, "crash_loop": "restarting"}), 1)], None),
        ("an errored PM2 app is restarted",
         [("pm2", pm2(api={"status": "errored"}), 1)], ("pm2_restart", {"app": "api"})),
        ("a bad deploy restarts nothing",
         [("pm2", pm2(api={"deploy": {"from": "1.4.0", "to": "1.5.0"}}), 1),
          ("pm2", pm2(api={}), 1), ("logs", logs(errors_per_min=42), 3)], None),
    ],
)  # fmt: skip
def test_the_playbook_picks_the_right_first_action_for_each_type(
    database: Database, name: str, feed: list[tuple[str, dict[str, object], int]], expected: object
) -> None:
    s = Scenario(database)
    for sampler, values, times in feed:
        s.feed(sampler, values, times=times)
    assert first_request(s) == expected, name


def test_a_worked_action_moves_to_monitoring_and_one_that_does_not_hold_tries_the_next(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={}))
    s.feed("http", http(web=502), times=3)
    incident = s.only()
    assert incident.status is IncidentStatus.MONITORING
    s.feed("http", http(web=502), every=MIN, times=11)  # past monitor_for
    incident = s.only()
    assert incident.status is IncidentStatus.OPEN
    assert "incident.not_holding" in s.kinds(incident.id)
    statuses = [e.data["to"] for e in s.events(incident.id) if e.kind == "incident.status_changed"]
    assert statuses == ["stabilizing", "monitoring", "open"]
    assert [r.action.value for r in s.executor.requests] == ["nginx_reload"]  # nothing else fits
    held = [e.data["reason"] for e in s.events(incident.id) if e.kind == "incident.held"]
    assert held == ["nothing_fits"]
    # The reload passed its own check; the 502s in the incident's scope went on.
    done = [line for line in incident.summary.splitlines() if line.startswith("Done")]
    assert done == ["Done: reloaded nginx at 14:00; done, but the breach went on."]


def test_a_failed_action_goes_back_to_open_and_the_next_fitting_one_is_tried(
    database: Database,
) -> None:
    s = Scenario(database, executor=ScriptedExecutor(clear_temp="failed"))
    s.feed("disk", disk(86), times=3)
    s.feed("logs", logs(uploads=400, upload_failures=80), times=3)
    disk_incident, _ = s.incidents()
    assert [r.action.value for r in s.executor.requests] == ["clear_temp", "clear_temp"]
    assert [a["status"] for a in s.actions(disk_incident.id)] == ["failed"]
    assert disk_incident.status is IncidentStatus.OPEN
    assert disk_incident.severity == "critical"  # a failed stabilization escalates
    escalated = [e for e in s.events(disk_incident.id) if e.kind == "incident.escalated"]
    assert [e.data["reason"] for e in escalated] == ["clear_temp failed: exit 1"]
    assert [r.kind for r in s.recommendations(disk_incident.id)] == ["manual"]


def test_a_refused_action_becomes_a_safe_action_recommendation(database: Database) -> None:
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))
    incident = s.incidents()[0]
    (rec,) = s.recommendations(incident.id)
    assert (rec.kind, rec.action, rec.params, rec.status) == (
        "safe_action",
        "pm2_restart",
        {"app": "api"},
        RecommendationStatus.PROPOSED,
    )
    assert incident.status is IncidentStatus.OPEN


MEMORY_THEN_PAUSE = {"playbook": {"memory": ["pm2_restart", "pause_jobs"]}}


def memory_incident(executor: ScriptedExecutor, database: Database) -> Scenario:
    s = Scenario(database, Config.model_validate(MEMORY_THEN_PAUSE), executor=executor)
    s.feed("pm2", pm2(api=BIG, worker=SMALL))
    s.feed("memory", memory(92), times=3)
    return s


def test_an_action_over_its_budget_lets_the_next_listed_one_run(database: Database) -> None:
    s = memory_incident(ScriptedExecutor(pm2_restart="refused"), database)
    incident = s.only()
    assert [r.action.value for r in s.executor.requests] == ["pm2_restart", "pause_jobs"]
    assert [(a["action"], a["status"]) for a in s.actions(incident.id)] == [
        ("pm2_restart", "refused"),
        ("pause_jobs", "succeeded"),
    ]
    assert incident.status is IncidentStatus.MONITORING
    assert all(r.action != "pm2_restart" for r in s.recommendations(incident.id))


def test_when_every_action_is_over_budget_a_human_is_asked_to_approve_the_first(
    database: Database,
) -> None:
    s = memory_incident(ScriptedExecutor(pm2_restart="refused", pause_jobs="refused"), database)
    incident = s.only()
    assert [r.action.value for r in s.executor.requests] == ["pm2_restart", "pause_jobs"]
    (rec,) = s.recommendations(incident.id)
    assert (rec.kind, rec.action, rec.params) == ("safe_action", "pm2_restart", {"app": "api"})
    assert incident.status is IncidentStatus.OPEN


def test_an_action_already_in_force_is_passed_over_and_not_asked_about(
    database: Database,
) -> None:
    executor = ScriptedExecutor("already_in_force", pm2_restart="refused", pause_jobs="refused")
    s = memory_incident(executor, database)
    incident = s.only()
    assert [r.action.value for r in s.executor.requests] == ["pm2_restart", "pause_jobs"]
    assert [r.kind for r in s.recommendations(incident.id)] == ["manual"]  # the hold's advice
    held = [e.data["reason"] for e in s.events(incident.id) if e.kind == "incident.held"]
    assert held == ["all_tried"]


def test_actions_paused_stop_at_the_first_refusal(database: Database) -> None:
    s = memory_incident(ScriptedExecutor("paused", pm2_restart="refused"), database)
    incident = s.only()
    assert [r.action.value for r in s.executor.requests] == ["pm2_restart"]
    (rec,) = s.recommendations(incident.id)
    assert rec.kind == "manual" and rec.rationale.startswith("Restart")


def test_server_errors_inside_the_deploy_window_are_a_deploy_incident_with_a_rollback(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"deploy": {"from": "1.4.0", "to": "1.5.0"}}))
    s.wait(5 * MIN)
    s.feed("logs", logs(errors_per_min=42), times=3)
    incident = s.only()
    assert incident.type is IncidentType.DEPLOY
    assert s.executor.requests == []
    (rec,) = s.recommendations(incident.id)
    assert rec.kind == "manual"
    assert rec.rationale.startswith("Roll back `api`")
    assert [e.data["app"] for e in s.events() if e.kind == "deploy.detected"] == ["api"]


def test_server_errors_after_the_deploy_window_are_not_the_deploys(database: Database) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"deploy": {"from": "1.4.0", "to": "1.5.0"}}))
    s.wait(20 * MIN)
    s.feed("logs", logs(errors_per_min=42), times=3)
    assert s.only().type is IncidentType.NETWORK


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        ([("dependencies", probes(db=False), 1), ("logs", logs(errors_per_min=42), 3)],
         IncidentType.DEPENDENCY),
        ([("pm2", pm2(api={}), 1), ("http", http(web="timeout"), 3)], IncidentType.NETWORK),
        ([("pm2", pm2(api={"deploy": {"from": "a", "to": "b"}}), 1),
          ("logs", logs(errors_per_min=42), 3)], IncidentType.DEPLOY),
        ([("memory", memory(90), 3)], IncidentType.MEMORY),
    ],
)  # fmt: skip
def test_the_agent_stores_the_classified_type_and_its_evidence(
    database: Database, feed: list[tuple[str, dict[str, object], int]], expected: IncidentType
) -> None:
    s = Scenario(database)
    for sampler, values, times in feed:
        s.feed(sampler, values, times=times)
    incident = s.incidents()[-1]
    assert incident.type is expected
    assert incident.evidence["classification"]["type"] == expected.value
    classified = [e.data["type"] for e in s.events(incident.id) if e.kind == "incident.classified"]
    assert classified == [expected.value]


ORG_RULES = {
    "rules": [
        {"name": "org_errors", "sampler": "logs", "op": ">", "threshold": 5, "type": "network",
         "metric": "organizations.{organization}.1m.server_errors_per_min"},
        {"name": "server_errors", "sampler": "logs", "op": ">", "threshold": 10,
         "type": "network", "metric": "platform.1m.server_errors_per_min"},
    ]
}  # fmt: skip


def test_one_organizations_traffic_opens_its_own_incident_and_others_cannot_see_it(
    database: Database,
) -> None:
    s = Scenario(database, Config.model_validate(ORG_RULES))
    s.feed("logs", logs(errors_per_min=8, organizations=[("acme", 8), ("globex", 0)]), times=3)
    (incident,) = s.incidents()
    assert incident.organization_id == "acme"
    assert incident.impact["organizations"] == ["acme"]
    assert list_incidents(database, Scope.organization("globex")) == []
    assert [i.id for i in list_incidents(database, Scope.organization("acme"))] == [incident.id]
    s.feed("logs", logs(errors_per_min=30, organizations=[("acme", 15), ("globex", 15)]), times=3)
    platform = [i for i in s.incidents() if i.organization_id is None]
    assert [i.fingerprint for i in platform] == ["network:platform"]
    assert list_incidents(database, Scope.organization("acme"))[0].id == incident.id


def test_a_recommendation_nobody_answers_expires_after_24_hours(database: Database) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"deploy": {"from": "1", "to": "2"}}))
    s.feed("logs", logs(errors_per_min=42), times=3)
    incident = s.only()
    s.wait(timedelta(hours=23))
    assert [r.status for r in s.recommendations(incident.id)] == [RecommendationStatus.PROPOSED]
    s.wait(timedelta(hours=1))
    (rec,) = s.recommendations(incident.id)
    assert (rec.status, rec.decided_by) == (RecommendationStatus.EXPIRED, "calmopsd")
    assert "recommendation.expired" in s.kinds(incident.id)


def test_approving_after_the_incident_resolved_is_refused_as_stale(database: Database) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api=BIG))
    s.feed("memory", memory(92), times=3)
    incident = s.only()
    (rec,) = s.recommendations(incident.id)  # raise api's memory limit
    s.feed("memory", memory(60), every=MIN, times=17)
    assert s.only().status is IncidentStatus.RESOLVED
    decision = approve(
        database, Scope.platform(), rec.id, actor="dana", at=s.now,
        state_of=s.agent.series_state, run=s.run_approved,
    )  # fmt: skip
    assert (decision.status, decision.detail) == (
        "refused",
        "stale: the incident was resolved (recovered)",
    )
    refusal = [e for e in s.events(incident.id) if e.kind == "recommendation.approval_refused"]
    assert [(e.actor, e.data["reason"]) for e in refusal] == [("dana", "stale")]
    assert s.recommendations(incident.id)[0].status is RecommendationStatus.PROPOSED


def test_approving_a_restart_once_the_breach_cleared_is_refused_and_runs_nothing(
    database: Database,
) -> None:
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))
    incident = s.incidents()[0]
    (rec,) = s.recommendations(incident.id)
    s.feed("pm2", pm2(api={}))  # back online: the errored rule starts to clear
    decision = approve(
        database, Scope.platform(), rec.id, actor="dana", at=s.now,
        state_of=s.agent.series_state, run=s.run_approved,
    )  # fmt: skip
    assert decision.detail == "stale: the breach it answered is no longer firing"
    assert len(s.executor.requests) == 1  # only the agent's own, refused, attempt


def test_an_approved_safe_action_runs_once_and_a_second_approval_is_refused(
    database: Database,
) -> None:
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))
    incident = s.incidents()[0]
    (rec,) = s.recommendations(incident.id)
    s.executor.outcomes["pm2_restart"] = "succeeded"
    decide = {"actor": "dana", "at": s.now, "state_of": s.agent.series_state}
    first = approve(database, Scope.platform(), rec.id, run=s.run_approved, **decide)  # type: ignore[arg-type]
    second = approve(database, Scope.platform(), rec.id, run=s.run_approved, **decide)  # type: ignore[arg-type]
    assert (first.status, second.status) == ("executed", "refused")
    assert second.detail == "it is already executed"
    assert len(s.executor.requests) == 2  # the agent's refused try, and the approved run
    assert s.recommendations(incident.id)[0].decided_by == "dana"


def test_another_organization_cannot_approve_or_reject(database: Database) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"deploy": {"from": "1", "to": "2"}}))
    s.feed("logs", logs(errors_per_min=42), times=3)
    (rec,) = s.recommendations(s.only().id)
    other = Scope.organization("acme")
    got = approve(
        database, other, rec.id, actor="eve", at=s.now, state_of=s.agent.series_state,
        run=s.run_approved,
    )  # fmt: skip
    assert got.status == "not_found"
    assert reject(database, other, rec.id, actor="eve", at=s.now).status == "not_found"
    assert s.recommendations(rec.incident_id)[0].status is RecommendationStatus.PROPOSED


def test_the_shipped_shadow_executor_runs_nothing_and_asks_a_human(database: Database) -> None:
    s = Scenario(database, executor=shadow_executor(database))
    s.feed("disk", disk(86), times=3)
    incident = s.only()
    assert incident.status is IncidentStatus.OPEN
    assert [a["status"] for a in s.actions(incident.id)] == ["shadow"]
    statuses = [e.data["to"] for e in s.events(incident.id) if e.kind == "incident.status_changed"]
    assert statuses == ["stabilizing", "open"]


@pytest.mark.parametrize(
    ("organizations", "expected"),
    [
        ([("acme", 38), ("globex", 2)], "acme"),
        ([("acme", 20), ("globex", 20)], None),
        ([("acme", 10)], None),  # 30 of the 40 errors name no organization
    ],
)
def test_with_the_shipped_rules_a_spike_from_one_organization_is_that_organizations(
    database: Database, organizations: list[tuple[str, float]], expected: str | None
) -> None:
    s = Scenario(database)
    s.feed("logs", logs(errors_per_min=40, organizations=organizations), times=3)
    assert [(i.organization_id, i.fingerprint) for i in s.incidents()] == [
        (expected, "network:platform")
    ]


def test_a_dependency_down_and_the_errors_it_causes_are_one_incident(database: Database) -> None:
    s = Scenario(database)
    s.feed("dependencies", probes(postgres=False), times=3)
    s.feed("logs", logs(errors_per_min=65), times=3)
    incident = s.only()
    assert (incident.type, incident.fingerprint) == (
        IncidentType.DEPENDENCY,
        "dependency:probe=postgres",
    )
    assert s.kinds(incident.id).count("incident.breach_added") == 1
    assert incident.summary.splitlines()[1] == (
        "Customers: partial outage, monitoring: 65 server errors/min; affected: all traffic."
    )
    assert [r.action.value for r in s.executor.requests] == ["pause_jobs"]


def test_errors_after_a_deploy_are_that_apps_deploy_incident_and_name_the_version(
    database: Database,
) -> None:
    deploy = {"from": {"version": "1.4.0", "revision": None},
              "to": {"version": "1.5.0", "revision": None}}  # fmt: skip
    s = Scenario(database)
    s.feed("pm2", pm2(api={"deploy": deploy}))
    s.feed("logs", logs(errors_per_min=42), times=3)
    incident = s.only()
    assert incident.fingerprint == "deploy:app=api"
    (rec,) = s.recommendations(incident.id)
    assert rec.rationale.startswith("Roll back `api` to 1.4.0: ")
    assert rec.params == {"app": "api", **deploy}


def test_a_memory_incident_keeps_the_top_processes_as_evidence(database: Database) -> None:
    s = Scenario(database)
    top = [{"name": "node", "pid": 7, "rss_bytes": 900 << 20}]
    s.feed("memory", {**memory(92), "top_processes": top}, times=3)
    assert s.only().evidence["top_processes"] == top


def summary_of(s: Scenario, incident_id: int) -> dict[str, str]:
    return {line.split(":")[0]: line for line in s.get(incident_id).summary.splitlines()}


def test_the_summary_follows_what_a_person_did_through_the_api_or_cli(
    database: Database,
) -> None:
    """Rejecting the next step, moving the incident and resolving it with a note, each
    carried out as the daemon does (on the agent's thread): the summary follows at once."""
    s = Scenario(database, executor=shadow_executor(database))
    s.feed("dependencies", probes(postgres=False), times=3)
    incident = s.only()
    (rec,) = s.recommendations(incident.id)
    assert f"(recommendation #{rec.id})" in summary_of(s, incident.id)["Next"]

    rejected = s.person(
        incident.id, lambda: reject(database, Scope.platform(), rec.id, actor="dana", at=s.now)
    )
    assert rejected.status == "rejected"
    assert summary_of(s, incident.id)["Next"] == (
        f"Next: a person's call: recommendation #{rec.id} was rejected by dana; "
        "calmopsd keeps watching. Runbook: calmopsd runbook dependency."
    )

    moved = s.person(
        incident.id,
        lambda: change_status(
            database, Scope.platform(), incident.id, expected=IncidentStatus.OPEN,
            new=IncidentStatus.MONITORING, at=s.now, actor="dana",
        ),
    )  # fmt: skip
    assert moved
    assert summary_of(s, incident.id)["Now"].startswith("Now: monitoring for 10 minutes")

    resolved = s.person(
        incident.id,
        lambda: change_status(
            database, Scope.platform(), incident.id, expected=IncidentStatus.MONITORING,
            new=IncidentStatus.RESOLVED, at=s.now, actor="dana", resolution="manual",
            data={"note": "restarted postgres by hand"},
        ),
    )  # fmt: skip
    assert resolved
    lines = summary_of(s, incident.id)
    assert lines["Now"].endswith("(by a person: restarted postgres by hand).")
    assert lines["Next"] == "Next: none."


def test_one_organizations_upload_failures_ask_a_person_instead_of_throttling_everyone(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("logs", logs(uploads=400, upload_failures=80, organizations=[("acme", 0)]), times=3)
    (incident,) = s.incidents()
    assert (incident.organization_id, s.executor.requests) == ("acme", [])
    not_done = [line for line in incident.summary.splitlines() if line.startswith("Not done")]
    assert not_done == [
        "Not done: no safe action fits (an upload limit is host-wide, and only acme's uploads "
        "fail; the disk is not the cause)."
    ]
    assert len(s.recommendations(incident.id)) == 1
