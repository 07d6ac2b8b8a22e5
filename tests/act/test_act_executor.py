"""The executor's one path, from the attacker's side: checks, budgets, shadow, intent, revert.

The action here is a small real one written for the test (it creates and
removes a file through the sandbox's commands), so the chain is exercised on
a real store, real subprocesses and real files; the five real actions have
their own tests against real PM2, nginx and directories.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock  # type: ignore[import-not-found]

from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.executor import SafeExecutor
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import ActionRequest, IncidentType, OutcomeStatus, SafeAction, Severity
from calmopsd.record.actions import list_active
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PLATFORM = Scope.platform()


class FlagAction:
    """Stands in for pause_jobs: creates a flag file with `touch`, undone with `rm`."""

    name = SafeAction.PAUSE_JOBS

    def __init__(
        self, flag: Path, *, block: threading.Event | None = None, reversible: bool = True
    ) -> None:
        self.flag = flag
        self.block = block
        self.runs = 0
        self.reversible = reversible  # False: run-and-done, like a restart

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        if set(params) - {"ttl"}:
            raise Refused("bad_parameter", f"unknown parameters: {sorted(params)}")
        if "ttl" in params and params["ttl"] not in ("5m", "30m"):
            raise Refused("bad_parameter", "ttl must be 5m or 30m")
        return {"ttl": params.get("ttl", "30m")}

    def target(self, params: dict[str, Any]) -> str:
        return "jobs"

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        if not self.reversible:
            return None
        return Prepared({"flag": str(self.flag)}, timedelta(minutes=int(params["ttl"][:-1])))

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        self.runs += 1
        if self.block is not None:
            self.block.wait(timeout=5)
        done = sandbox.command(["touch", str(self.flag)])
        ok = done.succeeded and (sandbox.dry_run or self.flag.exists())
        minutes = int(params["ttl"].rstrip("m"))
        return Result(ok, "paused", {"flag": str(self.flag)}, {"flag": str(self.flag)},
                      timedelta(minutes=minutes))  # fmt: skip

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        done = sandbox.command(["rm", "-f", undo["flag"]])
        return Result(done.succeeded and not Path(undo["flag"]).exists(), "resumed")


def executor(database: Database, tmp_path: Path, action: FlagAction, **config: Any) -> SafeExecutor:
    settings = ActionsConfig.model_validate({"mode": "enforce", **config})
    return SafeExecutor(
        database, settings, Pm2SamplerConfig(), tmp_path / "state", ManualClock(T0),
        actions={SafeAction.PAUSE_JOBS: action},
    )  # fmt: skip


def ask(params: dict[str, Any] | None = None, **fields: Any) -> ActionRequest:
    return ActionRequest(
        fields.pop("action", SafeAction.PAUSE_JOBS), params or {}, fields.pop("incident_id", None),
        None, "test", **fields,
    )  # fmt: skip


def kinds(database: Database) -> list[str]:
    return [e.kind for e in list_events(database, PLATFORM)]


def test_a_second_pause_while_one_is_in_force_is_refused(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused")
    run = executor(database, tmp_path, action, pause_jobs={"max_runs": 9, "cooldown": "1s"})
    assert run.request(ask(), T0).worked
    again = run.request(ask(approved_by="dana"), T0 + timedelta(minutes=1))
    assert (again.reason, again.detail) == (
        "already_in_force",
        "pause_jobs on jobs is in force until 2026-03-02 14:30 UTC (calmopsd actions revert 1)",
    )
    assert action.runs == 1


def test_an_action_goes_intent_then_run_then_result_and_stays_in_force(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused")
    run = executor(database, tmp_path, action)
    outcome = run.request(ask(), T0)
    assert (outcome.status, outcome.detail) == (OutcomeStatus.SUCCEEDED, "paused")
    # Recorded in force before it runs, so a crash mid-run still leaves it to revert.
    assert kinds(database) == ["action.intent", "action.in_force", "action.executed"]
    executed = list_events(database, PLATFORM)[2].data
    assert executed["commands"][0][-2:] == ["touch", str(tmp_path / "paused")]
    assert executed["status"] == "succeeded" and executed["duration_s"] >= 0
    (active,) = list_active(database)
    assert (active.action, active.expires_at) == ("pause_jobs", T0 + timedelta(minutes=30))


def test_it_is_reverted_on_time_also_by_a_new_executor_after_a_restart(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused")
    executor(database, tmp_path, action).request(ask({"ttl": "5m"}), T0)
    assert (tmp_path / "paused").exists()
    restarted = executor(database, tmp_path, action)  # the daemon restarted meanwhile
    assert restarted.revert_due(T0 + timedelta(minutes=4)) == []
    assert restarted.revert_due(T0 + timedelta(minutes=5)) == [1]
    assert not (tmp_path / "paused").exists()
    assert list_active(database) == []
    assert kinds(database)[-1] == "action.reverted"
    assert restarted.revert_due(T0 + timedelta(minutes=6)) == []  # once only


def test_a_person_can_end_one_early_and_not_twice(database: Database, tmp_path: Path) -> None:
    action = FlagAction(tmp_path / "paused")
    run = executor(database, tmp_path, action)
    run.request(ask(), T0)
    assert run.revert(1, T0 + timedelta(minutes=1), "dana") == (True, "reverted")
    done, why = run.revert(1, T0 + timedelta(minutes=2), "dana")
    assert not done and why.startswith("action 1 was already reverted at")
    assert run.revert(7, T0, "dana") == (False, "no action in force with id 7")


def test_past_its_budget_it_refuses_even_after_a_restart(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused", reversible=False)
    budget = {"pause_jobs": {"max_runs": 2, "window": "1h", "cooldown": "1m"}}
    first = executor(database, tmp_path, action, **budget)
    assert first.request(ask(), T0).worked
    assert first.request(ask(), T0 + timedelta(minutes=10)).worked
    again = executor(database, tmp_path, action, **budget)  # a restart: memory is gone
    refused = again.request(ask(), T0 + timedelta(minutes=20))
    assert (refused.status, refused.reason) == (OutcomeStatus.REFUSED, "budget_spent")
    assert refused.detail == "pause_jobs on jobs ran 2 times in the last 1h (budget 2)"
    assert action.runs == 2
    assert again.request(ask(), T0 + timedelta(minutes=61)).worked  # the window moved on


def test_a_cooldown_refuses_a_second_run_too_soon(database: Database, tmp_path: Path) -> None:
    action = FlagAction(tmp_path / "paused", reversible=False)
    run = executor(database, tmp_path, action, pause_jobs={"cooldown": "5m", "max_runs": 9})
    assert run.request(ask(), T0).worked
    refused = run.request(ask(), T0 + timedelta(minutes=4))
    assert refused.reason == "cooldown"
    assert run.request(ask(), T0 + timedelta(minutes=6)).worked


def test_a_persons_approval_passes_budget_and_cooldown_but_not_the_kill_switch(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused", reversible=False)
    run = executor(database, tmp_path, action, pause_jobs={"max_runs": 1, "cooldown": "1h"})
    assert run.request(ask(), T0).worked
    assert run.request(ask(approved_by="dana"), T0 + timedelta(minutes=1)).worked
    (tmp_path / "state").mkdir(exist_ok=True)
    run.pause_file.touch()
    paused = run.request(ask(approved_by="dana"), T0 + timedelta(minutes=2))
    assert (paused.reason, action.runs) == ("paused", 2)


def test_the_config_kill_switch_refuses_and_says_so_in_the_audit_log(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused")
    outcome = executor(database, tmp_path, action, paused=True).request(ask(), T0)
    assert (outcome.reason, action.runs) == ("paused", 0)
    (event,) = list_events(database, PLATFORM)
    assert (event.kind, event.data["reason"]) == ("action.refused", "paused")


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (ask(action="rollback"), "unknown_action"),
        (ask(action="DROP TABLE incidents"), "unknown_action"),
        (ask(action="pm2_restart; rm -rf /"), "unknown_action"),
        (ask({"ttl": "$(reboot)"}), "bad_parameter"),
        (ask({"ttl": "30m; rm -rf /"}), "bad_parameter"),
        (ask({"ttl": "30m", "dir": "../../etc"}), "bad_parameter"),
        (ask({"ttl": "x" * 100_000}), "bad_parameter"),
        (ask({"migrate": "schema"}), "bad_parameter"),
    ],
)
def test_anything_outside_the_closed_set_is_refused_and_nothing_runs(
    database: Database, tmp_path: Path, request_: ActionRequest, reason: str
) -> None:
    action = FlagAction(tmp_path / "paused")
    outcome = executor(database, tmp_path, action).request(request_, T0)
    assert (outcome.status, outcome.reason, action.runs) == (OutcomeStatus.REFUSED, reason, 0)
    (event,) = list_events(database, PLATFORM)
    assert event.kind == "action.refused"
    assert len(event.data["params"]) <= 300  # a huge parameter is not copied into the log


def test_shadow_mode_decides_records_what_would_run_and_runs_nothing(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused")
    run = executor(database, tmp_path, action, mode="shadow", pause_jobs={"max_runs": 1})
    first = run.request(ask(), T0)
    assert (first.status, first.detail) == (
        OutcomeStatus.SHADOW,
        "shadow mode: would have run pause_jobs on jobs",
    )
    assert (action.runs, (tmp_path / "paused").exists()) == (0, False)
    # It decides exactly as it would: the budget counts what it would have run.
    assert run.request(ask(), T0 + timedelta(hours=0.5)).reason == "budget_spent"
    assert kinds(database) == ["action.shadowed", "action.refused"]


def test_switching_from_shadow_to_enforce_starts_the_budget_from_real_runs(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused", reversible=False)
    limits = {"max_runs": 1, "cooldown": "1s"}
    shadow = executor(database, tmp_path, action, mode="shadow", pause_jobs=limits)
    assert shadow.request(ask(), T0).status is OutcomeStatus.SHADOW
    refused = shadow.request(ask(), T0 + timedelta(minutes=1))
    assert (refused.reason, refused.detail) == (
        "budget_spent",
        "pause_jobs on jobs ran or would have run 1 times in the last 2h (budget 1)",
    )
    # The operator turns enforcing on: nothing has really run, so the budget is whole.
    enforcing = executor(database, tmp_path, action, pause_jobs=limits)
    assert enforcing.request(ask(), T0 + timedelta(minutes=2)).worked
    assert action.runs == 1
    again = enforcing.request(ask(), T0 + timedelta(minutes=3))
    assert (again.reason, again.detail) == (
        "budget_spent",
        "pause_jobs on jobs ran 1 times in the last 2h (budget 1)",
    )
    assert action.runs == 1


def test_runs_made_in_dry_run_mode_do_not_spend_the_budget_once_it_is_off(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused", reversible=False)
    limits = {"max_runs": 1, "cooldown": "1m"}
    dry = executor(database, tmp_path, action, dry_run=True, pause_jobs=limits)
    assert dry.request(ask(), T0).status is OutcomeStatus.DRY_RUN
    refused = dry.request(ask(), T0 + timedelta(minutes=5))
    assert refused.detail.startswith("pause_jobs on jobs ran or would have run 1 times")
    real = executor(database, tmp_path, action, pause_jobs=limits)
    assert real.request(ask(), T0 + timedelta(minutes=6)).status is OutcomeStatus.SUCCEEDED
    assert action.runs == 2  # a dry run goes the whole path (its command is not run)


def test_shadow_per_action_overrides_enforce(database: Database, tmp_path: Path) -> None:
    action = FlagAction(tmp_path / "paused")
    run = executor(database, tmp_path, action, pause_jobs={"mode": "shadow"})
    assert run.request(ask(), T0).status is OutcomeStatus.SHADOW


def test_dry_run_goes_the_whole_path_and_records_the_command_without_running_it(
    database: Database, tmp_path: Path
) -> None:
    action = FlagAction(tmp_path / "paused")
    outcome = executor(database, tmp_path, action, dry_run=True).request(ask(), T0)
    assert outcome.status is OutcomeStatus.DRY_RUN
    assert not (tmp_path / "paused").exists()
    executed = list_events(database, PLATFORM)[1].data
    assert executed["commands"][0][-2:] == ["touch", str(tmp_path / "paused")]
    assert list_active(database) == []


def test_one_action_at_a_time_per_target(database: Database, tmp_path: Path) -> None:
    release = threading.Event()
    action = FlagAction(tmp_path / "paused", block=release, reversible=False)
    run = executor(database, tmp_path, action, pause_jobs={"max_runs": 9, "cooldown": "1s"})
    outcomes: list[OutcomeStatus] = []
    first = threading.Thread(target=lambda: outcomes.append(run.request(ask(), T0).status))
    first.start()
    try:
        deadline = threading.Event()
        for _ in range(500):  # until the first is inside run()
            if action.runs:
                break
            deadline.wait(0.01)
        second = run.request(ask(approved_by="dana"), T0)  # past the cooldown: to the lock
    finally:
        release.set()
        first.join(timeout=10)
    assert (second.reason, outcomes) == ("busy", [OutcomeStatus.SUCCEEDED])


def test_a_symptom_back_soon_after_marks_the_action_ineffective_for_that_incident(
    database: Database, tmp_path: Path
) -> None:
    incident = open_incident(
        database, PLATFORM, organization_id=None, fingerprint="dependency:probe=db",
        type=IncidentType.DEPENDENCY, severity=Severity.CRITICAL, title="db down", at=T0,
        actor="calmopsd",
    )  # fmt: skip
    action = FlagAction(tmp_path / "paused", reversible=False)
    run = executor(database, tmp_path, action, pause_jobs={"max_runs": 9, "cooldown": "1s"})
    assert run.request(ask(incident_id=incident.id), T0).worked
    assert run.symptom_returned(incident.id, T0 + timedelta(minutes=31)) == []  # too late
    assert run.symptom_returned(incident.id, T0 + timedelta(minutes=20)) == [SafeAction.PAUSE_JOBS]
    again = run.request(ask(incident_id=incident.id), T0 + timedelta(minutes=21))
    assert again.reason == "ineffective"
    assert run.request(ask(), T0 + timedelta(minutes=21)).worked  # other incidents: not
    approved = run.request(ask(incident_id=incident.id, approved_by="dana"), T0)
    assert approved.worked


def test_the_audit_chain_verifies_after_all_of_it(database: Database, tmp_path: Path) -> None:
    action = FlagAction(tmp_path / "paused", reversible=False)
    run = executor(database, tmp_path, action, pause_jobs={"max_runs": 2, "cooldown": "1s"})
    for minute in range(4):
        run.request(ask(), T0 + timedelta(minutes=minute))
    run.request(ask(action="rollback"), T0)
    run.revert_due(T0 + timedelta(hours=1))
    assert verify_file(database.path).ok
