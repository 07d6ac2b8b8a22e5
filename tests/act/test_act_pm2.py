"""pm2_restart and pause_jobs against a real PM2 daemon (one per module) and real node apps.

``pm2 jlist`` run by the test (``Pm2.entries``) is the oracle for what the
actions did; ``Sandbox.commands`` is the record of what they ran.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.pm2 import Pm2, config_for, wait_for

from calmopsd.act.action import Refused
from calmopsd.act.pause_jobs import PAUSE_JOBS
from calmopsd.act.pm2_restart import PM2_RESTART
from calmopsd.act.sandbox import DirectBackend, Sandbox
from calmopsd.clock import SystemClock
from calmopsd.config.actions import ActionsConfig
from calmopsd.runner import Completed


@pytest.fixture(scope="module")
def pm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pm2]:
    """One PM2 daemon for the module (each test runs apps of its own names), killed at the end."""
    daemon = Pm2(tmp_path_factory.mktemp("pm2"))
    try:
        daemon.start_daemon()
        yield daemon
    finally:
        daemon.kill()
    assert daemon.leftovers() == []


@pytest.fixture
def own_pm2(tmp_path: Path) -> Iterator[Pm2]:
    """A PM2_HOME of the test's own, for tests that kill or fake its daemon."""
    pm2 = Pm2(tmp_path / "own")
    try:
        yield pm2
    finally:
        pm2.kill()
    assert pm2.leftovers() == []


def sandbox(pm2: Pm2, tmp_path: Path, *, dry_run: bool = False, **actions: Any) -> Sandbox:
    return Sandbox(
        config=ActionsConfig.model_validate(actions),
        pm2=config_for(pm2.home),
        workdir=tmp_path / "act",
        clock=SystemClock(),
        dry_run=dry_run,
    )


def online(entries: list[dict[str, Any]]) -> bool:
    return all(e["pm2_env"]["status"] == "online" for e in entries)


def pids(entries: list[dict[str, Any]]) -> list[int]:
    return sorted(e["pid"] for e in entries)


def statuses(pm2: Pm2, name: str) -> list[str]:
    return [e["pm2_env"]["status"] for e in pm2.entries(name)]


def started(pm2: Pm2, name: str, *options: str) -> list[dict[str, Any]]:
    app = pm2.app(name)
    pm2.start(app, *options)
    return pm2.wait_entries(name, online, f"{name} online")


# -- pm2_restart -------------------------------------------------------------------------


def test_a_fork_app_is_restarted_and_comes_back_online_with_a_new_pid(
    pm2: Pm2, tmp_path: Path
) -> None:
    [before] = started(pm2, "fork-web")
    box = sandbox(pm2, tmp_path, pm2_restart={"apps": ["fork-web"]})

    result = PM2_RESTART.run(PM2_RESTART.validate({"app": "fork-web"}, box.config), box)

    [after] = pm2.entries("fork-web")
    assert result.ok, result.detail
    assert after["pm2_env"]["status"] == "online"
    assert after["pid"] != before["pid"]
    assert result.data == {
        "command": "restart",
        "old_pids": [before["pid"]],
        "new_pids": [after["pid"]],
    }
    assert [c for c in box.commands if c != ("pm2", "jlist")] == [("pm2", "restart", "fork-web")]
    assert result.detail == "pm2 restart fork-web: 1 online, all new pids"


def test_a_two_instance_cluster_app_is_reloaded_and_both_instances_replaced(
    pm2: Pm2, tmp_path: Path
) -> None:
    # A short listen timeout: the app never listens, and PM2 waits that long per instance.
    before = started(pm2, "cluster-web", "-i", "2", "--listen-timeout", "300")
    assert [e["pm2_env"]["exec_mode"] for e in before] == ["cluster_mode"] * 2
    box = sandbox(pm2, tmp_path, pm2_restart={"apps": ["cluster-web"]})

    result = PM2_RESTART.run({"app": "cluster-web"}, box)

    after = pm2.entries("cluster-web")
    assert result.ok, result.detail
    assert [c for c in box.commands if c != ("pm2", "jlist")] == [("pm2", "reload", "cluster-web")]
    assert (len(after), online(after)) == (2, True)
    assert set(pids(after)).isdisjoint(pids(before))
    assert result.data == {"command": "reload", "old_pids": pids(before), "new_pids": pids(after)}


