"""approve, reject and resolve while a real daemon holds the store: the CLI goes through its API
(the local token, the account in X-Calmops-Actor) on the port it published, or its unix socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from cli_scenario import PLATFORM, Filled, account, env, events_by, recommendation
from support.process import DaemonProcess, calmopsd, write_config

from calmopsd.record.database import Database, database_path
from calmopsd.record.recommendations import list_recommendations


def start(filled: Filled, daemons: list[DaemonProcess]) -> DaemonProcess:
    daemon = DaemonProcess("--config", str(filled.config), env=env())
    daemons.append(daemon)
    daemon.wait_for("daemon.ready")
    return daemon


def run(filled: Filled, *args: str) -> tuple[int, str, str]:
    result = calmopsd(*args, *filled.where, env=env())
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def through_api(daemon: DaemonProcess, route: str) -> dict[str, object]:
    """The daemon's log line for the request: proof the CLI did not write the store itself."""
    line = daemon.wait_for("api.request")
    assert (line["token"], str(line["route"]).rsplit("/", 1)[-1]) == ("local-cli", route)
    return line


def test_the_daemon_publishes_its_bound_port_for_the_cli_and_removes_it_at_stop(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    daemon = DaemonProcess("--config", str(fresh.config), env=env())
    daemons.append(daemon)
    listening = daemon.wait_for("api.listening")
    daemon.wait_for("daemon.ready")
    address = fresh.state / "api.address"
    assert json.loads(address.read_text()) == {"url": listening["url"], "unix_socket": None}
    assert not str(listening["url"]).endswith(":0")
    assert address.stat().st_mode & 0o777 == 0o600
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=10) == 0
    assert not address.exists()
    assert not (fresh.state / "api.token").exists()


