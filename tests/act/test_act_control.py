"""The CLI's side of the executor: kill switch, actions in force, early revert."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.clock import ManualClock  # type: ignore[import-not-found]
from support.process import calmopsd, clean_env, write_config

from calmopsd.act import control
from calmopsd.act.executor import SafeExecutor
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import ActionRequest, SafeAction
from calmopsd.record.actions import list_active
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


def test_a_paused_executor_refuses_and_the_tick_records_who_paused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    database = Database.open(database_path(state))
    config = ActionsConfig.model_validate({"mode": "enforce"})
    executor = SafeExecutor(database, config, Pm2SamplerConfig(), state, ManualClock(NOW))
    env = {**clean_env(), "USER": "dana; rm -rf /", "SUDO_USER": "mallory"}  # not believed
    assert calmopsd("actions", "pause", "--state-dir", str(state), env=env).returncode == 0
    executor.follow_controls(NOW)
    executor.follow_controls(NOW)  # once per change, not per tick
    outcome = executor.request(ActionRequest(SafeAction.CLEAR_TEMP, {}, None, None, "t"), NOW)
    kinds = [(e.kind, e.actor) for e in list_events(database, Scope.platform())]
    database.close()
    assert outcome.reason == "paused"
    me = pwd.getpwuid(os.getuid()).pw_name
    assert kinds == [("actions.paused", me), ("action.refused", "calmopsd")]


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
    assert again.stderr.startswith("actions: action 1 was already reverted at")
    none = calmopsd("actions", "active", *where)
    assert none.stdout == "no actions in force\n"


def test_with_a_daemon_holding_the_store_revert_is_left_for_it(tmp_path: Path) -> None:
    state, flag = tmp_path / "state", tmp_path / "jobs.paused"
    paused_jobs(state, flag)
    database = Database.open(database_path(state))  # stands for the running daemon
    try:
        unknown = calmopsd("actions", "revert", "999", "--state-dir", str(state))
        assert (unknown.returncode, unknown.stdout) == (1, "")
        assert unknown.stderr == (
            "actions: no action #999 in force (calmopsd actions active lists them)\n"
        )
        assert control.pending_reverts(state) == []
        asked = calmopsd("actions", "revert", "1", "--state-dir", str(state))
        assert asked.stdout == "asked the running daemon to revert action #1 (within 30 s)\n"
        config = ActionsConfig.model_validate(
            {"mode": "enforce", "pause_jobs": {"flag_file": str(flag)}}
        )
        executor = SafeExecutor(database, config, Pm2SamplerConfig(), state, ManualClock(NOW))
        executor.follow_controls(NOW + timedelta(minutes=1))
        assert list_active(database) == []
        assert not flag.exists()
        assert control.pending_reverts(state) == []
    finally:
        database.close()


def test_stray_or_hostile_control_files_are_ignored(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "control").mkdir(parents=True)
    (state / "control" / "revert-1; rm -rf").write_text("x")
    (state / "control" / "revert-12").symlink_to("/etc/passwd")
    (state / "control" / "notes.txt").write_text("hello")
    (state / "control" / "revert-٤").write_text("eve")  # Arabic-Indic four
    (state / "control" / "revert-5\n").write_text("eve")
    (state / "control" / "revert-3").write_text("dana\n")
    assert [(r.active_id, r.by) for r in control.pending_reverts(state)] == [(3, "dana")]
