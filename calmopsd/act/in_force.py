"""Reversible actions in force: kept before they run, never stacked, ended on time.

A reversible action about to run is a row in ``active_actions`` (``action.in_force``)
with its undo, read before anything changes, and its expiry: a crash mid-run still
leaves it to be reverted. A second pause or limit on the same target is refused
while the first is in force. :meth:`InForce.revert_due` (the daemon's tick, through
the executor) reverts every row whose time is up — also after a restart — and
:meth:`InForce.revert` ends one early (a person's revert, at once, extended or not).

A row whose time is up while its incident is still unresolved (open, stabilizing
or monitoring: the condition it answers may hold) is extended by its first term
instead (``action.extended``), at most its section's ``max_extensions`` times;
once they are spent it is reverted all the same, after an
``action.extension_spent`` event that hands it to a person. An incident resolved
or gone: reverted on time. Extensions are counted from the audit log, so a
restart keeps them; they are no new runs (no budget, no cooldown). A revert that fails is an
``action.revert_failed`` event and is tried again later, backing off from
:data:`REVERT_BACKOFF` to :data:`MAX_REVERT_BACKOFF`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from calmopsd.act.action import Action, Prepared, Refused, Result
from calmopsd.act.sandbox import Sandbox
from calmopsd.clock import Clock
from calmopsd.config.units import format_duration
from calmopsd.model import AGENT, ActionRequest, IncidentStatus, RefusalReason, SafeAction
from calmopsd.record.actions import (
    ActiveAction,
    add_active,
    count_events,
    extend_active,
    first_term,
    get_active,
    list_active,
    mark_reverted,
    recorded_undo_digest,
    undo_digest,
)
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.act")

REVERT_BACKOFF = timedelta(minutes=2)
MAX_REVERT_BACKOFF = timedelta(hours=1)


class InForce:
    """The executor's actions in force, sharing its sandboxes and its per-target locks."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        actions: Mapping[SafeAction, Action],
        sandbox: Callable[[Action], Sandbox],
        lock_for: Callable[[str], threading.Lock],
        max_extensions: Callable[[str], int] = lambda action: 0,
    ) -> None:
        self.database = database
        self.max_extensions = max_extensions  # per action name, read from the live config
        self.clock = clock
        self.actions = actions
        self.sandbox = sandbox  # never dry: what really ran is really undone
        self.lock_for = lock_for
        self.scope = Scope.platform()
        self._failures: dict[int, int] = {}  # failed reverts per action in force
        self._retry_at: dict[int, datetime] = {}

    # -- the request side ---------------------------------------------------------

    def refuse_if_in_force(self, action: Action, target: str, now: datetime) -> None:
        """A second pause or limit on top of one in force would be undone to the first: refuse."""
        for active in list_active(self.database):
            # One past its time is the revert's business (it may be retrying): not a block.
            if active.action == action.name and active.target == target and active.expires_at > now:
                raise Refused(
                    RefusalReason.ALREADY_IN_FORCE,
                    f"{action.name} on {target} is in force until "
                    f"{active.expires_at:%Y-%m-%d %H:%M} UTC (calmopsd actions revert {active.id})",
                )

    def keep(
        self,
        request: ActionRequest,
        action: Action,
        params: dict[str, Any],
        target: str,
        prepared: Prepared,
        by: str,
    ) -> int:
        """Keep it until its time is up, timed by the executor's own clock: a reading
        stamped far ahead (a bad RTC) must not keep a pause in force for a year."""
        started = self.clock.now()
        return add_active(
            self.database, self.scope, action=action.name, target=target,
            incident_id=request.incident_id, organization_id=request.organization_id,
            params=params, undo=prepared.undo, started_at=started,
            expires_at=started + prepared.lasts, actor=by,
        )  # fmt: skip

    def nothing_to_undo(self, active_id: int, now: datetime, by: str) -> None:
        """The action failed and says it changed nothing: it is not in force after all."""
        active = get_active(self.database, active_id)
        if active is not None:
            mark_reverted(
                self.database, self.scope, active, at=now, actor=by, ok=True,
                detail="the action failed before changing anything: nothing to undo",
            )  # fmt: skip

    # -- reverts --------------------------------------------------------------------

    def revert_due(self, now: datetime) -> list[int]:
        """Revert every action in force whose time is up; the ids reverted.

        Each row on its own: one that cannot be read or undone is recorded and
        retried later (backing off), and never holds up the others.
        """
        reverted = []
        for active in list_active(self.database, due_by=now):
            if now < self._retry_at.get(active.id, now):
                continue
            try:
                if self._extended(active, now):
                    continue
                done, _ = self._revert(active, now, AGENT)
            except Exception as exc:  # an unreadable row: recorded, the others go on
                log.exception("action.revert_crashed", id=active.id)
                done = False
                self._revert_failed(active, now, AGENT, f"cannot revert: {type(exc).__name__}")
            if done:
                reverted.append(active.id)
        return reverted

    def revert(self, active_id: int, now: datetime, actor: str) -> tuple[bool, str]:
        """End one action in force early, by a person; (done, what happened)."""
        active = get_active(self.database, active_id)
        if active is None:
            return False, f"no action in force with id {active_id}"
        if active.reverted_at is not None:
            return False, f"action {active_id} was already reverted at {active.reverted_at}"
        return self._revert(active, now, actor)

    # -- extensions -----------------------------------------------------------------

    def _extended(self, active: ActiveAction, now: datetime) -> bool:
        """Whether ``active``, due now, stays in force: its incident is still unresolved
        and it has extensions left (then it is extended). With none left, the hand-over
        event is recorded (once) and False: it is reverted all the same."""
        status = self._unresolved(active)
        term = first_term(self.database, active) if status else None
        if status is None or term is None:
            return False
        used = count_events(self.database, "action.extended", active.id)
        allowed = self.max_extensions(active.action)
        if used >= allowed:
            self._hand_over(active, now, status, used)
            return False
        expires = max(active.expires_at, now) + term
        left = allowed - used - 1
        detail = (
            f"{active.action} extended by {format_duration(term)} to "
            f"{expires:%H:%M} UTC: incident #{active.incident_id} is still {status} "
            f"({left} more extension{'' if left == 1 else 's'} allowed)"
        )
        data = {"extension": used + 1, "extensions_left": left, "incident_status": status,
                "term": format_duration(term), "detail": detail}  # fmt: skip
        extended = extend_active(
            self.database, self.scope, active, at=now, expires_at=expires, actor=AGENT, data=data
        )
        if extended:
            log.info("action.extended", id=active.id, action=active.action, expires_at=expires,
                     incident_id=active.incident_id, extensions_left=left)  # fmt: skip
        return extended

    def _unresolved(self, active: ActiveAction) -> IncidentStatus | None:
        """The status of the action's incident while it is unresolved; None: no incident,
        gone, or resolved (the condition is over: revert on time)."""
        if active.incident_id is None:
            return None
        incident = get_incident(self.database, self.scope, active.incident_id)
        if incident is None or incident.status is IncidentStatus.RESOLVED:
            return None
        return incident.status

    def _hand_over(self, active: ActiveAction, now: datetime, status: str, used: int) -> None:
        """Its extensions are spent and the condition holds: it ends, and a person decides
        whether it is needed again. Once per action in force (a failed revert retries)."""
        if count_events(self.database, "action.extension_spent", active.id):
            return
        times = f"extended {used} time{'' if used == 1 else 's'}, the most allowed"
        detail = (
            f"{active.action} ends although incident "
            f"#{active.incident_id} is still {status} ({times if used else 'never extended'}): "
            f"a person decides whether to {active.action} again"
        )
        record_event(
            self.database, self.scope, kind="action.extension_spent", actor=AGENT, at=now,
            incident_id=active.incident_id,
            data={"id": active.id, "action": active.action, "target": active.target,
                  "extensions": used, "incident_status": status, "detail": detail},
        )  # fmt: skip
        log.warning("action.extension_spent", id=active.id, action=active.action,
                    incident_id=active.incident_id, extensions=used)  # fmt: skip

    # -- the revert itself ----------------------------------------------------------

    def _revert(self, active: ActiveAction, now: datetime, actor: str) -> tuple[bool, str]:
        known = active.action in {a.value for a in SafeAction}
        action = self.actions.get(SafeAction(active.action)) if known else None
        if action is None:
            return self._revert_failed(active, now, actor, f"unknown action {active.action!r}")
        if recorded_undo_digest(self.database, active.id) != undo_digest(active.undo):
            # The row is not covered by the hash chain; the in-force event is. A record
            # that differs from it was edited: undoing it could do anything.
            why = "its undo record does not match the audit log: not reverted, check it by hand"
            return self._revert_failed(active, now, actor, why)
        with self.lock_for(active.target):  # an action running on the target finishes first
            sandbox = self.sandbox(action)
            sandbox.undo_vouched = True  # its digest matched the hash-chained event above
            try:
                result = action.revert(active.undo, sandbox)
            except Exception as exc:  # recorded as a failed revert, retried later
                log.exception("action.revert_crashed", action=action.name, id=active.id)
                result = Result(False, f"the revert crashed ({type(exc).__name__})")
        if not result.ok:
            return self._revert_failed(active, now, actor, result.detail)
        self._failures.pop(active.id, None)
        self._retry_at.pop(active.id, None)
        done = mark_reverted(
            self.database, self.scope, active, at=now, actor=actor, ok=True,
            detail=result.detail, data={"data": result.data},
        )  # fmt: skip
        return done, "reverted" if done else "someone else reverted it first"

    def _revert_failed(
        self, active: ActiveAction, now: datetime, actor: str, why: str
    ) -> tuple[bool, str]:
        """An audit event, and the next automatic try later each time (2 min … 1 h)."""
        failures = self._failures.get(active.id, 0) + 1
        self._failures[active.id] = failures
        wait = min(REVERT_BACKOFF * 2 ** (failures - 1), MAX_REVERT_BACKOFF)
        self._retry_at[active.id] = now + wait
        record_event(
            self.database, self.scope, kind="action.revert_failed", actor=actor, at=now,
            incident_id=active.incident_id,
            data={"id": active.id, "action": active.action, "target": active.target,
                  "detail": why[:300], "failures": failures, "next_try_in": str(wait)},
        )  # fmt: skip
        log.error("action.revert_failed", id=active.id, action=active.action, detail=why,
                  failures=failures, incident_id=active.incident_id)  # fmt: skip
        return False, why
