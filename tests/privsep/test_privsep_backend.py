"""actions.backend picks who carries the actions out, says so, and never falls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from calmopsd.act import ACTIONS
from calmopsd.act.action import Prepared, Result
from calmopsd.act.executor import SafeExecutor
from calmopsd.clock import SystemClock
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import ActionRequest, OutcomeStatus, SafeAction
from calmopsd.privsep import wire
from calmopsd.privsep.client import RemoteAction
from calmopsd.record.database import Database

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def executor(database: Database, tmp_path: Path, **actions: object) -> SafeExecutor:
    config = ActionsConfig.model_validate({"mode": "enforce", **actions})
    return SafeExecutor(database, config, Pm2SamplerConfig(), tmp_path / "state", SystemClock())


def test_direct_is_the_default_and_the_log_says_so(database: Database, tmp_path: Path) -> None:
    with capture_logs() as logs:
        built = executor(database, tmp_path)
    assert built.actions == dict(ACTIONS)
    assert [(e["event"], e["backend"]) for e in logs if e["event"] == "actions.backend"] == [
        ("actions.backend", "direct")
    ]


def test_helper_wraps_every_action_and_the_log_names_the_socket(
    database: Database, tmp_path: Path
) -> None:
    sock = tmp_path / "h.sock"
    with capture_logs() as logs:
        built = executor(database, tmp_path, backend="helper", helper={"socket": str(sock)})
    assert {name: type(a) for name, a in built.actions.items()} == {
        name: RemoteAction for name in SafeAction
    }
    assert all(built.actions[name].reversible == ACTIONS[name].reversible for name in SafeAction)
    found = [e for e in logs if e["event"] == "actions.backend"]
    assert [(e["backend"], e["socket"]) for e in found] == [("helper", str(sock))]


def test_without_a_helper_a_run_fails_naming_the_socket_and_nothing_runs_here(
    database: Database, tmp_path: Path
) -> None:
    uploads = tmp_path / "srv" / "uploads"
    uploads.mkdir(parents=True)
    old = uploads / "old.part"
    old.write_bytes(b"x")
    sock = tmp_path / "missing.sock"
    built = executor(
        database, tmp_path, backend="helper", helper={"socket": str(sock)},
        clear_temp={"dirs": [str(uploads)], "min_age": "1s"},
    )  # fmt: skip
    request = ActionRequest(SafeAction.CLEAR_TEMP, {}, None, None, "test")
    outcome = built.request(request, NOW)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED,
        f"the privileged helper does not answer at {sock}: No such file or directory "
        "(actions.backend is helper: nothing runs without it)",
    )
    assert old.exists()


def test_a_reversible_run_whose_prepare_got_no_answer_is_not_run(
    database: Database, tmp_path: Path
) -> None:
    flag = tmp_path / "flags" / "paused"
    flag.parent.mkdir()
    built = executor(
        database, tmp_path, backend="helper", helper={"socket": str(tmp_path / "none.sock")},
        pause_jobs={"flag_file": str(flag)},
    )  # fmt: skip
    outcome = built.request(ActionRequest(SafeAction.PAUSE_JOBS, {}, None, None, "test"), NOW)
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.detail.endswith("; nothing was run (no undo record could be kept)")
    assert not flag.exists()


def test_a_result_and_a_prepared_undo_cross_the_wire_unchanged() -> None:
    result = Result(True, "done", {"pids": [1, 2]}, {"path": "/x"}, timedelta(minutes=30))
    assert wire.result_from_wire(wire.decode(wire.encode(wire.result_to_wire(result)))) == result
    prepared = Prepared({"apps": ["worker"]}, timedelta(hours=2))
    sent = wire.decode(wire.encode({"p": wire.prepared_to_wire(prepared)}))["p"]
    assert wire.prepared_from_wire(sent) == prepared
