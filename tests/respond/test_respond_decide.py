"""The agent's pure decisions, as tables: state and one input in, the reason and effects out.

Nothing here opens a store or a process: each case builds the state a decision
reads (a tracked incident, the stored incident, the detector's view of its
series) and checks the named reason and the kinds of effect, in order, with the
values that matter. The scenario tests run the same decisions through the real
agent and store.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.config.rules import shipped_rules
from calmopsd.detect import Reason, State, Transition
from calmopsd.detect.classify import Basis, Classification
from calmopsd.model import (
    AGENT,
    MANUAL_FINGERPRINT,
    ActionOutcome,
    ActionRequest,
    AuditEvent,
    Breach,
    Incident,
    IncidentStatus,
    IncidentType,
    OutcomeStatus,
    Recommendation,
    RecommendationStatus,
    RefusalReason,
    Resolution,
    SafeAction,
    Severity,
)
from calmopsd.respond import decide
from calmopsd.respond.decide import LastRequest, Resumable, SeriesFacts, Surroundings
from calmopsd.respond.decision import (
    AddBreach,
    Ask,
    Decision,
    EndSeries,
    Escalate,
    Forget,
    Move,
    Note,
    OpenIncident,
    Reclassify,
    Record,
    RecordOutcome,
    Reopen,
    RequestAction,
    Summarize,
    SymptomReturned,
    TakeOver,
    Then,
    Track,
    Untrack,
    Why,
)
from calmopsd.respond.playbook import Hold, HoldReason, Step
from calmopsd.respond.problem import Problem
from calmopsd.respond.summary import Done
from calmopsd.respond.tracked import Pending, Tracked

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = IncidentsConfig()
HOLD = timedelta(minutes=5)
KEY = ("memory_used", ())
APP_KEY = ("app_memory", (("app", "api"),))
RESTART = Step(SafeAction.PM2_RESTART, {"app": "api"}, "memory above the limit")
RELOAD = Step(SafeAction.NGINX_RELOAD, {}, "unreachable while online")


def breach(
    rule: str = "memory_used",
    severity: Severity = Severity.WARNING,
    labels: tuple[tuple[str, str], ...] = (),
) -> Breach:
    return Breach(
        rule=rule,
        type=IncidentType.MEMORY,
        severity=severity,
        labels=labels,
        value=93.0,
        started_at=NOW - timedelta(minutes=3),
        confirmed_at=NOW,
        evidence={"sampler": "memory", "metric": "used_percent", "threshold": 90},
    )


def incident(**changes: Any) -> Incident:
    base = Incident(
        id=7,
        organization_id=None,
        fingerprint="memory:host",
        type=IncidentType.MEMORY,
        severity=Severity.WARNING,
        status=IncidentStatus.OPEN,
        title="memory_used",
        description="",
        summary="",
        evidence={"breach": decide.breach_evidence(breach())},
        resolution=None,
        opened_at=NOW - timedelta(minutes=10),
        updated_at=NOW - timedelta(minutes=10),
        resolved_at=None,
        last_breach_at=NOW - timedelta(minutes=10),
    )
    return replace(base, **changes)


def tracked(status: IncidentStatus = IncidentStatus.OPEN, **changes: Any) -> Tracked:
    series = changes.pop("series", {KEY})
    incident_changes = changes.pop("incident", {})
    kept = Tracked(incident(status=status, **incident_changes), breach(), {}, HOLD, set(series))
    for name, value in changes.items():
        setattr(kept, name, value)
    return kept


def facts(state: State = State.FIRING, *, reported: bool = True, ago: float = 1) -> SeriesFacts:
    return SeriesFacts(state, reported, NOW - timedelta(minutes=ago))


def kinds(decision: Decision) -> list[str]:
    return [type(e).__name__ for e in decision.effects]


def noted(decision: Decision) -> dict[str, Any]:
    """Every Note's changes, merged in order."""
    merged: dict[str, Any] = {}
    for note in decision.of(Note):
        merged.update(note.changes)
    return merged


# -- a confirmed breach: opening, joining, reopening ----------------------------------

MEMORY = Classification(IncidentType.MEMORY, Basis.HOST_MEMORY, "host memory")
CAUSED = Classification(IncidentType.MEMORY, Basis.RULE_TYPE, "rule type")
PROBLEM = Problem(None, "memory:host", ())


def on_breach(
    found: Incident | None,
    kept: Tracked | None = None,
    *,
    new: Breach | None = None,
    classification: Classification = MEMORY,
    surroundings: Surroundings = decide.NOTHING_AROUND,
) -> Decision:
    return decide.breach_decision(
        new or breach(),
        found,
        kept,
        classification=classification,
        problem=PROBLEM,
        settings=SETTINGS,
        base_hold=HOLD,
        surroundings=surroundings,
    )


def test_a_breach_of_a_new_problem_opens_an_incident_and_stabilizes_it() -> None:
    decision = on_breach(None)
    assert (decision.why, kinds(decision), decision.then) == (
        Why.OPENED,
        ["OpenIncident"],
        Then.STABILIZE,
    )
    opened = decision.of(OpenIncident)[0]
    assert (opened.title, opened.clear_hold, opened.cause) == ("memory_used", HOLD, None)


def test_an_opened_incident_keeps_the_cause_when_evidence_decided_it() -> None:
    pointed = Classification(IncidentType.DEPLOY, Basis.AFTER_DEPLOY, "api deployed 2 min ago")
    assert on_breach(None, classification=pointed).of(OpenIncident)[0].cause == (
        "api deployed 2 min ago"
    )


def test_a_memory_incident_keeps_the_top_processes_as_evidence() -> None:
    top = [{"name": "node", "pid": 4, "rss_bytes": 900}]
    decision = on_breach(None, surroundings=Surroundings(top_processes=top))
    assert decision.of(OpenIncident)[0].evidence["top_processes"] == top


