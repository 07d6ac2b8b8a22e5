"""The incident agent: transitions → incidents, stabilized first and explained always.

Fed every reading (:meth:`Agent.observe`) from the scheduler, and the time
(:meth:`Agent.tick`) for what happens without a reading: monitoring deadlines,
stale incidents, expired recommendations. Per confirmed breach it

1. classifies the breach from its evidence (one table, :mod:`calmopsd.detect.classify`);
2. finds its problem (fingerprint): an unresolved incident gets the breach as an
   event, one resolved within ``reopen_within`` is reopened as flapping (its
   clear hold grows), otherwise a new incident opens (:mod:`.opening`);
3. stabilizes: asks the executor for the playbook's next fitting action, or
   records the named reason it asks for nothing (:mod:`.stabilize`);
4. rewrites the decision summary, with customer impact, on every change.

Time comes only from readings and ``tick``; nothing here reads a clock.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from calmopsd.config.incidents import IncidentsConfig, PlaybookConfig
from calmopsd.config.rules import RuleConfig
from calmopsd.detect import Context, Detector, Reason, State, Transition
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    ActionRequest,
    AuditEvent,
    Executor,
    Incident,
    IncidentStatus,
    OutcomeStatus,
    Reading,
    Recommendation,
    Resolution,
    SafeAction,
    Severity,
)
from calmopsd.record.audit import list_events, record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, get_incident, update_incident
from calmopsd.record.scope import Scope
from calmopsd.respond.housekeeping import (
    expire_recommendations,
    follow_decision,
    resolution_note,
    resolve_stale,
)
from calmopsd.respond.impact import Impact, ImpactLevels, assess
from calmopsd.respond.lifecycle import check_transition
from calmopsd.respond.opening import rank, resume_incidents, take_breach
from calmopsd.respond.playbook import Step
from calmopsd.respond.stabilize import (
    Stabilizer,
    interrupted_note,
    last_request,
    record_action,
)
from calmopsd.respond.summary import summarize
from calmopsd.respond.tracked import Pending, SeriesKey, Tracked
from calmopsd.shapes import Pm2Values

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT


class Agent:
    def __init__(
        self,
        database: Database,
        *,
        rules: list[RuleConfig],
        incidents: IncidentsConfig,
        playbook: PlaybookConfig,
        executor: Executor,
        levels: ImpactLevels | None = None,
    ) -> None:
        self.database = database
        self.settings = incidents
        self.levels = levels or ImpactLevels()
        self.scope = Scope.platform()
        self.rules = {rule.name: rule for rule in rules}
        self.detector = Detector(rules)
        self.context = Context(deploy_window=incidents.deploy_window)
        self.tracked: dict[int, Tracked] = {}
        self.stabilizer = Stabilizer(self, playbook, executor)
        # Requests decided while handling an input, run by the executor's worker once
        # the input's transaction has committed (:meth:`take_requests`).
        self.outbox: list[ActionRequest] = []
        # Actions a previous agent (before a reload) requested that still run, by incident.
        self.in_flight: dict[int, Pending] = {}

    # -- readings ---------------------------------------------------------------

    def observe(self, reading: Reading) -> None:
        """Fold one reading in: deploy markers, then every transition it causes."""
        self.context.observe(reading)
        if reading.ok and reading.sampler == "pm2":
            self._deploys(reading)
        for transition in self.detector.evaluate(reading):
            try:
                self._on(transition)
            except Exception:  # one bad transition must not hide the others
                log.exception(
                    "agent.failed", rule=transition.rule, reason=transition.reason,
                    sampler=reading.sampler,
                )  # fmt: skip

    def _deploys(self, reading: Reading) -> None:
        for name, app in sorted(Pm2Values.parse(reading.values).apps.items()):
            if app.deploy is not None:
                data = {"app": name, **app.deploy.to_values()}
                self.event("deploy.detected", reading.taken_at, data)

    def _on(self, t: Transition) -> None:
        key: SeriesKey = (t.rule, t.labels)
        if t.reason is Reason.BREACH_CONFIRMED and t.breach is not None:
            take_breach(self, t.breach, t.at)
            return
        tracked = self.owner(key)
        if tracked is None:
            return
        if key == tracked.headline and t.value is not None:
            tracked.current = t.value
        if t.reason is Reason.ESCALATED:
            self._escalate(tracked, t)
        elif t.reason is Reason.CLEAR_STARTED:
            if all(self.detector.state(*k) is not State.FIRING for k in tracked.series):
                tracked.clearing_since = t.at
            self.refresh(tracked, t.at)
        elif t.reason is Reason.CLEAR_ABORTED:
            tracked.clearing_since = None
            self.refresh(tracked, t.at)
            self.stabilizer.check_monitoring(tracked, t.at)  # back in breach after monitor_for
        elif t.reason in (Reason.CLEARED, Reason.VANISHED):
            tracked.series.discard(key)
            if not tracked.series:
                how = Resolution.RECOVERED if t.reason is Reason.CLEARED else Resolution.VANISHED
                self.resolve(tracked, how, t.at)

    def owner(self, key: SeriesKey) -> Tracked | None:
        """The tracked incident a (rule, labels) series belongs to, if any."""
        return next((tr for tr in self.tracked.values() if key in tr.series), None)

    def _escalate(self, tracked: Tracked, t: Transition) -> None:
        if t.breach is not None and rank(t.breach.severity) > rank(tracked.incident.severity):
            tracked.breach = t.breach  # the summary's figure is now the critical one
            reason = f"{t.rule} passed its critical threshold"
            self.set_severity(tracked, t.breach.severity, t.at, reason)
            self.refresh(tracked, t.at)

    def set_severity(self, tracked: Tracked, severity: Severity, at: datetime, why: str) -> None:
        update_incident(
            self.database,
            self.scope,
            tracked.incident.id,
            at=at,
            actor=ACTOR,
            event="incident.escalated",
            data={"from": tracked.incident.severity, "to": severity, "reason": why},
            severity=severity,
        )
        tracked.incident = self.reload(tracked.incident.id)

    # -- status -------------------------------------------------------------------

    def move(
        self,
        tracked: Tracked,
        new: IncidentStatus,
        at: datetime,
        resolution: Resolution | None = None,
    ) -> bool:
        """Validated, compare-and-set status change; False if someone else moved it first."""
        current = tracked.incident.status
        check_transition(current, new)
        moved = change_status(
            self.database,
            self.scope,
            tracked.incident.id,
            expected=current,
            new=new,
            at=at,
            actor=ACTOR,
            resolution=resolution,
        )
        tracked.incident = self.reload(tracked.incident.id)
        return moved

    def resolve(self, tracked: Tracked, how: Resolution, at: datetime) -> None:
        if tracked.incident.status is not IncidentStatus.RESOLVED:
            self.move(tracked, IncidentStatus.RESOLVED, at, how)
        if how is not Resolution.RECOVERED:
            self.forget(tracked)
        tracked.clearing_since = tracked.monitor_until = None
        tracked.next_step = None
        self.refresh(tracked, at)
        del self.tracked[tracked.incident.id]

    # -- time ---------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """What happens without a reading: monitoring deadlines, stale incidents, expiry."""
        resume_incidents(self, now)  # also one a person reopened after resolving it
        for tracked in list(self.tracked.values()):
            self._re_sync(tracked, now)
            if tracked.incident.id in self.tracked:
                self.stabilizer.check_monitoring(tracked, now)
                self._replan(tracked, now)
        resolve_stale(self, now)
        expire_recommendations(self, now)

    def follow(self, incident_id: int | None, now: datetime) -> None:
        """A person changed an incident (or its recommendation) just now, on the agent's
        thread: follow it at once rather than at the next tick."""
        tracked = self.tracked.get(incident_id) if incident_id is not None else None
        if tracked is not None:
            self._re_sync(tracked, now)
        else:
            resume_incidents(self, now)  # one a person reopened is taken up again

    def _replan(self, tracked: Tracked, now: datetime) -> None:
        """After an interrupted action: plan again once a reading shows it still fires."""
        if not tracked.replan or tracked.incident.status is not IncidentStatus.OPEN:
            return
        detector = self.detector
        if any(
            detector.state(*k) is State.FIRING and detector.reported(*k) for k in tracked.series
        ):
            tracked.replan = False
            self.stabilizer.stabilize(tracked, now)

    def forget(self, tracked: Tracked) -> None:
        """Resolved without recovering: a breach that goes on must confirm afresh."""
        for rule, labels in tracked.series:
            self.detector.forget(rule, labels)

    def _re_sync(self, tracked: Tracked, now: datetime) -> None:
        """A person may have changed the incident or decided its recommendation (API,
        CLI): follow the store, and rewrite the summary where it no longer says what is."""
        stored = get_incident(self.database, self.scope, tracked.incident.id)
        if stored is None:
            self.forget(tracked)
            del self.tracked[tracked.incident.id]
            return
        tracked.incident = stored
        # Against what the summary was written from: a change landing while it was being
        # written is still seen.
        moved = (stored.status, stored.severity) != tracked.summarized
        decided = follow_decision(self, tracked)
        if stored.status is IncidentStatus.RESOLVED:
            tracked.clearing_since = tracked.monitor_until = None
            tracked.next_step, tracked.next_recommendation = None, None
            tracked.resolution_note = resolution_note(self.database, self.scope, stored.id)
            self.refresh(tracked, now)
            self.forget(tracked)
            del self.tracked[tracked.incident.id]
            return
        watched = tracked.summarized is not None and tracked.summarized[0] == stored.status
        if stored.status is IncidentStatus.MONITORING and not (watched and tracked.monitor_until):
            tracked.monitor_until = now + self.settings.monitor_for  # a person said: watch it
        if moved or decided:
            self.refresh(tracked, now)

    # -- shared -------------------------------------------------------------------

    def refresh(self, tracked: Tracked, at: datetime) -> None:
        """Re-assess impact and rewrite the stored summary (no event: it restates events)."""
        tracked.impact = self.impact_for(tracked.incident.organization_id)
        written = (tracked.incident.status, tracked.incident.severity)
        text = summarize(tracked.facts(at))
        update_incident(
            self.database,
            self.scope,
            tracked.incident.id,
            at=at,
            actor=ACTOR,
            event=None,
            summary=text,
            impact=tracked.impact.as_dict(),
        )
        tracked.incident = self.reload(tracked.incident.id)
        tracked.summarized = written

    def impact_for(self, organization_id: str | None) -> Impact:
        """Customer impact now, as an incident of ``organization_id`` may tell it."""
        return assess(self.context.checks, self.context.logs, self.levels).within(organization_id)

    def reload(self, incident_id: int) -> Incident:
        incident = get_incident(self.database, self.scope, incident_id)
        assert incident is not None  # noqa: S101  # the platform scope sees every incident
        return incident

    def event(
        self, kind: str, at: datetime, data: dict[str, object], incident_id: int | None = None
    ) -> None:
        record_event(
            self.database,
            self.scope,
            kind=kind,
            actor=ACTOR,
            at=at,
            data=dict(data),
            incident_id=incident_id,
        )

    def resume(self, now: datetime) -> None:
        """Take over the unresolved incidents a previous agent (before a restart or a
        reload) left (:func:`.opening.resume_incidents`)."""
        resume_incidents(self, now)

    # -- actions ------------------------------------------------------------------

    def take_requests(self) -> list[ActionRequest]:
        """The action requests decided since the last call, oldest first."""
        taken, self.outbox = self.outbox, []
        return taken

    def run_approved(self, rec: Recommendation, actor: str, at: datetime) -> ActionOutcome | None:
        """Request an approved safe action the same way the agent requests its own.

        The incident goes through stabilizing (and monitoring if it works), the
        summary tells it, and an action already in flight on it refuses this one.
        None: requested (its outcome comes back through :meth:`action_done`).
        """
        step = Step(SafeAction(str(rec.action)), rec.params, f"approved by {actor} (#{rec.id})")
        tracked = self.tracked.get(rec.incident_id)
        if tracked is not None:
            if tracked.incident.status is IncidentStatus.STABILIZING:
                return ActionOutcome(OutcomeStatus.REFUSED, "another action is running on it")
            return self.stabilizer.run_approved(tracked, step, at, actor)
        self.outbox.append(
            ActionRequest(
                step.action, step.params, rec.incident_id, rec.organization_id, step.reason,
                approved_by=actor,
            )
        )  # fmt: skip
        return None

    def approval_busy(self, rec: Recommendation) -> str | None:
        """Why an approved action cannot be requested now (checked before the approval is
        recorded, so the recommendation stays proposed)."""
        tracked = self.tracked.get(rec.incident_id)
        if tracked is not None and (
            tracked.pending is not None or tracked.incident.status is IncidentStatus.STABILIZING
        ):
            return "another action is running on it; approve it once that one is done"
        return None

    def action_done(self, request: ActionRequest, outcome: ActionOutcome, at: datetime) -> None:
        """An outcome from the executor's worker: the incident moves on from it."""
        incident_id = request.incident_id
        tracked = self.tracked.get(incident_id) if incident_id is not None else None
        pending = tracked.pending if tracked is not None else None
        if tracked is not None and pending is not None and pending.request in (request, None):
            self.stabilizer.finish(tracked, outcome, at)
            return
        self.in_flight.pop(incident_id or 0, None)
        if incident_id is None or get_incident(self.database, self.scope, incident_id) is None:
            return
        step = Step(request.action, request.params, request.reason)
        record_action(self, incident_id, step, outcome, at, request.approved_by or ACTOR)

    def interrupted(self, tracked: Tracked, at: datetime) -> None:
        """Resumed in ``stabilizing`` with no action in flight: it was interrupted."""
        last = last_request(list_events(self.database, self.scope, incident_id=tracked.incident.id))
        if self._finished_meanwhile(tracked, last.data, list(last.since), at):
            return
        if not last.said_interrupted:
            # Cut short before the executor wrote its intent (or never reached it): the
            # executor has nothing to record, so the agent says it.
            data = {"action": last.data.get("action"), "params": last.data.get("params") or {}}
            self.event("action.interrupted", at, data, tracked.incident.id)
        self.stabilizer.interrupted(tracked, interrupted_note(last.data), at)
        self.refresh(tracked, at)

    def _finished_meanwhile(
        self, tracked: Tracked, requested: dict[str, object], since: list[AuditEvent], at: datetime
    ) -> bool:
        """The executor wrote the action's result, and calmopsd stopped before taking it
        up: take it up now, rather than calling a finished action interrupted."""
        executed = [e for e in since if e.kind == "action.executed"]
        action, params = requested.get("action"), requested.get("params")
        if not executed or action not in set(SafeAction) or not isinstance(params, dict):
            return False
        result = executed[-1]
        try:
            status = OutcomeStatus(str(result.data.get("status")))
        except ValueError:
            return False
        step = Step(SafeAction(str(action)), params, str(requested.get("reason") or ""))
        tracked.pending = Pending(step, result.actor, pass_over=result.actor == ACTOR)
        outcome = ActionOutcome(status, str(result.data.get("detail") or ""))
        self.stabilizer.finish(tracked, outcome, at)
        return True

    def series_state(self, rule: str, labels: tuple[tuple[str, str], ...]) -> str:
        """The detector's state of one series, for approvals' stale checks."""
        return str(self.detector.state(rule, labels))
