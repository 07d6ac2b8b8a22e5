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
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from calmopsd.config.incidents import PlaybookConfig
from calmopsd.detect import State
from calmopsd.detect.classify import UNREACHABLE
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    ActionRequest,
    Executor,
    IncidentStatus,
    OutcomeStatus,
    RecommendationStatus,
    SafeAction,
    Severity,
)
from calmopsd.record.incidents import add_action
from calmopsd.record.recommendations import add_recommendation, list_recommendations
from calmopsd.respond.playbook import Hold, HoldReason, Situation, Step, choose
from calmopsd.respond.recommend import APPROVABLE, Proposal, action_words, propose
from calmopsd.respond.summary import Done, clip
from calmopsd.respond.tracked import Tracked

if TYPE_CHECKING:
    from calmopsd.respond.agent import Agent

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT
# Refusals that concern only the action refused: another listed action may still run.
PASSABLE = APPROVABLE | {"already_in_force"}
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
        """Try actions until one works, none fits, or a human is needed; then refresh."""
        passed: tuple[Step, ActionOutcome] | None = None  # the first refusal passed over
        for _ in range(len(SafeAction) + 1):  # every try adds to ``tried``: bounded
            choice = choose(
                list(getattr(self.playbook, tracked.incident.type.value)),
                self._situation(tracked),
                frozenset(tracked.tried),
            )
            if isinstance(choice, Hold):
                if passed is not None:  # approving the refused action is the better question
                    self._after_no(tracked, *passed, at)
                else:
                    self._hold(tracked, choice, at)
                break
            outcome = self._run(tracked, choice, at, pass_over=True)
            if _passable(outcome):
                if outcome.reason in APPROVABLE:  # "already in force" is nothing to approve
                    passed = passed or (choice, outcome)
            elif outcome.status is not OutcomeStatus.FAILED:
                break
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

    def run_approved(self, tracked: Tracked, step: Step, at: datetime, actor: str) -> ActionOutcome:
        """A person approved ``step``: the same path as the agent's own, with their name."""
        if tracked.incident.status is IncidentStatus.MONITORING:
            self.agent.move(tracked, IncidentStatus.OPEN, at)
        outcome = self._run(tracked, step, at, actor)
        if outcome.status is OutcomeStatus.FAILED:  # the approved step is not "carried out"
            words = action_words(step.action, step.params)
            tracked.next_recommendation = None
            tracked.next_step = (
                f"a person's call: {words} was approved but failed "
                f"({clip(outcome.detail or 'no detail', 80)}); calmopsd keeps watching."
            )
        self.agent.refresh(tracked, at)
        return outcome

    # -- one action ---------------------------------------------------------------

    def _run(
        self,
        tracked: Tracked,
        step: Step,
        at: datetime,
        actor: str = ACTOR,
        *,
        pass_over: bool = False,
    ) -> ActionOutcome:
        """Run one step; ``pass_over``: a passable refusal is the caller's to ask about."""
        agent, incident = self.agent, tracked.incident
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
        # Recorded before the executor runs, so the request shows even if the action hangs.
        agent.event(
            "action.requested",
            at,
            {"action": step.action, "params": step.params, "reason": step.reason},
            incident.id,
        )
        try:
            outcome = self.executor.request(request, at)
        except Exception as exc:  # never leave the incident stabilizing
            log.exception("action.crashed", incident_id=incident.id, action=step.action)
            outcome = ActionOutcome(
                OutcomeStatus.FAILED, f"the executor crashed ({type(exc).__name__})"
            )
        tracked.tried.add(step.action)
        tracked.done.append(Done(step.action, step.params, at, outcome.status, outcome.detail))
        add_action(
            agent.database,
            agent.scope,
            incident.id,
            action=step.action,
            params=step.params,
            status=outcome.status,
            at=at,
            actor=actor,
            outcome={"detail": outcome.detail, "reason": step.reason},
        )
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
        return outcome

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
        log.info(
            "incident.held",
            incident_id=tracked.incident.id,
            organization_id=tracked.incident.organization_id,
            reason=hold.reason,
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
        log.info(
            "recommendation.proposed",
            incident_id=tracked.incident.id,
            organization_id=tracked.incident.organization_id,
            recommendation_id=recommendation_id,
            kind=proposal.kind,
        )

    def _situation(self, tracked: Tracked) -> Situation:
        context = self.agent.context
        apps = dict(context.pm2.get("apps") or {})
        failing = [c.get("failure") for c in context.checks.values() if c.get("up") is False]
        online = bool(apps) and all(a.get("status") == "online" for a in apps.values())
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


def _passable(outcome: ActionOutcome) -> bool:
    return outcome.status is OutcomeStatus.REFUSED and outcome.reason in PASSABLE


def _with_app(tracked: Tracked) -> dict[str, str]:
    """The incident's labels, plus the app the agent restarted for it (the one whose
    limit a person may want to raise)."""
    restarted = [d.params["app"] for d in tracked.done if "app" in d.params]
    return {**tracked.resource, "app": restarted[-1]} if restarted else dict(tracked.resource)
