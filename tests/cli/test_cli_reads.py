"""status, incidents and show against a store filled by a real scenario: real processes,
readable text, JSON that parses and says what the store says, exit codes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cli_scenario import PLATFORM, Filled, dump, incident
from support.clock import ManualClock
from support.process import calmopsd

from calmopsd.act import control
from calmopsd.model import IncidentType, Severity
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import list_incidents, open_incident
from calmopsd.record.messages import Draft, add_draft
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot
from calmopsd.serve import views
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Caller


def headline(filled: Filled, incident_id: int) -> str:
    return incident(filled, incident_id).summary.splitlines()[0]


def test_status_shows_health_open_incidents_actions_and_pending_approvals(filled: Filled) -> None:
    before = dump(filled)
    result = calmopsd("status", *filled.where)
    assert (result.returncode, result.stderr) == (3, "")  # no daemon holds the store
    lines = result.stdout.splitlines()
    assert lines[0] == "Daemon: not running (nothing is sampled or acted on; readings grow old)"
    assert lines[2] == "Health (latest reading of each sampler)"
    assert re.fullmatch(r"  memory +ok +\d+d ago", lines[3]), lines[3]
    assert re.fullmatch(r"  pm2 +FAILED +\d+d ago  PM2 is not running", lines[4]), lines[4]
    at = lines.index("Open incidents: 3 (1 critical, 2 warning)")
    rows = [line.split()[:4] for line in lines[at + 1 : at + 4]]
    assert rows == [
        [f"#{filled.dependency}", "monitoring", "critical", "platform"],
        [f"#{filled.disk}", "open", "warning", "platform"],
        [f"#{filled.memory}", "open", "warning", "platform"],
    ]
    assert lines[at + 3].endswith(headline(filled, filled.memory))
    assert "Actions in force: 1" in lines
    assert lines[lines.index("Actions in force: 1") + 1].startswith(
        f"  #{filled.active:<5} pause_jobs          jobs"
    )
    pending = lines.index("Pending approvals: 2")
    assert [line.split()[:4] for line in lines[pending + 1 :]] == [
        [f"#{filled.safe}", "incident", f"#{filled.disk}", "safe_action"],
        [f"#{filled.manual}", "incident", f"#{filled.memory}", "manual"],
    ]
    assert all(len(line) <= 100 for line in lines)
    assert dump(filled) == before


def test_status_as_json_says_what_the_store_holds(filled: Filled) -> None:
    result = calmopsd("status", "--json", *filled.where)
    assert result.returncode == 3, result.stderr
    body = json.loads(result.stdout)
    assert [(r["sampler"], r["ok"], r["error"]) for r in body["readings"]] == [
        ("memory", True, None),
        ("pm2", False, "PM2 is not running"),
    ]
    assert all(r["age_s"] > 200 * 86400 for r in body["readings"])
    database = filled.read()
    unresolved = list_incidents(database, PLATFORM, unresolved=True)
    database.close()
    assert [i["id"] for i in body["incidents"]] == [i.id for i in unresolved]
    assert body["open_incidents"] == 3
    assert body["by_severity"] == {"critical": 1, "warning": 2}
    assert body["by_status"] == {"monitoring": 1, "open": 2}
    assert body["incidents"][-1]["headline"] == headline(filled, filled.memory)
    assert [(a["id"], a["action"], a["incident_id"]) for a in body["actions"]] == [
        (filled.active, "pause_jobs", filled.dependency)
    ]
    assert [(p["id"], p["kind"], p["status"]) for p in body["pending"]] == [
        (filled.safe, "safe_action", "proposed"),
        (filled.manual, "manual", "proposed"),
    ]


def test_status_says_when_every_safe_action_is_paused_and_by_whom(filled: Filled) -> None:
    """Found by a tester: with the kill switch on, `status` said nothing of it."""
    assert (
        json.loads(calmopsd("status", "--json", *filled.where).stdout)["actions_paused_by"] is None
    )
    (filled.state / control.PAUSE_FLAG).write_text("cli:ada\n", encoding="utf-8")
    screen = calmopsd("status", *filled.where).stdout.splitlines()
    assert (
        screen[1] == "Actions: PAUSED by cli:ada: no safe action runs (`calmopsd actions resume`)"
    )
    body = json.loads(calmopsd("status", "--json", *filled.where).stdout)
    assert body["actions_paused_by"] == "cli:ada"


def test_status_without_a_database_says_so_and_exits_1(filled: Filled) -> None:
    result = calmopsd("status", "--state-dir", str(filled.root / "empty"))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"status: no database at {filled.root / 'empty' / 'calmopsd.db'}\n"


def test_incidents_filters_by_status_type_and_severity(filled: Filled) -> None:
    def ids(*args: str) -> list[int]:
        result = calmopsd("incidents", "--json", *args, *filled.where)
        assert result.returncode == 0, result.stderr
        return [i["id"] for i in json.loads(result.stdout)["incidents"]]

    assert ids() == [filled.dependency, filled.disk, filled.memory]
    assert ids("--severity", "critical") == [filled.dependency]
    assert ids("--type", "disk") == [filled.disk]
    assert ids("--status", "open") == [filled.disk, filled.memory]
    assert ids("--status", "open", "--type", "memory") == [filled.memory]
    assert ids("--status", "resolved") == []

    text = calmopsd("incidents", "--type", "dependency", *filled.where)
    assert text.stdout.splitlines() == [
        f"#{filled.dependency:<5} monitoring  critical platform     "
        + headline(filled, filled.dependency)
    ]
    none = calmopsd("incidents", "--status", "resolved", *filled.where)
    assert (none.returncode, none.stdout) == (0, "no matching incidents\n")


def test_incidents_refuses_an_unknown_filter_value_with_exit_2(filled: Filled) -> None:
    result = calmopsd("incidents", "--severity", "dire", *filled.where)
    assert result.returncode == 2
    assert "'dire' is not one of 'info', 'warning', 'critical'" in result.stderr


def test_show_prints_summary_timeline_actions_and_recommendations(filled: Filled) -> None:
    result = calmopsd("show", str(filled.disk), *filled.where)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    found = incident(filled, filled.disk)
    assert lines[0] == f"#{filled.disk} disk · open · warning · platform"
    assert lines[3 : 3 + len(found.summary.splitlines())] == found.summary.splitlines()
    database = filled.read()
    detail = Operations(database, ManualClock(filled.at)).incident(cli(), filled.disk)
    database.close()
    timeline = lines.index(f"Timeline: {len(detail.events)}")
    kinds = [line.split()[2] for line in lines[timeline + 1 : timeline + 1 + len(detail.events)]]
    assert kinds == [e.kind for e in detail.events]
    assert lines[lines.index("Actions: 1") + 1].split()[:3] == ["#1", "clear_temp", "refused"]
    recs = lines.index("Recommendations: 1")
    assert lines[recs + 1].split()[:3] == [f"#{filled.safe}", "clear_temp", "proposed"]
    assert lines[recs + 2].split() == [
        "calmopsd", "approve", str(filled.disk), str(filled.safe), "or",
        "calmopsd", "reject", str(filled.disk), str(filled.safe), "--note", "…",
    ]  # fmt: skip


def test_show_as_json_is_the_api_detail_of_the_incident(filled: Filled) -> None:
    result = calmopsd("show", str(filled.memory), "--json", *filled.where)
    assert result.returncode == 0, result.stderr
    database = filled.read()
    detail = Operations(database, ManualClock(filled.at)).incident(cli(), filled.memory)
    database.close()
    assert json.loads(result.stdout) == json.loads(json.dumps(views.detail(detail)))
    same = calmopsd("incidents", str(filled.memory), "--json", *filled.where)
    assert json.loads(same.stdout) == json.loads(result.stdout)


def test_show_of_an_unknown_or_malformed_id_exits_1_or_2(filled: Filled) -> None:
    missing = calmopsd("show", "99", *filled.where)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "show: no incident 99\n")
    # With --json, a script reads the answer as the deciding commands give theirs.
    for command in (("show", "99"), ("incidents", "99"), ("review", "99"),
                    ("messages", "show", "99")):  # fmt: skip
        said = calmopsd(*command, "--json", *filled.where)
        assert said.returncode == 1, (command, said.stderr)
        assert json.loads(said.stdout)["error"] == "not_found", command
        assert said.stderr.startswith(f"{' '.join(command[:-1])}: no "), command
    for bad in ("abc", "0", "-3", str(2**63)):
        result = calmopsd("show", bad, *filled.where)
        assert result.returncode == 2, (bad, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_read_of_an_unknown_message_is_one_line_not_a_traceback(filled: Filled) -> None:
    """Found by a tester: ``messages show 99`` printed click's traceback (exit 1)."""
    missing = calmopsd("messages", "show", "99", *filled.where)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        1, "", "messages show: no message 99\n"
    )  # fmt: skip


