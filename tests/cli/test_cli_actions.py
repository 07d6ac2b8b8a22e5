"""actions pause, resume and revert while a real daemon holds the store: through its API, done
when the CLI answers (no files left for a tick to find), audited as the account."""

from __future__ import annotations

import json
import subprocess
import sys

from cli_scenario import Filled, account, env, events_by
from support.process import DaemonProcess, calmopsd, write_config

from calmopsd.act import control
from calmopsd.record.actions import get_active


def start(filled: Filled, daemons: list[DaemonProcess]) -> DaemonProcess:
    daemon = DaemonProcess("--config", str(filled.config), env=env())
    daemons.append(daemon)
    daemon.wait_for("daemon.ready")
    return daemon


def run(filled: Filled, *args: str) -> tuple[int, str, str]:
    result = calmopsd(*args, *filled.where, env=env())
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def through_api(daemon: DaemonProcess, route: str, status: int = 200) -> None:
    """The daemon's log line for the request: proof the CLI did not act on its own."""
    line = daemon.wait_for("api.request")
    assert (line["token"], str(line["route"]).rsplit("/", 1)[-1], line["status"]) == (
        "local-cli", route, status,
    )  # fmt: skip


def switches(filled: Filled) -> list[str]:
    return [
        kind for kind, *_ in events_by(filled, f"cli:{account()}") if kind.startswith("actions.")
    ]


def test_pause_takes_effect_in_the_running_daemon_at_once_and_resume_lifts_it(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    uploads = fresh.root / "uploads"
    uploads.mkdir()
    enforce = (
        "  disk:\n    enabled: false\n"
        f"actions:\n  mode: enforce\n  clear_temp:\n    dirs: [{uploads}]\n"
    )
    write_config(fresh.config, fresh.config.read_text() + enforce)
    daemon = start(fresh, daemons)
    flag = fresh.state / control.PAUSE_FLAG

    assert run(fresh, "actions", "pause") == (0, "actions paused\n", "")
    through_api(daemon, "pause")
    # Answered once done: the flag is set and the audit log says who, before any tick.
    assert control.paused_by(fresh.state) == f"cli:{account()}"
    assert switches(fresh) == ["actions.paused"]
    code, out, _ = run(fresh, "approve", str(fresh.disk), str(fresh.safe), "--json")
    through_api(daemon, "approve")
    assert (code, json.loads(out)["outcome"]["reason"]) == (1, "paused")

    code, out, _ = run(fresh, "actions", "pause", "--json")
    through_api(daemon, "pause")
    assert (code, json.loads(out)) == (0, {"paused": True, "changed": False})
    assert run(fresh, "actions", "resume") == (0, "actions resumed\n", "")
    through_api(daemon, "resume")
    assert not flag.exists()
    assert run(fresh, "actions", "resume") == (0, "actions were not paused\n", "")
    through_api(daemon, "resume")
    assert switches(fresh) == ["actions.paused", "actions.resumed"]
    assert not (fresh.state / "control").exists()


def test_revert_is_carried_out_by_the_running_daemon_before_it_answers(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    daemon = start(fresh, daemons)
    a = str(fresh.active)
    assert run(fresh, "actions", "revert", a) == (0, f"action #{a} reverted\n", "")
    through_api(daemon, "revert")
    database = fresh.read()
    try:
        active = get_active(database, fresh.active)
    finally:
        database.close()
    assert active is not None
    assert (active.reverted_by, active.revert_outcome) == (f"cli:{account()}", "succeeded")
    assert run(fresh, "actions", "revert", a) == (
        1, "", f"actions: action {a} was already reverted\n",
    )  # fmt: skip
    through_api(daemon, "revert", 409)
    code, out, err = run(fresh, "actions", "revert", "999", "--json")
    through_api(daemon, "revert", 404)
    missing = "no action in force with id 999"
    assert (code, err, json.loads(out)) == (
        1, f"actions: {missing}\n", {"error": "not_found", "detail": missing},
    )  # fmt: skip


HOLDER = """
import sys, time
from pathlib import Path
from calmopsd.record.database import Database
database = Database.open(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(float(sys.argv[2]))  # another command's moment on the store, not a daemon's
database.close()
"""


def test_a_command_holding_the_store_for_a_moment_is_waited_for_not_taken_for_a_daemon(
    fresh: Filled,
) -> None:
    """Found by a tester: six `actions pause` at once with no daemon, and some were told
    "the daemon runs but has written no API token" (each took the others' lock for it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(fresh.state / "calmopsd.db"), "3"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert run(fresh, "actions", "pause") == (0, "actions paused\n", "")
    finally:
        holder.wait(timeout=30)
    assert control.paused_by(fresh.state) == f"cli:{account()}"
