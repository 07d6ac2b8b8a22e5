"""Stabilize first: ask the executor for the playbook's next action, and read the answer.

The incident goes to ``stabilizing`` while an action runs. A verified success
moves it to ``monitoring`` for ``monitor_for``; a failure puts it back to
``open`` and the next fitting action is tried. A refusal that is about that
one action (its budget or cooldown spent, its target busy, already in force)
also lets the next fitting action be tried, and a human is asked to approve the
refused one only when nothing else worked. A refusal of every action (paused,
not allowed) or a shadow run puts it back to ``open`` and asks a human at once.
Whatever the agent does not do, it says why (a
:class:`~calmopsd.respond.playbook.Hold`).

Nothing here waits for an action: choosing a step records ``action.requested``,
moves the incident to ``stabilizing`` and leaves an :class:`ActionRequest` in
the agent's outbox; the executor's worker runs it off the agent's thread and
its outcome comes back as an input (:meth:`Stabilizer.finish`), which carries
on where the step left off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from calmopsd.config.incidents import PlaybookConfig
from calmopsd.detect import State
from calmopsd.detect.classify import UNREACHABLE
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    ActionRequest,
    AuditEvent,
    Executor,
    IncidentStatus,
    OutcomeStatus,
    RecommendationStatus,
    RefusalReason,
    SafeAction,
    Severity,
)
from calmopsd.record.incidents import add_action
from calmopsd.record.recommendations import add_recommendation, list_recommendations
from calmopsd.respond.playbook import Hold, HoldReason, Situation, Step, choose
from calmopsd.respond.recommend import APPROVABLE, Proposal, action_words, propose
from calmopsd.respond.summary import Done, clip
from calmopsd.respond.tracked import Pending, Tracked

if TYPE_CHECKING:
    from calmopsd.respond.agent import Agent

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT
# Refusals that concern only the action refused: another listed action may still run.
PASSABLE = APPROVABLE | {RefusalReason.ALREADY_IN_FORCE}
_HOLD_WORDS = {
    HoldReason.PLAYBOOK_EMPTY: "nothing automatic for this type ({detail})",
    HoldReason.DEPLOY_WINDOW: "no restart during a deploy window ({detail}); "
    "a rollback is for a human to decide",
    HoldReason.NOTHING_FITS: "no safe action fits ({detail})",
    HoldReason.ALL_TRIED: "nothing more it may try on its own",
}


class Stabilizer:
    def __init__(self, agent: Agent, playbook: PlaybookConfig, executor: Executor) -> None:
        self.agent = agent
        self.playbook = playbook
        self.executor = executor

    def stabilize(self, tracked: Tracked, at: datetime) -> None:
        """Request the playbook's next fitting action, or say why none; then refresh.

        The outcome comes back through :meth:`finish`, which calls this again while
        an action failed or was refused for itself alone (every try adds to
        ``tried``, so the round is bounded).
        """
        choice = choose(
            list(getattr(self.playbook, tracked.incident.type.value)),
            self._situation(tracked),
            frozenset(tracked.tried),
        )
        if isinstance(choice, Hold):
            passed, tracked.passed = tracked.passed, None
            if passed is not None:  # approving the refused action is the better question
                self._after_no(tracked, *passed, at)
            else:
                self._hold(tracked, choice, at)
        else:
            self._begin(tracked, choice, at, pass_over=True)
        self.agent.refresh(tracked, at)

    def check_monitoring(self, tracked: Tracked, now: datetime) -> None:
        """Once ``monitor_for`` is over, a breach firing again means the action did not hold.

        Called on every tick and when a clear is aborted: an incident that was
        clearing when the window ended is caught the moment it fires again.
        """
        incident = tracked.incident
        if incident.status is not IncidentStatus.MONITORING:
            return
        if tracked.monitor_until is not None and now < tracked.monitor_until:
            return
        detector = self.agent.detector
        firing = [
            k
            for k in tracked.series
            if detector.state(*k) is State.FIRING and detector.reported(*k)
        ]
        if not firing:
            return  # clearing (it resolves when the clear holds), or no longer reported
        tracked.monitor_until = None
        if self.agent.move(tracked, IncidentStatus.OPEN, now):
            self.agent.event(
                "incident.not_holding",
                now,
                {"still_firing": [rule for rule, _ in sorted(firing)]},
                incident.id,
            )
            self.symptom_returned(tracked, now)
            self.stabilize(tracked, now)

    def symptom_returned(self, tracked: Tracked, now: datetime) -> None:
        """Tell the executor: what worked on this incident shortly before did not hold."""
        try:
            self.executor.symptom_returned(tracked.incident.id, now)
        except Exception:  # the executor's bookkeeping must not stop the response
            log.exception("action.ineffective_failed", incident_id=tracked.incident.id)

    def run_approved(
        self, tracked: Tracked, step: Step, at: datetime, actor: str
    ) -> ActionOutcome | None:
        """A person approved ``step``: the same path as the agent's own, with their name.

        None once the request is in the outbox; an outcome at once if it cannot be made.
        """
        if tracked.incident.status is IncidentStatus.MONITORING:
            self.agent.move(tracked, IncidentStatus.OPEN, at)
        refused = self._begin(tracked, step, at, actor)
        self.agent.refresh(tracked, at)
        return refused

    def finish(self, tracked: Tracked, outcome: ActionOutcome, at: datetime) -> None:
        """The outcome of the action in flight on ``tracked`` is in: take it, go on."""
        pending, tracked.pending = tracked.pending, None
        if pending is None:
            return
        step, actor, pass_over = pending.step, pending.actor, pending.pass_over
        self._took(tracked, step, outcome, at, actor, pass_over=pass_over)
        if not pass_over:
            if outcome.status is OutcomeStatus.FAILED:  # the approved step is not "carried out"
                words = action_words(step.action, step.params)
                tracked.next_recommendation = None
                tracked.next_step = (
                    f"a person's call: {words} was approved but failed "
                    f"({clip(outcome.detail or 'no detail', 80)}); calmopsd keeps watching."
                )
            self.agent.refresh(tracked, at)
            return
        if _passable(outcome):
            if outcome.reason in APPROVABLE:  # "already in force" is nothing to approve
                tracked.passed = tracked.passed or (step, outcome)
        elif outcome.status is not OutcomeStatus.FAILED:
            tracked.passed = None
            self.agent.refresh(tracked, at)
            return
        if tracked.incident.status is IncidentStatus.OPEN:
            self.stabilize(tracked, at)  # the next fitting action, or why none
        else:
            self.agent.refresh(tracked, at)

    def interrupted(self, tracked: Tracked, note: str, at: datetime) -> None:
        """calmopsd stopped while an action ran on it: the incident is actionable again.

        The interrupted run counts against its action's budget and cooldown (its
        intent is in the log), so trying it again soon is refused and the playbook's
        next action, or a person, takes over at the next planning.
        """
        if tracked.incident.status is IncidentStatus.STABILIZING:
            self.agent.move(tracked, IncidentStatus.OPEN, at)
        tracked.pending = None
        tracked.replan = True
        tracked.not_done = note

    # -- one action ---------------------------------------------------------------

    def _begin(
        self,
        tracked: Tracked,
        step: Step,
        at: datetime,
        actor: str = ACTOR,
        *,
        pass_over: bool = False,
    ) -> ActionOutcome | None:
        """Request one step (``pass_over``: a passable refusal is the caller's to ask
        about); an outcome at once only when it cannot even be requested."""
        agent, incident = self.agent, tracked.incident
        if tracked.pending is not None:  # a person moved it on while the action still runs
            return ActionOutcome(OutcomeStatus.REFUSED, "another action is running on it")
        if incident.status is not IncidentStatus.OPEN or not agent.move(
            tracked, IncidentStatus.STABILIZING, at
        ):
            # Someone else holds it (a person, a racing approval): do not act behind them.
            return ActionOutcome(OutcomeStatus.REFUSED, f"the incident is {incident.status}")
        request = ActionRequest(
            step.action, step.params, incident.id, incident.organization_id, step.reason,
            approved_by=None if actor == ACTOR else actor,  # a person's approval is theirs
        )  # fmt: skip
        log.info(
            "action.requested",
            incident_id=incident.id,
            organization_id=incident.organization_id,
            action=step.action,
            params=step.params,
        )
        # Committed before the executor runs, so the request shows even if the action hangs.
        agent.event(
            "action.requested",
            at,
            {"action": step.action, "params": step.params, "reason": step.reason},
            incident.id,
        )
        tracked.pending = Pending(step, actor, pass_over, request)
        agent.outbox.append(request)
        return None

    def _took(
        self,
        tracked: Tracked,
        step: Step,
        outcome: ActionOutcome,
        at: datetime,
        actor: str,
        *,
        pass_over: bool,
    ) -> None:
        """Record what came of one step and move the incident on from ``stabilizing``."""
        agent, incident = self.agent, tracked.incident
        tracked.tried.add(step.action)
        tracked.done.append(Done(step.action, step.params, at, outcome.status, outcome.detail))
        record_action(agent, incident.id, step, outcome, at, actor)
        if tracked.incident.status is not IncidentStatus.STABILIZING:
            return  # a person resolved or moved it meanwhile: theirs to follow
        if outcome.worked:
            agent.move(tracked, IncidentStatus.MONITORING, at)
            tracked.monitor_until = at + agent.settings.monitor_for
            tracked.not_done = None
            proposal = propose(
                tracked.incident, _with_app(tracked), sorted(tracked.series), stabilized=True
            )
            self._ask(tracked, proposal, at)
        else:
            agent.move(tracked, IncidentStatus.OPEN, at)
            if outcome.status is OutcomeStatus.FAILED and tracked.incident.severity != "critical":
                # A stabilization that failed or could not be verified needs a person sooner.
                why = f"{step.action} failed: {outcome.detail}"[:200]
                agent.set_severity(tracked, Severity.CRITICAL, at, why)
            if not (pass_over and _passable(outcome)):
                self._after_no(tracked, step, outcome, at)

    def _after_no(self, tracked: Tracked, step: Step, outcome: ActionOutcome, at: datetime) -> None:
        words = action_words(step.action, step.params)
        if outcome.status in (OutcomeStatus.SHADOW, OutcomeStatus.DRY_RUN):
            how = "shadow mode" if outcome.status is OutcomeStatus.SHADOW else "dry run"
            tracked.not_done = f"would {words}; {how}, nothing ran"
            proposal = propose(
                tracked.incident, tracked.resource, sorted(tracked.series), shadowed=step
            )
        elif outcome.status is OutcomeStatus.REFUSED:
            tracked.not_done = f"did not {words}: {outcome.detail or 'refused by the executor'}"
            proposal = propose(
                tracked.incident,
                tracked.resource,
                sorted(tracked.series),
                refused=step,
                refusal_reason=outcome.reason,
                refusal_detail=outcome.detail,
            )
        else:
            return  # failed: the caller tries the next action
        self._ask(tracked, proposal, at)

    def _hold(self, tracked: Tracked, hold: Hold, at: datetime) -> None:
        tracked.not_done = _HOLD_WORDS[hold.reason].format(detail=hold.detail)
        self.agent.event(
            "incident.held", at, {"reason": hold.reason, "detail": hold.detail}, tracked.incident.id
        )
        context = self.agent.context
        deployed = context.latest_deploy(tracked.resource.get("app"))
        proposal = propose(
            tracked.incident,
            _with_app(tracked),
            sorted(tracked.series),
            hold=hold,
            deployed_app=deployed[0] if deployed else None,
            deploy=context.deploy_marks.get(deployed[0]) if deployed else None,
        )
        self._ask(tracked, proposal, at)

    def _ask(self, tracked: Tracked, proposal: Proposal | None, at: datetime) -> None:
        """Create the recommendation once per incident; it becomes the summary's next step."""
        if proposal is None or proposal.key in tracked.proposed:
            return
        tracked.proposed.add(proposal.key)
        agent = self.agent
        same = [  # the same advice still open from before a reopen: point at it again
            r.id
            for r in list_recommendations(agent.database, agent.scope, tracked.incident.id)
            if r.status is RecommendationStatus.PROPOSED
            and (r.kind, r.action, r.rationale) == proposal.key
        ]
        if same:
            tracked.next_step = f"{proposal.next_step} (recommendation #{same[0]})."
            tracked.next_recommendation = same[0]
            return
        recommendation_id = add_recommendation(
            agent.database,
            agent.scope,
            tracked.incident.id,
            kind=proposal.kind,
            rationale=proposal.rationale,
            at=at,
            actor=ACTOR,
            action=proposal.action,
            params=proposal.params,
            expires_at=at + agent.settings.recommendation_expiry,
            evidence=tracked.incident.evidence,
            preconditions=proposal.preconditions,
        )
        tracked.next_step = f"{proposal.next_step} (recommendation #{recommendation_id})."
        tracked.next_recommendation = recommendation_id

    def _situation(self, tracked: Tracked) -> Situation:
        context = self.agent.context
        apps = context.pm2.apps
        failing = [c.failure for c in context.checks.values() if c.down]
        online = bool(apps) and all(a.status == "online" for a in apps.values())
        deployed = context.latest_deploy(tracked.resource.get("app"))
        in_window = deployed is not None and (
            timedelta(0)
            <= tracked.breach.started_at - deployed[1]
            <= self.agent.settings.deploy_window
        )
        disk_firing = self.agent.detector.any_fired(
            {name for name, rule in self.agent.rules.items() if rule.sampler == "disk"}
        )
        return Situation(
            incident_type=tracked.incident.type,
            resource=tracked.resource,
            apps=apps,
            unreachable_while_online=online and any(f in UNREACHABLE for f in failing),
            disk_breached=disk_firing,
            deployed=deployed[0] if deployed and in_window else None,
        )


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


def record_action(
    agent: Agent, incident_id: int, step: Step, outcome: ActionOutcome, at: datetime, actor: str
) -> None:
    """The incident's action row: what was asked, by whom, and what came of it."""
    add_action(
        agent.database,
        agent.scope,
        incident_id,
        action=step.action,
        params=step.params,
        status=outcome.status,
        at=at,
        actor=actor,
        outcome={"detail": outcome.detail, "reason": step.reason},
    )


def _passable(outcome: ActionOutcome) -> bool:
    return outcome.status is OutcomeStatus.REFUSED and outcome.reason in PASSABLE


def _with_app(tracked: Tracked) -> dict[str, str]:
    """The incident's labels, plus the app the agent restarted for it (the one whose
    limit a person may want to raise)."""
    restarted = [d.params["app"] for d in tracked.done if "app" in d.params]
    return {**tracked.resource, "app": restarted[-1]} if restarted else dict(tracked.resource)
