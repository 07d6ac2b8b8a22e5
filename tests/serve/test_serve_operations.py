"""What the API does, beyond who may: paging, filters, transitions, bypass traces, and what
is answered when the daemon is not there or the store fails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
import structlog
from support.api import Stack, StackMaker, Template, secret, token_entries
from support.clock import ManualClock

from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.incidents import list_incidents
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens

PLATFORM = Scope.platform()


def open_manual(stack: Stack, caller: str, title: str, **extra: Any) -> int:
    body = {"title": title, "type": "disk", "severity": "info", **extra}
    response = stack.call("POST", "/incidents", caller, json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_pages_cover_every_incident_once_newest_first(make_stack: StackMaker) -> None:
    stack = make_stack()
    for n in range(7):
        open_manual(stack, "root", f"manual {n}")
    everything = stack.call("GET", "/incidents?limit=200", "root").json()["incidents"]
    seen: list[int] = []
    cursor = ""
    for _ in range(10):
        page = stack.call("GET", f"/incidents?limit=3{cursor}", "root").json()
        seen += [i["id"] for i in page["incidents"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [i["id"] for i in everything]
    assert len(seen) == len(set(seen)) == 11
    assert [i["opened_at"] for i in everything] == sorted(
        (i["opened_at"] for i in everything), reverse=True
    )


def test_filters_narrow_the_list(make_stack: StackMaker, template: Template) -> None:
    stack = make_stack()
    manual = open_manual(stack, "acme-op", "temp dir filling", severity="critical")
    incidents = list_incidents(stack.database, PLATFORM)
    (dependency,) = [i.id for i in incidents if i.type == "dependency"]

    def ids(query: str, caller: str = "root") -> set[int]:
        response = stack.call("GET", f"/incidents?{query}", caller)
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["incidents"]}

    assert ids("severity=critical") == {manual, dependency}
    assert ids("type=disk") == {manual}
    assert ids("status=monitoring") == {dependency}
    assert ids("type=upload", "acme-op") == {template.incident["acme"]}
    assert ids("type=network", "acme-op") == set()  # globex's network incident: not acme's
    assert ids("since=2999-01-01") == set()
    assert ids("since=2000-01-01T00:00:00%2B02:00") == ids("")


def test_an_incident_a_person_opened_has_a_summary_that_follows_its_status(
    make_stack: StackMaker,
) -> None:
    stack = make_stack()
    incident = open_manual(
        stack, "acme-op", "Checkout is slow", description="Customers report\n30 s waits."
    )
    summary = stack.call("GET", f"/incidents/{incident}", "acme-op").json()["summary"]
    lines = summary.splitlines()
    assert lines[0].startswith("What: Checkout is slow (opened by token:acme-op at ")
    assert lines[1] == "Customers: not assessed: a person opened this incident."
    assert lines[3] == "Details: Customers report 30 s waits."
    assert lines[4:] == [
        "Now: open, info.",
        "Next: the person who opened it decides; resolve it with a note when done. "
        "Runbook: calmopsd runbook disk.",
    ]
    stack.call("PATCH", f"/incidents/{incident}", "root", json={"status": "monitoring"})
    resolved = stack.call(
        "PATCH", f"/incidents/{incident}", "acme-op",
        json={"status": "resolved", "note": "a slow query, fixed"},
    )  # fmt: skip
    lines = resolved.json()["summary"].splitlines()
    assert lines[0].startswith("What: Checkout is slow (opened by token:acme-op at ")
    assert lines[-2].startswith("Now: resolved at ")
    assert lines[-2].endswith("(by a person: a slow query, fixed).")
    assert lines[-1] == "Next: none."


def test_a_person_resolves_with_a_note_and_can_reopen(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    path = f"/incidents/{template.incident['acme']}"
    same = stack.call("PATCH", path, "acme-op", json={"status": "open"})
    assert (same.status_code, same.json()["error"]) == (409, "invalid_transition")
    resolved = stack.call(
        "PATCH", path, "acme-op", json={"status": "resolved", "note": "raised the limit"}
    )
    assert (resolved.json()["status"], resolved.json()["resolution"]) == ("resolved", "manual")
    wrong = stack.call("PATCH", path, "acme-op", json={"status": "monitoring"})
    assert (wrong.status_code, wrong.json()["error"]) == (409, "invalid_transition")
    reopened = stack.call("PATCH", path, "acme-op", json={"status": "open"})
    assert (reopened.status_code, reopened.json()["status"]) == (200, "open")
    changes = [
        (e.data["from"], e.data["to"], e.data.get("note"), e.actor)
        for e in list_events(stack.database, PLATFORM, incident_id=template.incident["acme"])
        if e.kind == "incident.status_changed" and e.actor.startswith("token:")
    ]
    assert changes == [
        ("open", "resolved", "raised the limit", "token:acme-op"),
        ("resolved", "open", None, "token:acme-op"),
    ]


def test_a_super_admin_reading_an_organizations_incident_is_logged(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    with structlog.testing.capture_logs() as logs:
        stack.call("GET", f"/incidents/{template.incident['acme']}", "root")
        stack.call("GET", f"/incidents/{template.incident['acme']}", "acme-op")
        stack.call("GET", f"/incidents/{template.incident['platform']}", "root")
        stack.call("GET", "/actions/active", "root-view")
    bypasses = [(e["token"], e["what"], e["organizations"]) for e in logs
                if e["event"] == "api.bypass_read"]  # fmt: skip
    assert bypasses == [
        ("root", "incident", ["acme"]),
        ("root-view", "actions", ["acme", "globex"]),
    ]


def test_a_super_admins_reject_on_an_organizations_incident_leaves_a_bypass_trace(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    incident, rec = template.incident["globex"], template.recommendation["globex"]
    response = stack.call(
        "POST", f"/incidents/{incident}/recommendations/{rec}/reject", "root", json={}
    )
    assert response.json()["status"] == "rejected"
    last_two = list_events(stack.database, PLATFORM, incident_id=incident)[-2:]
    assert [(e.kind, e.actor, e.data.get("bypass")) for e in last_two] == [
        ("access.bypass", "token:root", True),
        ("recommendation.rejected", "token:root", None),
    ]
    assert last_two[0].data["operation"] == "reject"


def serve_without_daemon(database: Database) -> ApiServer:
    """The API as the CLI would run it on its own: no approve, revert or sampling hooks."""
    app = create_app(Operations(database, ManualClock()), Tokens(token_entries()))
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    return server


def test_what_needs_the_daemon_is_a_503_without_it(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    server = serve_without_daemon(stack.database)
    auth = {"Authorization": f"Bearer {secret('root')}"}
    base = f"{server.url}/api/ops"
    incident, rec = template.incident["acme"], template.recommendation["acme"]
    try:
        before = stack.dump()
        answers = [
            requests.post(f"{base}/incidents/{incident}/recommendations/{rec}/approve",
                          headers=auth, timeout=10),
            requests.post(f"{base}/actions/{template.active['acme']}/revert", headers=auth,
                          timeout=10),
            requests.get(f"{base}/health?check=now", headers=auth, timeout=10),
        ]  # fmt: skip
        after = stack.dump()
    finally:
        server.stop()
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(503, "unavailable")] * 3
    bypasses = [r for r in after["rows"]["incident_events"] if r[4] == "access.bypass"]
    assert len(bypasses) == 0
    assert after == before


def test_without_the_daemon_health_reads_the_latest_stored_snapshots(database: Database) -> None:
    taken = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    add_snapshot(database, PLATFORM, sampler="disk", taken_at=taken, ok=True, duration_ms=2.0,
                 readings={"mounts": {}})  # fmt: skip
    server = serve_without_daemon(database)
    try:
        body = requests.get(f"{server.url}/api/ops/health",
                            headers={"Authorization": f"Bearer {secret('root')}"},
                            timeout=10).json()  # fmt: skip
    finally:
        server.stop()
    assert body["readings"] == [
        {"sampler": "disk", "taken_at": taken.isoformat(), "ok": True, "error": None,
         "values": {"mounts": {}}}
    ]  # fmt: skip


def test_a_failure_inside_is_a_json_500_and_one_log_line(database: Database) -> None:
    server = serve_without_daemon(database)
    database.close()
    database.path.unlink()  # the store gone from under the API: a bug's stand-in
    try:
        with structlog.testing.capture_logs() as logs:
            response = requests.get(f"{server.url}/api/ops/incidents",
                                    headers={"Authorization": f"Bearer {secret('root')}"},
                                    timeout=10)  # fmt: skip
    finally:
        server.stop()
    assert (response.status_code, response.json()["error"]) == (500, "internal")
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["api.failed"]
