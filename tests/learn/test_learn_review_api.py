"""Reviews through the real API (waitress on loopback, real tokens) and the real CLI:
scopes from the attacker's side, bad edits as 4xx JSON, every edit audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from support.api import secret, token_entries
from support.clock import ManualClock
from support.process import calmopsd

from calmopsd.model import IncidentType, Learning, Severity
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import open_incident
from calmopsd.record.reviews import FIELDS, ReviewDraft, save_draft
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens

PLATFORM = Scope.platform()
T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def reviewed(database: Database, org: str | None, *, review: bool = True) -> int:
    incident = open_incident(
        database, PLATFORM, organization_id=org, fingerprint=f"disk:{org}:{review}",
        type=IncidentType.DISK, severity=Severity.WARNING, title="disk", at=T0,
        actor="calmopsd",
    )  # fmt: skip
    if review:
        texts = {name: f"{name} of {org}" for name in FIELDS}
        learned = Learning(incident.id, fix="clear_temp")
        draft = ReviewDraft(incident.id, 10**6, texts, {"cause": "temp_files"}, learned)
        save_draft(database, draft, at=T0)
    return incident.id


class Api:
    def __init__(self, root: Path):
        self.state = root / "state"
        self.database = Database.open(database_path(self.state))
        self.ids = {org or "platform": reviewed(self.database, org)
                    for org in ("acme", "globex", None)}  # fmt: skip
        self.ids["unreviewed"] = reviewed(self.database, "acme", review=False)
        app = create_app(Operations(self.database, ManualClock(T0), Hooks()),
                         Tokens(token_entries()))  # fmt: skip
        self.server = ApiServer(app, listen="127.0.0.1:0")
        self.server.start()

    def call(self, method: str, incident: str, token: str, **kwargs: Any) -> requests.Response:
        assert self.server.url is not None
        return requests.request(
            method, f"{self.server.url}/api/ops/incidents/{self.ids[incident]}/review",
            timeout=30, **kwargs, headers={"Authorization": f"Bearer {secret(token)}",
                                           "Content-Type": "application/json"},
        )  # fmt: skip


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path)
    yield made
    made.server.stop(2.0)
    made.database.close()


def test_an_organization_reads_its_own_review_and_never_anothers(api: Api) -> None:
    own = api.call("GET", "acme", "acme-view")
    assert own.status_code == 200, own.text
    assert own.json()["fields"]["root_cause"] == "root_cause of acme"
    assert own.json()["learning"]["fix"] == "clear_temp"
    for other in ("globex", "platform"):
        for method, body in (("GET", None), ("PATCH", {"notes": "mine now"})):
            answer = api.call(method, other, "acme-op", json=body)
            assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), other
    assert api.call("GET", "globex", "root").status_code == 200
    kinds = [e.kind for e in list_events(api.database, PLATFORM)]
    assert "review.edited" not in kinds


def test_an_operator_edits_fields_and_each_edit_is_audited(api: Api) -> None:
    answer = api.call("PATCH", "acme", "acme-op", json={"notes": "Backups go to /srv now."})
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["status"], view["edited_by"], view["edited_fields"]) == (
        "edited", "token:acme-op", ["notes"],
    )  # fmt: skip
    assert view["fields"]["notes"] == "Backups go to /srv now."
    assert view["fields"]["root_cause"] == "root_cause of acme"
    edited = [e for e in list_events(api.database, PLATFORM) if e.kind == "review.edited"]
    assert [(e.incident_id, e.actor, e.data["changes"]) for e in edited] == [
        (api.ids["acme"], "token:acme-op", {"notes": "Backups go to /srv now."})
    ]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"not json", 400, "invalid_json"),
        (b"[]", 400, None),
        (b"{}", 400, "invalid_body"),
        (b'{"verdict": "mine"}', 400, None),
        (b'{"notes": 5}', 400, None),
        (b'{"notes": "a\\u0000b"}', 400, "invalid_text"),
        (('{"notes": "' + "x" * 4001 + '"}').encode(), 400, None),
    ],
)
def test_a_bad_edit_is_a_4xx_json_error_and_changes_nothing(
    api: Api, body: bytes, status: int, error: str | None
) -> None:
    before = api.call("GET", "acme", "acme-op").json()
    answer = api.call("PATCH", "acme", "acme-op", data=body)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error", "detail"}
    if error is not None:
        assert answer.json()["error"] == error
    assert api.call("GET", "acme", "acme-op").json() == before


def test_a_viewer_may_not_edit_and_an_unreviewed_incident_says_so(api: Api) -> None:
    refused = api.call("PATCH", "acme", "acme-view", json={"notes": "x"})
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    missing = api.call("GET", "unreviewed", "acme-op")
    assert (missing.status_code, missing.json()["error"]) == (404, "no_review")


def test_the_cli_shows_and_edits_a_review_on_the_store(tmp_path: Path) -> None:
    state = tmp_path / "state"
    database = Database.open(database_path(state))
    try:
        incident_id = reviewed(database, "acme")
    finally:
        database.close()
    shown = calmopsd("review", str(incident_id), "--state-dir", str(state))
    assert shown.returncode == 0, shown.stderr
    assert "Root cause\n  root_cause of acme" in shown.stdout
    edited = calmopsd("review", str(incident_id), "--edit-field", "notes=Seen twice now.",
                      "--json", "--state-dir", str(state))  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert '"notes": "Seen twice now."' in edited.stdout
    bad = calmopsd("review", str(incident_id), "--edit-field", "verdict=x", "--state-dir",
                   str(state))  # fmt: skip
    assert bad.returncode == 2
    none = calmopsd("review", "999", "--state-dir", str(state))
    assert (none.returncode, none.stderr.strip()) == (1, "review: no incident 999")