def test_an_app_outside_the_allowlist_is_refused_and_nothing_runs(pm2: Pm2, tmp_path: Path) -> None:
    [before] = started(pm2, "outsider")
    box = sandbox(pm2, tmp_path, pm2_restart={"apps": ["fork-web"]})

    with pytest.raises(Refused) as refused:
        PM2_RESTART.validate({"app": "outsider"}, box.config)
    result = PM2_RESTART.run({"app": "outsider"}, box)  # run checks again before argv

    assert (refused.value.reason, refused.value.detail) == (
        "not_allowed",
        "'outsider' is not in actions.pm2_restart.apps",
    )
    assert (result.ok, result.detail) == (
        False,
        "refused: 'outsider' is not in actions.pm2_restart.apps",
    )
    assert box.commands == []
    assert pids(pm2.entries("outsider")) == [before["pid"]]


INJECTIONS = [
    "api; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "api && reboot",
    "../../etc",
    "/etc/passwd",
    "a" * 10_000,
    "ａｐｉ",  # fullwidth
    "аpi",  # a Cyrillic а
    "api\n",
    "api\x00",
    " api",
    "",
    "--help",
    "-s",
    "all",  # PM2: every app
    "0",  # PM2: the pm_id 0
    None,
    5,
    b"api",
    ["api"],
]


@pytest.mark.parametrize("value", INJECTIONS, ids=[str(i) for i in range(len(INJECTIONS))])
def test_injection_attempts_in_the_app_are_refused_and_nothing_runs(
    value: object, tmp_path: Path
) -> None:
    # "all" and "0" are even allowlisted here: PM2 would read them as more than one app.
    box = sandbox(Pm2(tmp_path), tmp_path, pm2_restart={"apps": ["api", "all", "0"]})

    with pytest.raises(Refused) as refused:
        PM2_RESTART.validate({"app": value}, box.config)
    result = PM2_RESTART.run({"app": value}, box)

    assert refused.value.reason == "bad_parameter"
    assert len(refused.value.detail) < 200
    assert (result.ok, box.commands) == (False, [])


@pytest.mark.parametrize(
    "params", [{}, {"app": "api", "extra": "x"}, {"name": "api"}, {"app": "api", "ttl": "1m"}]
)
def test_parameters_other_than_exactly_app_are_refused(
    params: dict[str, Any], tmp_path: Path
) -> None:
    box = sandbox(Pm2(tmp_path), tmp_path, pm2_restart={"apps": ["api"]})

    with pytest.raises(Refused) as refused:
        PM2_RESTART.validate(params, box.config)

    assert (refused.value.reason, refused.value.detail) == (
        "bad_parameter",
        "pm2_restart takes exactly one parameter: app",
    )


def test_an_allowlisted_app_unknown_to_pm2_fails_after_only_reading_the_list(
    pm2: Pm2, tmp_path: Path
) -> None:
    box = sandbox(pm2, tmp_path, pm2_restart={"apps": ["never-started"]})

    result = PM2_RESTART.run({"app": "never-started"}, box)

    assert (result.ok, result.detail) == (False, "never-started is not known to PM2")
    assert box.commands == [("pm2", "jlist")]


# -- PM2 not running ---------------------------------------------------------------------


def assert_not_running_and_nothing_ran(pm2: Pm2, tmp_path: Path, why: str) -> None:
    box = sandbox(pm2, tmp_path, pm2_restart={"apps": ["api"]}, pause_jobs={"apps": ["api"]})
    results = [
        PM2_RESTART.run({"app": "api"}, box),
        PAUSE_JOBS.run({}, box),
        PAUSE_JOBS.revert({"apps": ["api"], "flag_file": None}, box),
    ]
    dry = sandbox(pm2, tmp_path, dry_run=True, pm2_restart={"apps": ["api"]})
    results.append(PM2_RESTART.run({"app": "api"}, dry))

    assert [(r.ok, r.detail) for r in results] == [(False, f"PM2 is not running ({why})")] * 4
    assert (box.commands, dry.commands) == ([], [])
    assert pm2.daemon_pid() is None
    assert pm2.leftovers() == []


def test_with_no_pm2_daemon_it_fails_runs_nothing_and_starts_none(
    own_pm2: Pm2, tmp_path: Path
) -> None:
    assert_not_running_and_nothing_ran(own_pm2, tmp_path, f"no pm2.pid in {own_pm2.home}")
    assert not own_pm2.home.exists()


def test_a_daemon_killed_with_sigkill_is_not_running_and_no_new_one_starts(
    own_pm2: Pm2, tmp_path: Path
) -> None:
    pid = own_pm2.start_daemon()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid), "the daemon to die")

    assert_not_running_and_nothing_ran(own_pm2, tmp_path, f"pm2.pid names pid {pid}, which is gone")


