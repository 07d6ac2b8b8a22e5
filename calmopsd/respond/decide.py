"""The agent's decisions, as pure functions: what the state and one input call for.

Each function takes what the agent knows (a :class:`~.tracked.Tracked` it only
reads, the incident as stored, the detector's view of the series, the
settings) and returns a :class:`~.decision.Decision`: a named reason and the
effects to apply, in order. None of them reads the store, a clock or the host;
the agent gathers what they need and :mod:`.apply` writes what they return, in
the input's one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.config.units import format_duration
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
from calmopsd.respond.decision import (
    AddBreach,
    Ask,
    Decision,
    Effect,
    EndSeries,
    Escalate,
    Move,
    Note,
    OpenIncident,
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
from calmopsd.respond.problem import Problem, resource_of
from calmopsd.respond.recommend import APPROVABLE, Proposal, action_words, propose
from calmopsd.respond.summary import Done, clip
from calmopsd.respond.tracked import Pending, SeriesKey, Tracked

ACTOR = AGENT
# Bases that only restate the rule: the summary's "Why" line is left out for them.
PLAIN_BASES = frozenset({Basis.RULE_TYPE, Basis.HOST_MEMORY, Basis.HOST_DISK})
# Refusals that concern only the action refused: another listed action may still run.
PASSABLE = APPROVABLE | {RefusalReason.ALREADY_IN_FORCE}
BUSY_DETAIL = "another action is running on it"
HOLD_WORDS = {
    HoldReason.PLAYBOOK_EMPTY: "nothing automatic for this type ({detail})",
    HoldReason.DEPLOY_WINDOW: "no restart during a deploy window ({detail}); "
    "a rollback is for a human to decide",
    HoldReason.NOTHING_FITS: "no safe action fits ({detail})",
    HoldReason.ALL_TRIED: "nothing more it may try on its own",
}
AFTER_DECISION = {
    RecommendationStatus.REJECTED: "a person's call: recommendation #{id} was rejected{who}; "
    "calmopsd keeps watching.",
    RecommendationStatus.APPROVED: "carry out recommendation #{id} (approved{who}) and "
    "resolve the incident once it holds.",
    RecommendationStatus.EXECUTED: "see that it holds: recommendation #{id} was carried out{who}.",
    RecommendationStatus.EXPIRED: "a person's call: recommendation #{id} expired unanswered; "
    "calmopsd keeps watching.",
}
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class SeriesFacts:
    """The detector's view of one series, as the decisions read it."""

    state: State
    reported: bool = True  # still in the latest readings
    last_seen: datetime | None = None


Series = Mapping[SeriesKey, SeriesFacts]


@dataclass(frozen=True)
class Surroundings:
    """What the host looked like when the decision was made (gathered by the agent)."""

    deployed_app: str | None = None  # the app deployed last, among the incident's
    deploy: dict[str, Any] | None = None  # its deploy marker ({"from": …, "to": …})
    top_processes: list[Any] | None = None  # for a memory incident's evidence


NOTHING_AROUND = Surroundings()


def rank(severity: Severity) -> int:
    """Severities in order, so a worse breach can raise an incident's severity."""
    return _SEVERITY_RANK[Severity(severity)]


def firing(tracked: Tracked, series: Series) -> list[SeriesKey]:
    """The incident's series that fire and are still reported, in order."""
    return sorted(k for k in tracked.series if _fires(series.get(k)))


def _fires(facts: SeriesFacts | None) -> bool:
    return facts is not None and facts.state is State.FIRING and facts.reported


# -- a confirmed breach ---------------------------------------------------------------