def test_messages_lists_every_line_of_a_text_under_its_row(filled: Filled) -> None:
    """Found by a tester: the second line of a text was printed at column 0, where it
    read as a row of its own."""
    database = Database.open(database_path(filled.state))
    try:
        add_draft(database, Draft(
            "k1", filled.disk, "investigating", "degraded_performance", "status_page", (),
            "platform-wide", "We are looking into slow uploads.\nNext update within 30 minutes.",
        ), at=filled.at)  # fmt: skip
    finally:
        database.close()
    listed = calmopsd("messages", *filled.where)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1:] == [
        "       We are looking into slow uploads.",
        "       Next update within 30 minutes.",
    ]


def cli() -> Caller:
    return Caller("cli", PLATFORM, "operator", True, "cli:test")


def test_reading_an_organizations_incident_on_this_host_prints_no_bypass_warning(
    tmp_path: Path,
) -> None:
    """The API traces a super-admin token reading an organization's data; the CLI reads the
    database file itself, which no organization boundary guards, so nothing is said."""
    state = tmp_path / "state"
    database = Database.open(database_path(state))
    try:
        acme = open_incident(
            database, Scope.organization("acme"), organization_id="acme",
            fingerprint="upload:org=acme", type=IncidentType.UPLOAD,
            severity=Severity.WARNING, title="Upload failures for acme",
            at=ManualClock().now(), actor="calmopsd",
        )  # fmt: skip
    finally:
        database.close()
    for command in (("incidents",), ("show", str(acme.id)), ("status",)):
        result = calmopsd(*command, "--state-dir", str(state))
        no_daemon = 3 if command == ("status",) else 0
        assert (result.returncode, result.stderr) == (no_daemon, ""), command
        assert "acme" in result.stdout or "Upload failures" in result.stdout, command


