"""Approving a host-wide action, from the attacker's side: an organization's operator asks the
real server to approve ``pause_jobs`` (which stops every organization's jobs) on its own
incident. Only a super-admin may; the refusal is a 403 that writes nothing.

No safe action is organization-scoped today (:mod:`calmopsd.serve.reach`), so what an
organization's operator can still approve is a manual step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.api import Stack, StackMaker, Template, secret
from support.clock import ManualClock
from support.process import calmopsd, clean_env

from calmopsd.model import AGENT, RecommendationStatus, SafeAction
from calmopsd.record.audit import list_events
from calmopsd.record.recommendations import add_recommendation, get_recommendation
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.reach import HOST_WIDE, host_wide
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import TokenEntry, Tokens, digest

PLATFORM = Scope.platform()
REFUSED = {
    "error": "super_admin_required",
    "detail": "pause_jobs stops the background jobs of every organization: a super-admin must "
    "approve it (token 'acme-op' acts for acme only)",
}


def propose_pause(stack: Stack, template: Template) -> tuple[int, int]:
    """A pause_jobs recommendation on acme's incident, as the agent proposes one."""
    incident = template.incident["acme"]
    rec = add_recommendation(
        stack.database, PLATFORM, incident, kind="safe_action", action="pause_jobs",
        params={"ttl": "10m"}, rationale="the dependency is down: pause the jobs",
        at=template.now, actor=AGENT, expires_at=template.now + timedelta(hours=1),
        preconditions={"unresolved": True},
    )  # fmt: skip
    return incident, rec


def approve_path(incident: int, rec: int) -> str:
    return f"/incidents/{incident}/recommendations/{rec}/approve"


def test_every_safe_action_is_host_wide_by_a_decision_of_its_own() -> None:
    assert set(HOST_WIDE) == set(SafeAction)
    assert host_wide("pause_jobs") == "stops the background jobs of every organization"
    assert host_wide("reboot") == "is not an action calmopsd knows (taken as host-wide)"


def test_an_organizations_operator_cannot_approve_pausing_every_organizations_jobs(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    incident, rec = propose_pause(stack, template)
    before = stack.dump()
    response = stack.call("POST", approve_path(incident, rec), "acme-op")
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert stack.dump() == before  # no approval, no refusal row, no action requested
    found = get_recommendation(stack.database, PLATFORM, rec)
    assert found is not None and found.status is RecommendationStatus.PROPOSED


def test_an_organizations_viewer_is_refused_as_a_viewer_first(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    incident, rec = propose_pause(stack, template)
    response = stack.call("POST", approve_path(incident, rec), "acme-view")
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")


def test_the_super_admin_approves_it_and_the_pause_runs_once(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    for active in template.active.values():  # one pause at a time: end the template's first
        assert stack.call("POST", f"/actions/{active}/revert", "root").status_code == 200
    assert not stack.flag.exists()
    incident, rec = propose_pause(stack, template)
    response = stack.call("POST", approve_path(incident, rec), "root")
    assert (response.status_code, response.json()["status"]) == (200, "executed"), response.text
    assert response.json()["detail"] == f"jobs paused for 10m: created {stack.flag}"
    assert stack.flag.is_file()
    found = get_recommendation(stack.database, PLATFORM, rec)
    assert found is not None
    assert (found.status, found.decided_by) == (RecommendationStatus.EXECUTED, "token:root")
    events = list_events(stack.database, PLATFORM, incident_id=incident)
    bypass = [e.data["operation"] for e in events if e.kind == "access.bypass"]
    assert bypass.count("approve") == 1
    assert [e.kind for e in events].count("recommendation.approved") == 1


def test_an_organizations_operator_still_approves_a_manual_step(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    incident, rec = template.incident["acme"], template.recommendation["acme"]
    response = stack.call("POST", approve_path(incident, rec), "acme-op")
    assert (response.status_code, response.json()["status"]) == (200, "approved")


@pytest.fixture
def acme_server(
    make_stack: StackMaker, template: Template
) -> Iterator[tuple[Stack, ApiServer, str]]:
    """A server over a served copy's store that knows one acme operator's token: what a CLI
    left with that token in ``api.token`` would talk to."""
    stack = make_stack()
    token = secret("acme-operator-of-the-cli")  # long enough to be a token the CLI sends
    operations = Operations(stack.database, ManualClock(template.now), Hooks())
    tokens = Tokens([TokenEntry("acme-op", "acme", "operator", digest(token))])
    server = ApiServer(create_app(operations, tokens), listen="127.0.0.1:0")
    server.start()
    yield stack, server, token
    server.stop(2.0)


def test_the_cli_says_a_super_admin_must_approve_it(
    acme_server: tuple[Stack, ApiServer, str], template: Template
) -> None:
    stack, server, token = acme_server
    incident, rec = propose_pause(stack, template)
    state = Path(stack.database.path).parent
    for name, text in (
        ("api.token", token),
        ("api.address", json.dumps({"url": server.url, "unix_socket": None})),
    ):
        (state / name).write_text(text)
        (state / name).chmod(0o600)  # as the daemon writes them: the CLI reads no other
    result = calmopsd("approve", str(incident), str(rec), "--state-dir", str(state),
                      env=clean_env())  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"approve: {REFUSED['detail']}\n"