def breach_decision(
    breach: Breach,
    found: Incident | None,
    tracked: Tracked | None,
    *,
    classification: Classification,
    problem: Problem,
    settings: IncidentsConfig,
    base_hold: timedelta,
    surroundings: Surroundings = NOTHING_AROUND,
) -> Decision:
    """Join the unresolved incident of the same problem, reopen one resolved within
    ``reopen_within`` (``found``, looked up by fingerprint), or open a new one."""
    key: SeriesKey = (breach.rule, breach.labels)
    if found is not None and found.status is not IncidentStatus.RESOLVED:
        return join_decision(breach, found, tracked, base_hold)
    cause = None if classification.basis in PLAIN_BASES else classification.detail
    if found is not None:
        flap = found.resolution == Resolution.RECOVERED
        within = format_duration(settings.reopen_within)
        how = "recovering" if flap else f"being resolved ({found.resolution})"
        hold = flapped_hold(base_hold, found.flaps + int(flap), settings)
        reopened = Reopen(
            found, breach, dict(problem.resource), flap,
            f"{breach.rule} breached again within {within} of {how}", hold,
        )  # fmt: skip
        effects: tuple[Effect, ...] = (
            reopened,
            SymptomReturned(found.id),
            Note(found.id, {"cause": cause}),
            Track(found.id, key),
        )
        why = Why.REOPENED_FLAPPING if flap else Why.REOPENED_AFTER_RESOLVED
        return Decision(why, effects, Then.STABILIZE)
    opened = OpenIncident(
        breach,
        problem,
        classification,
        title(breach, problem),
        evidence(breach, classification, surroundings),
        base_hold,
        cause,
    )
    return Decision(Why.OPENED, (opened,), Then.STABILIZE)


def join_decision(
    breach: Breach, found: Incident, tracked: Tracked | None, base_hold: timedelta
) -> Decision:
    """A repeated or further breach of an unresolved problem: an event, never a duplicate."""
    key: SeriesKey = (breach.rule, breach.labels)
    effects: list[Effect] = []
    if tracked is None:  # opened before a restart: take it over
        effects.append(TakeOver(found, breach, _resource_of(found), base_hold))
    effects += [
        Track(found.id, key),
        Note(found.id, {"clearing_since": None}),
        AddBreach(found.id, breach),
    ]
    if rank(breach.severity) > rank(found.severity):
        effects.append(Escalate(found.id, breach.severity, f"{breach.rule} is {breach.severity}"))
    effects.append(Summarize(found.id))
    return Decision(Why.TAKEN_OVER if tracked is None else Why.JOINED, tuple(effects))


def flapped_hold(base: timedelta, flaps: int, settings: IncidentsConfig) -> timedelta:
    """A flapping incident's clear hold grows with every flap, up to ``max_clear_hold``."""
    if not flaps:
        return base
    return min(base * (settings.flap_hold_growth**flaps), settings.max_clear_hold)


def title(breach: Breach, problem: Problem) -> str:
    where = ", ".join(f"{k} {v}" for k, v in problem.resource)
    return f"{breach.rule} ({where})" if where else breach.rule


def evidence(breach: Breach, decided: Classification, surroundings: Surroundings) -> dict[str, Any]:
    """What a new incident keeps of why it opened (for a memory incident, the processes
    holding the most memory right now)."""
    kept: dict[str, Any] = {
        "breach": breach_evidence(breach),
        "classification": {"type": decided.type, "basis": decided.basis, "detail": decided.detail},
    }
    if decided.type is IncidentType.MEMORY and surroundings.top_processes:
        kept["top_processes"] = surroundings.top_processes
    return kept


def breach_evidence(breach: Breach) -> dict[str, Any]:
    return {
        "rule": breach.rule,
        "labels": dict(breach.labels),
        "value": breach.value,
        "severity": breach.severity,
        "started_at": breach.started_at.isoformat(),
        **breach.evidence,
    }


def _resource_of(incident: Incident) -> dict[str, str]:
    return resource_of(incident.fingerprint)


# -- a transition of a series the incident owns ---------------------------------------