def test_a_pid_file_naming_a_live_process_that_is_not_pm2_is_not_running(
    own_pm2: Pm2, tmp_path: Path
) -> None:
    own_pm2.home.mkdir(parents=True)
    (own_pm2.home / "pm2.pid").write_text(str(os.getpid()))  # alive: this test process
    why = "no daemon answers on rpc.sock (No such file or directory)"

    box = sandbox(own_pm2, tmp_path, pm2_restart={"apps": ["api"]})
    result = PM2_RESTART.run({"app": "api"}, box)

    assert (result.ok, result.detail, box.commands) == (False, f"PM2 is not running ({why})", [])
    assert own_pm2.leftovers() == []
    assert not (own_pm2.home / "rpc.sock").exists()


# -- pause_jobs --------------------------------------------------------------------------


def test_pause_stops_the_worker_and_creates_the_flag_and_revert_undoes_both(
    pm2: Pm2, tmp_path: Path
) -> None:
    [before] = started(pm2, "pause-worker")
    flag = tmp_path / "jobs.paused"
    box = sandbox(pm2, tmp_path, pause_jobs={"apps": ["pause-worker"], "flag_file": str(flag)})
    params = PAUSE_JOBS.validate({"ttl": "15m"}, box.config)

    paused = PAUSE_JOBS.run(params, box)

    assert paused.ok, paused.detail
    assert statuses(pm2, "pause-worker") == ["stopped"]
    assert flag.is_file() and not flag.is_symlink()
    assert paused.undo == {"apps": ["pause-worker"], "flag_file": str(flag)}
    assert paused.lasts == timedelta(minutes=15)
    assert paused.detail == f"jobs paused for 15m: stopped pause-worker; created {flag}"
    assert ("pm2", "stop", "pause-worker") in box.commands

    reverted = PAUSE_JOBS.revert(paused.undo, box)

    [after] = pm2.entries("pause-worker")
    assert reverted.ok, reverted.detail
    assert after["pm2_env"]["status"] == "online"
    assert after["pid"] not in (0, before["pid"])
    assert reverted.data == {
        "apps_started": {"pause-worker": [after["pid"]]},
        "flag_file_removed": True,
    }
    assert not flag.exists()
    assert box.commands.count(("pm2", "start", "pause-worker")) == 1


def test_an_app_already_stopped_is_not_ours_and_is_not_started_at_revert(
    pm2: Pm2, tmp_path: Path
) -> None:
    started(pm2, "idle-worker")
    pm2.run("stop", "idle-worker")
    box = sandbox(pm2, tmp_path, pause_jobs={"apps": ["idle-worker"]})

    paused = PAUSE_JOBS.run({}, box)
    reverted = PAUSE_JOBS.revert(paused.undo or {}, box)

    assert (paused.ok, paused.undo) == (True, {"apps": [], "flag_file": None})
    assert paused.lasts == timedelta(minutes=30)  # the config's default ttl
    assert (reverted.ok, reverted.detail) == (True, "jobs resumed: nothing to undo")
    assert statuses(pm2, "idle-worker") == ["stopped"]
    assert box.commands == [("pm2", "jlist")]


def test_a_listed_app_missing_from_pm2_is_named_and_the_others_are_paused(
    pm2: Pm2, tmp_path: Path
) -> None:
    [before] = started(pm2, "present-worker")
    box = sandbox(pm2, tmp_path, pause_jobs={"apps": ["present-worker", "gone-worker"]})
    prepared = PAUSE_JOBS.prepare({}, box)

    paused = PAUSE_JOBS.run({}, box)

    undo = {"apps": ["present-worker"], "flag_file": None, "missing": ["gone-worker"]}
    assert prepared is not None and prepared.undo == undo  # what the executor keeps first
    assert (paused.ok, paused.undo) == (True, undo), paused.detail
    assert paused.detail == (
        "jobs paused for 30m: stopped present-worker; gone-worker is not known to PM2 (not paused)"
    )
    assert (paused.data["apps_stopped"], paused.data["apps_missing"]) == (
        ["present-worker"], ["gone-worker"],
    )  # fmt: skip
    assert statuses(pm2, "present-worker") == ["stopped"]

    reverted = PAUSE_JOBS.revert(undo, box)

    [after] = pm2.entries("present-worker")
    assert (reverted.ok, reverted.detail) == (True, "jobs resumed: started present-worker")
    assert after["pm2_env"]["status"] == "online"
    assert after["pid"] not in (0, before["pid"])
    assert reverted.data == {"apps_started": {"present-worker": [after["pid"]]},
                             "flag_file_removed": False}  # fmt: skip
    assert ("pm2", "start", "gone-worker") not in box.commands
    assert pm2.entries("gone-worker") == []


