"""The closed set of requests the helper carries out, each checked again here.

One request names an ``op`` and one of the five safe actions::

    {"op": "prepare", "action": NAME, "params": {...}}
    {"op": "run",     "action": NAME, "params": {...}, "dry_run": false}
    {"op": "revert",  "action": NAME, "undo": {...}}
    {"op": "ping"}

Nothing else is accepted: another op, an unknown key, an action outside
:data:`calmopsd.act.ACTIONS` is refused. For ``prepare`` and ``run`` the kill switch
(``actions.paused``, the pause flag in ``state_dir``) and the action's mode come first
— the helper's config may keep an action in shadow, and then the helper runs none of
it — then the parameters are validated by the action's own ``validate`` against the
helper's config (read from the root-owned file the helper was started with, never
from a request), and the action's own code runs in a :class:`Sandbox` of the helper's
with the :class:`DirectBackend`, as root. For ``revert`` the undo record is checked
against the helper's allowlists (:mod:`.undo`) and never vouched for. One request at a
time per target (nginx for every nginx target), as in the executor; a second one is
refused as busy.

The helper audits nothing: the daemon records intent and result in its hash chain.
Refusals carry the executor's :class:`~calmopsd.model.RefusalReason` codes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from calmopsd import __version__
from calmopsd.act.action import Action, Refused, Result
from calmopsd.act.checks import kill_switch
from calmopsd.act.control import PAUSE_FLAG
from calmopsd.act.sandbox import DirectBackend, Sandbox
from calmopsd.clock import Clock, SystemClock
from calmopsd.config import Config
from calmopsd.model import RefusalReason, SafeAction
from calmopsd.privsep import undo as undo_check
from calmopsd.privsep import wire

log = structlog.get_logger("calmopsd.privsep")

KEYS: dict[str, frozenset[str]] = {
    "prepare": frozenset({"op", "action", "params"}),
    "run": frozenset({"op", "action", "params", "dry_run"}),
    "revert": frozenset({"op", "action", "undo"}),
    "ping": frozenset({"op"}),
}


class Dispatcher:
    """Answers one decoded request with the helper's config; see the module docstring."""

    def __init__(
        self,
        config: Config,
        workdir: Path,
        actions: Mapping[SafeAction, Action] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if actions is None:
            from calmopsd.act import ACTIONS

            actions = ACTIONS
        self.config = config
        self.workdir = workdir
        self.actions = dict(actions)
        self.clock = clock or SystemClock()
        self.backend = DirectBackend()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to ``request``: a refusal, a result, a prepared undo or a pong."""
        try:
            return self._answer(request)
        except Refused as refused:
            return wire.refusal(refused)
        except Exception as exc:  # a bug in an action is a failed action, never a dead helper
            log.exception("helper.action_crashed", op=request.get("op"))
            crashed = Result(False, f"the action crashed in the helper ({type(exc).__name__})")
            return {"result": wire.result_to_wire(crashed), "commands": []}

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if not isinstance(op, str) or op not in KEYS:
            raise Refused(RefusalReason.BAD_PARAMETER, f"unknown op {_said(op)}")
        extra = sorted(_said(key) for key in request if key not in KEYS[op])
        if extra:
            raise Refused(RefusalReason.BAD_PARAMETER, f"{op} takes no {', '.join(extra[:5])}")
        if op == "ping":
            names = sorted(a.value for a in self.actions)
            return {"pong": {"version": __version__, "actions": names}}
        action = self._action(request.get("action"))
        if op == "revert":
            return self._revert(action, request.get("undo"))
        params = request.get("params", {})
        if not isinstance(params, dict):
            raise Refused(
                RefusalReason.BAD_PARAMETER, "parameters must be a mapping of names to values"
            )
        dry_run = request.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise Refused(RefusalReason.BAD_PARAMETER, "dry_run must be true or false")
        actions = self.config.actions
        kill_switch(actions, self.config.state_dir / PAUSE_FLAG)
        mode = getattr(actions, action.name.value).mode or actions.mode
        if mode != "enforce":
            raise Refused(
                RefusalReason.NOT_ALLOWED,
                f"{action.name} is in {mode} mode in the helper's config: it runs none of it",
            )
        checked = action.validate(dict(params), actions)
        with self._held(action.target(checked)):
            sandbox = self._sandbox(action, dry_run=dry_run or actions.dry_run)
            if op == "prepare":
                prepared = action.prepare(checked, sandbox)
                return {"prepared": wire.prepared_to_wire(prepared), "commands": _ran(sandbox)}
            result = action.run(checked, sandbox)
            return {"result": wire.result_to_wire(result), "commands": _ran(sandbox)}

    def _revert(self, action: Action, undo: object) -> dict[str, Any]:
        if not action.reversible:
            raise Refused(RefusalReason.NOT_ALLOWED, f"{action.name} is not reversible")
        if not isinstance(undo, dict):
            raise Refused(RefusalReason.BAD_PARAMETER, "undo must be a mapping")
        undo_check.check(action.name, undo, self.config.actions)
        target = _revert_target(action, undo)
        with self._held(target):
            sandbox = self._sandbox(action, dry_run=False)  # a revert is never dry
            result = action.revert(undo, sandbox)
            return {"result": wire.result_to_wire(result), "commands": _ran(sandbox)}

    def _action(self, name: object) -> Action:
        known = {a.value for a in SafeAction}
        action = (
            self.actions.get(SafeAction(name)) if isinstance(name, str) and name in known else None
        )
        if action is None:
            raise Refused(
                RefusalReason.UNKNOWN_ACTION, f"{_said(name)} is not one of the safe actions"
            )
        return action

    def _sandbox(self, action: Action, *, dry_run: bool) -> Sandbox:
        return Sandbox(
            config=self.config.actions,
            pm2=self.config.sensing.pm2,
            workdir=self.workdir / action.name.value,
            clock=self.clock,
            dry_run=dry_run,
            backend=self.backend,
            undo_vouched=False,  # the helper vouches for no record: its allowlists decide
        )

    def _held(self, target: str) -> _Held:
        resource = "nginx" if target.startswith("nginx:") else target
        with self._guard:
            lock = self._locks.setdefault(resource, threading.Lock())
        return _Held(lock, target)


class _Held:
    """A target's lock for one request, or a busy refusal: never a wait."""

    def __init__(self, lock: threading.Lock, target: str) -> None:
        self.lock, self.target = lock, target

    def __enter__(self) -> None:
        if not self.lock.acquire(blocking=False):
            raise Refused(RefusalReason.BUSY, f"another request on {self.target} is running")

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _revert_target(action: Action, undo: dict[str, Any]) -> str:
    organization = undo.get("organization")
    if action.name is SafeAction.RATE_LIMIT_UPLOADS and isinstance(organization, str):
        return action.target({"organization": organization})
    return action.target({})


def _ran(sandbox: Sandbox) -> list[list[str]]:
    return [list(argv) for argv in sandbox.commands[:20]]


def _said(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str | int | float | bool) or value is None else "?"
    return text if len(text) <= limit else text[: limit - 1] + "…"