def test_a_non_memory_incident_keeps_no_process_list() -> None:
    disk = Classification(IncidentType.DISK, Basis.HOST_DISK, "disk")
    around = Surroundings(top_processes=[{"name": "node"}])
    assert (
        "top_processes"
        not in on_breach(None, classification=disk, surroundings=around)
        .of(OpenIncident)[0]
        .evidence
    )


@pytest.mark.parametrize(
    ("status", "kept", "why"),
    [
        (IncidentStatus.OPEN, True, Why.JOINED),
        (IncidentStatus.STABILIZING, True, Why.JOINED),
        (IncidentStatus.MONITORING, True, Why.JOINED),
        (IncidentStatus.OPEN, False, Why.TAKEN_OVER),
    ],
)
def test_a_breach_of_an_unresolved_problem_joins_it_and_never_stabilizes_again(
    status: IncidentStatus, kept: bool, why: Why
) -> None:
    found = incident(status=status)
    decision = on_breach(found, tracked(status) if kept else None)
    expected = ["Track", "Note", "AddBreach", "Summarize"]
    assert (decision.why, kinds(decision), decision.then) == (
        why,
        expected if kept else ["TakeOver", *expected],
        None,
    )
    assert noted(decision) == {"clearing_since": None}


def test_a_worse_breach_joining_raises_the_severity() -> None:
    decision = on_breach(incident(), tracked(), new=breach(severity=Severity.CRITICAL))
    assert decision.of(Escalate) == [Escalate(7, Severity.CRITICAL, "memory_used is critical")]


def test_a_milder_breach_joining_leaves_the_severity() -> None:
    found = incident(severity=Severity.CRITICAL)
    assert on_breach(found, tracked(), new=breach(severity=Severity.WARNING)).of(Escalate) == []


def test_a_breach_within_reopen_within_of_recovering_reopens_it_as_a_flap() -> None:
    found = incident(status=IncidentStatus.RESOLVED, resolution=Resolution.RECOVERED, flaps=1)
    decision = on_breach(found)
    assert (decision.why, kinds(decision), decision.then) == (
        Why.REOPENED_FLAPPING,
        ["Reopen", "SymptomReturned", "Note", "Track"],
        Then.STABILIZE,
    )
    reopened = decision.of(Reopen)[0]
    # Two flaps now: the clear hold grows 1.5 × 1.5.
    assert (reopened.flap, reopened.base_hold) == (True, HOLD * 2.25)
    assert reopened.reason == "memory_used breached again within 1h of recovering"


@pytest.mark.parametrize("resolution", [Resolution.STALE_RESOLVED, "manual", Resolution.VANISHED])
def test_a_breach_after_being_resolved_otherwise_reopens_it_without_a_flap(
    resolution: str,
) -> None:
    found = incident(status=IncidentStatus.RESOLVED, resolution=resolution)
    decision = on_breach(found)
    reopened = decision.of(Reopen)[0]
    assert (decision.why, reopened.flap, reopened.base_hold) == (
        Why.REOPENED_AFTER_RESOLVED,
        False,
        HOLD,
    )
    assert f"being resolved ({resolution})" in reopened.reason


def test_the_flapped_hold_never_passes_max_clear_hold() -> None:
    assert decide.flapped_hold(timedelta(minutes=30), 5, SETTINGS) == SETTINGS.max_clear_hold


def test_no_flap_no_growth() -> None:
    assert decide.flapped_hold(HOLD, 0, SETTINGS) == HOLD


# -- transitions of a tracked series ---------------------------------------------------


def transition(
    reason: Reason,
    *,
    key: tuple[str, Any] = KEY,
    value: Any = 91.0,
    severity: Severity | None = None,
) -> Transition:
    fired = breach(key[0], severity or Severity.WARNING, key[1]) if severity else None
    return Transition(key[0], key[1], reason, State.FIRING, NOW, value, fired)


def on(t: Transition, kept: Tracked | None, series: dict[Any, SeriesFacts]) -> Decision:
    return decide.transition_decision(t, kept, series, SETTINGS)


def test_a_transition_of_a_series_no_incident_owns_changes_nothing() -> None:
    decision = on(transition(Reason.CLEAR_STARTED), None, {})
    assert (decision.why, decision.effects) == (Why.NOT_TRACKED, ())


def test_the_headline_series_figure_is_kept_for_the_summary() -> None:
    decision = on(transition(Reason.BREACH_STARTED, value=95.5), tracked(), {KEY: facts()})
    assert (decision.why, noted(decision)) == (Why.UNCHANGED, {"current": 95.5})


def test_another_series_figure_is_not_the_headline() -> None:
    kept = tracked(series={KEY, APP_KEY})
    decision = on(transition(Reason.BREACH_STARTED, key=APP_KEY), kept, {})
    assert decision.effects == ()


def test_passing_the_critical_threshold_escalates_and_moves_the_headline() -> None:
    t = transition(Reason.ESCALATED, severity=Severity.CRITICAL)
    decision = on(t, tracked(), {KEY: facts()})
    escalate = decision.of(Escalate)[0]
    assert (decision.why, escalate.to, escalate.headline) == (
        Why.ESCALATED,
        Severity.CRITICAL,
        t.breach,
    )
    assert kinds(decision)[-1] == "Summarize"


def test_escalating_an_incident_already_critical_is_not_worse() -> None:
    kept = tracked(incident={"severity": Severity.CRITICAL})
    t = transition(Reason.ESCALATED, severity=Severity.CRITICAL)
    assert on(t, kept, {KEY: facts()}).why is Why.NOT_WORSE


def test_a_clear_starting_on_the_last_firing_series_starts_the_clearing_clock() -> None:
    decision = on(transition(Reason.CLEAR_STARTED), tracked(), {KEY: facts(State.CLEARING)})
    assert (decision.why, noted(decision)) == (
        Why.CLEAR_STARTED,
        {"current": 91.0, "clearing_since": NOW},
    )


def test_a_clear_starting_while_another_series_fires_does_not_start_the_clock() -> None:
    kept = tracked(series={KEY, APP_KEY})
    series = {KEY: facts(State.CLEARING), APP_KEY: facts(State.FIRING)}
    decision = on(transition(Reason.CLEAR_STARTED), kept, series)
    assert "clearing_since" not in noted(decision)


