"""Stabilize first: request the playbook's choice or say why none, and a person's
approved step down the same path."""

from __future__ import annotations

from dataclasses import replace

from calmopsd.model import (
    ActionOutcome,
    Incident,
    IncidentStatus,
    OutcomeStatus,
)
from calmopsd.respond.decide.facts import (
    ACTOR,
    BUSY_DETAIL,
    NOTHING_AROUND,
    Surroundings,
)
from calmopsd.respond.decision import (
    Ask,
    Decision,
    Effect,
    Move,
    Note,
    Record,
    RequestAction,
    Summarize,
    Why,
)
from calmopsd.respond.playbook import Hold, HoldReason, Step
from calmopsd.respond.recommend import Proposal, action_words, propose
from calmopsd.respond.summary import Done
from calmopsd.respond.tracked import Tracked

HOLD_WORDS = {
    HoldReason.PLAYBOOK_EMPTY: "nothing automatic for this type ({detail})",
    HoldReason.DEPLOY_WINDOW: "no restart during a deploy window ({detail}); "
    "a rollback is for a human to decide",
    HoldReason.NOTHING_FITS: "no safe action fits ({detail})",
    HoldReason.ALL_TRIED: "nothing more it may try on its own",
}


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
        *ask_once(tracked, proposal),
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
    return [Note(incident.id, {"not_done": note}), *ask_once(tracked, proposal)]


def ask_once(tracked: Tracked, proposal: Proposal | None) -> list[Effect]:
    """Once per incident: the same advice is not asked for twice."""
    if proposal is None or proposal.key in tracked.proposed:
        return []
    return [Ask(tracked.incident.id, proposal)]


def with_app(resource: dict[str, str], done: list[Done] | tuple[Done, ...]) -> dict[str, str]:
    """The incident's labels, plus the app the agent restarted for it (the one whose
    limit a person may want to raise)."""
    restarted = [d.params["app"] for d in done if "app" in d.params]
    return {**resource, "app": restarted[-1]} if restarted else dict(resource)


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
