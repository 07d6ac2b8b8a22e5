"""``calmopsd actions``: the kill switch, actions in force, and ending one early.

``pause``, ``resume`` and ``revert`` go the way ``approve`` does
(:func:`~calmopsd.cli.decisions.carry_out`): through the running daemon's API,
which has done it when it answers, or through :class:`Operations` on the
store when none runs — the same checks, answer and audit trail (``cli:USER``).
Before any store exists there is no daemon and no audit log: ``pause`` and
``resume`` then only set or remove the flag, which the daemon records on its
first tick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from calmopsd.act import control
from calmopsd.act.executor import SafeExecutor
from calmopsd.cli.decisions import APPROVE_TIMEOUT_S, Request, carry_out
from calmopsd.cli.options import (
    config_option,
    fail,
    json_option,
    load_config,
    print_json,
    state_dir_of,
    state_dir_option,
    who,
)
from calmopsd.record.actions import read_active_file
from calmopsd.record.database import database_path
from calmopsd.serve.answers import Hooks
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Caller

_SAID = {
    True: ("actions paused", "actions were already paused"),
    False: ("actions resumed", "actions were not paused"),
}


@click.group()
def actions() -> None:
    """The safe-action executor: kill switch, actions in force, early revert."""


@actions.command("pause")
@config_option
@state_dir_option
@json_option
def actions_pause(config_path: Path | None, state_dir: Path | None, as_json: bool) -> None:
    """Refuse every action from now on (through the running daemon: at once, audited)."""
    _switch(config_path, state_dir, as_json, paused=True)


@actions.command("resume")
@config_option
@state_dir_option
@json_option
def actions_resume(config_path: Path | None, state_dir: Path | None, as_json: bool) -> None:
    """Lift the pause set by `calmopsd actions pause`."""
    _switch(config_path, state_dir, as_json, paused=False)


def _switch(
    config_path: Path | None, state_dir: Path | None, as_json: bool, *, paused: bool
) -> None:
    where = state_dir_of(config_path, state_dir)
    if not database_path(where).exists():
        changed = control.pause(where, who()) if paused else control.resume(where)
        _say({"paused": paused, "changed": changed}, as_json)
        return
    verb = "pause" if paused else "resume"

    def local(ops: Operations, caller: Caller) -> dict[str, Any]:
        return {"paused": paused, "changed": (ops.pause if paused else ops.resume)(caller)}

    carry_out(
        config_path, state_dir, as_json,
        Request("actions", local, lambda api: api.call("POST", f"/actions/{verb}"), _line),
    )  # fmt: skip


def _line(answer: dict[str, Any]) -> str:
    said, unchanged = _SAID[bool(answer.get("paused"))]
    return said if answer.get("changed") else unchanged


def _say(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(answer)
    else:
        click.echo(_line(answer))


@actions.command("active")
@config_option
@state_dir_option
def actions_active(config_path: Path | None, state_dir: Path | None) -> None:
    """List reversible actions in force (a pause, an upload limit) and when they end."""
    path = database_path(state_dir_of(config_path, state_dir))
    if not path.exists():
        fail("actions", f"no database at {path}")
    found = read_active_file(path)
    for active in found:
        incident = f"incident #{active.incident_id}" if active.incident_id else "no incident"
        click.echo(
            f"#{active.id:<5} {active.action:<19} {active.target:<20} "
            f"until {active.expires_at:%Y-%m-%d %H:%M} UTC  ({incident})"
        )
    if not found:
        click.echo("no actions in force")


@actions.command("revert")
@config_option
@state_dir_option
@json_option
@click.argument("active_id", type=click.IntRange(1, 2**63 - 1))
def actions_revert(
    config_path: Path | None, state_dir: Path | None, as_json: bool, active_id: int
) -> None:
    """End one action in force now: by the running daemon, or here if none runs."""
    where = state_dir_of(config_path, state_dir)

    def local(ops: Operations, caller: Caller) -> dict[str, Any]:
        config = load_config(config_path, where)
        executor = SafeExecutor(ops.database, config.actions, config.sensing.pm2, where, ops.clock)
        hooks = Hooks(revert=lambda number, actor: executor.revert(number, ops.clock.now(), actor))
        undo = Operations(ops.database, ops.clock, hooks, trace_reads=False)
        return {"status": "reverted", "detail": undo.revert(caller, active_id)}

    # The daemon's worker runs the undo after any action ahead of it: as long as an approval.
    carry_out(
        config_path, state_dir, as_json,
        Request(
            "actions", local,
            lambda api: api.call(
                "POST", f"/actions/{active_id}/revert", timeout_s=APPROVE_TIMEOUT_S
            ),
            lambda answer: f"action #{active_id} reverted",
        ),
    )  # fmt: skip
