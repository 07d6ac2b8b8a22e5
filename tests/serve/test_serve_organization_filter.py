"""``organization_id`` on the API's incidents and health routes: a super-admin filters by it,
an organization's token may name only its own (anything else is a 404), a malformed one
is a 400."""

from __future__ import annotations

from support.api import StackMaker, Template


def organizations(answer: dict[str, object]) -> set[object]:
    return {i["organization"] for i in answer["incidents"]}  # type: ignore[attr-defined,index]


def test_a_super_admin_filters_incidents_by_organization(make_stack: StackMaker) -> None:
    stack = make_stack()
    everything = stack.call("GET", "/incidents", "root").json()
    assert organizations(everything) == {"acme", "globex", None}
    answer = stack.call("GET", "/incidents?organization_id=acme&status=open", "root")
    assert answer.status_code == 200
    assert organizations(answer.json()) == {"acme"}
    assert stack.call("GET", "/incidents?organization_id=nobody", "root").json() == {
        "incidents": [], "next_cursor": None}  # fmt: skip


def test_an_organization_may_name_only_its_own(make_stack: StackMaker) -> None:
    stack = make_stack()
    own = stack.call("GET", "/incidents?organization_id=acme", "acme-op")
    assert own.status_code == 200 and organizations(own.json()) == {"acme"}
    for other in ("globex", "nobody"):
        answer = stack.call("GET", f"/incidents?organization_id={other}", "acme-op")
        assert (answer.status_code, answer.json()["error"]) == (404, "not_found")
        health = stack.call("GET", f"/health?organization_id={other}", "acme-op")
        assert health.status_code == 404


def test_health_counts_one_organizations_unresolved_incidents(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    whole = stack.call("GET", "/health", "root").json()
    acme = stack.call("GET", "/health?organization_id=acme", "root").json()
    assert acme["open_incidents"] == 1 < whole["open_incidents"]
    assert stack.call("GET", "/health?organization_id=acme", "acme-op").json()[
        "open_incidents"] == 1  # fmt: skip


def test_a_malformed_organization_id_is_a_400(make_stack: StackMaker) -> None:
    stack = make_stack()
    for value in ("Acme", "a b", "-x", "a" * 64, ""):
        answer = stack.call("GET", "/incidents", "root", params={"organization_id": value})
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_query"), value
