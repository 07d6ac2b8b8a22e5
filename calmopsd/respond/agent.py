"""The incident agent: transitions → incidents, stabilized first and explained always.

Fed every reading (:meth:`Agent.observe`) from the scheduler, and the time
(:meth:`Agent.tick`) for what happens without a reading: monitoring deadlines,
stale incidents, expired recommendations. Per confirmed breach it

1. classifies the breach from its evidence (one table, :mod:`calmopsd.detect.classify`);
2. finds its problem (fingerprint): an unresolved incident gets the breach as an
   event, one resolved within ``reopen_within`` is reopened as flapping (its
   clear hold grows), otherwise a new incident opens;
3. stabilizes: asks the executor for the playbook's next fitting action, or
   records the named reason it asks for nothing (:mod:`.stabilize`);
4. rewrites the decision summary, with customer impact, on every change.

Time comes only from readings and ``tick``; nothing here reads a clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from calmopsd.config.incidents import IncidentsConfig, PlaybookConfig
from calmopsd.config.rules import RuleConfig
from calmopsd.config.units import format_duration
from calmopsd.detect import Context, Detector, Reason, State, Transition, classify
from calmopsd.detect.classify import Basis, Classification
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    ActionRequest,
    Breach,
    Executor,
    Incident,
    IncidentStatus,
    IncidentType,
    OutcomeStatus,
    Reading,
    Recommendation,
    Resolution,
    SafeAction,
    Severity,
)
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import (
    add_action,
    change_status,
    find_by_fingerprint,
    get_incident,
    list_incidents,
    open_incident,
    reopen_incident,
    update_incident,
)
from calmopsd.record.scope import Scope
from calmopsd.respond.housekeeping import expire_recommendations, resolve_stale
from calmopsd.respond.impact import Impact, ImpactLevels, assess
from calmopsd.respond.lifecycle import check_transition
from calmopsd.respond.playbook import Step
from calmopsd.respond.problem import Problem, dominant_organization, problem_of, resource_of
from calmopsd.respond.stabilize import Stabilizer
from calmopsd.respond.summary import summarize
from calmopsd.respond.tracked import SeriesKey, Tracked

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT
# Bases that only restate the rule: the summary's "Why" line is left out for them.
PLAIN_BASES = frozenset({Basis.RULE_TYPE, Basis.HOST_MEMORY, Basis.HOST_DISK})


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
        for name, app in sorted((reading.values.get("apps") or {}).items()):
            if app.get("deploy"):
                self.event("deploy.detected", reading.taken_at, {"app": name, **app["deploy"]})

    def _on(self, t: Transition) -> None:
        key: SeriesKey = (t.rule, t.labels)
        if t.reason is Reason.BREACH_CONFIRMED and t.breach is not None:
            self._confirmed(t.breach, t.at)
            return
        tracked = self._owner(key)
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

    def _owner(self, key: SeriesKey) -> Tracked | None:
        return next((tr for tr in self.tracked.values() if key in tr.series), None)

    # -- a confirmed breach ------------------------------------------------------

    def _confirmed(self, breach: Breach, at: datetime) -> None:
        decided = classify(self.context.evidence(breach))
        dominant = dominant_organization(self.context.logs, breach)
        problem = problem_of(breach, decided.type, dominant, decided.resource)
        cause = None if decided.basis in PLAIN_BASES else decided.detail
        reopen_since = at - self.settings.reopen_within if self.settings.reopen_within else None
        found = find_by_fingerprint(
            self.database,
            self.scope,
            organization_id=problem.organization_id,
            fingerprint=problem.fingerprint,
            resolved_since=reopen_since,
        )
        key: SeriesKey = (breach.rule, breach.labels)
        if found is not None and found.status is not IncidentStatus.RESOLVED:
            self._add_breach(found, breach, key, at)
            return
        tracked = self._reopen(found, breach, problem, at) if found is not None else None
        if found is not None and tracked is None:
            self._add_breach(self._reload(found.id), breach, key, at)
            return
        if tracked is None:
            tracked = self._open(breach, problem, decided, at)
        tracked.cause = cause
        tracked.series.add(key)
        self.detector.hold_clear(breach.rule, breach.labels, tracked.clear_hold)
        self.stabilizer.stabilize(tracked, at)

    def _open(
        self, breach: Breach, problem: Problem, decided: Classification, at: datetime
    ) -> Tracked:
        decided_type, basis, detail = decided.type, decided.basis, decided.detail
        impact = self._impact(problem.organization_id)
        incident = open_incident(
            self.database,
            self.scope,
            organization_id=problem.organization_id,
            fingerprint=problem.fingerprint,
            type=decided_type,
            severity=breach.severity,
            title=_title(breach, problem),
            at=at,
            actor=ACTOR,
            evidence={
                "breach": _breach_evidence(breach),
                "classification": {"type": decided_type, "basis": basis, "detail": detail},
                **self._host_evidence(decided_type),
            },
            impact=impact.as_dict(),
        )
        self.event(
            "incident.classified",
            at,
            {"type": decided_type, "basis": basis, "detail": detail},
            incident.id,
        )
        log.info(
            "incident.opened",
            incident_id=incident.id,
            organization_id=incident.organization_id,
            fingerprint=incident.fingerprint,
            type=decided_type,
            severity=breach.severity,
        )
        tracked = Tracked(incident, breach, dict(problem.resource), self._base_hold(breach))
        self.tracked[incident.id] = tracked
        return tracked

    def _reopen(
        self, found: Incident, breach: Breach, problem: Problem, at: datetime
    ) -> Tracked | None:
        check_transition(found.status, IncidentStatus.OPEN)
        reopened = reopen_incident(
            self.database,
            self.scope,
            found.id,
            at=at,
            actor=ACTOR,
            reason=f"{breach.rule} breached again within "
            f"{format_duration(self.settings.reopen_within)} of resolving",
        )
        if not reopened:  # someone reopened it first: that incident now takes the breach
            return None
        incident = self._reload(found.id)
        hold = self._flapped_hold(breach, incident.flaps)
        log.info(
            "incident.reopened",
            incident_id=incident.id,
            organization_id=incident.organization_id,
            flaps=incident.flaps,
            clear_hold_s=hold.total_seconds(),
        )
        tracked = Tracked(incident, breach, dict(problem.resource), hold)
        self.tracked[incident.id] = tracked
        self.stabilizer.symptom_returned(tracked, at)
        return tracked

    def _host_evidence(self, incident_type: IncidentType) -> dict[str, object]:
        """For a memory incident, the processes holding the most memory right now."""
        if incident_type is not IncidentType.MEMORY:
            return {}
        top = self.context.memory_reading.get("top_processes")
        return {"top_processes": top} if top else {}

    def _add_breach(self, found: Incident, breach: Breach, key: SeriesKey, at: datetime) -> None:
        """A repeated or further breach of an unresolved problem: an event, never a duplicate."""
        tracked = self.tracked.get(found.id)
        if tracked is None:  # opened before a restart: take it over
            resource = resource_of(found.fingerprint)
            tracked = Tracked(found, breach, resource, self._base_hold(breach))
            self.tracked[found.id] = tracked
        tracked.series.add(key)
        tracked.clearing_since = None
        self.detector.hold_clear(breach.rule, breach.labels, tracked.clear_hold)
        update_incident(
            self.database,
            self.scope,
            found.id,
            at=at,
            actor=ACTOR,
            event="incident.breach_added",
            data=_breach_evidence(breach),
            last_breach_at=at,
        )
        if _rank(breach.severity) > _rank(tracked.incident.severity):
            self.set_severity(tracked, breach.severity, at, f"{breach.rule} is {breach.severity}")
        self.refresh(tracked, at)

    def _escalate(self, tracked: Tracked, t: Transition) -> None:
        if t.breach is not None and _rank(t.breach.severity) > _rank(tracked.incident.severity):
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
        log.warning(
            "incident.escalated",
            incident_id=tracked.incident.id,
            organization_id=tracked.incident.organization_id,
            severity=severity,
        )
        tracked.incident = self._reload(tracked.incident.id)

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
        tracked.incident = self._reload(tracked.incident.id)
        if moved:
            log.info(
                "incident.status_changed",
                incident_id=tracked.incident.id,
                organization_id=tracked.incident.organization_id,
                status=new,
                resolution=resolution,
            )
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
        for tracked in list(self.tracked.values()):
            self._re_sync(tracked, now)
            if tracked.incident.id in self.tracked:
                self.stabilizer.check_monitoring(tracked, now)
        resolve_stale(self, now)
        expire_recommendations(self, now)

    def forget(self, tracked: Tracked) -> None:
        """Resolved without recovering: a breach that goes on must confirm afresh."""
        for rule, labels in tracked.series:
            self.detector.forget(rule, labels)

    def _re_sync(self, tracked: Tracked, now: datetime) -> None:
        """A person may have changed the incident (API, CLI): follow the store."""
        stored = get_incident(self.database, self.scope, tracked.incident.id)
        if stored is None or stored.status is IncidentStatus.RESOLVED:
            self.forget(tracked)
            del self.tracked[tracked.incident.id]
        else:
            tracked.incident = stored

    # -- shared -------------------------------------------------------------------

    def refresh(self, tracked: Tracked, at: datetime) -> None:
        """Re-assess impact and rewrite the stored summary (no event: it restates events)."""
        tracked.impact = self._impact(tracked.incident.organization_id)
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
        tracked.incident = self._reload(tracked.incident.id)

    def _impact(self, organization_id: str | None) -> Impact:
        """Customer impact now, as an incident of ``organization_id`` may tell it."""
        return assess(self.context.checks, self.context.logs, self.levels).within(organization_id)

    def _reload(self, incident_id: int) -> Incident:
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
        reload) left, so that their recovery is seen and not mistaken for staleness."""
        for incident in list_incidents(self.database, self.scope, unresolved=True):
            if incident.id in self.tracked or any(
                incident.id == t.incident.id for t in self.tracked.values()
            ):
                continue
            breach = stored_breach(incident)
            if breach is None or breach.rule not in self.rules:
                continue  # not this rule set's: it ends stale unless someone resolves it
            key: SeriesKey = (breach.rule, breach.labels)
            if self._owner(key) is not None:
                continue
            hold = self._flapped_hold(breach, incident.flaps)
            tracked = Tracked(incident, breach, resource_of(incident.fingerprint), hold, {key})
            self.tracked[incident.id] = tracked
            self.detector.adopt(breach.rule, breach.labels, incident.severity, now)
            self.detector.hold_clear(breach.rule, breach.labels, hold)
            log.info(
                "incident.resumed",
                incident_id=incident.id,
                organization_id=incident.organization_id,
                rule=breach.rule,
            )

    def _flapped_hold(self, breach: Breach, flaps: int) -> timedelta:
        grown = self._base_hold(breach) * (self.settings.flap_hold_growth**flaps)
        return min(grown, self.settings.max_clear_hold) if flaps else self._base_hold(breach)

    def _base_hold(self, breach: Breach) -> timedelta:
        rule = self.rules.get(breach.rule)
        return rule.clear_for if rule is not None else timedelta(minutes=15)

    def run_approved(self, rec: Recommendation, actor: str, at: datetime) -> ActionOutcome:
        """Run an approved safe action the same way the agent runs its own.

        The incident goes through stabilizing (and monitoring if it worked), the
        summary tells it, and an action already running on it refuses this one.
        """
        step = Step(SafeAction(str(rec.action)), rec.params, f"approved by {actor} (#{rec.id})")
        tracked = self.tracked.get(rec.incident_id)
        if tracked is not None:
            if tracked.incident.status is IncidentStatus.STABILIZING:
                return ActionOutcome(OutcomeStatus.REFUSED, "another action is running on it")
            return self.stabilizer.run_approved(tracked, step, at, actor)
        request = ActionRequest(
            step.action, step.params, rec.incident_id, rec.organization_id, step.reason,
            approved_by=actor,
        )  # fmt: skip
        try:
            outcome = self.stabilizer.executor.request(request, at)
        except Exception as exc:  # the approval is answered, never a crash
            log.exception("action.crashed", incident_id=rec.incident_id, action=step.action)
            outcome = ActionOutcome(OutcomeStatus.FAILED, f"the executor crashed ({exc!r:.60})")
        add_action(
            self.database, self.scope, rec.incident_id, action=step.action, params=step.params,
            status=outcome.status, at=at, actor=actor, outcome={"detail": outcome.detail},
        )  # fmt: skip
        return outcome

    def series_state(self, rule: str, labels: tuple[tuple[str, str], ...]) -> str:
        """The detector's state of one series, for approvals' stale checks."""
        return str(self.detector.state(rule, labels))


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def _rank(severity: Severity) -> int:
    return _SEVERITY_RANK[Severity(severity)]


def _breach_evidence(breach: Breach) -> dict[str, object]:
    return {
        "rule": breach.rule,
        "labels": dict(breach.labels),
        "value": breach.value,
        "severity": breach.severity,
        "started_at": breach.started_at.isoformat(),
        **breach.evidence,
    }


def stored_breach(incident: Incident) -> Breach | None:
    """The opening breach, as :func:`_breach_evidence` stored it on the incident."""
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


def _title(breach: Breach, problem: Problem) -> str:
    where = ", ".join(f"{k} {v}" for k, v in problem.resource)
    return f"{breach.rule} ({where})" if where else breach.rule
