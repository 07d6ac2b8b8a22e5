"""The incident agent: gathers what a decision needs, decides purely, applies once.

Fed every reading (:meth:`Agent.observe`), the time (:meth:`Agent.tick`), a
person's change (:meth:`Agent.follow`, :meth:`Agent.run_approved`) and each
action's outcome (:meth:`Agent.action_done`). For each it

1. gathers what the decision reads: the incident as stored, the detector's view
   of its series, what the host looks like (PM2 apps, deploys, health checks);
2. decides with a pure function of :mod:`.decide`, which returns the effects
   and their named reason (:class:`~.decision.Decision`);
3. applies the effects (:mod:`.apply`); the caller runs all of this inside the
   input's one transaction (:meth:`~calmopsd.record.database.Database.unit`).

A confirmed breach is classified from its evidence (:mod:`calmopsd.detect.classify`),
joins the unresolved incident of its problem, reopens one resolved within
``reopen_within`` as flapping, or opens a new one; then the playbook's next
fitting action is requested, or the named reason none is. Requested actions
wait in :attr:`Agent.outbox` until the transaction commits; nothing here waits
for an action. Time comes only from readings and ``tick``; nothing reads a clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from calmopsd.config.incidents import IncidentsConfig, PlaybookConfig
from calmopsd.config.rules import RuleConfig
from calmopsd.detect import Context, Detector, Reason, State, Transition, classify
from calmopsd.detect.classify import BAD_GATEWAY
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    ActionRequest,
    Breach,
    Executor,
    Incident,
    IncidentStatus,
    OutcomeStatus,
    Reading,
    Recommendation,
    RecommendationStatus,
    SafeAction,
)
from calmopsd.record.actions import list_active
from calmopsd.record.audit import list_events, record_event
from calmopsd.record.codec import decode_json
from calmopsd.record.database import Database
from calmopsd.record.history import readings_since
from calmopsd.record.incidents import (
    add_action,
    find_by_fingerprint,
    get_incident,
    list_children,
    list_incidents,
)
from calmopsd.record.recommendations import (
    decide_recommendation,
    due_to_expire,
    get_recommendation,
    list_recommendations,
)
from calmopsd.record.reviews import learnings_for
from calmopsd.record.scope import Scope
from calmopsd.respond import approvals, decide
from calmopsd.respond.apply import Applied, Applier
from calmopsd.respond.decide import Resumable, SeriesFacts, Surroundings, last_request
from calmopsd.respond.decide.scope import (
    Scoping,
    is_platform_rate,
    log_scope,
    released_decision,
)
from calmopsd.respond.decision import Decision, Summarize, Then, Why
from calmopsd.respond.impact import Impact, ImpactLevels, assess
from calmopsd.respond.playbook import Situation, Step, choose
from calmopsd.respond.problem import Problem, dominant_organization, problem_of
from calmopsd.respond.summary import Done
from calmopsd.respond.tracked import Pending, SeriesKey, Tracked
from calmopsd.shapes import Pm2Values

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT
DEFAULT_CLEAR_HOLD = timedelta(minutes=15)
PEAK_LOOKBACK = timedelta(days=1)  # how far back a restarted agent reads an incident's worst


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
        limits_organizations: bool = False,
    ) -> None:
        self.database = database
        self.limits_organizations = limits_organizations  # a per-organization upload limit
        self.settings = incidents
        self.playbook = playbook
        self.levels = levels or ImpactLevels()
        self.scope = Scope.platform()
        self.rules = {rule.name: rule for rule in rules}
        self.detector = Detector(rules)
        self.context = Context(deploy_window=incidents.deploy_window)
        self.tracked: dict[int, Tracked] = {}
        # Requests decided while handling an input, run by the executor's worker once
        # the input's transaction has committed (:meth:`take_requests`).
        self.outbox: list[ActionRequest] = []
        # Actions a previous agent (before a reload) requested that still run, by incident.
        self.in_flight: dict[int, Pending] = {}
        self.applier = Applier(
            database, self.tracked, self.detector, self.outbox, executor, incidents,
            self.impact_for,
        )  # fmt: skip

    @property
    def executor(self) -> Executor:
        return self.applier.executor

    @executor.setter
    def executor(self, executor: Executor) -> None:
        self.applier.executor = executor

    # -- carrying decisions out ------------------------------------------------------

    def carry_out(self, decision: Decision, at: datetime, *, follow_lost: bool = True) -> Applied:
        """Apply ``decision``, then what it says follows (still in the same unit).

        A decision cut short by a status change someone else made first is followed
        from the store instead (``follow_lost``)."""
        applied = self.applier.apply(decision, at)
        log.debug(
            "agent.decided", why=decision.why, effects=len(decision.effects),
            incident_id=applied.incident_id, complete=applied.complete,
        )  # fmt: skip
        tracked = self.tracked.get(applied.incident_id) if applied.incident_id else None
        if not applied.complete:
            if tracked is not None and follow_lost:
                self.follow(tracked.incident.id, at)
            return applied
        if tracked is None or decision.then is None:
            return applied
        if decision.then in (Then.STABILIZE, Then.STABILIZE_IF_FITS):
            self.stabilize(tracked, at, only_if_fits=decision.then is Then.STABILIZE_IF_FITS)
        elif isinstance(decision.then, ActionOutcome):
            self.carry_out(
                decide.outcome_decision(tracked, None, decision.then, at, self.settings), at
            )
        return applied

    # -- readings ---------------------------------------------------------------------

    def observe(self, reading: Reading) -> None:
        """Fold one reading in: deploy markers, then every transition it causes."""
        self.context.observe(reading)
        if reading.ok and reading.sampler == "pm2":
            self._deploys(reading)
        for transition in sorted(self.detector.evaluate(reading), key=_specific_first):
            try:
                self._on(transition)
            except Exception:  # one bad transition must not hide the others
                log.exception(
                    "agent.failed", rule=transition.rule, reason=transition.reason,
                    sampler=reading.sampler,
                )  # fmt: skip
        if reading.ok and reading.sampler == "logs":
            self._still_explained(reading.taken_at)
        self._figures(reading)

    def _still_explained(self, at: datetime) -> None:
        """Platform series an organization's incident took in leave it once the rest of
        the platform is in breach without that organization (a wider fault began)."""
        for tracked in list(self.tracked.values()):
            for key in sorted(tracked.series):
                rule = self.rules.get(key[0])
                if rule is None or self.detector.state(*key) is not State.FIRING:
                    continue
                released = released_decision(tracked, key, rule, self.context.logs)
                if released is not None:
                    self.carry_out(released, at)

    def _figures(self, reading: Reading) -> None:
        """Each incident's headline figure as this reading shows it (and its peak)."""
        for tracked in list(self.tracked.values()):
            rule, labels = tracked.headline
            config = self.rules.get(rule)
            if config is None or config.sampler != reading.sampler:
                continue
            if not self.detector.reported(rule, labels):
                continue
            value = self.detector.value(rule, labels)
            self.carry_out(decide.figure_decision(tracked, value), reading.taken_at)

    def _deploys(self, reading: Reading) -> None:
        for name, app in sorted(Pm2Values.parse(reading.values).apps.items()):
            if app.deploy is not None:
                record_event(
                    self.database, self.scope, kind="deploy.detected", actor=ACTOR,
                    at=reading.taken_at, data={"app": name, **app.deploy.to_values()},
                )  # fmt: skip

    def _on(self, t: Transition) -> None:
        if t.reason is Reason.BREACH_CONFIRMED and t.breach is not None:
            self._take_breach(t.breach, t.at)
            return
        tracked = self.owner((t.rule, t.labels))
        self.carry_out(
            decide.transition_decision(t, tracked, self._series(tracked), self.settings), t.at
        )

    def _take_breach(self, breach: Breach, at: datetime) -> None:
        decided = classify(self.context.evidence(breach))
        share = self.settings.dominant_share / 100
        dominant = dominant_organization(self.context.logs, breach, share)
        problem = problem_of(breach, decided.type, dominant, decided.resource)
        within = self.settings.reopen_within
        found = find_by_fingerprint(
            self.database, self.scope, organization_id=problem.organization_id,
            fingerprint=problem.fingerprint, resolved_since=at - within if within else None,
        )  # fmt: skip
        top = [p.to_values() for p in self.context.memory.top_processes]
        history = learnings_for(
            self.database, organization_id=problem.organization_id, fingerprint=problem.fingerprint
        )
        sibling = next(
            (
                t
                for t in self.tracked.values()
                if breach.labels and any(labels == breach.labels for _, labels in t.series)
            ),
            None,
        )
        scoping = self._scoping(breach, problem)
        decision = decide.breach_decision(
            breach,
            found,
            self.tracked.get(found.id) if found is not None else None,
            classification=decided,
            problem=problem,
            settings=self.settings,
            base_hold=self._base_hold(breach.rule),
            surroundings=Surroundings(top_processes=top or None, history=tuple(history)),
            sibling=sibling,
            explained_by=scoping.joins,
            held_for_platform=scoping.held_for_platform,
            paused_apps=self._paused_apps() if dict(breach.labels).get("app") else frozenset(),
        )
        applied = self.carry_out(decision, at, follow_lost=False)
        if not applied.complete and found is not None and found.id not in self.tracked:
            # Someone reopened it first: that incident now takes the breach.
            again = self.applier.reload(found.id)
            base_hold = self._base_hold(breach.rule)
            self.carry_out(decide.join_decision(breach, again, None, base_hold), at)

    def _scoping(self, breach: Breach, problem: Problem) -> Scoping:
        rule = self.rules.get(breach.rule)
        scoped = self._log_incidents()
        return log_scope(breach, problem, rule, self.rules.values(), self.context.logs, scoped)

    def _log_incidents(self) -> dict[str | None, Tracked]:
        """Each scope's unresolved incident opened from a log breach (its first), by
        organization; None: the platform's."""
        scoped: dict[str | None, Tracked] = {}
        for incident_id in sorted(self.tracked):
            tracked = self.tracked[incident_id]
            config = self.rules.get(tracked.breach.rule)
            if config is not None and config.sampler == "logs":
                scoped.setdefault(tracked.incident.organization_id, tracked)
        return scoped

    def _scoped_log_incidents(self) -> dict[str, Tracked]:
        """Each organization's unresolved incident opened from a log breach."""
        return {o: t for o, t in self._log_incidents().items() if o is not None}

    def _paused_apps(self) -> frozenset[str]:
        """The PM2 apps a pause of calmopsd's own holds stopped right now."""
        return frozenset(
            str(app)
            for active in list_active(self.database)
            if active.action == SafeAction.PAUSE_JOBS
            for app in active.undo.get("apps") or []
        )

    def owner(self, key: SeriesKey) -> Tracked | None:
        """The tracked incident a (rule, labels) series belongs to, if any."""
        return next((tr for tr in self.tracked.values() if key in tr.series), None)

    # -- stabilizing ------------------------------------------------------------------

    def stabilize(self, tracked: Tracked, at: datetime, *, only_if_fits: bool = False) -> None:
        """Request the playbook's next fitting action, or say why none (``only_if_fits``:
        or nothing at all)."""
        choice = choose(self._listed(tracked), self._situation(tracked), frozenset(tracked.tried))
        if only_if_fits and not isinstance(choice, Step):
            return
        deployed = self.context.latest_deploy(tracked.resource.get("app"))
        around = Surroundings(
            deployed_app=deployed[0] if deployed else None,
            deploy=self.context.deploy_marks.get(deployed[0]) if deployed else None,
        )
        self.carry_out(decide.stabilize_decision(tracked, choice, around), at)

    def _listed(self, tracked: Tracked) -> list[SafeAction]:
        """The playbook's actions for the incident's type, then for the types of the
        other rules whose series still fire on it (what is left once part of a fault
        recovered: the app a dependency broke, still errored), each once. The series
        that opened it is left out: its classification decided the type (a deploy's
        server errors are the deploy's, not the network's)."""
        types = [tracked.incident.type]
        for rule, labels in sorted(tracked.series - {tracked.headline}):
            config = self.rules.get(rule)
            if config is None or self.detector.state(rule, labels) is not State.FIRING:
                continue
            if tracked.incident.organization_id and is_platform_rate(config):
                continue  # the platform's view of its organization's fault: no new plan
            types.append(config.type)
        listed: list[SafeAction] = []
        for kind in types:
            listed += [a for a in getattr(self.playbook, kind.value) if a not in listed]
        return listed

    def _situation(self, tracked: Tracked) -> Situation:
        context = self.context
        apps = context.pm2.apps
        failing = [c for c in context.checks.values() if c.down]
        online = bool(apps) and all(a.status == "online" for a in apps.values())
        via = [c.via_nginx for c in failing if c.via_nginx is not None]
        deployed = context.latest_deploy(tracked.resource.get("app"))
        in_window = deployed is not None and (
            timedelta(0) <= tracked.breach.started_at - deployed[1] <= self.settings.deploy_window
        )
        disk_firing = self.detector.any_fired(
            {name for name, rule in self.rules.items() if rule.sampler == "disk"}
        )
        return Situation(
            incident_type=tracked.incident.type,
            resource=tracked.resource,
            apps=apps,
            nginx_bad_gateway=online
            and any(c.via_nginx is not False and c.status in BAD_GATEWAY for c in failing),
            failing_via_nginx=any(via) if via else None,
            disk_breached=disk_firing,
            deployed=deployed[0] if deployed and in_window else None,
            organization=tracked.incident.organization_id,
            limits_organizations=self.limits_organizations,
            paused_apps=self._paused_apps(),
        )

    # -- time -------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """What happens without a reading: monitoring deadlines, stale incidents, expiry."""
        self.resume(now)  # also one a person reopened after resolving it
        for tracked in list(self.tracked.values()):
            series = self._series(tracked)
            self.carry_out(decide.monitoring_decision(tracked, series, now), now)
            if tracked.incident.id in self.tracked:
                self.carry_out(decide.replan_decision(tracked, self._series(tracked)), now)
        self._resolve_stale(now)
        self._expire_recommendations(now)

    def _resolve_stale(self, now: datetime) -> None:
        cutoff = now - self.settings.stale_after
        for incident in list_incidents(self.database, self.scope, unresolved=True):
            tracked = self.tracked.get(incident.id)
            decision = decide.stale_decision(incident, tracked, self._series(tracked), cutoff)
            self.carry_out(decision, now)

    def _expire_recommendations(self, now: datetime) -> None:
        for recommendation in due_to_expire(self.database, self.scope, now):
            expired = decide_recommendation(
                self.database, self.scope, recommendation.id,
                expected=RecommendationStatus.PROPOSED, new=RecommendationStatus.EXPIRED,
                at=now, actor=ACTOR, note="nobody approved or rejected it in time",
            )  # fmt: skip
            tracked = self.tracked.get(recommendation.incident_id)
            if not expired or tracked is None:
                continue
            decided = get_recommendation(self.database, self.scope, recommendation.id)
            followed = decide.recommendation_followed(tracked, decided)
            if followed:
                summary = Summarize(tracked.incident.id)
                self.carry_out(Decision(Why.RECOMMENDATION_DECIDED, (*followed, summary)), now)

    # -- people -----------------------------------------------------------------------

    def follow(self, incident_id: int | None, now: datetime) -> None:
        """A person changed an incident (or its recommendation) just now, on the agent's
        thread: follow it at once."""
        tracked = self.tracked.get(incident_id) if incident_id is not None else None
        if tracked is None:
            self.resume(now)  # one a person reopened is taken up again
            return
        stored = get_incident(self.database, self.scope, tracked.incident.id)
        pointed = tracked.next_recommendation
        recommendation = get_recommendation(self.database, self.scope, pointed) if pointed else None
        note = None
        if stored is not None and stored.status is IncidentStatus.RESOLVED:
            note = self._resolution_note(stored.id)
        decision = decide.follow_decision(
            tracked, stored, recommendation, resolution_note=note, settings=self.settings, now=now
        )
        self.carry_out(decision, now)

    def _resolution_note(self, incident_id: int) -> str | None:
        """The note of the person who resolved the incident, if it was a person."""
        for event in reversed(list_events(self.database, self.scope, incident_id=incident_id)):
            if event.kind == "incident.status_changed" and event.data.get("to") == "resolved":
                note = event.data.get("note")
                return note if isinstance(note, str) and event.actor != ACTOR else None
        return None

    def run_approved(self, rec: Recommendation, actor: str, at: datetime) -> ActionOutcome | None:
        """Request an approved safe action the same way the agent requests its own.

        The incident goes through stabilizing (and monitoring if it works), the
        summary tells it, and an action already in flight on it refuses this one.
        None: requested (its outcome comes back through :meth:`action_done`).
        """
        step = Step(SafeAction(str(rec.action)), rec.params, f"approved by {actor} (#{rec.id})")
        tracked = self.tracked.get(rec.incident_id)
        if tracked is None:
            self.outbox.append(
                ActionRequest(
                    step.action, step.params, rec.incident_id, rec.organization_id,
                    step.reason, approved_by=actor,
                )
            )  # fmt: skip
            return None
        decision = decide.approved_decision(tracked, step, actor)
        applied = self.carry_out(decision, at)
        if decision.why is Why.APPROVED_REFUSED:
            return ActionOutcome(OutcomeStatus.REFUSED, decision.detail)
        if not applied.complete:  # someone moved the incident first
            return ActionOutcome(
                OutcomeStatus.REFUSED, f"the incident is {tracked.incident.status}"
            )
        return None

    def approve(
        self, scope: Scope, recommendation_id: int, actor: str, at: datetime
    ) -> approvals.Decision:
        """A person approves a recommendation (:func:`.approvals.approve`, the action
        requested the agent's way); the summary's next step follows at once."""
        decided = approvals.approve(
            self.database, scope, recommendation_id, actor=actor, at=at,
            state_of=self.series_state, run=self.run_approved, busy=self.approval_busy,
        )  # fmt: skip
        if decided.status != "requested":  # else its outcome is followed (approved_outcome)
            self._follow_recommendation(recommendation_id, at)
        return decided

    def approved_outcome(
        self, scope: Scope, rec: Recommendation, actor: str, at: datetime, outcome: ActionOutcome
    ) -> approvals.Decision:
        """The outcome of an approved action is in (after :meth:`action_done`): the
        recommendation is executed, or approved only, and the next step follows."""
        told = approvals.after_outcome(self.database, scope, rec, actor, at, outcome)
        self._follow_recommendation(rec.id, at)
        return told

    def _follow_recommendation(self, recommendation_id: int, at: datetime) -> None:
        found = get_recommendation(self.database, self.scope, recommendation_id)
        if found is not None:
            self.follow(found.incident_id, at)

    def approval_busy(self, rec: Recommendation) -> str | None:
        """Why an approved action cannot be requested now (checked before the approval is
        recorded, so the recommendation stays proposed)."""
        tracked = self.tracked.get(rec.incident_id)
        if tracked is not None and (
            tracked.pending is not None or tracked.incident.status is IncidentStatus.STABILIZING
        ):
            return "another action is running on it; approve it once that one is done"
        return None

    # -- actions ----------------------------------------------------------------------

    def take_requests(self) -> list[ActionRequest]:
        """The action requests decided since the last call, oldest first."""
        taken = list(self.outbox)
        self.outbox.clear()
        return taken

    def action_done(self, request: ActionRequest, outcome: ActionOutcome, at: datetime) -> None:
        """An outcome from the executor's worker: the incident moves on from it."""
        incident_id = request.incident_id
        tracked = self.tracked.get(incident_id) if incident_id is not None else None
        decision = decide.outcome_decision(tracked, request, outcome, at, self.settings)
        if decision.why is not Why.NOT_PENDING:
            self.carry_out(decision, at)
            return
        # Requested by an agent before a reload, or for an incident nobody tracks.
        self.in_flight.pop(incident_id or 0, None)
        if incident_id is None or get_incident(self.database, self.scope, incident_id) is None:
            return
        add_action(
            self.database, self.scope, incident_id, action=request.action,
            params=request.params, status=outcome.status, at=at,
            actor=request.approved_by or ACTOR,
            outcome={"detail": outcome.detail, "reason": request.reason},
        )  # fmt: skip

    # -- after a restart --------------------------------------------------------------

    def resume(self, now: datetime) -> None:
        """Take over the unresolved incidents a previous agent (before a restart or a
        reload) left, so that their recovery is seen and not mistaken for staleness."""
        clear_for = {name: rule.clear_for for name, rule in self.rules.items()}
        for incident in list_incidents(self.database, self.scope, unresolved=True):
            if incident.id in self.tracked:
                continue
            breach = decide.stored_breach(incident)
            owned = breach is not None and self.owner((breach.rule, breach.labels)) is not None
            foreign = breach is None or breach.rule not in clear_for or owned
            if foreign and incident.status is not IncidentStatus.STABILIZING:
                continue  # nothing to decide, nothing worth reading its log for
            events = list_events(self.database, self.scope, incident_id=incident.id)
            left = Resumable(
                incident,
                last_request(events),
                () if foreign else self._done(incident.id),
                self.in_flight.get(incident.id),
                owned,
                tuple(events),
                ()
                if foreign
                else tuple(list_recommendations(self.database, self.scope, incident.id)),
                (None, None)
                if foreign or breach is None
                else self._stored_figures(incident, breach, now),
            )
            decision = decide.resume_decision(left, clear_for, self.settings)
            self.carry_out(decision, now)
            if decision.why is Why.RESUMED_IN_FLIGHT:
                self.in_flight.pop(incident.id, None)

    def _stored_figures(
        self, incident: Incident, breach: Breach, now: datetime
    ) -> tuple[float | None, float | None]:
        """Its headline series' last and worst value in the stored readings of the last
        day at most (a day of readings every 15 s is 5,760 to read at a start)."""
        rule = self.rules.get(breach.rule)
        if rule is None:
            return None, None
        since = max(incident.opened_at, now - PEAK_LOOKBACK)
        points = readings_since(self.database, self.scope, rule.sampler, since)
        return decide.stored_figures([point.values for point in points], rule, breach.labels)

    def _done(self, incident_id: int) -> tuple[Done, ...]:
        """The incident's action rows: what the summary told before the restart (these
        are also not tried again on their own)."""
        done = []
        for row in list_children(self.database, self.scope, "incident_actions", incident_id):
            if row["action"] not in set(SafeAction):
                continue
            outcome = decode_json(row["outcome"])
            at = datetime.fromisoformat(row["requested_at"])
            detail = str(outcome.get("detail") or "")
            action = SafeAction(row["action"])
            done.append(Done(action, decode_json(row["params"]), at, row["status"], detail))
        return tuple(done)

    # -- shared -----------------------------------------------------------------------

    def _series(self, tracked: Tracked | None) -> dict[SeriesKey, SeriesFacts]:
        if tracked is None:
            return {}
        detector = self.detector
        return {k: _facts_of(detector, k) for k in tracked.series}

    def _base_hold(self, rule_name: str) -> timedelta:
        rule = self.rules.get(rule_name)
        return rule.clear_for if rule is not None else DEFAULT_CLEAR_HOLD

    def impact_for(self, organization_id: str | None, incident_id: int | None = None) -> Impact:
        """Customer impact now, as incident ``incident_id`` (None: one opening) of
        ``organization_id`` may tell it (an organization's from its own traffic only).

        A platform-wide incident leaves out the traffic of organizations whose own log
        incident is open: their errors are that incident's (an app crash must not name
        the organization whose uploads were already failing, nor count its errors). In
        the same way a health check another open incident is about is that incident's
        impact, not every incident's: a disk incident while `web` fails is no outage of
        its own, and must not draft a second outage notice for customers."""
        logs = self.context.logs
        if organization_id is None:
            logs = logs.without(self._scoped_log_incidents())
        owned = self._checks_of_others(incident_id)
        checks = {name: c for name, c in self.context.checks.items() if name not in owned}
        return assess(checks, logs, self.levels, organization_id)

    def _checks_of_others(self, incident_id: int | None) -> frozenset[str]:
        """The health checks whose series belong to a tracked incident other than this one."""
        return frozenset(
            value
            for tracked_id, tracked in self.tracked.items()
            if tracked_id != incident_id
            for _, labels in tracked.series
            for key, value in labels
            if key == "check"
        )

    def series_state(self, rule: str, labels: tuple[tuple[str, str], ...]) -> str:
        """The detector's state of one series, for approvals' stale checks."""
        return str(self.detector.state(rule, labels))


def _specific_first(transition: Transition) -> int:
    """A reading's confirmed breaches of one organization go before the rest, so the
    specific incident exists by the time the platform's breach of the same fault is
    taken (:func:`~.decide.scope.explaining_incident`)."""
    confirmed = transition.reason is Reason.BREACH_CONFIRMED
    return 0 if confirmed and any(k == "organization" for k, _ in transition.labels) else 1


def _facts_of(detector: Detector, key: SeriesKey) -> SeriesFacts:
    rule, labels = key
    return SeriesFacts(
        detector.state(rule, labels),
        detector.reported(rule, labels),
        detector.last_seen(rule, labels),
        detector.breach(rule, labels),
    )