def transition_decision(
    t: Transition, tracked: Tracked | None, series: Series, settings: IncidentsConfig
) -> Decision:
    """What a non-confirming transition of one series changes about its incident."""
    if tracked is None:
        return Decision(Why.NOT_TRACKED)
    incident_id, key = tracked.incident.id, (t.rule, t.labels)
    current: tuple[Effect, ...] = ()
    if key == tracked.headline and t.value is not None:
        current = (Note(incident_id, {"current": t.value}),)
    if t.reason is Reason.ESCALATED:
        if t.breach is None or rank(t.breach.severity) <= rank(tracked.incident.severity):
            return Decision(Why.NOT_WORSE, current)
        why = f"{t.rule} passed its critical threshold"
        escalate = Escalate(incident_id, t.breach.severity, why, headline=t.breach)
        return Decision(Why.ESCALATED, (*current, escalate, Summarize(incident_id)))
    if t.reason is Reason.CLEAR_STARTED:
        clearing: tuple[Effect, ...] = ()
        if all(f.state is not State.FIRING for k, f in series.items() if k in tracked.series):
            clearing = (Note(incident_id, {"clearing_since": t.at}),)
        return Decision(Why.CLEAR_STARTED, (*current, *clearing, Summarize(incident_id)))
    if t.reason is Reason.CLEAR_ABORTED:
        aborted = (*current, Note(incident_id, {"clearing_since": None}), Summarize(incident_id))
        back = monitoring_decision(tracked, series, t.at)  # back in breach after monitor_for
        if back.why is Why.NOT_HOLDING:
            return Decision(Why.NOT_HOLDING, (*aborted, *back.effects), back.then)
        return Decision(Why.CLEAR_ABORTED, aborted)
    if t.reason in (Reason.CLEARED, Reason.VANISHED):
        ended = (*current, EndSeries(incident_id, key))
        if tracked.series - {key}:
            return Decision(Why.SERIES_ENDED, ended)
        how = Resolution.RECOVERED if t.reason is Reason.CLEARED else Resolution.VANISHED
        why = Why.RECOVERED if how is Resolution.RECOVERED else Why.VANISHED
        return Decision(why, (*ended, *resolve_effects(tracked, how)))
    return Decision(Why.UNCHANGED, current)


def resolve_effects(tracked: Tracked, how: Resolution) -> tuple[Effect, ...]:
    """Resolve a tracked incident and stop tracking it; not recovered: its series must
    confirm afresh if the breach goes on."""
    incident = tracked.incident
    moved: tuple[Effect, ...] = ()
    if incident.status is not IncidentStatus.RESOLVED:
        moved = (Move(incident.id, incident.status, IncidentStatus.RESOLVED, how),)
    quiet = {"clearing_since": None, "monitor_until": None, "next_step": None}
    return (
        *moved,
        Note(incident.id, quiet),
        Summarize(incident.id),
        Untrack(incident.id, forget=how is not Resolution.RECOVERED),
    )


# -- monitoring and replanning, on the clock -------------------------------------------


def monitoring_decision(tracked: Tracked, series: Series, now: datetime) -> Decision:
    """Once ``monitor_for`` is over, a breach firing again means the action did not hold."""
    incident = tracked.incident
    if incident.status is not IncidentStatus.MONITORING:
        return Decision(Why.UNCHANGED)
    if tracked.monitor_until is not None and now < tracked.monitor_until:
        return Decision(Why.WATCHING)
    again = firing(tracked, series)
    if not again:
        return Decision(Why.QUIET)  # clearing (it resolves when the clear holds), or unreported
    effects = (
        Note(incident.id, {"monitor_until": None}),
        Move(incident.id, IncidentStatus.MONITORING, IncidentStatus.OPEN),
        Record("incident.not_holding", {"still_firing": [r for r, _ in again]}, incident.id),
        SymptomReturned(incident.id),
    )
    return Decision(Why.NOT_HOLDING, effects, Then.STABILIZE)


def replan_decision(tracked: Tracked, series: Series) -> Decision:
    """After an interrupted action: plan again once a reading shows it still fires."""
    if not tracked.replan or tracked.incident.status is not IncidentStatus.OPEN:
        return Decision(Why.UNCHANGED)
    if not firing(tracked, series):
        return Decision(Why.WATCHING)
    return Decision(Why.REPLANNED, (Note(tracked.incident.id, {"replan": False}),), Then.STABILIZE)


