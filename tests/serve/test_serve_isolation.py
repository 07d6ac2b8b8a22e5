"""The isolation matrix: tokens of acme, globex, a super-admin, a viewer and none, against every
route and every kind of incident (acme's, globex's, platform-wide), each cell asserted.

An organization's token gets 404 — never 403 — for anything that is not its own,
and its reads carry no other organization's ids or names. A refused request
changes nothing in the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from support.api import KINDS, ORGS, TOKENS, Stack, StackMaker, Template, org_logs, serve_copy

from calmopsd.model import Reading
from calmopsd.record.actions import get_active
from calmopsd.record.audit import list_events
from calmopsd.record.incidents import get_incident, list_incidents
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope

CALLERS = ("acme-op", "globex-op", "root", "acme-view", None)
PLATFORM = Scope.platform()
LATEST = {"logs": Reading("logs", datetime(2026, 3, 2, 14, 0, tzinfo=UTC), True, 1.0,
                          org_logs(acme=(3, 10, 1), globex=(7, 20, 2)))}  # fmt: skip


def organization(caller: str | None) -> str | None:
    return TOKENS[caller][0] if caller is not None else None


def sees(caller: str, kind: str) -> bool:
    """Whether ``caller`` may see an incident of ``kind`` (acme, globex or platform)."""
    return organization(caller) in (None, kind)


def expected(caller: str | None, kind: str, *, acting: bool) -> int:
    if caller is None:
        return 401
    if not sees(caller, kind):
        return 404
    if acting and TOKENS[caller][1] == "viewer":
        return 403
    return 200


@pytest.fixture(scope="module")
def reading(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One served copy for the read-only cells (reads change nothing)."""
    stack = serve_copy(template, tmp_path_factory.mktemp("reads"), LATEST)
    yield stack
    stack.close()


def foreign_names(caller: str) -> list[str]:
    own = organization(caller)
    return [org for org in ORGS if own is not None and org != own]


def visible_incidents(stack: Stack, caller: str) -> set[int]:
    own = organization(caller)
    scope = Scope.organization(own) if own else PLATFORM
    return {i.id for i in list_incidents(stack.database, scope)}


# -- reads ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("caller", CALLERS)
def test_reading_one_incident(
    reading: Stack, template: Template, caller: str | None, kind: str
) -> None:
    incident_id = template.incident[kind]
    response = reading.call("GET", f"/incidents/{incident_id}", caller)
    assert response.status_code == expected(caller, kind, acting=False)
    if response.status_code != 200:
        assert set(response.json()) == {"error", "detail"}
        return
    assert caller is not None
    body = response.json()
    assert body["incident"]["id"] == incident_id
    assert body["incident"]["organization"] == (None if kind == "platform" else kind)
    assert {e["kind"] for e in body["events"]} >= {"incident.opened"}
    assert all(r["incident_id"] == incident_id for r in body["recommendations"])
    for name in foreign_names(caller):
        assert name not in response.text


@pytest.mark.parametrize("caller", CALLERS)
def test_listing_incidents(reading: Stack, caller: str | None) -> None:
    response = reading.call("GET", "/incidents", caller)
    if caller is None:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    listed = {i["id"] for i in response.json()["incidents"]}
    assert listed == visible_incidents(reading, caller)
    everyone = visible_incidents(reading, "root")
    assert len(listed) == (len(everyone) if organization(caller) is None else 1)
    for name in foreign_names(caller):
        assert name not in response.text


@pytest.mark.parametrize("caller", CALLERS)
def test_listing_actions_in_force(reading: Stack, template: Template, caller: str | None) -> None:
    response = reading.call("GET", "/actions/active", caller)
    if caller is None:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    listed = {a["id"] for a in response.json()["actions"]}
    assert listed == {template.active[kind] for kind in KINDS if sees(caller, kind)}
    for name in foreign_names(caller):
        assert name not in response.text


@pytest.mark.parametrize("caller", CALLERS)
def test_health(reading: Stack, caller: str | None) -> None:
    response = reading.call("GET", "/health", caller)
    if caller is None:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    body = response.json()
    assert body["open_incidents"] == len(visible_incidents(reading, caller))
    (logs,) = body["readings"]
    own = organization(caller)
    shown = set(logs["values"].get("organizations", {}))
    assert shown == ({own} if own else set(ORGS))
    if own is not None:
        assert "platform" not in logs["values"]
    for name in foreign_names(caller):
        assert name not in response.text


@pytest.mark.parametrize("caller", CALLERS)
def test_audit_verify_is_the_super_admins_alone(reading: Stack, caller: str | None) -> None:
    response = reading.call("GET", "/audit/verify", caller)
    status = 401 if caller is None else 404 if organization(caller) else 200
    assert response.status_code == status
    if status == 200:
        assert response.json()["ok"] is True
        assert response.json()["verified"] == len(list_events(reading.database, PLATFORM))


