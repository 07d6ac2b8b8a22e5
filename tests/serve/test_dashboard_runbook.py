"""The dashboard's runbook page (werkzeug's test client on a real store): behind the sign-in,
for the super-admin under /ops and an organization's people under /company/<org>/ops, each
incident type's section under an anchor that is the type, and the incident page's link
landing on an anchor that exists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.api import secret, token_entries
from support.clock import ManualClock
from werkzeug.test import Client

from calmopsd import runbook
from calmopsd.model import IncidentType, Severity
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Tokens

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Parsed(HTMLParser):
    """Every element's id, every link, and the text of each ``h2`` by its id."""

    def __init__(self, html: str):
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.h2: dict[str, str] = {}
        self._in_h2: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "h2":
            self._in_h2 = found.get("id") or ""
            self.h2[self._in_h2] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = None

    def handle_data(self, data: str) -> None:
        if self._in_h2 is not None:
            self.h2[self._in_h2] += data


@dataclass
class Board:
    client: Client
    database: Database

    def sign_in(self, token: str) -> None:
        form = self.client.get("/ops/login").get_data(as_text=True)
        found = _CSRF.search(form)
        assert found is not None
        answer = self.client.post(
            "/ops/login", data={"csrf": found.group(1), "token": secret(token)}
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)

    def page(self, path: str, status: int = 200) -> Parsed:
        answer = self.client.get(path)
        assert answer.status_code == status, (path, answer.status_code)
        return Parsed(answer.get_data(as_text=True))


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    database = Database.open(database_path(tmp_path / "state"))
    operations = Operations(database, ManualClock(T0))
    app = create_app(operations, Tokens(token_entries()))
    yield Board(app.test_client(), database)
    database.close()


def test_signed_out_the_runbook_page_sends_the_browser_to_sign_in(board: Board) -> None:
    for path in ("/ops/runbook", "/company/acme/ops/runbook"):
        answer = board.client.get(path)
        assert (answer.status_code, answer.headers["Location"]) == (303, f"/ops/login?next={path}")


@pytest.mark.parametrize(
    ("token", "path"),
    [("root", "/ops/runbook"), ("root", "/company/acme/ops/runbook"),
     ("acme-view", "/company/acme/ops/runbook")],
)  # fmt: skip
def test_every_type_has_its_section_under_an_anchor_that_is_the_type(
    board: Board, token: str, path: str
) -> None:
    board.sign_in(token)
    shown = board.page(path)
    types = [t.value for t in IncidentType]
    assert [i for i in shown.ids if i in types] == types  # each once, in the runbook's order
    assert {t: shown.h2[t] for t in types} == {t: t for t in types}
    assert [f"#{t}" for t in types] == [link for link in shown.links if link.lstrip("#") in types]


def test_the_page_shows_the_shipped_text_rendered(board: Board) -> None:
    board.sign_in("root")
    html = board.client.get("/ops/runbook").get_data(as_text=True)
    assert "<h1>Runbook</h1>" in html  # the page's own title; the document's is not repeated
    assert html.count("<h1") == 1
    assert "<code>calmopsd actions pause</code> stops every action at once" in html
    assert "<strong>Classified as</strong> lists the rows" in html
    assert "<li><code>calmopsd show ID</code> tells the incident" in html
    disk = runbook.section("disk")
    assert "Escalate when the disk is full within hours at the current rate." in disk
    assert "Escalate when the disk is full within hours at the current rate.</p>" in html


def test_an_organizations_people_do_not_see_the_super_admins_page_or_another_organizations(
    board: Board,
) -> None:
    board.sign_in("acme-op")
    board.page("/ops/runbook", 404)
    board.page("/company/globex/ops/runbook", 404)
    board.page("/company/acme/ops/runbook")


def test_a_query_string_is_a_400_page(board: Board) -> None:
    board.sign_in("root")
    answer = board.client.get("/ops/runbook?type=memory")
    assert answer.status_code == 400
    assert "this page takes no query string (got &#39;type&#39;)" in answer.get_data(as_text=True)


@pytest.mark.parametrize(("organization", "token", "base"), [
    (None, "root", "/ops"), ("acme", "acme-view", "/company/acme/ops"),
])  # fmt: skip
def test_the_incident_page_links_to_its_types_section_and_the_anchor_is_there(
    board: Board, organization: str | None, token: str, base: str
) -> None:
    incident = open_incident(
        board.database, Scope.platform(), organization_id=organization,
        fingerprint="dependency:probe=db", type=IncidentType.DEPENDENCY,
        severity=Severity.WARNING, title="db down", at=T0, actor="calmopsd",
    )  # fmt: skip
    board.sign_in(token)
    shown = board.page(f"{base}/incidents/{incident.id}")
    link = f"{base}/runbook#dependency"
    assert link in shown.links
    path, _, anchor = link.partition("#")
    assert anchor in board.page(path).ids