def stale_decision(
    incident: Incident, tracked: Tracked | None, series: Series, cutoff: datetime
) -> Decision:
    """No news of the problem since ``cutoff``: stale_resolved, not proof of recovery.

    News is a breach, or a reading that still shows one of its series in breach;
    a sampler that fell silent leaves its series firing with no news.
    """
    if incident.fingerprint.startswith(MANUAL_FINGERPRINT):
        return Decision(Why.MANUAL)
    if tracked is not None and any(
        f.state in (State.FIRING, State.CLEARING) and (f.last_seen or cutoff) > cutoff
        for k, f in series.items()
        if k in tracked.series
    ):
        return Decision(Why.HAS_NEWS)
    if (incident.last_breach_at or incident.opened_at) > cutoff:
        return Decision(Why.HAS_NEWS)
    if tracked is not None:
        return Decision(Why.STALE, resolve_effects(tracked, Resolution.STALE_RESOLVED))
    move = Move(incident.id, incident.status, IncidentStatus.RESOLVED, Resolution.STALE_RESOLVED)
    return Decision(Why.STALE, (move,))


# -- stabilizing ---------------------------------------------------------------------


def stabilize_decision(
    tracked: Tracked, choice: Step | Hold, surroundings: Surroundings = NOTHING_AROUND
) -> Decision:
    """Request the playbook's choice, or say why none (approving the action refused
    earlier this round is then the better question); the summary follows."""
    incident_id = tracked.incident.id
    if isinstance(choice, Step):
        begun = begin_decision(tracked, choice, ACTOR, pass_over=True)
        return replace(begun, effects=(*begun.effects, Summarize(incident_id)))
    effects: list[Effect] = [Note(incident_id, {"passed": None})]
    if tracked.passed is not None:
        step, outcome = tracked.passed
        effects += refused_effects(tracked, tracked.incident, step, outcome)
        why = Why.ASKED_FOR_REFUSED
    else:
        effects += hold_effects(tracked, choice, surroundings)
        why = Why.HELD
    return Decision(why, (*effects, Summarize(incident_id)), detail=choice.detail, hold=choice)


def begin_decision(tracked: Tracked, step: Step, actor: str, *, pass_over: bool) -> Decision:
    """Request one step; refused at once only when it cannot even be requested."""
    incident = tracked.incident
    if tracked.pending is not None:  # a person moved it on while the action still runs
        return Decision(Why.BUSY, detail=BUSY_DETAIL)
    if incident.status is not IncidentStatus.OPEN:
        # Someone else holds it (a person, a racing approval): do not act behind them.
        return Decision(Why.NOT_OPEN, detail=f"the incident is {incident.status}")
    requested = {"action": step.action, "params": step.params, "reason": step.reason}
    effects = (
        Move(incident.id, IncidentStatus.OPEN, IncidentStatus.STABILIZING),
        # Committed before the executor runs, so the request shows even if the action hangs.
        Record("action.requested", requested, incident.id),
        RequestAction(incident.id, step, actor, pass_over),
    )
    return Decision(Why.REQUESTED, effects)


def hold_effects(tracked: Tracked, hold: Hold, surroundings: Surroundings) -> list[Effect]:
    incident = tracked.incident
    proposal = propose(
        incident,
        with_app(tracked.resource, tracked.done),
        sorted(tracked.series),
        hold=hold,
        deployed_app=surroundings.deployed_app,
        deploy=surroundings.deploy,
    )
    return [
        Note(incident.id, {"not_done": HOLD_WORDS[hold.reason].format(detail=hold.detail)}),
        Record("incident.held", {"reason": hold.reason, "detail": hold.detail}, incident.id),
        *_ask(tracked, proposal),
    ]