# -- changes ------------------------------------------------------------------------------


def request_for(route: str, template: Template, kind: str) -> tuple[str, str, dict[str, Any]]:
    incident, rec = template.incident[kind], template.recommendation[kind]
    return {
        "resolve": ("PATCH", f"/incidents/{incident}",
                    {"json": {"status": "resolved", "note": "fixed by hand"}}),
        "approve": ("POST", f"/incidents/{incident}/recommendations/{rec}/approve", {}),
        "reject": ("POST", f"/incidents/{incident}/recommendations/{rec}/reject",
                   {"json": {"note": "not now"}}),
        "revert": ("POST", f"/actions/{template.active[kind]}/revert", {}),
    }[route]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ["resolve", "approve", "reject", "revert"])
def test_acting_on_an_incident(
    make_stack: StackMaker, template: Template, route: str, caller: str | None, kind: str
) -> None:
    stack = make_stack()
    method, path, extra = request_for(route, template, kind)
    before = stack.dump()
    response = stack.call(method, path, caller, **extra)
    status = expected(caller, kind, acting=True)
    if route == "revert" and status == 200 and organization(caller) is not None:
        status = 403  # actions in force act on the whole host: a super-admin's call
    assert response.status_code == status, response.text
    if status != 200:
        assert set(response.json()) == {"error", "detail"}
        assert stack.dump() == before
        return
    assert caller is not None
    actor = f"token:{caller}"
    bypass = organization(caller) is None and kind != "platform"
    events = list_events(stack.database, PLATFORM)
    new = events[len(before["rows"]["incident_events"]) :]
    assert {e.actor for e in new} - {"calmopsd"} == {actor}
    assert any(e.data.get("bypass") is True for e in new) is bypass
    db = stack.database
    if route == "resolve":
        incident = get_incident(db, PLATFORM, template.incident[kind])
        assert incident is not None
        assert (incident.status, incident.resolution) == ("resolved", "manual")
        (changed,) = [e for e in new if e.kind == "incident.status_changed"]
        assert changed.data["note"] == "fixed by hand"
    elif route in ("approve", "reject"):
        rec = get_recommendation(db, PLATFORM, template.recommendation[kind])
        assert rec is not None
        wanted = {"approve": "approved", "reject": "rejected"}[route]
        assert (rec.status.value, rec.decided_by) == (wanted, actor)
    else:
        active = get_active(db, template.active[kind])
        assert active is not None
        assert (active.reverted_by, active.revert_outcome) == (actor, "succeeded")


@pytest.mark.parametrize("caller", CALLERS)
def test_opening_an_incident(make_stack: StackMaker, caller: str | None) -> None:
    stack = make_stack()
    before = stack.dump()
    body = {"title": "Checkout is slow", "type": "dependency", "severity": "warning"}
    response = stack.call("POST", "/incidents", caller, json=body)
    status = {None: 401, "acme-view": 403}.get(caller, 201)
    assert response.status_code == status
    if status != 201:
        assert stack.dump() == before
        return
    opened = response.json()
    assert opened["organization"] == organization(caller)
    assert opened["fingerprint"].startswith("manual:")
    (event,) = list_events(stack.database, PLATFORM, incident_id=opened["id"])
    assert (event.kind, event.actor) == ("incident.opened", f"token:{caller}")


@pytest.mark.parametrize("caller", ["acme-op", "root"])
def test_an_organization_token_cannot_open_an_incident_for_another(
    make_stack: StackMaker, caller: str
) -> None:
    stack = make_stack()
    before = stack.dump()
    body = {"title": "x", "type": "disk", "severity": "info", "organization": "globex"}
    response = stack.call("POST", "/incidents", caller, json=body)
    if caller == "acme-op":
        assert response.status_code == 404
        assert stack.dump() == before
    else:
        assert response.status_code == 201
        (event,) = list_events(stack.database, PLATFORM, incident_id=response.json()["id"])
        assert event.data["bypass"] is True


@pytest.mark.parametrize("caller", CALLERS)
def test_asking_for_a_health_check(make_stack: StackMaker, caller: str | None) -> None:
    stack = make_stack()
    before = stack.dump()
    response = stack.call("POST", "/incidents", caller, json={"action": "health_check"})
    status = {None: 401, "acme-view": 403}.get(caller, 200)
    assert response.status_code == status
    assert len(stack.checks) == (1 if status == 200 else 0)
    if status != 200:
        assert stack.dump() == before
        return
    assert response.json()["checked"] is True
    (event,) = list_events(stack.database, PLATFORM)[len(before["rows"]["incident_events"]) :]
    assert (event.kind, event.actor, event.organization_id) == (
        "health.check_requested",
        f"token:{caller}",
        organization(caller),
    )
