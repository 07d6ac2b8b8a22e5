"""Customer messages through the real API (waitress on loopback, real tokens): scopes from
the attacker's side, the leak check on edits and approvals, racing approvals, and nothing
approved by a GET."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from support.api import secret, token_entries
from support.clock import ManualClock

from calmopsd.config import Config
from calmopsd.customers.drafting import drafting
from calmopsd.follow.bus import Follower
from calmopsd.model import IncidentType, Severity
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import open_incident, update_incident
from calmopsd.record.messages import list_deliveries, list_messages
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.messages import Messages, message_rules
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens

PLATFORM = Scope.platform()
T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {
        "actions": {"pm2_restart": {"apps": ["checkout-api"]}},
        "customers": {
            "channels": [
                {"name": "statuspage", "url": "json://127.0.0.1:9/status",
                 "audience": "status_page"},
                {"name": "acme-mail", "url": "json://127.0.0.1:9/acme",
                 "audience": "organization", "organization": "acme"},
            ]
        },
    }
)  # fmt: skip


class Api:
    def __init__(self, root: Path):
        self.database = Database.open(database_path(root / "state"))
        clock = ManualClock(T0)
        follower = Follower(self.database, {"messages": drafting(self.database)}, clock)
        follower.begin(T0)
        self.ids: dict[str, int] = {}
        for org in ("acme", "globex", None):
            incident = open_incident(
                self.database, PLATFORM, organization_id=org, fingerprint=f"upload:{org}",
                type=IncidentType.UPLOAD, severity=Severity.WARNING, title="uploads",
                at=T0, actor="calmopsd",
            )  # fmt: skip
            update_incident(self.database, PLATFORM, incident.id, at=T0, actor="calmopsd",
                            event=None, impact={"uploads_failing": True,
                                                "upload_failure_rate": 0.4})  # fmt: skip
            self.ids[org or "platform"] = incident.id
        open_incident(  # a second event after the impact, for the drafter to read it
            self.database, PLATFORM, organization_id=None, fingerprint="memory:x",
            type=IncidentType.MEMORY, severity=Severity.WARNING, title="m", at=T0,
            actor="calmopsd",
        )  # fmt: skip
        for incident_id in self.ids.values():
            update_incident(self.database, PLATFORM, incident_id, at=T0, actor="calmopsd",
                            event="incident.escalated", data={"to": "critical"},
                            severity=Severity.CRITICAL)  # fmt: skip
        follower.run_once(T0)
        self.message = {
            kind: list_messages(self.database, PLATFORM, incident_id=i)[0].id
            for kind, i in self.ids.items()
        }
        messages = Messages(self.database, clock, lambda: message_rules(CONFIG, self.database))
        app = create_app(Operations(self.database, clock, Hooks()), Tokens(token_entries()),
                         messages=messages)  # fmt: skip
        self.server = ApiServer(app, listen="127.0.0.1:0")
        self.server.start()

    def approve(self, number: int, token: str) -> requests.Response:
        """Approve message ``number`` as read just now (its sha256)."""
        read = self.call("GET", f"/messages/{number}", "root").json()
        return self.call("POST", f"/messages/{number}/approve", token,
                         json={"sha256": read["sha256"]})  # fmt: skip

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        assert self.server.url is not None
        return requests.request(
            method, f"{self.server.url}/api/ops{path}", timeout=30,
            headers={"Authorization": f"Bearer {secret(token)}"}, **kwargs,
        )  # fmt: skip


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path)
    yield made
    made.server.stop(2.0)
    made.database.close()


def test_an_organization_sees_and_acts_on_its_own_messages_only(api: Api) -> None:
    listed = api.call("GET", "/messages", "acme-op").json()["messages"]
    assert {m["incident_id"] for m in listed} == {api.ids["acme"]}
    for other in ("globex", "platform"):
        number = api.message[other]
        for method, path, body in (
            ("GET", f"/messages/{number}", None),
            ("PATCH", f"/messages/{number}", {"text": "We are on it."}),
            ("POST", f"/messages/{number}/approve", {"sha256": "0" * 64}),
            ("POST", f"/messages/{number}/discard", None),
        ):
            answer = api.call(method, path, "acme-op", json=body)
            assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), path
    assert (
        api.call("POST", f"/messages/{api.message['acme']}/approve", "acme-view").status_code == 403
    )
    before = list_events(api.database, PLATFORM)
    assert all(e.kind != "message.approved" for e in before)
    ok = api.approve(api.message["acme"], "acme-op")
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved"
    assert [d["channel"] for d in ok.json()["deliveries"]] == ["acme-mail"]


def test_an_edit_that_names_something_internal_is_refused_and_changes_nothing(api: Api) -> None:
    number = api.message["acme"]
    before = api.call("GET", f"/messages/{number}", "acme-op").json()
    for leaking in (
        "We restarted checkout-api and uploads work again.",
        "Uploads failed for globex too.",
        "The server at 10.0.3.7 was out of disk.",
    ):
        answer = api.call("PATCH", f"/messages/{number}", "acme-op", json={"text": leaking})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "leaks_internal"
    assert api.call("GET", f"/messages/{number}", "acme-op").json() == before
    fine = api.call("PATCH", f"/messages/{number}", "acme-op",
                    json={"text": "Some uploads failed this morning; we are on it."})  # fmt: skip
    assert fine.status_code == 200 and fine.json()["edited_by"] == "token:acme-op"


def test_approving_text_other_than_the_draft_s_is_a_conflict(api: Api) -> None:
    number = api.message["platform"]
    answer = api.call("POST", f"/messages/{number}/approve", "root",
                      json={"text": "Something nobody wrote."})  # fmt: skip
    assert answer.status_code == 409
    assert list_deliveries(api.database, number) == []


def test_racing_approvals_over_http_approve_once(api: Api) -> None:
    number = api.message["platform"]
    codes: list[int] = []
    barrier = threading.Barrier(6)

    def approve() -> None:
        barrier.wait(5)
        codes.append(api.approve(number, "root").status_code)

    threads = [threading.Thread(target=approve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [200] + [409] * 5
    assert len(list_deliveries(api.database, number)) == 1
    kinds = [e.kind for e in list_events(api.database, PLATFORM)]
    assert kinds.count("message.approved") == 1


def test_nothing_is_approved_by_following_a_link(api: Api) -> None:
    number = api.message["platform"]
    answer = api.call("GET", f"/messages/{number}/approve", "root")
    assert answer.status_code == 405
    assert api.call("GET", f"/messages/{number}", "root").json()["status"] == "draft"


def test_bad_requests_are_4xx_json(api: Api) -> None:
    number = api.message["platform"]
    for method, path, kwargs in (
        ("GET", "/messages?status=bogus", {}),
        ("GET", "/messages?incident_id=x", {}),
        ("GET", "/messages/0x1", {}),
        ("PATCH", f"/messages/{number}", {"json": {"text": ""}}),
        ("PATCH", f"/messages/{number}", {"json": {"text": "x" * 1001}}),
        ("PATCH", f"/messages/{number}", {"json": {"text": "ok", "extra": 1}}),
        ("PATCH", f"/messages/{number}", {"data": b"{not json"}),
        ("PATCH", f"/messages/{number}", {"json": {"text": "bell \x07"}}),
    ):
        answer = api.call(method, path, "root", **kwargs)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert "error" in answer.json()


def test_an_approval_names_what_was_read(api: Api) -> None:
    number = api.message["platform"]
    unread = api.call("POST", f"/messages/{number}/approve", "root")
    assert (unread.status_code, unread.json()["error"]) == (400, "unread_approval")
    read = api.call("GET", f"/messages/{number}", "root").json()
    api.call("PATCH", f"/messages/{number}", "root", json={"text": "We are looking into it."})
    stale = api.call("POST", f"/messages/{number}/approve", "root",
                     json={"sha256": read["sha256"]})  # fmt: skip
    assert stale.status_code == 409
    assert api.approve(number, "root").status_code == 200
