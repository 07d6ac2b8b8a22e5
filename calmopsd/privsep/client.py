"""The daemon's side: each safe action's prepare, run and revert, carried out by the helper.

:class:`RemoteAction` is an :class:`~calmopsd.act.action.Action` like the local one it
wraps: ``validate`` and ``target`` are that action's own (the executor's checks,
budgets, audit intent and result stay in the daemon), while ``prepare``, ``run`` and
``revert`` become one request each to the helper (:mod:`calmopsd.privsep.dispatch`),
which checks them again against its own config and runs the same code as root. The
commands it ran come back into the sandbox, so the daemon's ``action.executed`` event
names them as before.

There is no fallback: when the helper cannot be reached (no socket, refused, no
answer in ``actions.helper.timeout``) the run fails and says so, the prepare gives
no undo record, the revert fails and is retried later.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

import structlog

from calmopsd.act.action import Action, Prepared, Result
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import HelperConfig
from calmopsd.model import SafeAction
from calmopsd.privsep import wire

log = structlog.get_logger("calmopsd.privsep")

CONNECT_WITHIN = 5.0  # seconds to connect and send one request
NO_FALLBACK = "actions.backend is helper: nothing runs without it"


class HelperUnavailable(Exception):
    """The helper could not be asked, or gave no usable answer; the message says why."""


class HelperClient:
    """One request per connection to the helper at ``actions.helper.socket``."""

    def __init__(self, config: HelperConfig) -> None:
        self.path = config.socket
        self.timeout = config.timeout.total_seconds()

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The helper's answer to ``request``; :class:`HelperUnavailable` if there is none."""
        began = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as conn:
            conn.settimeout(CONNECT_WITHIN)
            try:
                conn.connect(str(self.path))
                conn.sendall(wire.encode(request))
                conn.shutdown(socket.SHUT_WR)
            except OSError as exc:
                raise HelperUnavailable(
                    f"the privileged helper does not answer at {self.path}: "
                    f"{exc.strerror or type(exc).__name__} ({NO_FALLBACK})"
                ) from None
            left = max(0.1, self.timeout - (time.monotonic() - began))
            try:
                raw = wire.read_message(conn, wire.MAX_ANSWER, left)
                return wire.decode(raw)
            except wire.WireError as exc:
                raise HelperUnavailable(
                    f"no usable answer from the helper at {self.path}: {exc}; "
                    "the action may still be running there"
                ) from None
            except OSError as exc:
                raise HelperUnavailable(
                    f"the helper at {self.path} closed the connection: "
                    f"{exc.strerror or type(exc).__name__}"
                ) from None


class RemoteAction:
    """``local``'s checks here, its effects carried out by the helper; see the module."""

    def __init__(self, local: Action, client: HelperClient) -> None:
        self.local = local
        self.client = client
        self.name: SafeAction = local.name
        self.reversible: bool = local.reversible
        # Sandboxes (by id) whose prepare got no answer: their run must not change anything
        # that no undo record was kept for. A prepare answered "nothing to undo" is no such
        # case: the run then fails on the same and says why, as it does directly.
        self._unprepared: dict[int, str] = {}

    def validate(self, params: dict[str, Any], config: Any) -> dict[str, Any]:
        return self.local.validate(params, config)

    def target(self, params: dict[str, Any]) -> str:
        return self.local.target(params)

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        request = {"op": "prepare", "action": self.name.value, "params": params}
        try:
            answer = self._ask(request, sandbox)
            refused = wire.refusal_of(answer)
            if refused is None:
                return wire.prepared_from_wire(answer.get("prepared"))
            why = f"the helper refused to prepare it: {refused.detail}"
        except (HelperUnavailable, wire.WireError) as exc:
            log.warning("helper.unavailable", op="prepare", action=self.name.value, why=str(exc))
            why = str(exc)
        self._unprepared[id(sandbox)] = why
        return None

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        unprepared = self._unprepared.pop(id(sandbox), None)
        if unprepared is not None and self.reversible and not sandbox.dry_run:
            detail = f"{unprepared}; nothing was run (no undo record could be kept)"
            return Result(False, detail, {"backend": "helper"})
        request = {
            "op": "run",
            "action": self.name.value,
            "params": params,
            "dry_run": sandbox.dry_run,
        }
        return self._result(request, sandbox)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        return self._result({"op": "revert", "action": self.name.value, "undo": undo}, sandbox)

    def _result(self, request: dict[str, Any], sandbox: Sandbox) -> Result:
        try:
            answer = self._ask(request, sandbox)
            refused = wire.refusal_of(answer)
            if refused is not None:
                return Result(
                    False,
                    f"the helper refused: {refused.detail}",
                    {"refused": refused.reason.value, "backend": "helper"},
                )
            return wire.result_from_wire(answer.get("result"))
        except (HelperUnavailable, wire.WireError) as exc:
            log.warning(
                "helper.unavailable", op=request["op"], action=self.name.value, why=str(exc)
            )
            return Result(False, str(exc), {"backend": "helper"})

    def _ask(self, request: dict[str, Any], sandbox: Sandbox) -> dict[str, Any]:
        answer = self.client.ask(request)
        sandbox.commands.extend(wire.commands_from_wire(answer.get("commands")))
        return answer


def remote_actions(
    actions: Mapping[SafeAction, Action], config: HelperConfig
) -> dict[SafeAction, Action]:
    """Every action of ``actions``, carried out by the helper ``config`` names."""
    client = HelperClient(config)
    return {name: RemoteAction(action, client) for name, action in actions.items()}
