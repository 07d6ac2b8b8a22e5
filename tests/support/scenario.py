"""A scenario builder: readings on a manual timeline through the real agent and a real store.

Time moves only when a test says so; nothing sleeps. ``ScriptedExecutor`` stands
in for the sandboxed executor (issue 6 builds the real one): it records each
request and answers with the outcome the test scripted for that action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from support.clock import ManualClock

from calmopsd.act.executor import SafeExecutor
from calmopsd.config import Config
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import (
    ActionOutcome,
    ActionRequest,
    AuditEvent,
    Executor,
    Incident,
    OutcomeStatus,
    Reading,
    Recommendation,
    SafeAction,
)
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident, list_children, list_incidents
from calmopsd.record.recommendations import get_recommendation, list_recommendations
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot
from calmopsd.respond.agent import Agent
from calmopsd.respond.approvals import Decision as ApprovalDecision
from calmopsd.respond.impact import ImpactLevels

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
EVERY = timedelta(seconds=15)
PLATFORM = Scope.platform()


class ScriptedExecutor:
    """Answers each action with its scripted status (default: succeeded)."""

    def __init__(self, refused_for: str = "budget_spent", **outcomes: str) -> None:
        self.outcomes = outcomes
        self.refused_for = refused_for  # the reason every refusal gives
        self.requests: list[ActionRequest] = []
        self.returned: list[int] = []  # incidents whose symptom came back

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome:
        self.requests.append(request)
        status = OutcomeStatus(self.outcomes.get(request.action.value, "succeeded"))
        detail = {"failed": "exit 1", "refused": "budget spent: 3 per hour"}.get(status, "")
        reason = self.refused_for if status is OutcomeStatus.REFUSED else None
        return ActionOutcome(status, detail, reason=reason)

    def symptom_returned(self, incident_id: int, now: datetime) -> list[SafeAction]:
        self.returned.append(incident_id)
        return []


class Scenario:
    def __init__(
        self,
        database: Database,
        config: Config | None = None,
        executor: Executor | None = None,
        start: datetime = T0,
    ) -> None:
        self.config = config or Config()
        self.database = database
        self.executor: Any = executor or ScriptedExecutor()
        self.now = start
        self.agent = Agent(
            database,
            rules=self.config.detection_rules(),
            incidents=self.config.incidents,
            playbook=self.config.playbook,
            executor=self.executor,
            levels=ImpactLevels(server_error_rate=0.05, min_requests=100, upload_failure_rate=0.1),
            limits_organizations=(
                self.config.actions.rate_limit_uploads.organizations_map_file is not None
            ),
        )
        with database.unit():
            self.agent.resume(self.now)  # as the daemon does on start and on a reload

    # -- the daemon's agent thread and executor worker, inline ------------------------

    def handle(self, work: Callable[[], Any]) -> Any:
        """One input, in one transaction, as the daemon's agent thread handles it; then
        the executor's worker runs what it requested and feeds each outcome back."""
        with self.database.unit():
            answer = work()
        self.drain()
        return answer

    def drain(self) -> None:
        for _ in range(len(SafeAction) * 4):  # each outcome may request the next action
            requests = self.agent.take_requests()
            if not requests:
                return
            for request in requests:
                self.finish(request)
        raise AssertionError("the agent kept requesting actions")

    def finish(self, request: ActionRequest) -> ActionOutcome:
        try:
            outcome = self.executor.request(request, self.now)
        except Exception as exc:  # as the daemon's worker answers a crash
            outcome = ActionOutcome(
                OutcomeStatus.FAILED, f"the executor crashed ({type(exc).__name__})"
            )
        with self.database.unit():
            self.agent.action_done(request, outcome, self.now)
        return outcome

    def person(self, incident_id: int | None, work: Callable[[], Any]) -> Any:
        """A person's change (API, CLI) as the daemon carries it out: on the agent's
        thread, in one transaction with the agent's following of it
        (``Responder.in_agent``)."""
        with self.database.unit():
            before = self.database.changes()
            answer = work()
            if self.database.changes() != before:  # a refused change is not followed
                self.agent.follow(incident_id, self.now)
        self.drain()
        return answer

    def approve(
        self, recommendation_id: int, actor: str = "dana", at: datetime | None = None
    ) -> ApprovalDecision:
        """A person's approval as the daemon carries it out (``Responder._approved`` and
        its ``_Done``): approved and requested in one unit on the agent's thread; the
        outcome taken up, and the recommendation told executed, in the next."""
        at = at or self.now
        with self.database.unit():
            decided = self.agent.approve(Scope.platform(), recommendation_id, actor, at)
        if decided.status != "requested":
            return decided
        (request,) = self.agent.take_requests()
        outcome = self.executor.request(request, at)
        with self.database.unit():
            self.agent.action_done(request, outcome, at)
            rec = get_recommendation(self.database, Scope.platform(), recommendation_id)
            assert rec is not None
            told = self.agent.approved_outcome(Scope.platform(), rec, actor, at, outcome)
        self.drain()
        return told

    def run_approved(self, rec: Recommendation, actor: str, at: datetime) -> ActionOutcome:
        """What the daemon's approval hook does: request it, wait for its outcome."""
        with self.database.unit():
            refused = self.agent.run_approved(rec, actor, at)
        if refused is not None:
            return refused
        (request,) = self.agent.take_requests()
        outcome = self.finish(request)
        self.drain()
        return outcome

    # -- time and readings ------------------------------------------------------

    def feed(
        self,
        sampler: str,
        values: dict[str, Any],
        times: int = 1,
        every: timedelta = EVERY,
        *,
        stored: bool = False,
    ) -> None:
        """``times`` readings of ``values``, ``every`` apart; the agent ticks after each.
        ``stored``: each is also a snapshot in the store first, as the daemon's sampler
        job keeps it (what an agent after a restart reads)."""
        for _ in range(times):
            if stored:
                add_snapshot(self.database, PLATFORM, sampler=sampler, taken_at=self.now,
                             ok=True, duration_ms=1.0, readings=values)  # fmt: skip
            self.handle(partial(self.agent.observe, Reading(sampler, self.now, True, 1.0, values)))
            self.handle(partial(self.agent.tick, self.now))
            self.now += every

    def wait(self, delta: timedelta) -> None:
        self.now += delta
        self.handle(partial(self.agent.tick, self.now))

    def at(self, hhmm: str) -> datetime:
        hour, minute = map(int, hhmm.split(":"))
        return self.now.replace(hour=hour, minute=minute, second=0)

    # -- what the store holds ------------------------------------------------------

    def incidents(self) -> list[Incident]:
        return sorted(list_incidents(self.database, PLATFORM), key=lambda i: i.id)

    def only(self) -> Incident:
        found = self.incidents()
        assert len(found) == 1, found
        return found[0]

    def get(self, incident_id: int) -> Incident:
        incident = get_incident(self.database, PLATFORM, incident_id)
        assert incident is not None
        return incident

    def events(self, incident_id: int | None = None) -> list[AuditEvent]:
        return list_events(self.database, PLATFORM, incident_id=incident_id)

    def kinds(self, incident_id: int) -> list[str]:
        return [e.kind for e in self.events(incident_id)]

    def recommendations(self, incident_id: int) -> list[Recommendation]:
        return list_recommendations(self.database, PLATFORM, incident_id)

    def actions(self, incident_id: int) -> list[dict[str, Any]]:
        return list_children(self.database, PLATFORM, "incident_actions", incident_id)


