"""``calmopsd actions``: the kill switch, actions in force, and ending one early."""

from __future__ import annotations

from pathlib import Path

import click

from calmopsd.act import control
from calmopsd.act.executor import SafeExecutor
from calmopsd.cli.options import (
    config_option,
    fail,
    load_config,
    state_dir_of,
    state_dir_option,
    who,
)
from calmopsd.clock import SystemClock
from calmopsd.errors import StoreError
from calmopsd.record.actions import read_active_file
from calmopsd.record.database import Database, database_path


@click.group()
def actions() -> None:
    """The safe-action executor: kill switch, actions in force, early revert."""


@actions.command("pause")
@config_option
@state_dir_option
def actions_pause(config_path: Path | None, state_dir: Path | None) -> None:
    """Refuse every action from now on (the running daemon reads it on each request)."""
    where = state_dir_of(config_path, state_dir)
    done = control.pause(where, who())
    click.echo("actions paused" if done else "actions were already paused")


@actions.command("resume")
@config_option
@state_dir_option
def actions_resume(config_path: Path | None, state_dir: Path | None) -> None:
    """Lift the pause set by `calmopsd actions pause`."""
    where = state_dir_of(config_path, state_dir)
    click.echo("actions resumed" if control.resume(where) else "actions were not paused")


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
@click.argument("active_id", type=int)
def actions_revert(config_path: Path | None, state_dir: Path | None, active_id: int) -> None:
    """End one action in force now: by the running daemon, or here if none runs."""
    where = state_dir_of(config_path, state_dir)
    try:
        database = Database.open(database_path(where))
    except StoreError as exc:
        if "in use" not in str(exc):
            fail("actions", str(exc))
        if all(active.id != active_id for active in read_active_file(database_path(where))):
            fail("actions", f"no action #{active_id} in force (calmopsd actions active lists them)")
        control.ask_revert(where, active_id, who())
        click.echo(f"asked the running daemon to revert action #{active_id} (within 30 s)")
        return
    try:
        config = load_config(config_path, where)
        executor = SafeExecutor(database, config.actions, config.sensing.pm2, where, SystemClock())
        done, why = executor.revert(active_id, SystemClock().now(), who())
    finally:
        database.close()
    if not done:
        fail("actions", why)
    click.echo(f"action #{active_id} reverted")