def refused_effects(
    tracked: Tracked, incident: Incident, step: Step, outcome: ActionOutcome
) -> list[Effect]:
    """A shadowed or refused step: say what was not done, and ask a person about it."""
    words = action_words(step.action, step.params)
    series = sorted(tracked.series)
    if outcome.status in (OutcomeStatus.SHADOW, OutcomeStatus.DRY_RUN):
        how = "shadow mode" if outcome.status is OutcomeStatus.SHADOW else "dry run"
        note = f"would {words}; {how}, nothing ran"
        proposal = propose(incident, tracked.resource, series, shadowed=step)
    elif outcome.status is OutcomeStatus.REFUSED:
        note = f"did not {words}: {outcome.detail or 'refused by the executor'}"
        proposal = propose(
            incident, tracked.resource, series, refused=step,
            refusal_reason=outcome.reason, refusal_detail=outcome.detail,
        )  # fmt: skip
    else:
        return []  # failed: the next action is tried
    return [Note(incident.id, {"not_done": note}), *_ask(tracked, proposal)]


def _ask(tracked: Tracked, proposal: Proposal | None) -> list[Effect]:
    """Once per incident: the same advice is not asked for twice."""
    if proposal is None or proposal.key in tracked.proposed:
        return []
    return [Ask(tracked.incident.id, proposal)]


def with_app(resource: dict[str, str], done: list[Done] | tuple[Done, ...]) -> dict[str, str]:
    """The incident's labels, plus the app the agent restarted for it (the one whose
    limit a person may want to raise)."""
    restarted = [d.params["app"] for d in done if "app" in d.params]
    return {**resource, "app": restarted[-1]} if restarted else dict(resource)


# -- an action's outcome --------------------------------------------------------------


def passable(outcome: ActionOutcome) -> bool:
    return outcome.status is OutcomeStatus.REFUSED and outcome.reason in PASSABLE


def outcome_decision(
    tracked: Tracked | None,
    request: ActionRequest | None,
    outcome: ActionOutcome,
    at: datetime,
    settings: IncidentsConfig,
) -> Decision:
    """The outcome of the action in flight on ``tracked`` is in: record it and go on.

    ``request`` None: the outcome of the pending action whatever its request (one
    that finished while calmopsd was stopped).
    """
    pending = tracked.pending if tracked is not None else None
    if tracked is None or pending is None or pending.request not in (request, None):
        return Decision(Why.NOT_PENDING)
    incident, step = tracked.incident, pending.step
    done = Done(step.action, step.params, at, outcome.status, outcome.detail)
    effects: list[Effect] = [
        Note(incident.id, {"pending": None}),
        RecordOutcome(incident.id, step, outcome, pending.actor),
    ]
    status = incident.status
    if status is IncidentStatus.STABILIZING:
        status, moved = _took(tracked, pending, outcome, done, at, settings)
        effects += moved
    if not pending.pass_over:
        if outcome.status is OutcomeStatus.FAILED:  # the approved step is not "carried out"
            words = action_words(step.action, step.params)
            said = clip(outcome.detail or "no detail", 80)
            next_step = (
                f"a person's call: {words} was approved but failed ({said}); "
                "calmopsd keeps watching."
            )
            effects.append(Note(incident.id, {"next_recommendation": None, "next_step": next_step}))
        return Decision(Why.PERSON_STEP_DONE, (*effects, Summarize(incident.id)))
    why = _outcome_why(outcome)
    if passable(outcome):
        if outcome.reason in APPROVABLE:  # "already in force" is nothing to approve
            effects.append(Note(incident.id, {"passed": tracked.passed or (step, outcome)}))
    elif outcome.status is not OutcomeStatus.FAILED:
        effects += [Note(incident.id, {"passed": None}), Summarize(incident.id)]
        return Decision(why, tuple(effects))
    if incident.status is not IncidentStatus.STABILIZING:
        why = Why.MOVED_MEANWHILE
    if status is IncidentStatus.OPEN:
        return Decision(why, tuple(effects), Then.STABILIZE)  # the next action, or why none
    return Decision(why, (*effects, Summarize(incident.id)))


