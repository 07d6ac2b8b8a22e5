"""The daemon's agent thread and executor worker: no input waits for an action, an
approval waits for its own, and an action cut short is found at the next start."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock

from calmopsd.config import Config
from calmopsd.daemon.responding import Responder
from calmopsd.errors import Conflict
from calmopsd.model import (
    ActionOutcome,
    ActionRequest,
    IncidentStatus,
    IncidentType,
    OutcomeStatus,
    Reading,
    Recommendation,
    RecommendationStatus,
    SafeAction,
)
from calmopsd.record.audit import list_events, record_event
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import list_incidents
from calmopsd.record.recommendations import add_recommendation, list_recommendations
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Caller

PLATFORM = Scope.platform()


class GatedExecutor:
    """Holds every action until the test opens the gate: an action 'as long as it takes'."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.requests: list[ActionRequest] = []

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome:
        self.requests.append(request)
        self.started.set()
        if not self.gate.wait(30):
            return ActionOutcome(OutcomeStatus.FAILED, "the test never opened the gate")
        return ActionOutcome(OutcomeStatus.SUCCEEDED, "restarted")

    def symptom_returned(self, incident_id: int, now: datetime) -> list[SafeAction]:
        return []

    def revert_due(self, now: datetime) -> list[int]:
        return []

    def follow_controls(self, now: datetime) -> None:
        return None


