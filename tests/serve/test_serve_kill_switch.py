"""POST /actions/pause and /actions/resume: the kill switch, thrown by a super-admin's token
and in force (flag and audit event) when the API answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.api import Stack, StackMaker, token_entries
from support.clock import ManualClock

from calmopsd.act import control
from calmopsd.record.audit import list_events
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens

REFUSED = {None: 401, "acme-view": 403, "acme-op": 403, "root-view": 403}


@pytest.fixture
def switched(make_stack: StackMaker) -> Iterator[Stack]:
    """A served copy whose API throws the switch through the daemon's executor, as
    calmopsd/daemon/serving.py wires it."""
    stack = make_stack()
    assert stack.responder is not None
    executor = stack.responder.executor
    assert executor is not None
    hooks = Hooks(
        pause=lambda actor: executor.switch(True, actor),
        resume=lambda actor: executor.switch(False, actor),
    )
    app = create_app(Operations(stack.database, ManualClock(), hooks), Tokens(token_entries()))
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    yield Stack(stack.database, server, stack.flag)
    server.stop(2.0)


def switches(stack: Stack) -> list[tuple[str, str]]:
    return [(e.kind, e.actor) for e in list_events(stack.database, Scope.platform())
            if e.kind in (control.PAUSED, control.RESUMED)]  # fmt: skip


def test_a_super_admin_pauses_and_resumes_and_each_is_recorded_before_the_answer(
    switched: Stack,
) -> None:
    state = switched.database.path.parent
    paused = switched.call("POST", "/actions/pause", "root")
    assert (paused.status_code, paused.json()) == (200, {"paused": True, "changed": True})
    assert control.paused_by(state) == "token:root"
    assert switches(switched) == [("actions.paused", "token:root")]
    again = switched.call("POST", "/actions/pause", "root", json={})
    assert again.json() == {"paused": True, "changed": False}
    resumed = switched.call("POST", "/actions/resume", "local-cli",
                            headers={"X-Calmops-Actor": "dana"})  # fmt: skip
    assert (resumed.status_code, resumed.json()) == (200, {"paused": False, "changed": True})
    assert control.paused_by(state) is None
    assert switches(switched) == [("actions.paused", "token:root"), ("actions.resumed", "cli:dana")]


@pytest.mark.parametrize("route", ["pause", "resume"])
@pytest.mark.parametrize("caller", sorted(REFUSED, key=str))
def test_only_a_super_admin_operator_may_throw_the_switch(
    switched: Stack, route: str, caller: str | None
) -> None:
    state = switched.database.path.parent
    if route == "resume":
        control.pause(state, "root")
    before = switched.dump()
    response = switched.call("POST", f"/actions/{route}", caller)
    assert response.status_code == REFUSED[caller]
    assert set(response.json()) == {"error", "detail"}
    assert switched.dump() == before
    assert (control.paused_by(state) is not None) is (route == "resume")


def test_a_body_with_fields_or_a_query_is_refused(switched: Stack) -> None:
    state = switched.database.path.parent
    with_body = switched.call("POST", "/actions/pause", "root", json={"why": "x"})
    with_query = switched.call("POST", "/actions/pause?now=1", "root")
    assert [with_body.status_code, with_query.status_code] == [400, 400]
    assert control.paused_by(state) is None
    assert switches(switched) == []


def test_without_the_daemon_the_switch_is_a_503(make_stack: StackMaker) -> None:
    stack = make_stack()
    app = create_app(Operations(stack.database, ManualClock()), Tokens(token_entries()))
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    try:
        bare = Stack(stack.database, server, stack.flag)
        answers = [bare.call("POST", f"/actions/{r}", "root") for r in ("pause", "resume")]
    finally:
        server.stop(2.0)
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(503, "unavailable")] * 2
    assert control.paused_by(stack.database.path.parent) is None
