"""The sandboxed executor: the one way calmopsd changes the host.

Every request takes the same path::

    known action? → kill switch → validate params (allowlists) → not already in
    force → checks (budget, cooldown, ineffective) → shadow? record "would have
    run" and stop → lock the target → intent event → a reversible action is
    recorded in force with its undo, read before anything changes → run
    (execute + verify) in a Sandbox → result event

A refusal at any step is itself an audit event (``action.refused``) and runs
nothing. Reversible actions in force are persisted with their expiry and
reverted by :meth:`SafeExecutor.revert_due` (the daemon's tick) — also after a
restart — or early by :meth:`SafeExecutor.revert`; that bookkeeping is
:mod:`calmopsd.act.in_force`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from calmopsd.act import control
from calmopsd.act.action import Action, Refused, Result
from calmopsd.act.checks import CHECKS, Context, kill_switch
from calmopsd.act.in_force import InForce
from calmopsd.act.sandbox import Backend, DirectBackend, Sandbox
from calmopsd.clock import Clock
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    ActionRequest,
    AuditEvent,
    OutcomeStatus,
    RefusalReason,
    SafeAction,
)
from calmopsd.record.actions import is_ineffective, list_active, was_extended, worked_since
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.act")

MAX_COMMANDS_RECORDED = 20


class SafeExecutor:
    """Runs the five safe actions for the agent and for approvals; see the module docstring."""

    def __init__(
        self,
        database: Database,
        config: ActionsConfig,
        pm2: Pm2SamplerConfig,
        state_dir: Path,
        clock: Clock,
        actions: Mapping[SafeAction, Action] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.database = database
        self.config = config
        self.pm2 = pm2
        self.state_dir = state_dir
        self.clock = clock
        if actions is None:
            actions = chosen_actions(config)
        self.actions = dict(actions)
        self.backend = backend or DirectBackend()
        self.scope = Scope.platform()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.in_force = InForce(
            database, clock, self.actions, self._revert_sandbox, self._lock_for,
            max_extensions=self._max_extensions,
        )  # fmt: skip

    # -- the request path -----------------------------------------------------------

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome:
        action = self.actions.get(request.action) if isinstance(request.action, str) else None
        try:
            if action is None:
                raise Refused(
                    RefusalReason.UNKNOWN_ACTION,
                    f"{request.action!r} is not one of the safe actions",
                )
            kill_switch(self.config, self.pause_file)
            if not isinstance(request.params, Mapping):
                raise Refused(
                    RefusalReason.BAD_PARAMETER, "parameters must be a mapping of names to values"
                )
            params = action.validate(dict(request.params), self.config)
            if action.reversible:
                self.in_force.refuse_if_in_force(action, action.target(params), self.clock.now())
            target = action.target(params)
            context = Context(
                self.config, self.database, self.pause_file, now, action, params, target
            )
            for check in CHECKS:
                check(request, context)
        except Refused as refused:
            return self._refuse(request, refused, now)
        if self._mode(action) == "shadow":
            return self._shadow(request, action, params, target, now)
        lock = self._lock_for(target)
        if not lock.acquire(blocking=False):
            return self._refuse(
                request, Refused(RefusalReason.BUSY, f"another action on {target} is running"), now
            )
        try:
            return self._run(request, action, params, target, now)
        finally:
            lock.release()

    def _run(
        self,
        request: ActionRequest,
        action: Action,
        params: dict[str, Any],
        target: str,
        now: datetime,
    ) -> ActionOutcome:
        facts = {"action": action.name, "target": target, "params": params}
        by = request.approved_by or AGENT
        intent = self._event(
            "action.intent", now, request, {**facts, "dry_run": self.config.dry_run}, by
        )
        sandbox = self._sandbox(action)
        # A reversible action is recorded in force *before* it runs, from an undo read
        # before anything changes: a crash mid-run still leaves it to be reverted.
        active_id = self._prepare(request, action, params, target, sandbox, by)
        began = time.monotonic()
        try:
            result = action.run(params, sandbox)
        except Exception as exc:  # a bug in an action is a failed action, never a crash
            log.exception("action.crashed", action=action.name, incident_id=request.incident_id)
            result = Result(False, f"the action crashed ({type(exc).__name__})")
        duration = round(time.monotonic() - began, 3)
        status = _status(result, self.config.dry_run)
        self._event(
            "action.executed",
            now,
            request,
            {
                **facts,
                "intent_seq": intent.seq,  # the intent this is the result of
                "status": status,
                "detail": result.detail,
                "duration_s": duration,
                "data": result.data,
                "commands": [list(c) for c in sandbox.commands[:MAX_COMMANDS_RECORDED]],
            },
            by,
        )
        log.info(
            "action.executed",
            action=action.name,
            target=target,
            status=status,
            duration_s=duration,
            incident_id=request.incident_id,
            organization_id=request.organization_id,
        )
        if active_id is not None and status is OutcomeStatus.FAILED and result.undo is None:
            # It failed and says it changed nothing (or undid itself): nothing stays in force.
            self.in_force.nothing_to_undo(active_id, now, by)
        return ActionOutcome(status, result.detail)

    def _prepare(
        self,
        request: ActionRequest,
        action: Action,
        params: dict[str, Any],
        target: str,
        sandbox: Sandbox,
        by: str,
    ) -> int | None:
        if not action.reversible or self.config.dry_run:
            return None
        try:
            prepared = action.prepare(params, sandbox)
        except Exception:  # run() will meet the same problem and say it
            log.exception("action.prepare_crashed", action=action.name)
            return None
        if prepared is None:
            return None
        return self.in_force.keep(request, action, params, target, prepared, by)

    def _refuse(self, request: ActionRequest, refused: Refused, now: datetime) -> ActionOutcome:
        data = {
            "action": str(request.action),
            "params": _shown(request.params),
            "reason": refused.reason,
            "detail": refused.detail,
        }
        self._event("action.refused", now, request, data, request.approved_by or AGENT)
        log.warning(
            "action.refused",
            action=str(request.action),
            reason=refused.reason,
            incident_id=request.incident_id,
            organization_id=request.organization_id,
        )
        return ActionOutcome(OutcomeStatus.REFUSED, refused.detail, reason=refused.reason)

    def _shadow(
        self,
        request: ActionRequest,
        action: Action,
        params: dict[str, Any],
        target: str,
        now: datetime,
    ) -> ActionOutcome:
        detail = f"shadow mode: would have run {action.name} on {target}"
        data = {"action": action.name, "target": target, "params": params, "detail": detail}
        self._event("action.shadowed", now, request, data, request.approved_by or AGENT)
        log.info(
            "action.shadowed",
            action=action.name,
            target=target,
            incident_id=request.incident_id,
            organization_id=request.organization_id,
        )
        return ActionOutcome(OutcomeStatus.SHADOW, detail)

    # -- ineffective, pause, revert --------------------------------------------------

    def symptom_returned(self, incident_id: int, now: datetime) -> list[SafeAction]:
        since = now - self.config.ineffective_within
        marked = []
        for name in worked_since(self.database, incident_id, since):
            action = SafeAction(name)
            if is_ineffective(self.database, incident_id, action) or self._holding(
                incident_id, action
            ):
                continue
            record_event(
                self.database, self.scope, kind="action.ineffective", actor=AGENT, at=now,
                incident_id=incident_id,
                data={"action": action.value, "within": str(self.config.ineffective_within)},
            )  # fmt: skip
            log.warning("action.ineffective", incident_id=incident_id, action=action.value)
            marked.append(action)
        return marked

    def _holding(self, incident_id: int, action: SafeAction) -> bool:
        """A reversible action still in force for the incident, or one extended for it,
        holds a condition that outlasts it (a dependency still down): the symptom being
        back says the condition holds, not that the action failed — it is extended, or
        handed to a person, never marked ineffective for that."""
        in_force = any(
            a.incident_id == incident_id and a.action == action for a in list_active(self.database)
        )
        return in_force or was_extended(self.database, incident_id, action)

    @property
    def pause_file(self) -> Path:
        return self.state_dir / control.PAUSE_FLAG

    def switch(self, paused: bool, actor: str) -> bool:
        """A person pauses (or resumes) every action, through the API: the flag and its
        audit event at once; False if actions already were that way."""
        changed = control.switch(
            self.database, self.state_dir, paused=paused, actor=actor, at=self.clock.now()
        )
        if changed:
            log.warning(control.PAUSED if paused else control.RESUMED, by=actor)
        return changed

    def follow_controls(self, now: datetime) -> None:
        """Record a pause flag made or removed by hand (not through :meth:`switch`)."""
        followed = control.follow(self.database, self.state_dir, now)
        if followed is not None:
            kind, by = followed
            log.warning(kind, by=by)

    def revert_due(self, now: datetime) -> list[int]:
        """Revert every action in force whose time is up; the ids reverted."""
        return self.in_force.revert_due(now)

    def revert(self, active_id: int, now: datetime, actor: str) -> tuple[bool, str]:
        """End one action in force early, by a person; (done, what happened)."""
        return self.in_force.revert(active_id, now, actor)

    # -- helpers --------------------------------------------------------------------

    def _mode(self, action: Action) -> str:
        section = getattr(self.config, action.name.value)
        return str(section.mode or self.config.mode)

    def _max_extensions(self, action: str) -> int:
        """How often an action in force may be extended, from the live config (0: never)."""
        return int(getattr(getattr(self.config, action, None), "max_extensions", 0))

    def _sandbox(self, action: Action, *, dry_run: bool | None = None) -> Sandbox:
        return Sandbox(
            config=self.config,
            pm2=self.pm2,
            workdir=self.state_dir / "act" / action.name.value,
            clock=self.clock,
            dry_run=self.config.dry_run if dry_run is None else dry_run,
            backend=self.backend,
        )

    def _revert_sandbox(self, action: Action) -> Sandbox:
        """Never dry: what really ran is really undone, whatever dry_run says now."""
        return self._sandbox(action, dry_run=False)

    def _lock_for(self, key: str) -> threading.Lock:
        """One lock per target, whatever the action: a limit and a reload both reload
        nginx (target ``nginx``) and would confuse each other's worker check. A target
        on nginx (``nginx:organization=acme``) takes nginx's lock too: two organizations'
        limits edit one map file and reload the same nginx."""
        resource = "nginx" if key.startswith("nginx:") else key
        with self._locks_guard:
            return self._locks.setdefault(resource, threading.Lock())

    def _event(
        self, kind: str, at: datetime, request: ActionRequest, data: dict[str, Any], actor: str
    ) -> AuditEvent:
        return record_event(
            self.database, self.scope, kind=kind, actor=actor, at=at,
            incident_id=request.incident_id, data={**data, "why": request.reason[:200]},
        )  # fmt: skip


def chosen_actions(config: ActionsConfig) -> Mapping[SafeAction, Action]:
    """The five actions as ``actions.backend`` says they run: here (``direct``), or each
    carried out by the root-owned helper (``helper``; :mod:`calmopsd.privsep`). Said in
    the log every time an executor is built; never one in place of the other."""
    from calmopsd.act import ACTIONS  # the table lives beside the actions it lists

    if config.backend == "helper":
        from calmopsd.privsep.client import remote_actions  # privsep builds on act

        log.info("actions.backend", backend="helper", socket=str(config.helper.socket))
        return remote_actions(ACTIONS, config.helper)
    log.info("actions.backend", backend="direct", uid=os.geteuid())
    return ACTIONS


def _status(result: Result, dry_run: bool) -> OutcomeStatus:
    if dry_run:
        return OutcomeStatus.DRY_RUN
    return OutcomeStatus.SUCCEEDED if result.ok else OutcomeStatus.FAILED


def _shown(params: Any) -> Any:
    """Refused parameters go to the audit log, bounded: an attacker's 10 MB string is not kept."""
    text = repr(params)
    return text if len(text) <= 300 else text[:299] + "…"