def _outcome_why(outcome: ActionOutcome) -> Why:
    if outcome.worked:
        return Why.WORKED
    if outcome.status is OutcomeStatus.FAILED:
        return Why.FAILED
    if passable(outcome):
        return Why.PASSED_OVER
    if outcome.status is OutcomeStatus.REFUSED:
        return Why.REFUSED
    return Why.SHADOWED


def _took(
    tracked: Tracked,
    pending: Pending,
    outcome: ActionOutcome,
    done: Done,
    at: datetime,
    settings: IncidentsConfig,
) -> tuple[IncidentStatus, list[Effect]]:
    """Move the incident on from ``stabilizing``; the status it ends in, and how."""
    incident, step = tracked.incident, pending.step
    if outcome.worked:
        watched = replace(incident, status=IncidentStatus.MONITORING)
        proposal = propose(
            watched,
            with_app(tracked.resource, [*tracked.done, done]),
            sorted(tracked.series),
            stabilized=True,
        )
        effects: list[Effect] = [
            Move(incident.id, IncidentStatus.STABILIZING, IncidentStatus.MONITORING),
            Note(incident.id, {"monitor_until": at + settings.monitor_for, "not_done": None}),
            *_ask(tracked, proposal),
        ]
        return IncidentStatus.MONITORING, effects
    effects = [Move(incident.id, IncidentStatus.STABILIZING, IncidentStatus.OPEN)]
    reopened = replace(incident, status=IncidentStatus.OPEN)
    if outcome.status is OutcomeStatus.FAILED and incident.severity is not Severity.CRITICAL:
        # A stabilization that failed or could not be verified needs a person sooner.
        why = f"{step.action} failed: {outcome.detail}"[:200]
        effects.append(Escalate(incident.id, Severity.CRITICAL, why))
        reopened = replace(reopened, severity=Severity.CRITICAL)
    if not (pending.pass_over and passable(outcome)):
        effects += refused_effects(tracked, reopened, step, outcome)
    return IncidentStatus.OPEN, effects


# -- a person's approval ---------------------------------------------------------------


def approved_decision(tracked: Tracked, step: Step, actor: str) -> Decision:
    """A person approved ``step``: the same path as the agent's own, with their name."""
    incident = tracked.incident
    if incident.status is IncidentStatus.STABILIZING:
        return Decision(Why.APPROVED_REFUSED, detail=BUSY_DETAIL)
    effects: tuple[Effect, ...] = ()
    if incident.status is IncidentStatus.MONITORING:
        effects = (Move(incident.id, IncidentStatus.MONITORING, IncidentStatus.OPEN),)
        tracked = replace(tracked, incident=replace(incident, status=IncidentStatus.OPEN))
    begun = begin_decision(tracked, step, actor, pass_over=False)
    why = Why.APPROVED_REQUESTED if begun.why is Why.REQUESTED else Why.APPROVED_REFUSED
    return Decision(why, (*effects, *begun.effects, Summarize(incident.id)), detail=begun.detail)


# -- a person's change -----------------------------------------------------------------