def test_approve_reject_and_resolve_go_through_the_running_daemon_as_the_account(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    daemon = start(fresh, daemons)
    m, d = str(fresh.memory), str(fresh.disk)

    approved = run(fresh, "approve", m, str(fresh.manual))
    assert approved == (0, (
        f"recommendation #{fresh.manual} of incident #{m} approved: "
        "recorded as approved; calmopsd does not perform manual steps\n"
    ), "")  # fmt: skip
    assert through_api(daemon, "approve")["status"] == 200

    code, out, _ = run(fresh, "reject", d, str(fresh.safe), "--note", "resizing", "--json")
    assert (code, json.loads(out)) == (
        0, {"status": "rejected", "detail": "recorded as rejected", "outcome": None},
    )  # fmt: skip
    through_api(daemon, "reject")

    assert run(fresh, "resolve", m, "--note", "killed the leaking batch job") == (
        0, f"incident #{m} resolved\n", "",
    )  # fmt: skip
    assert through_api(daemon, "<incident_id>")["method"] == "PATCH"

    me = f"cli:{account()}"
    assert [(kind, incident_id) for kind, incident_id, _ in events_by(fresh, me)] == [
        ("recommendation.approved", fresh.memory),
        ("recommendation.rejected", fresh.disk),
        ("incident.status_changed", fresh.memory),
    ]
    assert recommendation(fresh, fresh.manual).decided_by == me
    assert recommendation(fresh, fresh.safe).decision_note == "resizing"


def test_an_approved_safe_action_runs_once_through_the_daemon(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    uploads = fresh.root / "uploads" / "tmp"
    uploads.mkdir(parents=True)
    old, young = uploads / "old.bin", uploads / "young.bin"
    old.write_bytes(b"x" * 10)
    young.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    # No disk sampler: the breach the daemon took over at start stays firing, so the
    # approval's re-check against the live picture holds.
    enforce = (
        "  disk:\n    enabled: false\nactions:\n  mode: enforce\n"
        f"  clear_temp:\n    dirs: [{uploads}]\n    min_age: 1m\n"
    )
    write_config(fresh.config, fresh.config.read_text() + enforce)
    daemon = start(fresh, daemons)
    d, s = str(fresh.disk), str(fresh.safe)
    executed = f"executed: removed 1 file (10 bytes) from {uploads}"
    assert run(fresh, "approve", d, s) == (
        0, f"recommendation #{s} of incident #{d} {executed}\n", "",
    )  # fmt: skip
    through_api(daemon, "approve")
    assert (old.exists(), young.exists()) == (False, True)
    assert recommendation(fresh, fresh.safe).status == "executed"
    again = run(fresh, "approve", d, s, "--json")
    assert (again[0], json.loads(again[1])) == (
        1, {"error": "refused", "detail": "it is already executed"},
    )  # fmt: skip
    me = f"cli:{account()}"
    assert [kind for kind, *_ in events_by(fresh, me) if kind.startswith("recommendation")] == [
        "recommendation.approved",
        "recommendation.executed",
        "recommendation.approval_refused",
    ]


def test_through_the_daemon_wrong_ids_exit_1_bad_notes_exit_2_and_nothing_changes(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    daemon = start(fresh, daemons)
    m, d, manual = str(fresh.memory), str(fresh.disk), str(fresh.manual)
    assert run(fresh, "approve", "99", manual) == (1, "", "approve: no incident 99\n")
    assert through_api(daemon, "approve")["status"] == 404
    assert run(fresh, "approve", d, manual) == (
        1, "", f"approve: no recommendation {manual} on incident {d}\n",
    )  # fmt: skip
    missing = f"reject: no recommendation 99 on incident {m}\n"
    assert run(fresh, "reject", m, "99") == (1, "", missing)
    assert run(fresh, "resolve", "99", "--note", "x") == (1, "", "resolve: no incident 99\n")
    code, out, err = run(fresh, "resolve", m, "--note", " ", "--json")
    needs = "resolving needs a note: what was done"
    assert (code, err, json.loads(out)) == (
        2, f"resolve: {needs}\n", {"error": "note_required", "detail": needs},
    )  # fmt: skip
    assert events_by(fresh, f"cli:{account()}") == []
    database = fresh.read()
    statuses = {r.id: r.status for i in (fresh.memory, fresh.disk)
                for r in list_recommendations(database, PLATFORM, i)}  # fmt: skip
    database.close()
    assert statuses == {fresh.manual: "proposed", fresh.safe: "proposed"}


def test_a_daemon_serving_only_a_unix_socket_is_reached_through_it(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    socket_path = fresh.root / "api.sock"
    socket_only = f"  listen:\n  unix_socket: {socket_path}\n"
    write_config(
        fresh.config, fresh.config.read_text().replace("  listen: 127.0.0.1:0\n", socket_only)
    )
    daemon = start(fresh, daemons)
    assert json.loads((fresh.state / "api.address").read_text()) == {
        "url": None, "unix_socket": str(socket_path),
    }  # fmt: skip
    assert run(fresh, "reject", str(fresh.disk), str(fresh.safe)) == (
        0, f"recommendation #{fresh.safe} of incident #{fresh.disk} rejected\n", "",
    )  # fmt: skip
    through_api(daemon, "reject")
    assert recommendation(fresh, fresh.safe).decided_by == f"cli:{account()}"


def test_a_daemon_without_its_api_is_a_clear_refusal(
    fresh: Filled, daemons: list[DaemonProcess]
) -> None:
    text = fresh.config.read_text()
    write_config(fresh.config, text.replace("api:\n", "api:\n  enabled: false\n"))
    start(fresh, daemons)
    code, out, err = run(fresh, "approve", str(fresh.memory), str(fresh.manual))
    assert (code, out) == (1, "")
    assert err == (
        f"approve: the daemon runs but has written no API token to {fresh.state / 'api.token'}: "
        "its API is off (api.enabled: false) or could not start (api.unavailable in its log)\n"
    )
    assert recommendation(fresh, fresh.manual).status == "proposed"


def test_an_api_that_does_not_answer_is_a_clear_refusal(fresh: Filled) -> None:
    """The store is held (as by a daemon whose API then went away): exit 1, said plainly."""
    holder = Database.open(database_path(fresh.state))  # takes the flock, as the daemon does
    try:
        token = fresh.state / "api.token"
        token.write_text("a" * 43 + "\n")  # shaped like one, as a crashed daemon's would be
        token.chmod(0o600)
        asked = ("approve", str(fresh.memory), str(fresh.manual))
        assert run(fresh, *asked) == (1, "", (
            "approve: the daemon runs, but where its API answers is not known yet "
            "(api.address is missing and api.listen has port 0); try again in a moment\n"
        ))  # fmt: skip
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        address = fresh.state / "api.address"
        address.write_text(json.dumps({"url": url, "unix_socket": None}))
        address.chmod(0o600)
        assert run(fresh, *asked) == (
            1, "", f"approve: cannot reach the daemon's API at {url}: Connection refused\n",
        )  # fmt: skip
    finally:
        holder.close()
    assert recommendation(fresh, fresh.manual).status == "proposed"