def test_a_clear_aborted_stops_the_clearing_clock() -> None:
    decision = on(transition(Reason.CLEAR_ABORTED), tracked(), {KEY: facts()})
    assert (decision.why, noted(decision)["clearing_since"], decision.then) == (
        Why.CLEAR_ABORTED,
        None,
        None,
    )


def test_a_clear_aborted_after_monitor_for_means_the_action_did_not_hold() -> None:
    kept = tracked(IncidentStatus.MONITORING, monitor_until=NOW - timedelta(seconds=1))
    decision = on(transition(Reason.CLEAR_ABORTED), kept, {KEY: facts()})
    assert (decision.why, decision.then) == (Why.NOT_HOLDING, Then.STABILIZE)
    assert decision.of(Move) == [Move(7, IncidentStatus.MONITORING, IncidentStatus.OPEN)]


def test_a_clear_aborted_inside_monitor_for_keeps_watching() -> None:
    kept = tracked(IncidentStatus.MONITORING, monitor_until=NOW + timedelta(minutes=1))
    assert on(transition(Reason.CLEAR_ABORTED), kept, {KEY: facts()}).why is Why.CLEAR_ABORTED


@pytest.mark.parametrize(
    ("reason", "why", "resolution", "forget"),
    [
        (Reason.CLEARED, Why.RECOVERED, Resolution.RECOVERED, False),
        (Reason.VANISHED, Why.VANISHED, Resolution.VANISHED, True),
    ],
)
def test_the_last_series_ending_resolves_the_incident(
    reason: Reason, why: Why, resolution: Resolution, forget: bool
) -> None:
    decision = on(transition(reason), tracked(IncidentStatus.MONITORING), {})
    assert (decision.why, kinds(decision)) == (
        why,
        ["Note", "Move", "EndSeries", "Note", "Summarize", "Untrack"],
    )
    assert decision.of(Move)[0].resolution == resolution
    assert decision.of(Untrack) == [Untrack(7, forget=forget)]


def test_one_series_of_several_ending_leaves_the_incident_open() -> None:
    decision = on(transition(Reason.CLEARED, key=APP_KEY), tracked(series={KEY, APP_KEY}), {})
    assert (decision.why, decision.effects) == (Why.SERIES_ENDED, (EndSeries(7, APP_KEY),))


def test_an_incident_a_person_resolved_is_not_moved_again_when_it_clears() -> None:
    kept = tracked(IncidentStatus.RESOLVED)
    assert on(transition(Reason.CLEARED), kept, {}).of(Move) == []


# -- monitoring, replanning and staleness on the clock ---------------------------------


@pytest.mark.parametrize(
    ("status", "until", "state", "reported", "why"),
    [
        (IncidentStatus.OPEN, None, State.FIRING, True, Why.UNCHANGED),
        (IncidentStatus.MONITORING, NOW + timedelta(seconds=1), State.FIRING, True, Why.WATCHING),
        (IncidentStatus.MONITORING, NOW, State.FIRING, True, Why.NOT_HOLDING),
        (IncidentStatus.MONITORING, None, State.FIRING, True, Why.NOT_HOLDING),
        (IncidentStatus.MONITORING, NOW, State.CLEARING, True, Why.QUIET),
        (IncidentStatus.MONITORING, NOW, State.FIRING, False, Why.QUIET),
    ],
)
def test_monitoring_ends_in_watching_quiet_or_not_holding(
    status: IncidentStatus, until: datetime | None, state: State, reported: bool, why: Why
) -> None:
    kept = tracked(status, monitor_until=until)
    assert decide.monitoring_decision(kept, {KEY: facts(state, reported=reported)}, NOW).why is why


def test_not_holding_reopens_tells_the_executor_and_stabilizes_again() -> None:
    kept = tracked(IncidentStatus.MONITORING, monitor_until=NOW)
    decision = decide.monitoring_decision(kept, {KEY: facts()}, NOW)
    assert kinds(decision) == ["Note", "Move", "Record", "SymptomReturned"]
    assert decision.of(Record) == [
        Record("incident.not_holding", {"still_firing": ["memory_used"]}, 7)
    ]
    assert decision.then is Then.STABILIZE


@pytest.mark.parametrize(
    ("replan", "status", "state", "why"),
    [
        (False, IncidentStatus.OPEN, State.FIRING, Why.UNCHANGED),
        (True, IncidentStatus.MONITORING, State.FIRING, Why.UNCHANGED),
        (True, IncidentStatus.OPEN, State.CLEARING, Why.WATCHING),
        (True, IncidentStatus.OPEN, State.FIRING, Why.REPLANNED),
    ],
)
def test_after_an_interrupted_action_it_plans_again_only_while_it_fires(
    replan: bool, status: IncidentStatus, state: State, why: Why
) -> None:
    decision = decide.replan_decision(tracked(status, replan=replan), {KEY: facts(state)})
    assert decision.why is why
    assert (decision.then is Then.STABILIZE) == (why is Why.REPLANNED)


CUTOFF = NOW - SETTINGS.stale_after


@pytest.mark.parametrize(
    ("fingerprint", "last_breach_ago", "series", "why"),
    [
        (f"{MANUAL_FINGERPRINT}1", timedelta(days=3), {}, Why.MANUAL),
        ("memory:host", timedelta(hours=1), {}, Why.HAS_NEWS),
        ("memory:host", timedelta(days=2), {KEY: facts(ago=5)}, Why.HAS_NEWS),
        ("memory:host", timedelta(days=2), {KEY: facts(State.CLEARING, ago=5)}, Why.HAS_NEWS),
        ("memory:host", timedelta(days=2), {KEY: facts(ago=60 * 30)}, Why.STALE),
        ("memory:host", timedelta(days=2), {KEY: facts(State.OK, ago=5)}, Why.STALE),
        ("memory:host", timedelta(days=2), {}, Why.STALE),
    ],
)
def test_an_incident_without_news_for_stale_after_ends_stale(
    fingerprint: str, last_breach_ago: timedelta, series: dict[Any, SeriesFacts], why: Why
) -> None:
    found = incident(fingerprint=fingerprint, last_breach_at=NOW - last_breach_ago)
    kept = tracked(incident={"fingerprint": fingerprint, "last_breach_at": found.last_breach_at})
    assert decide.stale_decision(found, kept, series, CUTOFF).why is why


