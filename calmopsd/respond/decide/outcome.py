"""An action's outcome: monitoring when it worked, the next fitting action when it
failed or was refused for itself alone, a person asked when nothing else is left."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.model import (
    ActionOutcome,
    ActionRequest,
    IncidentStatus,
    OutcomeStatus,
    Severity,
)
from calmopsd.respond.decide.facts import (
    passable,
)
from calmopsd.respond.decide.stabilizing import ask_once, refused_effects, with_app
from calmopsd.respond.decision import (
    Decision,
    Effect,
    Escalate,
    Move,
    Note,
    RecordOutcome,
    Summarize,
    Then,
    Why,
)
from calmopsd.respond.recommend import APPROVABLE, action_words, propose
from calmopsd.respond.summary import Done, clip
from calmopsd.respond.tracked import Pending, Tracked


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
            *ask_once(tracked, proposal),
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
