"""Approvals through HTTP: eight racing approvals of one safe action run it exactly once."""

from __future__ import annotations

import threading

import requests
from support.api import secret, token_entries
from support.clock import ManualClock
from support.scenario import Scenario, ScriptedExecutor, pm2

from calmopsd.model import RecommendationStatus
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.respond.approvals import Decision, approve
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens

RACERS = 8


def serve(database: Database, s: Scenario) -> ApiServer:
    """The API over the scenario's store, approvals run by the scenario's agent.

    Deliberately without the daemon's lock around approvals: the store's
    compare-and-set alone must let exactly one through.
    """
    clock = ManualClock(s.now)

    def approve_now(scope: Scope, recommendation_id: int, actor: str) -> Decision:
        return approve(database, scope, recommendation_id, actor=actor, at=clock.now(),
                       state_of=s.agent.series_state, run=s.run_approved)  # fmt: skip

    operations = Operations(database, clock, Hooks(approve=approve_now))
    server = ApiServer(create_app(operations, Tokens(token_entries())), listen="127.0.0.1:0")
    server.start()
    return server


def test_eight_racing_approvals_of_one_safe_action_execute_it_once(database: Database) -> None:
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))  # restart refused: a person is asked
    incident = s.only()
    (rec,) = s.recommendations(incident.id)
    assert (rec.kind, rec.action) == ("safe_action", "pm2_restart")
    s.executor.outcomes["pm2_restart"] = "succeeded"
    asked_before = len(s.executor.requests)
    server = serve(database, s)
    url = f"{server.url}/api/ops/incidents/{incident.id}/recommendations/{rec.id}/approve"
    start = threading.Barrier(RACERS)
    answers: list[tuple[int, str]] = []

    def racer() -> None:
        start.wait(10)
        response = requests.post(url, headers={"Authorization": f"Bearer {secret('root')}"},
                                 timeout=30)  # fmt: skip
        answers.append((response.status_code, response.json().get("status") or
                        response.json()["error"]))  # fmt: skip

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    server.stop()
    assert sorted(answers) == [(200, "executed")] + [(409, "refused")] * (RACERS - 1)
    assert len(s.executor.requests) - asked_before == 1
    assert s.recommendations(incident.id)[0].status is RecommendationStatus.EXECUTED
    kinds = [e.kind for e in list_events(database, Scope.platform(), incident_id=incident.id)]
    assert kinds.count("recommendation.approved") == 1
    assert kinds.count("recommendation.executed") == 1
    assert kinds.count("recommendation.approval_refused") == RACERS - 1


def test_approving_after_a_rejection_is_refused_and_recorded_with_who_asked(
    database: Database,
) -> None:
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("pm2", pm2(api={"status": "errored"}))
    incident = s.only()
    (rec,) = s.recommendations(incident.id)
    server = serve(database, s)
    url = f"{server.url}/api/ops/incidents/{incident.id}/recommendations/{rec.id}"
    auth = {"Authorization": f"Bearer {secret('root')}"}
    first = requests.post(f"{url}/reject", json={"note": "not during the sale"}, headers=auth,
                          timeout=30)  # fmt: skip
    second = requests.post(f"{url}/approve", headers=auth, timeout=30)
    server.stop()
    assert (first.status_code, first.json()["status"]) == (200, "rejected")
    assert (second.status_code, second.json()) == (
        409,
        {"error": "refused", "detail": "it is already rejected"},
    )
    refused = list_events(database, Scope.platform(), incident_id=incident.id)[-1]
    assert (refused.kind, refused.actor, refused.data["reason"]) == (
        "recommendation.approval_refused",
        "token:root",
        "already_decided",
    )