def test_status_says_which_daemon_holds_the_store_and_what_samplers_saw(tmp_path: Path) -> None:
    state = tmp_path / "state"
    database = Database.open(database_path(state))  # stands for the running daemon
    try:
        now = ManualClock().now()
        for sampler, values in (
            ("http", {"checks": {"web": {"up": False}, "api": {"up": True}}}),
            (
                "pm2",
                {"state": "ok", "apps": {"api": {"status": "errored"}, "w": {"status": "online"}}},
            ),
            ("dependencies", {"probes": {"redis": {"up": True}}}),
        ):
            add_snapshot(
                database, Scope.platform(), sampler=sampler, taken_at=now, ok=True,
                duration_ms=1.0, readings=values,
            )  # fmt: skip
        result = calmopsd("status", "--state-dir", str(state))
        as_json = calmopsd("status", "--json", "--state-dir", str(state))
    finally:
        database.close()
    lines = result.stdout.splitlines()
    assert lines[0] == f"Daemon: running (pid {os.getpid()})"
    noted = {line.split()[0]: line.split("ago")[-1].strip() for line in lines[3:6]}
    assert noted == {
        "dependencies": "",
        "http": "1 of 2 checks down: web",
        "pm2": "not online: api",
    }
    assert json.loads(as_json.stdout)["daemon_pid"] == os.getpid()