# -- readings as the samplers write them ----------------------------------------------


def memory(used_percent: float) -> dict[str, Any]:
    return {"used_percent": used_percent, "available_bytes": 1 << 30, "top_processes": []}


def disk(
    used_percent: float, hours_until_full: float | None = None, mount: str = "/"
) -> dict[str, Any]:
    return {"mounts": {mount: {"used_percent": used_percent, "hours_until_full": hours_until_full}}}


def pm2(**apps: dict[str, Any]) -> dict[str, Any]:
    full = {
        name: {"status": "online", "memory_bytes": 100 << 20, "restart_increase": 0, **app}
        for name, app in apps.items()
    }
    return {"state": "ok", "apps": full}


def http(**checks: bool | str | int | dict[str, Any]) -> dict[str, Any]:
    """``web=True`` is up; ``web="connection_refused"`` is down with that failure;
    ``web=502`` answered 502 through nginx; ``web=check(...)`` says more."""
    return {"checks": {name: _check(state) for name, state in checks.items()}}


def check(failure: str | int, *, via_nginx: bool | None = None) -> dict[str, Any]:
    """A failing check: a failure kind, or the HTTP status it answered with."""
    said = {"via_nginx": via_nginx} if via_nginx is not None else {}
    if isinstance(failure, int):
        return {"up": False, "failure": "unexpected_status", "status": failure, **said}
    return {"up": False, "failure": failure, **said}


def _check(state: bool | str | int | dict[str, Any]) -> dict[str, Any]:
    if state is True:
        return {"up": True}
    if isinstance(state, dict):
        return state
    if isinstance(state, int) and not isinstance(state, bool):
        return check(state, via_nginx=True)
    return check(str(state))


def probes(**up: bool) -> dict[str, Any]:
    return {"probes": {name: {"up": state} for name, state in up.items()}}


def logs(
    errors_per_min: float = 0,
    uploads: int = 0,
    upload_failures: int = 0,
    organizations: Iterable[tuple[str, float]] = (),
    requests_per_min: int = 100,
    window_end: datetime | None = None,
) -> dict[str, Any]:
    """A ``logs`` reading: ``errors_per_min`` of ``requests_per_min`` requests in each window.

    Without ``window_end`` every reading is fresh evidence to the detector; with it,
    readings of the same window end count once, as the real sampler's do.
    """
    rate = upload_failures / uploads if uploads else None

    def window(errors: float) -> dict[str, Any]:
        share = errors / requests_per_min if requests_per_min else None
        return {"1m": {"server_errors_per_min": errors, "requests_per_min": requests_per_min,
                       "requests": requests_per_min, "server_errors": errors,
                       "server_error_rate": share},
                "5m": {"uploads": uploads, "upload_failures": upload_failures,
                       "upload_failure_rate": rate, "server_errors_per_min": errors,
                       "requests": 5 * requests_per_min, "server_error_rate": share}}  # fmt: skip

    values: dict[str, Any] = {
        "sources": {"web": window(errors_per_min)},
        "platform": window(errors_per_min),
        "organizations": {org: window(errors) for org, errors in organizations},
    }
    if window_end is not None:
        values["window_end"] = window_end.isoformat()
    return values


def shadow_executor(database: Database, **actions: Any) -> SafeExecutor:
    """The real executor in shadow mode (as shipped), its state beside the store.

    ``actions`` is the ``actions:`` section; by default temp dirs are allowed, so the
    playbook's clear_temp is decided (and shadowed) rather than refused as unset.
    """
    config = ActionsConfig.model_validate(
        {"clear_temp": {"dirs": [str(database.path.parent / "uploads" / "tmp")]}, **actions}
    )
    return SafeExecutor(database, config, Pm2SamplerConfig(), database.path.parent, ManualClock(T0))
