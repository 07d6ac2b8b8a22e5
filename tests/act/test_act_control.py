"""The CLI's side of the executor with no daemon: kill switch, actions in force, early revert
(with a daemon: tests/cli/test_cli_actions.py)."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime
from pathlib import Path

from support.clock import ManualClock  # type: ignore[import-not-found]
from support.process import calmopsd, write_config

from calmopsd.act import control
from calmopsd.act.executor import SafeExecutor
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import ActionRequest, SafeAction
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.scope import Scope

NOW = datetime.now(UTC).replace(microsecond=0)


def paused_jobs(state: Path, flag: Path, ttl: str = "30m") -> None:
    """A real pause_jobs in force: the flag-file mechanism, run through the executor."""
    database = Database.open(database_path(state))
    config = ActionsConfig.model_validate(
        {"mode": "enforce", "pause_jobs": {"flag_file": str(flag)}}
    )
    executor = SafeExecutor(database, config, Pm2SamplerConfig(), state, ManualClock(NOW))
    outcome = executor.request(
        ActionRequest(SafeAction.PAUSE_JOBS, {"ttl": ttl}, None, None, "t"), NOW
    )
    database.close()
    assert outcome.worked, outcome.detail


def test_pause_and_resume_flip_the_kill_switch_and_say_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ("--state-dir", str(state))
    assert calmopsd("actions", "pause", *args).stdout == "actions paused\n"
    assert control.paused_by(state) is not None
    assert calmopsd("actions", "pause", *args).stdout == "actions were already paused\n"
    assert calmopsd("actions", "resume", *args).stdout == "actions resumed\n"
    assert calmopsd("actions", "resume", *args).stdout == "actions were not paused\n"


def executor_on(database: Database, state: Path) -> SafeExecutor:
    config = ActionsConfig.model_validate({"mode": "enforce"})
    return SafeExecutor(database, config, Pm2SamplerConfig(), state, ManualClock(NOW))


def switches(database: Database) -> list[tuple[str, str]]:
    return [(e.kind, e.actor) for e in list_events(database, Scope.platform())
            if e.kind.startswith("actions.")]  # fmt: skip


def test_a_flag_made_by_hand_is_refused_at_once_and_recorded_once_by_the_tick(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    database = Database.open(database_path(state))
    executor = executor_on(database, state)
    control.pause(state, "dana; rm -rf /")  # by hand: what the flag says is cleaned
    outcome = executor.request(ActionRequest(SafeAction.CLEAR_TEMP, {}, None, None, "t"), NOW)
    executor.follow_controls(NOW)
    executor.follow_controls(NOW)  # once per change, not per tick
    control.resume(state)
    executor.follow_controls(NOW)
    kinds = [(e.kind, e.actor) for e in list_events(database, Scope.platform())]
    database.close()
    assert outcome.reason == "paused"
    assert kinds == [
        ("action.refused", "calmopsd"),
        ("actions.paused", "danarm-rf"),
        ("actions.resumed", "cli"),
    ]


def test_a_switch_records_at_once_and_the_tick_does_not_record_it_again(tmp_path: Path) -> None:
    state = tmp_path / "state"
    database = Database.open(database_path(state))
    executor = executor_on(database, state)
    assert executor.switch(True, "token:ops") is True
    assert switches(database) == [("actions.paused", "token:ops")]
    assert control.paused_by(state) == "token:ops"
    assert executor.switch(True, "cli:dana") is False  # already paused: nothing recorded
    executor.follow_controls(NOW)
    executor_on(database, state).follow_controls(NOW)  # a reload's new executor: the same
    assert executor.switch(False, "cli:dana") is True
    executor.follow_controls(NOW)
    assert switches(database) == [("actions.paused", "token:ops"), ("actions.resumed", "cli:dana")]
    assert not (state / control.PAUSE_FLAG).exists()
    database.close()


def test_a_flag_left_before_the_store_existed_is_recorded_once_by_the_first_tick(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    assert calmopsd("actions", "pause", "--state-dir", str(state)).stdout == "actions paused\n"
    database = Database.open(database_path(state))
    executor = executor_on(database, state)
    executor.follow_controls(NOW)
    executor.follow_controls(NOW)
    me = pwd.getpwuid(os.getuid()).pw_name
    assert switches(database) == [("actions.paused", me)]
    database.close()


def test_with_a_store_and_no_daemon_the_cli_records_the_switch_itself(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Database.open(database_path(state)).close()
    args = ("--state-dir", str(state))
    assert calmopsd("actions", "pause", *args).stdout == "actions paused\n"
    assert calmopsd("actions", "pause", *args, "--json").stdout == (
        '{\n  "paused": true,\n  "changed": false\n}\n'
    )
    assert calmopsd("actions", "resume", *args).stdout == "actions resumed\n"
    database = Database.open(database_path(state))
    me = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    executor_on(database, state).follow_controls(NOW)  # the daemon, later: nothing to add
    assert switches(database) == [("actions.paused", me), ("actions.resumed", me)]
    database.close()


def test_active_lists_and_revert_ends_an_action_when_no_daemon_runs(tmp_path: Path) -> None:
    state, flag = tmp_path / "state", tmp_path / "jobs.paused"
    text = f"actions:\n  mode: enforce\n  pause_jobs:\n    flag_file: {flag}\n"
    config = write_config(tmp_path / "calmops.yaml", text)
    where = ("--config", str(config), "--state-dir", str(state))
    paused_jobs(state, flag)
    assert flag.exists()
    listed = calmopsd("actions", "active", *where)
    assert listed.stdout.startswith("#1     pause_jobs ")
    reverted = calmopsd("actions", "revert", "1", *where)
    assert (reverted.returncode, reverted.stdout) == (0, "action #1 reverted\n"), reverted.stderr
    assert not flag.exists()
    again = calmopsd("actions", "revert", "1", *where)
    assert again.returncode == 1
    assert again.stderr == "actions: action 1 was already reverted\n"
    unknown = calmopsd("actions", "revert", "999", *where)
    assert (unknown.returncode, unknown.stderr) == (
        1, "actions: no action in force with id 999\n",
    )  # fmt: skip
    none = calmopsd("actions", "active", *where)
    assert none.stdout == "no actions in force\n"