def test_a_stale_tracked_incident_is_resolved_and_its_series_forgotten() -> None:
    found = incident(last_breach_at=NOW - timedelta(days=2))
    decision = decide.stale_decision(found, tracked(), {}, CUTOFF)
    assert decision.of(Move)[0].resolution == Resolution.STALE_RESOLVED
    assert decision.of(Untrack) == [Untrack(7, forget=True)]


def test_a_stale_untracked_incident_is_only_resolved() -> None:
    found = incident(status=IncidentStatus.MONITORING, last_breach_at=NOW - timedelta(days=2))
    decision = decide.stale_decision(found, None, {}, CUTOFF)
    assert decision.effects == (
        Move(7, IncidentStatus.MONITORING, IncidentStatus.RESOLVED, Resolution.STALE_RESOLVED),
    )


# -- stabilizing -----------------------------------------------------------------------


def test_a_fitting_step_is_requested_and_the_incident_goes_stabilizing() -> None:
    decision = decide.stabilize_decision(tracked(), RESTART)
    assert (decision.why, kinds(decision)) == (
        Why.REQUESTED,
        ["Move", "Record", "RequestAction", "Summarize"],
    )
    assert decision.of(RequestAction) == [RequestAction(7, RESTART, AGENT, pass_over=True)]
    assert decision.of(Record)[0].data == {
        "action": "pm2_restart",
        "params": {"app": "api"},
        "reason": "memory above the limit",
    }


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (HoldReason.PLAYBOOK_EMPTY, "nothing automatic for this type (x)"),
        (HoldReason.NOTHING_FITS, "no safe action fits (x)"),
        (HoldReason.ALL_TRIED, "nothing more it may try on its own"),
        (HoldReason.DEPLOY_WINDOW, "no restart during a deploy window (x); a rollback"),
    ],
)
def test_a_hold_says_why_nothing_is_done_and_asks_a_person(reason: HoldReason, words: str) -> None:
    decision = decide.stabilize_decision(tracked(), Hold(reason, "x"))
    assert decision.why is Why.HELD
    assert noted(decision)["not_done"].startswith(words)
    assert decision.of(Record) == [Record("incident.held", {"reason": reason, "detail": "x"}, 7)]
    assert kinds(decision)[-1] == "Summarize"


def test_a_hold_after_a_refusal_passed_over_asks_to_approve_the_refused_action() -> None:
    kept = tracked(passed=(RESTART, BUDGET))
    decision = decide.stabilize_decision(kept, Hold(HoldReason.ALL_TRIED, "every action"))
    assert decision.why is Why.ASKED_FOR_REFUSED
    assert noted(decision)["not_done"] == "did not restart PM2 app `api`: budget spent"
    assert noted(decision)["passed"] is None
    assert [a.proposal.action for a in decision.of(Ask)] == ["pm2_restart"]


def test_the_same_advice_is_not_asked_for_twice() -> None:
    first = decide.stabilize_decision(tracked(), Hold(HoldReason.NOTHING_FITS, "x"))
    asked = first.of(Ask)[0].proposal.key
    again = decide.stabilize_decision(tracked(proposed={asked}), Hold(HoldReason.NOTHING_FITS, "x"))
    assert again.of(Ask) == []


def test_nothing_is_requested_while_an_action_is_pending() -> None:
    kept = tracked(pending=Pending(RESTART, AGENT, True))
    decision = decide.begin_decision(kept, RELOAD, AGENT, pass_over=True)
    assert (decision.why, decision.effects, decision.detail) == (
        Why.BUSY,
        (),
        "another action is running on it",
    )


@pytest.mark.parametrize(
    "status", [IncidentStatus.STABILIZING, IncidentStatus.MONITORING, IncidentStatus.RESOLVED]
)
def test_nothing_is_requested_on_an_incident_someone_else_holds(status: IncidentStatus) -> None:
    decision = decide.begin_decision(tracked(status), RESTART, AGENT, pass_over=True)
    assert (decision.why, decision.detail) == (Why.NOT_OPEN, f"the incident is {status}")


# -- an action's outcome ---------------------------------------------------------------

REQUEST = ActionRequest(SafeAction.PM2_RESTART, {"app": "api"}, 7, None, "memory")


def finish(
    outcome: ActionOutcome,
    *,
    status: IncidentStatus = IncidentStatus.STABILIZING,
    actor: str = AGENT,
    **changes: Any,
) -> Decision:
    pending = Pending(RESTART, actor, actor == AGENT, REQUEST)
    kept = tracked(status, pending=pending, **changes)
    return decide.outcome_decision(kept, REQUEST, outcome, NOW, SETTINGS)


WORKED = ActionOutcome(OutcomeStatus.SUCCEEDED, "restarted and verified")
FAILED = ActionOutcome(OutcomeStatus.FAILED, "still above the limit")
BUDGET = ActionOutcome(OutcomeStatus.REFUSED, "budget spent", reason=RefusalReason.BUDGET_SPENT)
IN_FORCE = ActionOutcome(OutcomeStatus.REFUSED, "in force", reason=RefusalReason.ALREADY_IN_FORCE)
PAUSED = ActionOutcome(OutcomeStatus.REFUSED, "paused", reason=RefusalReason.PAUSED)
SHADOW = ActionOutcome(OutcomeStatus.SHADOW, "shadow mode")