def test_a_pause_of_apps_none_of_which_pm2_knows_fails_and_changes_nothing(
    pm2: Pm2, tmp_path: Path
) -> None:
    flag = tmp_path / "jobs.paused"
    box = sandbox(
        pm2, tmp_path, pause_jobs={"apps": ["ghost-a", "ghost-b"], "flag_file": str(flag)}
    )

    prepared = PAUSE_JOBS.prepare({}, box)
    paused = PAUSE_JOBS.run({}, box)

    assert prepared is None
    assert (paused.ok, paused.undo) == (False, None)
    assert paused.detail == "ghost-a, ghost-b are not known to PM2: nothing was paused"
    assert not flag.exists()
    assert {c[1] for c in box.commands} == {"jlist"}


class RefusingStop(DirectBackend):
    """The real backend, except that ``pm2 stop NAME`` exits 1 for one app (a seam, no patch)."""

    def __init__(self, app: str) -> None:
        super().__init__()
        self.app = app

    def run(self, argv: Sequence[str], **kwargs: Any) -> Completed:
        if tuple(argv[1:]) == ("stop", self.app):
            return Completed(tuple(argv), 1, b"", b"[PM2][ERROR] refused by the test\n", 0.0)
        return super().run(argv, **kwargs)


def test_a_pause_that_fails_part_way_undoes_what_it_did(pm2: Pm2, tmp_path: Path) -> None:
    [first] = started(pm2, "undo-first")
    started(pm2, "undo-second")
    flag = tmp_path / "jobs.paused"
    box = sandbox(
        pm2, tmp_path, pause_jobs={"apps": ["undo-first", "undo-second"], "flag_file": str(flag)}
    )
    box.backend = RefusingStop("undo-second")

    result = PAUSE_JOBS.run({}, box)

    assert (result.ok, result.undo) == (False, None)
    assert result.detail == (
        "pm2 stop undo-second exited 1: [PM2][ERROR] refused by the test; undone"
    )
    [after] = pm2.entries("undo-first")
    assert after["pm2_env"]["status"] == "online"
    assert after["pid"] != first["pid"]
    assert statuses(pm2, "undo-second") == ["online"]
    assert not flag.exists()


def test_a_flag_file_that_cannot_be_created_pauses_nothing(pm2: Pm2, tmp_path: Path) -> None:
    [before] = started(pm2, "kept-worker")
    flag = tmp_path / "no-such-dir" / "jobs.paused"
    box = sandbox(pm2, tmp_path, pause_jobs={"apps": ["kept-worker"], "flag_file": str(flag)})

    result = PAUSE_JOBS.run({}, box)

    assert (result.ok, result.detail) == (
        False,
        f"could not create {flag}: {flag.parent} does not exist",
    )
    assert box.commands == [("pm2", "jlist")]
    assert pm2.entries("kept-worker")[0]["pid"] == before["pid"]


def test_a_flag_file_already_there_is_not_ours_and_is_kept_at_revert(tmp_path: Path) -> None:
    flag = tmp_path / "jobs.paused"
    flag.write_text("an operator's own pause\n")
    box = sandbox(Pm2(tmp_path), tmp_path, pause_jobs={"flag_file": str(flag)})

    paused = PAUSE_JOBS.run(PAUSE_JOBS.validate({}, box.config), box)
    reverted = PAUSE_JOBS.revert(paused.undo or {}, box)

    assert (paused.ok, paused.undo) == (True, {"apps": [], "flag_file": None})
    assert paused.data["flag_file_existed"] is True
    assert paused.detail == f"jobs paused for 30m: {flag} already existed (kept)"
    assert reverted.ok
    assert flag.read_text() == "an operator's own pause\n"
    assert box.commands == []


