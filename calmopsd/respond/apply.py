"""Carry a decision out: every effect, in order, into the store and the agent's memory.

The agent calls :meth:`Applier.apply` inside the input's unit of work
(:meth:`~calmopsd.record.database.Database.unit`), so all the writes of one
input commit together or not at all. A status change is compare-and-set
against the status the decision saw; if someone moved the incident first (the
CLI on the store, a second agent) the rest of the decision is not applied, and
the agent follows the store instead (:attr:`Applied.complete` False).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import structlog

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.detect import Detector
from calmopsd.model import (
    AGENT,
    ActionRequest,
    Executor,
    Incident,
    IncidentStatus,
    RecommendationStatus,
)
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import (
    add_action,
    change_status,
    get_incident,
    open_incident,
    reopen_incident,
    update_incident,
)
from calmopsd.record.recommendations import add_recommendation, list_recommendations
from calmopsd.record.scope import Scope
from calmopsd.respond.decide import breach_evidence
from calmopsd.respond.decision import (
    AddBreach,
    Ask,
    Decision,
    Effect,
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
    Track,
    Untrack,
)
from calmopsd.respond.impact import Impact
from calmopsd.respond.lifecycle import check_transition
from calmopsd.respond.summary import Done, summarize
from calmopsd.respond.tracked import Pending, Tracked

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT
_NOTABLE = frozenset(f.name for f in fields(Tracked))


@dataclass(frozen=True)
class Applied:
    """How far a decision was applied, and the incident what follows it concerns."""

    incident_id: int | None
    complete: bool = True


class Applier:
    """Writes decisions for one agent: its store, its tracked incidents, its outbox."""

    def __init__(
        self,
        database: Database,
        tracked: dict[int, Tracked],
        detector: Detector,
        outbox: list[ActionRequest],
        executor: Executor,
        settings: IncidentsConfig,
        impact_for: Callable[[str | None, int | None], Impact],
    ):
        self.database = database
        self.scope = Scope.platform()
        self.tracked = tracked
        self.detector = detector
        self.outbox = outbox
        self.executor = executor
        self.settings = settings
        self.impact_for = impact_for

    def apply(self, decision: Decision, at: datetime) -> Applied:
        """Every effect of ``decision``, in order; stops at a status change lost to
        someone else's (the incident is then theirs to follow)."""
        concerns: int | None = None
        for effect in decision.effects:
            applied, about = self._one(effect, at)
            concerns = concerns if concerns is not None else about
            if not applied:
                return Applied(concerns, complete=False)
        return Applied(concerns)

    def _one(self, effect: Effect, at: datetime) -> tuple[bool, int | None]:
        """Apply one effect: whether it was, and the incident it concerns."""
        match effect:
            case OpenIncident():
                return True, self._open(effect, at)
            case TakeOver():
                return True, self._take_over(effect, at)
            case Reopen():
                return self._reopen(effect, at), effect.incident.id
            case Move():
                return self._move(effect, at), effect.incident_id
            case _:
                self._simple(effect, at)
                return True, _incident_of(effect)

    def _simple(self, effect: Effect, at: datetime) -> None:  # one case each
        match effect:
            case AddBreach(incident_id, breach):
                update_incident(
                    self.database, self.scope, incident_id, at=at, actor=ACTOR,
                    event="incident.breach_added", data=breach_evidence(breach),
                    last_breach_at=at,
                )  # fmt: skip
            case Track(incident_id, key):
                tracked = self.tracked[incident_id]
                tracked.series.add(key)
                self.detector.hold_clear(key[0], key[1], tracked.clear_hold)
            case Untrack(incident_id, forget):
                gone = self.tracked.pop(incident_id, None)
                if gone is not None and forget:  # a breach that goes on must confirm afresh
                    for rule, labels in gone.series:
                        self.detector.forget(rule, labels)
            case Forget(key):
                self.detector.forget(key[0], key[1])
            case EndSeries(incident_id, key):
                self.tracked[incident_id].series.discard(key)
            case Escalate():
                self._escalate(effect, at)
            case Reclassify():
                self._reclassify(effect, at)
            case Record(kind, data, incident_id):
                record_event(
                    self.database, self.scope, kind=kind, actor=ACTOR, at=at, data=dict(data),
                    incident_id=incident_id,
                )  # fmt: skip
            case RequestAction():
                self._request(effect)
            case RecordOutcome():
                self._record_outcome(effect, at)
            case Ask():
                self._ask(effect, at)
            case Note(incident_id, changes):
                self._note(incident_id, changes)
            case SymptomReturned(incident_id):
                self._symptom_returned(incident_id, at)
            case Summarize(incident_id):
                if (summarized := self.tracked.get(incident_id)) is not None:
                    self.refresh(summarized, at)

    # -- incidents -------------------------------------------------------------------

    def _open(self, effect: OpenIncident, at: datetime) -> int:
        breach, problem, decided = effect.breach, effect.problem, effect.classification
        incident = open_incident(
            self.database, self.scope, organization_id=problem.organization_id,
            fingerprint=problem.fingerprint, type=decided.type, severity=breach.severity,
            title=effect.title, at=at, actor=ACTOR, evidence=effect.evidence,
            impact=self.impact_for(problem.organization_id, None).as_dict(),
        )  # fmt: skip
        classified = {"type": decided.type, "basis": decided.basis, "detail": decided.detail}
        record_event(
            self.database, self.scope, kind="incident.classified", actor=ACTOR, at=at,
            data=classified, incident_id=incident.id,
        )  # fmt: skip
        key = (breach.rule, breach.labels)
        tracked = Tracked(incident, breach, dict(problem.resource), effect.clear_hold, {key})
        tracked.cause = effect.cause
        tracked.history = effect.history
        self.tracked[incident.id] = tracked
        self.detector.hold_clear(breach.rule, breach.labels, tracked.clear_hold)
        return incident.id

    def _take_over(self, effect: TakeOver, at: datetime) -> int:
        incident, breach = effect.incident, effect.breach
        tracked = Tracked(
            incident, breach, dict(effect.resource), effect.clear_hold, set(effect.series)
        )
        self.tracked[incident.id] = tracked
        for rule, labels in effect.series:  # resumed after a restart: its series are firing
            self.detector.adopt(rule, labels, incident.severity, at)
            self.detector.hold_clear(rule, labels, tracked.clear_hold)
            log.info(
                "incident.resumed",
                incident_id=incident.id,
                organization_id=incident.organization_id,
                rule=rule,
            )
        return incident.id

    def _reopen(self, effect: Reopen, at: datetime) -> bool:
        found = effect.incident
        check_transition(found.status, IncidentStatus.OPEN)
        reopened = reopen_incident(
            self.database, self.scope, found.id, at=at, actor=ACTOR, reason=effect.reason,
            flap=effect.flap,
        )  # fmt: skip
        if not reopened:  # someone reopened it first: that incident now takes the breach
            return False
        incident = self.reload(found.id)
        tracked = Tracked(incident, effect.breach, dict(effect.resource), effect.base_hold)
        self.tracked[incident.id] = tracked
        return True

    def _move(self, effect: Move, at: datetime) -> bool:
        check_transition(effect.expected, effect.new)
        moved = change_status(
            self.database, self.scope, effect.incident_id, expected=effect.expected,
            new=effect.new, at=at, actor=ACTOR, resolution=effect.resolution, data=effect.data,
        )  # fmt: skip
        tracked = self.tracked.get(effect.incident_id)
        if tracked is not None:
            tracked.incident = self.reload(effect.incident_id)
        if not moved:
            log.info(
                "agent.moved_meanwhile",
                incident_id=effect.incident_id,
                expected=effect.expected,
                new=effect.new,
            )
        return moved

    def _reclassify(self, effect: Reclassify, at: datetime) -> None:
        """The new type and headline, kept in the evidence so a restart resumes from them
        (the opening breach stays, as ``first_breach``)."""
        tracked = self.tracked[effect.incident_id]
        incident = tracked.incident
        evidence = dict(incident.evidence)
        evidence.setdefault("first_breach", evidence.get("breach"))
        evidence["breach"] = breach_evidence(effect.headline)
        evidence["classification"] = {
            "type": effect.to, "basis": "still_firing", "detail": effect.why,
        }  # fmt: skip
        update_incident(
            self.database, self.scope, incident.id, at=at, actor=ACTOR,
            event="incident.reclassified",
            data={"from": incident.type, "to": effect.to, "reason": effect.why},
            type=effect.to, evidence=evidence,
        )  # fmt: skip
        tracked.breach = effect.headline
        tracked.current = tracked.peak = tracked.shown = effect.headline.value
        tracked.incident = self.reload(incident.id)

    def _escalate(self, effect: Escalate, at: datetime) -> None:
        tracked = self.tracked[effect.incident_id]
        if effect.headline is not None:
            tracked.breach = effect.headline  # the summary's figure is now the critical one
        update_incident(
            self.database, self.scope, effect.incident_id, at=at, actor=ACTOR,
            event="incident.escalated",
            data={"from": tracked.incident.severity, "to": effect.to, "reason": effect.why},
            severity=effect.to,
        )  # fmt: skip
        tracked.incident = self.reload(effect.incident_id)

    # -- actions ---------------------------------------------------------------------

    def _request(self, effect: RequestAction) -> None:
        tracked = self.tracked[effect.incident_id]
        incident, step = tracked.incident, effect.step
        request = ActionRequest(
            step.action, step.params, incident.id, incident.organization_id, step.reason,
            approved_by=None if effect.actor == ACTOR else effect.actor,  # a person's is theirs
        )  # fmt: skip
        log.info(
            "action.requested",
            incident_id=incident.id,
            organization_id=incident.organization_id,
            action=step.action,
            params=step.params,
        )
        tracked.pending = Pending(step, effect.actor, effect.pass_over, request)
        self.outbox.append(request)

    def _record_outcome(self, effect: RecordOutcome, at: datetime) -> None:
        step, outcome = effect.step, effect.outcome
        tracked = self.tracked.get(effect.incident_id)
        if tracked is not None:
            tracked.tried.add(step.action)
            tracked.done.append(Done(step.action, step.params, at, outcome.status, outcome.detail))
        add_action(
            self.database, self.scope, effect.incident_id, action=step.action,
            params=step.params, status=outcome.status, at=at, actor=effect.actor,
            outcome={"detail": outcome.detail, "reason": step.reason},
        )  # fmt: skip

    def _symptom_returned(self, incident_id: int, at: datetime) -> None:
        try:
            self.executor.symptom_returned(incident_id, at)
        except Exception:  # the executor's bookkeeping must not stop the response
            log.exception("action.ineffective_failed", incident_id=incident_id)

    # -- what the agent remembers and tells ------------------------------------------

    def _ask(self, effect: Ask, at: datetime) -> None:
        """Create the recommendation once per incident; it becomes the summary's next step."""
        tracked, proposal = self.tracked[effect.incident_id], effect.proposal
        if proposal.key in tracked.proposed:
            return
        tracked.proposed.add(proposal.key)
        same = [  # the same advice still open from before a reopen: point at it again
            r.id
            for r in list_recommendations(self.database, self.scope, effect.incident_id)
            if r.status is RecommendationStatus.PROPOSED
            and (r.kind, r.action, r.rationale) == proposal.key
        ]
        recommendation_id = same[0] if same else add_recommendation(
            self.database, self.scope, effect.incident_id, kind=proposal.kind,
            rationale=proposal.rationale, at=at, actor=ACTOR, action=proposal.action,
            params=proposal.params, expires_at=at + self.settings.recommendation_expiry,
            evidence=tracked.incident.evidence, preconditions=proposal.preconditions,
            next_step=proposal.next_step,
        )  # fmt: skip
        tracked.next_step = f"{proposal.next_step} (recommendation #{recommendation_id})."
        tracked.next_recommendation = recommendation_id

    def _note(self, incident_id: int, changes: dict[str, Any]) -> None:
        tracked = self.tracked.get(incident_id)
        if tracked is None:
            return
        for name, value in changes.items():
            if name not in _NOTABLE:
                raise ValueError(f"a decision noted {name!r}, which Tracked does not keep")
            # Copies: the decision's values stay as they were decided.
            kept = value.copy() if isinstance(value, list | set | dict) else value
            setattr(tracked, name, kept)

    def refresh(self, tracked: Tracked, at: datetime) -> None:
        """Re-assess impact and rewrite the stored summary (no event: it restates events)."""
        tracked.impact = self.impact_for(tracked.incident.organization_id, tracked.incident.id)
        written = (tracked.incident.status, tracked.incident.severity)
        update_incident(
            self.database, self.scope, tracked.incident.id, at=at, actor=ACTOR, event=None,
            summary=summarize(tracked.facts(at)), impact=tracked.impact.as_dict(),
        )  # fmt: skip
        tracked.incident = self.reload(tracked.incident.id)
        tracked.summarized, tracked.shown = written, tracked.current

    def reload(self, incident_id: int) -> Incident:
        incident = get_incident(self.database, self.scope, incident_id)
        assert incident is not None  # noqa: S101  # the platform scope sees every incident
        return incident


def _incident_of(effect: Effect) -> int | None:
    return getattr(effect, "incident_id", None)