@pytest.mark.parametrize(
    ("outcome", "why", "moved_to", "then"),
    [
        (WORKED, Why.WORKED, IncidentStatus.MONITORING, None),
        (FAILED, Why.FAILED, IncidentStatus.OPEN, Then.STABILIZE),
        (BUDGET, Why.PASSED_OVER, IncidentStatus.OPEN, Then.STABILIZE),
        (IN_FORCE, Why.PASSED_OVER, IncidentStatus.OPEN, Then.STABILIZE),
        (PAUSED, Why.REFUSED, IncidentStatus.OPEN, None),
        (SHADOW, Why.SHADOWED, IncidentStatus.OPEN, None),
    ],
)
def test_an_outcome_moves_the_incident_on_from_stabilizing(
    outcome: ActionOutcome, why: Why, moved_to: IncidentStatus, then: Then | None
) -> None:
    decision = finish(outcome)
    assert (decision.why, decision.of(Move)[0].new, decision.then) == (why, moved_to, then)
    assert decision.of(RecordOutcome) == [RecordOutcome(7, RESTART, outcome, AGENT)]
    assert noted(decision)["pending"] is None


def test_a_verified_action_is_monitored_for_monitor_for() -> None:
    assert noted(finish(WORKED))["monitor_until"] == NOW + SETTINGS.monitor_for


def test_a_failed_action_makes_a_warning_critical() -> None:
    escalated = finish(FAILED).of(Escalate)
    assert [(e.to, e.why) for e in escalated] == [
        (Severity.CRITICAL, "pm2_restart failed: still above the limit")
    ]


def test_a_failed_action_on_a_critical_incident_escalates_nothing() -> None:
    assert finish(FAILED, incident={"severity": Severity.CRITICAL}).of(Escalate) == []


def test_an_approvable_refusal_passed_over_is_remembered_for_later() -> None:
    assert noted(finish(BUDGET))["passed"] == (RESTART, BUDGET)


def test_already_in_force_is_nothing_to_approve_later() -> None:
    assert "passed" not in noted(finish(IN_FORCE))


def test_a_refusal_of_every_action_asks_a_person_at_once() -> None:
    decision = finish(PAUSED)
    assert noted(decision)["not_done"] == "did not restart PM2 app `api`: paused"
    assert len(decision.of(Ask)) == 1


def test_a_person_approved_step_that_failed_is_a_persons_call() -> None:
    decision = finish(FAILED, actor="alice")
    assert decision.why is Why.PERSON_STEP_DONE
    assert noted(decision)["next_step"].startswith(
        "a person's call: restart PM2 app `api` was approved but failed"
    )
    assert decision.then is None


def test_an_outcome_while_a_person_moved_the_incident_records_it_and_moves_nothing() -> None:
    decision = finish(FAILED, status=IncidentStatus.MONITORING)
    assert (decision.why, decision.of(Move), decision.then) == (Why.MOVED_MEANWHILE, [], None)
    assert len(decision.of(RecordOutcome)) == 1


def test_an_outcome_of_another_request_is_not_the_pending_ones() -> None:
    kept = tracked(IncidentStatus.STABILIZING, pending=Pending(RESTART, AGENT, True, REQUEST))
    other = replace(REQUEST, reason="another")
    assert decide.outcome_decision(kept, other, WORKED, NOW, SETTINGS).why is Why.NOT_PENDING


def test_an_outcome_with_nothing_pending_is_not_pending() -> None:
    assert decide.outcome_decision(tracked(), REQUEST, WORKED, NOW, SETTINGS).why is (
        Why.NOT_PENDING
    )


# -- people ----------------------------------------------------------------------------


def test_a_person_approving_on_a_monitored_incident_reopens_and_requests_it() -> None:
    decision = decide.approved_decision(tracked(IncidentStatus.MONITORING), RESTART, "alice")
    assert (decision.why, kinds(decision)) == (
        Why.APPROVED_REQUESTED,
        ["Move", "Move", "Record", "RequestAction", "Summarize"],
    )
    assert decision.of(RequestAction)[0].actor == "alice"


def test_a_person_approving_while_an_action_runs_is_refused() -> None:
    decision = decide.approved_decision(tracked(IncidentStatus.STABILIZING), RESTART, "alice")
    assert (decision.why, decision.effects) == (Why.APPROVED_REFUSED, ())


def follow(kept: Tracked, stored: Incident | None, rec: Recommendation | None = None) -> Decision:
    return decide.follow_decision(
        kept, stored, rec, resolution_note="fixed it", settings=SETTINGS, now=NOW
    )


def recommendation(status: RecommendationStatus, by: str | None = "alice") -> Recommendation:
    return Recommendation(
        3, 7, None, "manual", None, {}, "raise the limit", status, NOW, None, {}, {},
        decided_by=by,
    )  # fmt: skip


def test_an_incident_deleted_from_the_store_is_no_longer_tracked() -> None:
    assert follow(tracked(), None).effects == (Untrack(7, forget=True),)


def test_a_person_resolving_it_ends_tracking_with_their_note_in_the_summary() -> None:
    kept = tracked(summarized=("open", "warning"))
    decision = follow(kept, incident(status=IncidentStatus.RESOLVED, resolution="manual"))
    assert decision.why is Why.PERSON_RESOLVED
    assert noted(decision)["resolution_note"] == "fixed it"
    assert kinds(decision)[-2:] == ["Summarize", "Untrack"]


def test_a_person_moving_it_to_monitoring_starts_the_watch() -> None:
    kept = tracked(summarized=("open", "warning"))
    decision = follow(kept, incident(status=IncidentStatus.MONITORING))
    assert decision.why is Why.PERSON_WATCHES
    assert noted(decision)["monitor_until"] == NOW + SETTINGS.monitor_for


def test_a_person_changing_the_severity_rewrites_the_summary() -> None:
    kept = tracked(summarized=("open", "warning"))
    decision = follow(kept, incident(severity=Severity.CRITICAL))
    assert (decision.why, kinds(decision)[-1]) == (Why.PERSON_CHANGED, "Summarize")


def test_a_change_that_changes_nothing_rewrites_nothing() -> None:
    kept = tracked(summarized=("open", "warning"))
    assert Summarize(7) not in follow(kept, incident()).effects