def follow_decision(
    tracked: Tracked,
    stored: Incident | None,
    recommendation: Recommendation | None,
    *,
    resolution_note: str | None,
    settings: IncidentsConfig,
    now: datetime,
) -> Decision:
    """A person changed the incident (``stored``) or decided the recommendation its next
    step points at: follow it, and rewrite the summary where it no longer says what is."""
    incident_id = tracked.incident.id
    if stored is None:
        return Decision(Why.GONE, (Untrack(incident_id, forget=True),))
    effects: list[Effect] = [Note(incident_id, {"incident": stored})]
    # Against what the summary was written from: a change landing while it was being
    # written is still seen.
    moved = (stored.status, stored.severity) != tracked.summarized
    decided = recommendation_followed(tracked, recommendation)
    effects += decided
    if stored.status is IncidentStatus.RESOLVED:
        quiet = {
            "clearing_since": None,
            "monitor_until": None,
            "next_step": None,
            "next_recommendation": None,
            "resolution_note": resolution_note,
        }
        effects += [Note(incident_id, quiet), Summarize(incident_id)]
        return Decision(Why.PERSON_RESOLVED, (*effects, Untrack(incident_id, forget=True)))
    why = Why.PERSON_CHANGED if moved else Why.RECOMMENDATION_DECIDED if decided else None
    watched = tracked.summarized is not None and tracked.summarized[0] == stored.status
    if stored.status is IncidentStatus.MONITORING and not (watched and tracked.monitor_until):
        effects.append(Note(incident_id, {"monitor_until": now + settings.monitor_for}))
        why = Why.PERSON_WATCHES
    if moved or decided:
        effects.append(Summarize(incident_id))
    return Decision(why or Why.NOTHING_NEW, tuple(effects))


def recommendation_followed(
    tracked: Tracked, recommendation: Recommendation | None
) -> list[Effect]:
    """The recommendation the next step points at was decided since: say what follows."""
    if tracked.next_recommendation is None or recommendation is None:
        return []
    if recommendation.status is RecommendationStatus.PROPOSED:
        return []
    by = recommendation.decided_by
    who = f" by {by}" if by and by != ACTOR else ""
    next_step = AFTER_DECISION[recommendation.status].format(id=recommendation.id, who=who)
    return [Note(tracked.incident.id, {"next_recommendation": None, "next_step": next_step})]


# -- after a restart -------------------------------------------------------------------


@dataclass(frozen=True)
class LastRequest:
    """An incident's last ``action.requested`` (its data; empty if none) and the events
    after it: what a restart reads to tell how that request ended."""

    data: dict[str, Any]
    since: tuple[AuditEvent, ...]

    @property
    def said_interrupted(self) -> bool:
        return any(e.kind == "action.interrupted" for e in self.since)

    @property
    def recorded(self) -> bool:
        return any(e.kind == "action.recorded" for e in self.since)


def last_request(events: list[AuditEvent]) -> LastRequest:
    requested = [e for e in events if e.kind == "action.requested"]
    if not requested:
        return LastRequest({}, tuple(events))
    last = requested[-1]
    return LastRequest(last.data, tuple(e for e in events if e.seq > last.seq))


def interrupted_note(requested: dict[str, Any]) -> str:
    """What the summary says of the action an ``action.requested`` event asked for, cut
    short by a stop or crash."""
    action, params = requested.get("action"), requested.get("params")
    params = params if isinstance(params, dict) else {}
    known = action in set(SafeAction)
    what = action_words(SafeAction(str(action)), params) if known else "an action"
    return clip(f"{what} was interrupted: calmopsd stopped while it ran", 160)


@dataclass(frozen=True)
class Resumable:
    """What the store holds of an unresolved incident a previous agent left."""

    incident: Incident
    last: LastRequest  # its last action request and what followed it
    done: tuple[Done, ...] = ()  # its action rows, oldest first
    in_flight: Pending | None = None  # the previous agent's action, still running (a reload)
    owned: bool = False  # another tracked incident already owns its series