def wait_until(condition: Callable[[], bool], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def reading(clock: ManualClock, sampler: str, values: dict[str, Any]) -> Reading:
    return Reading(sampler, clock.now(), True, 1.0, values)


def pm2_app(memory_mib: int = 900) -> dict[str, Any]:
    app = {"status": "online", "memory_bytes": memory_mib << 20, "restart_increase": 0}
    return {"state": "ok", "apps": {"api": app}}


def memory(percent: float) -> dict[str, Any]:
    return {"used_percent": percent, "available_bytes": 1 << 28, "top_processes": []}


def disk(percent: float) -> dict[str, Any]:
    return {"mounts": {"/": {"used_percent": percent, "hours_until_full": None}}}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def started(state: Path) -> Iterator[tuple[Responder, GatedExecutor, ManualClock]]:
    responder, gated, clock = start(state)
    yield responder, gated, clock
    gated.gate.set()
    responder.stop(5)
    responder.database.close()


def start(state: Path) -> tuple[Responder, GatedExecutor, ManualClock]:
    database = Database.open(database_path(state))
    clock = ManualClock()
    responder = Responder(database, clock)
    responder.configure(Config.model_validate({"state_dir": str(state)}))
    gated = GatedExecutor()
    responder.executor = gated  # type: ignore[assignment]  # the seam: an action held open
    responder.start()
    return responder, gated, clock


def open_memory_incident(responder: Responder, gated: GatedExecutor, clock: ManualClock) -> None:
    responder.observe(reading(clock, "pm2", pm2_app()))
    for _ in range(3):  # the memory rule's hold-down
        responder.observe(reading(clock, "memory", memory(97)))
    assert gated.started.wait(10), "no restart was requested"


def test_readings_are_taken_up_while_an_action_runs(
    started: tuple[Responder, GatedExecutor, ManualClock],
) -> None:
    responder, gated, clock = started
    database = responder.database
    open_memory_incident(responder, gated, clock)
    for _ in range(3):  # another problem, while the restart is still being verified
        responder.observe(reading(clock, "disk", disk(97)))
    wait_until(lambda: len(list_incidents(database, PLATFORM)) == 2)
    by_type = {i.type: i for i in list_incidents(database, PLATFORM)}
    assert by_type[IncidentType.MEMORY].status is IncidentStatus.STABILIZING
    assert gated.gate.is_set() is False  # the memory action is still held
    assert responder.longest_wait_s < 0.1

    gated.gate.set()
    assert responder.settle(10)
    memory_incident = next(
        i for i in list_incidents(database, PLATFORM) if i.type is IncidentType.MEMORY
    )
    assert memory_incident.status is IncidentStatus.MONITORING
    kinds = [e.kind for e in list_events(database, PLATFORM, incident_id=memory_incident.id)]
    assert kinds[kinds.index("action.requested") :][:4] == [
        "action.requested",
        "action.recorded",
        "incident.status_changed",
        "recommendation.proposed",
    ]


@pytest.mark.parametrize("intent_written", [True, False])
def test_a_stop_during_an_action_leaves_it_to_the_next_start_as_interrupted(
    state: Path, intent_written: bool
) -> None:
    responder, gated, clock = start(state)
    database = responder.database
    open_memory_incident(responder, gated, clock)
    (incident,) = list_incidents(database, PLATFORM)
    # What the real executor writes before it runs: the intent, with no result after it
    # (or, killed before the executor got that far, nothing at all).
    if intent_written:
        record_event(
            database, PLATFORM, kind="action.intent", actor="calmopsd", at=clock.now(),
            incident_id=incident.id,
            data={"action": "pm2_restart", "target": "api", "params": {"app": "api"}},
        )  # fmt: skip
    assert responder.stop(0.2) is False  # the action is still held: not waited for
    database.close()
    gated.gate.set()  # the old worker's outcome can no longer land: its store is closed

    again, _, _ = start(state)
    try:
        (resumed,) = list_incidents(again.database, PLATFORM)
        assert resumed.status is IncidentStatus.OPEN
        events = list_events(again.database, PLATFORM, incident_id=incident.id)
        interrupted = [e for e in events if e.kind == "action.interrupted"]
        # One either way: the executor's for its intent, else the agent's for its request.
        assert len(interrupted) == 1
        intents = [e.seq for e in events if e.kind == "action.intent"]
        assert [e.data.get("intent_seq") for e in interrupted] == (intents or [None])
        assert interrupted[0].data["action"] == "pm2_restart"
        assert "restart PM2 app `api` was interrupted" in resumed.summary
    finally:
        again.stop(5)
        again.database.close()

    third, _, _ = start(state)  # restarted once more: the summary still says it
    try:
        (incident,) = list_incidents(third.database, PLATFORM)
        assert "restart PM2 app `api` was interrupted" in incident.summary
        kinds = [e.kind for e in list_events(third.database, PLATFORM, incident_id=incident.id)]
        assert kinds.count("action.interrupted") == 1  # not recorded again
    finally:
        third.stop(5)
        third.database.close()


def test_what_was_done_is_still_told_after_a_restart(state: Path) -> None:
    responder, gated, clock = start(state)
    open_memory_incident(responder, gated, clock)
    gated.gate.set()
    assert responder.settle(10)
    (before,) = list_incidents(responder.database, PLATFORM)
    told = [line for line in before.summary.splitlines() if line.startswith("Done:")]
    assert told != ["Done: nothing yet."]
    responder.stop(5)
    responder.database.close()

    again, _, _ = start(state)
    try:
        (after,) = list_incidents(again.database, PLATFORM)
        done = [line for line in after.summary.splitlines() if line.startswith("Done:")]
        assert done == told
        assert again.agent is not None
        assert again.agent.tracked[after.id].tried == {SafeAction.PM2_RESTART}
    finally:
        again.stop(5)
        again.database.close()


def test_a_persons_change_is_applied_by_the_agent_and_followed_before_the_answer(
    started: tuple[Responder, GatedExecutor, ManualClock],
) -> None:
    responder, gated, clock = started
    database = responder.database
    open_memory_incident(responder, gated, clock)
    gated.gate.set()
    assert responder.settle(10)
    (incident,) = list_incidents(database, PLATFORM)
    assert incident.status is IncidentStatus.MONITORING
    dana = Caller("dana", PLATFORM, "operator", True, "token:dana")
    operations = Operations(database, clock, Hooks(in_agent=responder.in_agent))

    writes = database.write_transactions
    resolved = operations.change_status(
        dana, incident.id, IncidentStatus.RESOLVED, note="restarted api by hand"
    )
    assert database.write_transactions - writes == 1  # the change and the agent's follow-up
    assert resolved.status is IncidentStatus.RESOLVED
    # Followed at once: the summary says who resolved it and why, with no tick.
    (now,) = list_incidents(database, PLATFORM)
    assert "restarted api by hand" in now.summary
    assert incident.id not in responder.agent.tracked  # type: ignore[union-attr]

    with pytest.raises(Conflict, match="cannot go from resolved to monitoring"):
        operations.change_status(dana, incident.id, IncidentStatus.MONITORING)


def test_a_stop_takes_the_outcome_of_an_action_that_finishes_within_its_budget(
    state: Path,
) -> None:
    responder, gated, clock = start(state)
    database = responder.database
    open_memory_incident(responder, gated, clock)
    threading.Timer(0.3, gated.gate.set).start()  # the action ends while the stop waits
    assert responder.stop(10) is True
    (incident,) = list_incidents(database, PLATFORM)
    assert incident.status is IncidentStatus.MONITORING
    kinds = [e.kind for e in list_events(database, PLATFORM, incident_id=incident.id)]
    assert "action.recorded" in kinds and "action.interrupted" not in kinds
    database.close()


def test_an_outcome_is_never_taken_for_another_action(
    started: tuple[Responder, GatedExecutor, ManualClock],
) -> None:
    responder, gated, clock = started
    database = responder.database
    open_memory_incident(responder, gated, clock)
    (incident,) = list_incidents(database, PLATFORM)
    dana = Caller("dana", PLATFORM, "operator", True, "token:dana")
    operations = Operations(database, clock, Hooks(in_agent=responder.in_agent))
    operations.change_status(dana, incident.id, IncidentStatus.OPEN)  # while it runs
    agent = responder.agent
    assert agent is not None
    tracked = agent.tracked[incident.id]
    assert tracked.pending is not None  # the restart is still in flight
    rec = Recommendation(
        99, incident.id, None, "safe_action", "clear_temp", {}, "test",
        RecommendationStatus.APPROVED,
        clock.now(), None, {}, {},
    )  # fmt: skip
    refused = agent.run_approved(rec, "dana", clock.now())
    assert refused is not None and refused.detail == "another action is running on it"
    gated.gate.set()
    assert responder.settle(10)
    rows = [
        e.data for e in list_events(database, PLATFORM, incident_id=incident.id)
        if e.kind == "action.recorded"
    ]  # fmt: skip
    assert [(r["action"], r["status"]) for r in rows] == [("pm2_restart", "succeeded")]


def test_an_approval_while_an_action_runs_is_refused_and_stays_to_approve_later(
    started: tuple[Responder, GatedExecutor, ManualClock],
) -> None:
    responder, gated, clock = started
    database = responder.database
    open_memory_incident(responder, gated, clock)
    (incident,) = list_incidents(database, PLATFORM)
    rec_id = add_recommendation(
        database, PLATFORM, incident.id, kind="safe_action", rationale="free the disk",
        at=clock.now(), actor="calmopsd", action="clear_temp", params={},
        expires_at=clock.now() + timedelta(hours=1), evidence={}, preconditions={},
    )  # fmt: skip
    refused = responder.approve(PLATFORM, rec_id, "token:dana")
    assert (refused.status, refused.detail) == (
        "refused",
        "another action is running on it; approve it once that one is done",
    )
    (rec,) = [r for r in list_recommendations(database, PLATFORM, incident.id) if r.id == rec_id]
    assert rec.status is RecommendationStatus.PROPOSED  # not used up by the refusal
    assert gated.requests[-1].action is SafeAction.PM2_RESTART  # nothing else was asked


def test_an_intent_is_paired_with_its_own_result_not_a_later_runs(database: Database) -> None:
    from support.scenario import T0

    from calmopsd.act.interrupted import record_interrupted

    facts = {"action": "pm2_restart", "target": "api"}
    first = record_event(database, PLATFORM, kind="action.intent", actor="calmopsd", at=T0,
                         data=facts)  # fmt: skip
    second = record_event(database, PLATFORM, kind="action.intent", actor="calmopsd", at=T0,
                          data=facts)  # fmt: skip
    record_event(database, PLATFORM, kind="action.executed", actor="calmopsd", at=T0,
                 data={**facts, "intent_seq": second.seq, "status": "succeeded"})  # fmt: skip
    assert record_interrupted(database, T0) == [first.seq]  # the later run hides nothing
    assert record_interrupted(database, T0) == []  # recorded once