@pytest.mark.parametrize(
    ("status", "by", "step"),
    [
        (RecommendationStatus.REJECTED, "alice", "recommendation #3 was rejected by alice"),
        (RecommendationStatus.EXPIRED, AGENT, "recommendation #3 expired unanswered"),
        (RecommendationStatus.EXECUTED, "bob", "recommendation #3 was carried out by bob"),
        (RecommendationStatus.APPROVED, "bob", "carry out recommendation #3 (approved by bob)"),
    ],
)
def test_a_decided_recommendation_becomes_the_next_step(
    status: RecommendationStatus, by: str, step: str
) -> None:
    kept = tracked(summarized=("open", "warning"), next_recommendation=3)
    decision = follow(kept, incident(), recommendation(status, by))
    assert decision.why is Why.RECOMMENDATION_DECIDED
    assert step in noted(decision)["next_step"]
    assert noted(decision)["next_recommendation"] is None


def test_a_recommendation_still_proposed_changes_nothing() -> None:
    kept = tracked(summarized=("open", "warning"), next_recommendation=3)
    assert follow(kept, incident(), recommendation(RecommendationStatus.PROPOSED)).why is (
        Why.NOTHING_NEW
    )


# -- after a restart -------------------------------------------------------------------

RULES = {"memory_used": HOLD}


def event(seq: int, kind: str, data: dict[str, Any], actor: str = AGENT) -> AuditEvent:
    return AuditEvent(seq, NOW, 7, None, kind, actor, data, "", "")


REQUESTED = event(1, "action.requested", {"action": "pm2_restart", "params": {"app": "api"}})


def resume(
    status: IncidentStatus = IncidentStatus.OPEN,
    events: tuple[AuditEvent, ...] = (),
    **left: Any,
) -> Decision:
    last = decide.last_request(list(events))
    return decide.resume_decision(Resumable(incident(status=status), last, **left), RULES, SETTINGS)


def test_an_open_incident_left_unresolved_is_taken_over_with_its_series() -> None:
    decision = resume()
    assert (decision.why, kinds(decision)) == (Why.RESUMED, ["TakeOver", "Note", "Summarize"])
    assert decision.of(TakeOver)[0].series == frozenset({KEY})


def test_the_actions_taken_before_the_restart_are_not_tried_again() -> None:
    done = (Done(SafeAction.PM2_RESTART, {"app": "api"}, NOW, "succeeded", "ok"),)
    assert noted(resume(done=done))["tried"] == {SafeAction.PM2_RESTART}


def test_an_incident_left_stabilizing_is_interrupted_and_actionable_again() -> None:
    decision = resume(IncidentStatus.STABILIZING, (REQUESTED,))
    assert decision.why is Why.INTERRUPTED
    assert kinds(decision) == ["TakeOver", "Note", "Record", "Move", "Note", "Summarize"]
    assert decision.of(Record)[0].kind == "action.interrupted"
    assert decision.of(Move)[0].new is IncidentStatus.OPEN
    assert noted(decision)["replan"] is True
    assert noted(decision)["not_done"] == (
        "restart PM2 app `api` was interrupted: calmopsd stopped while it ran"
    )


def test_an_interruption_the_executor_already_recorded_is_not_recorded_twice() -> None:
    said = event(2, "action.interrupted", {"action": "pm2_restart"})
    assert resume(IncidentStatus.STABILIZING, (REQUESTED, said)).of(Record) == []


def test_an_action_that_finished_while_calmopsd_was_stopped_is_taken_up() -> None:
    executed = event(2, "action.executed", {"status": "succeeded", "detail": "verified"})
    decision = resume(IncidentStatus.STABILIZING, (REQUESTED, executed))
    assert decision.why is Why.FINISHED_MEANWHILE
    assert decision.then == ActionOutcome(OutcomeStatus.SUCCEEDED, "verified")
    assert noted(decision)["pending"].step.action is SafeAction.PM2_RESTART


def test_after_a_reload_the_action_still_running_is_handed_over() -> None:
    running = Pending(RESTART, AGENT, True, REQUEST)
    decision = resume(IncidentStatus.STABILIZING, (REQUESTED,), in_flight=running)
    assert (decision.why, noted(decision)["pending"]) == (Why.RESUMED_IN_FLIGHT, running)


def test_a_restart_interruption_noted_earlier_is_told_again_in_the_summary() -> None:
    said = event(2, "action.interrupted", {"action": "pm2_restart"})
    assert "interrupted" in noted(resume(IncidentStatus.OPEN, (REQUESTED, said)))["not_done"]


def test_an_incident_of_another_rule_set_is_left_to_end_stale() -> None:
    other = incident(evidence={"breach": {"rule": "gone_rule", "labels": {}}})
    decision = decide.resume_decision(Resumable(other, LastRequest({}, ())), RULES, SETTINGS)
    assert (decision.why, decision.effects) == (Why.FOREIGN, ())


def test_a_foreign_incident_left_stabilizing_goes_back_to_open() -> None:
    decision = resume(IncidentStatus.STABILIZING, (REQUESTED,), owned=True)
    assert (decision.why, kinds(decision)) == (Why.FOREIGN_INTERRUPTED, ["Record", "Move"])


def test_the_stored_breach_round_trips_through_the_incident_evidence() -> None:
    stored = decide.stored_breach(incident())
    assert stored is not None
    assert (stored.rule, stored.labels, stored.value) == ("memory_used", (), 93.0)


def test_an_incident_without_a_stored_breach_has_none() -> None:
    assert decide.stored_breach(incident(evidence={})) is None


def test_every_effect_kind_is_covered_by_some_case() -> None:
    """A new effect kind must be given a table case too."""
    covered = {
        OpenIncident, TakeOver, AddBreach, Reopen, Track, Untrack, EndSeries, Forget, Escalate,
        Move, Record, RequestAction, RecordOutcome, Ask, Note, SymptomReturned, Summarize,
        Reclassify,
    }  # fmt: skip
    from calmopsd.respond import decision as module

    assert set(module.Effect.__args__) == covered  # type: ignore[attr-defined]