def resume_decision(
    left: Resumable, rules: Mapping[str, timedelta], settings: IncidentsConfig
) -> Decision:
    """Take over an unresolved incident a previous agent (before a restart or a reload)
    left, so that its recovery is seen and not mistaken for staleness; an action cut
    short by a stop or crash leaves it actionable (``open``) again.

    ``rules``: the clear hold of each rule of this rule set, by name.
    """
    incident, last = left.incident, left.last
    breach = stored_breach(incident)
    stabilizing = incident.status is IncidentStatus.STABILIZING
    if breach is None or breach.rule not in rules or left.owned:
        # Not this rule set's: it ends stale unless someone resolves it; but no action of
        # this agent's runs on it, so it is not left stabilizing.
        if stabilizing and left.in_flight is None:
            back = (*_said_interrupted(incident, last), _back_open(incident))
            return Decision(Why.FOREIGN_INTERRUPTED, back)
        return Decision(Why.FOREIGN)
    key: SeriesKey = (breach.rule, breach.labels)
    hold = flapped_hold(rules[breach.rule], incident.flaps, settings)
    taken = TakeOver(incident, breach, resource_of(incident.fingerprint), hold, frozenset({key}))
    restored = {"done": list(left.done), "tried": {d.action for d in left.done}}
    effects: list[Effect] = [taken, Note(incident.id, restored)]
    if not stabilizing:
        if last.data and last.said_interrupted and not last.recorded:
            effects.append(Note(incident.id, {"not_done": interrupted_note(last.data)}))
        return Decision(Why.RESUMED, (*effects, Summarize(incident.id)))
    if left.in_flight is not None:  # a reload: the previous agent's action still runs
        effects.append(Note(incident.id, {"pending": left.in_flight}))
        return Decision(Why.RESUMED_IN_FLIGHT, (*effects, Summarize(incident.id)))
    finished = finished_meanwhile(last)
    if finished is not None:
        # The executor wrote the action's result and calmopsd stopped before taking it
        # up: take it up now, rather than calling a finished action interrupted.
        pending, outcome = finished
        effects.append(Note(incident.id, {"pending": pending}))
        return Decision(Why.FINISHED_MEANWHILE, tuple(effects), outcome)
    interrupted = {"pending": None, "replan": True, "not_done": interrupted_note(last.data)}
    effects += [
        *_said_interrupted(incident, last),
        _back_open(incident),
        Note(incident.id, interrupted),
        Summarize(incident.id),
    ]
    return Decision(Why.INTERRUPTED, tuple(effects))


def finished_meanwhile(last: LastRequest) -> tuple[Pending, ActionOutcome] | None:
    """The action the last request asked for, and its result, if the executor wrote one."""
    executed = [e for e in last.since if e.kind == "action.executed"]
    action, params = last.data.get("action"), last.data.get("params")
    if not executed or action not in set(SafeAction) or not isinstance(params, dict):
        return None
    result = executed[-1]
    try:
        status = OutcomeStatus(str(result.data.get("status")))
    except ValueError:
        return None
    step = Step(SafeAction(str(action)), params, str(last.data.get("reason") or ""))
    pending = Pending(step, result.actor, pass_over=result.actor == ACTOR)
    return pending, ActionOutcome(status, str(result.data.get("detail") or ""))


def _said_interrupted(incident: Incident, last: LastRequest) -> tuple[Effect, ...]:
    """Cut short before the executor wrote its intent (or never reached it): the executor
    has nothing to record, so the agent says it."""
    if last.said_interrupted:
        return ()
    data = {"action": last.data.get("action"), "params": last.data.get("params") or {}}
    return (Record("action.interrupted", data, incident.id),)


def _back_open(incident: Incident) -> Move:
    reason = {"reason": "calmopsd stopped while an action ran on it"}
    return Move(incident.id, IncidentStatus.STABILIZING, IncidentStatus.OPEN, data=reason)


def stored_breach(incident: Incident) -> Breach | None:
    """The opening breach, as :func:`breach_evidence` stored it on the incident."""
    stored = incident.evidence.get("breach")
    if not isinstance(stored, dict) or not isinstance(stored.get("rule"), str):
        return None
    labels = tuple(sorted((str(k), str(v)) for k, v in (stored.get("labels") or {}).items()))
    try:
        started = datetime.fromisoformat(str(stored.get("started_at")))
    except ValueError:
        started = incident.opened_at
    kept = ("sampler", "metric", "op", "threshold", "value", "volume")
    return Breach(
        rule=stored["rule"],
        type=incident.type,
        severity=incident.severity,
        labels=labels,
        value=stored.get("value"),
        started_at=started,
        confirmed_at=incident.opened_at,
        evidence={k: stored[k] for k in kept if k in stored},
    )