def test_a_symlink_at_the_flag_path_is_never_followed(tmp_path: Path) -> None:
    flag, target = tmp_path / "jobs.paused", tmp_path / "elsewhere"
    flag.symlink_to(target)  # dangling: opening through it would create the target
    box = sandbox(Pm2(tmp_path), tmp_path, pause_jobs={"flag_file": str(flag)})

    paused = PAUSE_JOBS.run({}, box)
    reverted = PAUSE_JOBS.revert(paused.undo or {}, box)

    # Not "already existed (kept)": an app testing for the flag sees nothing through a
    # dangling link, so a pause that vouched for it would pause nothing.
    assert (paused.ok, paused.detail, paused.undo) == (
        False,
        f"could not create {flag}: a symlink is there (never followed)",
        None,
    )
    assert reverted.ok
    assert not target.exists()
    assert flag.is_symlink()


def test_revert_leaves_our_flag_alone_once_it_is_no_longer_a_regular_file(tmp_path: Path) -> None:
    flag, target = tmp_path / "jobs.paused", tmp_path / "precious"
    target.write_text("keep me\n")
    box = sandbox(Pm2(tmp_path), tmp_path, pause_jobs={"flag_file": str(flag)})
    paused = PAUSE_JOBS.run({}, box)
    flag.unlink()
    flag.symlink_to(target)

    reverted = PAUSE_JOBS.revert(paused.undo or {}, box)

    assert paused.undo == {"apps": [], "flag_file": str(flag)}
    assert (reverted.ok, reverted.detail) == (
        False,
        f"{flag} is no longer a regular file: left in place",
    )
    assert flag.is_symlink()
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"ttl": "30m"}),
        ({"ttl": "45m"}, {"ttl": "45m"}),
        ({"ttl": " 1h 30m "}, {"ttl": "1h30m"}),
        ({"ttl": "6h"}, {"ttl": "6h"}),
    ],
)
def test_pause_ttl_is_normalized(
    params: dict[str, Any], expected: dict[str, str], tmp_path: Path
) -> None:
    config = ActionsConfig.model_validate({"pause_jobs": {"flag_file": str(tmp_path / "f")}})
    assert PAUSE_JOBS.validate(params, config) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"ttl": "0s"},
        {"ttl": "6h1s"},
        {"ttl": "7d"},
        {"ttl": "30"},
        {"ttl": 30},
        {"ttl": None},
        {"ttl": "30m; reboot"},
        {"ttl": "$(reboot)"},
        {"ttl": "1" * 10_000 + "s"},
        {"ttl": "３０m"},
        {"ttl": "30m", "app": "x"},
        {"apps": ["x"]},
    ],
)
def test_a_bad_pause_parameter_is_refused(params: dict[str, Any], tmp_path: Path) -> None:
    config = ActionsConfig.model_validate({"pause_jobs": {"flag_file": str(tmp_path / "f")}})

    with pytest.raises(Refused) as refused:
        PAUSE_JOBS.validate(params, config)

    assert refused.value.reason == "bad_parameter"
    assert len(refused.value.detail) < 200


def test_pause_with_no_mechanism_configured_is_refused() -> None:
    with pytest.raises(Refused) as refused:
        PAUSE_JOBS.validate({}, ActionsConfig())

    assert (refused.value.reason, refused.value.detail) == (
        "not_configured",
        "actions.pause_jobs names no apps and no flag_file",
    )


# -- dry run -----------------------------------------------------------------------------


def test_dry_run_records_the_commands_and_changes_nothing(pm2: Pm2, tmp_path: Path) -> None:
    web, worker = started(pm2, "dry-web"), started(pm2, "dry-worker")
    flag = tmp_path / "jobs.paused"
    box = sandbox(
        pm2,
        tmp_path,
        dry_run=True,
        pm2_restart={"apps": ["dry-web"]},
        pause_jobs={"apps": ["dry-worker"], "flag_file": str(flag)},
    )

    restarted = PM2_RESTART.run({"app": "dry-web"}, box)
    paused = PAUSE_JOBS.run({"ttl": "10m"}, box)
    reverted = PAUSE_JOBS.revert({"apps": ["dry-worker"], "flag_file": str(flag)}, box)

    assert (restarted.ok, paused.ok, reverted.ok) == (True, True, True)
    assert box.commands == [
        ("pm2", "jlist"),
        ("pm2", "restart", "dry-web"),
        ("pm2", "jlist"),
        ("pm2", "stop", "dry-worker"),
        ("pm2", "start", "dry-worker"),
    ]
    assert pids(pm2.entries("dry-web")) == pids(web)
    assert pids(pm2.entries("dry-worker")) == pids(worker)
    assert online(pm2.entries("dry-worker"))
    assert not flag.exists()
    assert paused.undo is None
    assert paused.detail == f"dry run: would stop dry-worker and create {flag} for 10m"