def test_the_decisions_import_no_store_host_or_clock() -> None:
    """Pure by construction: nothing under respond/decide/ can reach the store, the host
    or the wall clock."""
    import ast
    from pathlib import Path

    import calmopsd.respond.decide as package

    forbidden = {
        "calmopsd.record", "calmopsd.act", "calmopsd.sense", "calmopsd.daemon",
        "calmopsd.serve", "calmopsd.runner", "subprocess", "time", "os", "socket",
    }  # fmt: skip
    reached: set[str] = set()
    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                reached |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                reached.add(node.module)
            elif isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today"):
                reached.add(f"<clock: {path.name}>")
    assert "calmopsd.respond.decide.facts" in reached  # the walk saw the package
    bad = sorted(
        m
        for m in reached
        if m.startswith("<clock") or any(m == f or m.startswith(f"{f}.") for f in forbidden)
    )
    assert bad == []


# -- what a restarted agent remembers (decide/memory.py) --------------------------------

from calmopsd.respond.decide.memory import remembered  # noqa: E402


def advice(rec_id: int, status: RecommendationStatus, by: str | None = None) -> Recommendation:
    return replace(recommendation(status, by), id=rec_id, rationale=f"advice {rec_id}")


def proposed_event(seq: int, rec_id: int, next_step: str | None) -> AuditEvent:
    data: dict[str, Any] = {"id": rec_id}
    if next_step is not None:
        data["next_step"] = next_step
    return event(seq, "recommendation.proposed", data)


def test_a_restart_remembers_the_cause_the_classification_found() -> None:
    found = incident(
        evidence={"classification": {"basis": "after_deploy", "detail": "api deployed"}}
    )
    assert remembered(found, [], [], [], SETTINGS)["cause"] == "api deployed"


def test_a_plain_classification_is_no_cause() -> None:
    found = incident(evidence={"classification": {"basis": "host_memory", "detail": "x"}})
    assert remembered(found, [], [], [], SETTINGS)["cause"] is None


def test_a_restart_continues_the_watch_from_when_it_began() -> None:
    began = event(3, "incident.status_changed", {"to": "monitoring"})
    kept = remembered(incident(status=IncidentStatus.MONITORING), [began], [], [], SETTINGS)
    assert kept["monitor_until"] == began.at + SETTINGS.monitor_for


def test_an_open_incident_has_no_watch_to_continue() -> None:
    began = event(3, "incident.status_changed", {"to": "monitoring"})
    assert "monitor_until" not in remembered(incident(), [began], [], [], SETTINGS)


def test_a_restart_remembers_why_it_held_back() -> None:
    held = event(4, "incident.held", {"reason": "nothing_fits", "detail": "no app"})
    assert remembered(incident(), [held], [], [], SETTINGS)["not_done"] == (
        "no safe action fits (no app)"
    )


def test_a_hold_followed_by_a_request_is_not_what_it_holds_back_now() -> None:
    held = event(4, "incident.held", {"reason": "nothing_fits", "detail": "no app"})
    assert "not_done" not in remembered(incident(), [held, REQUESTED], [], [], SETTINGS)


def test_the_next_step_is_the_newest_advice_in_the_words_it_was_proposed_with() -> None:
    recs = [advice(1, RecommendationStatus.REJECTED), advice(2, RecommendationStatus.PROPOSED)]
    events = [proposed_event(5, 1, "first"), proposed_event(6, 2, "raise the limit")]
    kept = remembered(incident(), events, [], recs, SETTINGS)
    assert (kept["next_step"], kept["next_recommendation"]) == (
        "raise the limit (recommendation #2).",
        2,
    )
    assert kept["proposed"] == {("manual", None, "advice 1"), ("manual", None, "advice 2")}


def test_advice_stored_before_its_words_were_kept_reads_its_rationale() -> None:
    recs = [advice(2, RecommendationStatus.PROPOSED)]
    kept = remembered(incident(), [proposed_event(6, 2, None)], [], recs, SETTINGS)
    assert kept["next_step"] == "advice 2 (recommendation #2)."


def test_newest_advice_decided_says_what_followed() -> None:
    recs = [advice(2, RecommendationStatus.REJECTED, by="dana")]
    kept = remembered(incident(), [], [], recs, SETTINGS)
    assert kept["next_step"].startswith("a person's call: recommendation #2 was rejected by dana")
    assert "next_recommendation" not in kept


# -- planning again for what is left, or for a further symptom -------------------------


def test_the_breach_that_opened_it_ending_while_others_fire_plans_again() -> None:
    kept = tracked(IncidentStatus.MONITORING, series={KEY, APP_KEY})
    decision = on(transition(Reason.CLEARED), kept, {APP_KEY: facts()})
    assert (decision.why, decision.then) == (Why.REPLANNED_REST, Then.STABILIZE)
    assert decision.of(Move) == [Move(7, IncidentStatus.MONITORING, IncidentStatus.OPEN)]
    assert decision.of(Record)[0].data == {"ended": "memory_used", "still_firing": ["app_memory"]}


def test_what_is_left_of_another_type_retypes_the_incident_a_cause_before_a_symptom() -> None:
    errored = replace(breach("pm2_app_errored", labels=APP_KEY[1]), type=IncidentType.APP)
    failing = replace(breach("health_check_failing"), type=IncidentType.NETWORK)
    check_key = ("health_check_failing", ())
    kept = tracked(IncidentStatus.MONITORING, series={KEY, APP_KEY, check_key})
    left = {APP_KEY: replace(facts(), breach=errored), check_key: replace(facts(), breach=failing)}
    decision = on(transition(Reason.CLEARED), kept, left)
    (retyped,) = decision.of(Reclassify)
    assert (retyped.to, retyped.headline) == (IncidentType.APP, errored)
    assert retyped.why == "memory_used ended; pm2_app_errored still fires"
    assert noted(decision)["cause"] is None


def test_what_is_left_of_the_same_type_keeps_the_incident_as_it_is() -> None:
    same = breach("app_memory", labels=APP_KEY[1])  # a memory breach too
    kept = tracked(IncidentStatus.MONITORING, series={KEY, APP_KEY})
    decision = on(transition(Reason.CLEARED), kept, {APP_KEY: replace(facts(), breach=same)})
    assert (decision.why, decision.of(Reclassify)) == (Why.REPLANNED_REST, [])


def test_another_series_ending_while_the_one_that_opened_it_fires_plans_nothing() -> None:
    kept = tracked(series={KEY, APP_KEY})
    decision = on(transition(Reason.CLEARED, key=APP_KEY), kept, {KEY: facts()})
    assert (decision.why, decision.then) == (Why.SERIES_ENDED, None)


def test_nothing_is_planned_again_while_an_action_runs() -> None:
    kept = tracked(series={KEY, APP_KEY}, pending=Pending(RESTART, AGENT, True))
    assert on(transition(Reason.CLEARED), kept, {APP_KEY: facts()}).why is Why.SERIES_ENDED


def test_a_further_symptom_joining_an_open_incident_plans_if_something_fits() -> None:
    further = breach("app_memory", labels=(("app", "api"),))
    decision = on_breach(incident(), tracked(), new=further)
    assert (decision.why, decision.then) == (Why.JOINED, Then.STABILIZE_IF_FITS)


def test_a_further_symptom_joining_a_monitored_incident_plans_nothing() -> None:
    further = breach("app_memory", labels=(("app", "api"),))
    found = incident(status=IncidentStatus.MONITORING)
    assert on_breach(found, tracked(IncidentStatus.MONITORING), new=further).then is None


def test_a_breach_of_the_same_resource_joins_the_incident_that_owns_it() -> None:
    """pm2_app_not_online confirming while pm2_app_errored for the same app is tracked."""
    owner = tracked(series={KEY, APP_KEY})
    decision = decide.breach_decision(
        breach("app_not_online", labels=(("app", "api"),)), None, None,
        classification=MEMORY, problem=PROBLEM, settings=SETTINGS, base_hold=HOLD,
        sibling=owner,
    )  # fmt: skip
    assert (decision.why, decision.of(AddBreach)[0].incident_id) == (Why.JOINED, 7)


# -- the headline figure as last read (issue 11 point 8) --------------------------------


@pytest.mark.parametrize(
    ("value", "shown", "why"),
    [
        (95.0, None, Why.UNCHANGED),  # within 10 % of the breach's 93 shown
        (99.0, 93.0, Why.UNCHANGED),
        (103.0, 93.0, Why.FIGURE_MOVED),
        (80.0, 93.0, Why.FIGURE_MOVED),
        ("online", 93.0, Why.UNCHANGED),  # not a figure
    ],
)
def test_the_summary_is_rewritten_only_once_the_figure_moved_notably(
    value: Any, shown: float | None, why: Why
) -> None:
    decision = decide.figure_decision(tracked(shown=shown), value)
    assert decision.why is why
    assert (Summarize(7) in decision.effects) == (why is Why.FIGURE_MOVED)


def test_the_peak_is_the_worst_value_for_the_rules_direction() -> None:
    kept = tracked()  # memory_used: > 90, breached at 93
    kept.breach = replace(kept.breach, evidence={**kept.breach.evidence, "op": ">"})
    assert noted(decide.figure_decision(kept, 97.0))["peak"] == 97.0
    kept.peak = 97.0
    assert noted(decide.figure_decision(kept, 91.0)) == {"current": 91.0, "peak": 97.0}
    hours = tracked()
    hours.breach = replace(hours.breach, value=20, evidence={"op": "<", "threshold": 24})
    assert noted(decide.figure_decision(hours, 6))["peak"] == 6  # fewer hours is worse


def test_a_restarted_agent_reads_the_last_and_worst_figure_of_its_series() -> None:
    disk = {r.name: r for r in shipped_rules()}
    used, filling = disk["disk_used"], disk["disk_filling"]
    readings = [
        {"mounts": {"/": {"used_percent": 81.0, "hours_until_full": 30}, "/var": {}}},
        {"mounts": {"/": {"used_percent": 97.0, "hours_until_full": 4}}},
        {"mounts": {"/": {"used_percent": 90.0, "hours_until_full": 9}}},
        {"mounts": {"/data": {"used_percent": 99.0}}},  # another series
    ]
    root = (("mount", "/"),)
    assert decide.stored_figures(readings, used, root) == (90.0, 97.0)
    assert decide.stored_figures(readings, filling, root) == (9.0, 4.0)  # fewer is worse
    assert decide.stored_figures(readings, used, (("mount", "/srv"),)) == (None, None)
    restarts = disk["pm2_app_restarting"]  # sums over 5m: the readings hold only parts
    assert decide.stored_figures([{"apps": {"api": {"restart_increase": 9}}}], restarts,
                                 (("app", "api"),)) == (None, None)  # fmt: skip


def test_an_app_calmopsd_paused_itself_is_no_symptom() -> None:
    stopped = replace(
        breach("pm2_app_not_online", labels=(("app", "worker"),)),
        evidence={"sampler": "pm2", "metric": "apps.{app}.status"},
    )
    paused = decide.breach_decision(
        stopped, None, None, classification=MEMORY, problem=PROBLEM, settings=SETTINGS,
        base_hold=HOLD, paused_apps=frozenset({"worker"}),
    )  # fmt: skip
    assert (paused.why, paused.effects) == (
        Why.OWN_PAUSE,
        (Forget(stopped_key := ("pm2_app_not_online", (("app", "worker"),))),),
    )
    assert stopped_key[0] == "pm2_app_not_online"
    other = decide.breach_decision(
        stopped, None, None, classification=MEMORY, problem=PROBLEM, settings=SETTINGS,
        base_hold=HOLD, paused_apps=frozenset({"api"}),
    )  # fmt: skip
    assert other.why is Why.OPENED
