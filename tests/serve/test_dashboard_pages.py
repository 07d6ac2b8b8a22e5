"""The dashboard's pages without a browser: sessions and their cookies, CSRF, scoping,
404 pages, and no 500 for any odd request (werkzeug's test client on a copy of the
scenario-filled template store; the daemon's Responder behind the hooks)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from support.api import Template, secret, token_entries
from support.clock import ManualClock
from werkzeug.test import Client

from calmopsd.daemon.responding import Responder
from calmopsd.model import AGENT, IncidentType, RecommendationStatus, Severity
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.recommendations import add_recommendation, get_recommendation
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.dashboard.sessions import LIFETIME
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Tokens

PLATFORM = Scope.platform()
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Board:
    client: Client
    database: Database
    clock: ManualClock
    tokens: Tokens
    template: Template
    operations: Operations

    def csrf(self, page: str) -> str:
        found = _CSRF.search(self.client.get(page).get_data(as_text=True))
        assert found is not None, page
        return found.group(1)

    def sign_in(self, token: str) -> None:
        answer = self.client.post("/ops/login", data={"csrf": self.csrf("/ops/login"),
                                                      "token": secret(token)})  # fmt: skip
        assert answer.status_code == 303, answer.get_data(as_text=True)


@pytest.fixture
def board(template: Template, tmp_path: Path) -> Iterator[Board]:
    state = tmp_path / "state"
    shutil.copytree(template.state, state)
    database = Database.open(database_path(state))
    clock = ManualClock(template.now + timedelta(seconds=1))
    responder = Responder(database, clock)
    config = template.config.model_copy(update={"state_dir": state})
    responder.configure(config)
    responder.start()
    hooks = Hooks(approve=responder.approve, in_agent=responder.in_agent)
    tokens = Tokens(token_entries())
    operations = Operations(database, clock, hooks)
    app = create_app(operations, tokens, settings=lambda: config)
    yield Board(app.test_client(), database, clock, tokens, template, operations)
    responder.stop(5.0)
    database.close()


def cookie_header(answer: object, name: str) -> str:
    headers = answer.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    (found,) = [h for h in headers if h.startswith(name + "=")]
    return str(found)


# -- sessions and cookies ------------------------------------------------------------


def test_signing_in_sets_a_strict_http_only_session_cookie_with_an_expiry(board: Board) -> None:
    answer = board.client.post("/ops/login", data={"csrf": board.csrf("/ops/login"),
                                                   "token": secret("acme-op")})  # fmt: skip
    assert (answer.status_code, answer.headers["Location"]) == (303, "/company/acme/ops/incidents")
    cookie = cookie_header(answer, "calmops_session")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert f"Max-Age={int(LIFETIME.total_seconds())}" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert secret("acme-op") not in cookie


def test_over_tls_the_session_cookie_is_secure(template: Template, board: Board) -> None:
    client = board.client.application.test_client()
    page = client.get("/ops/login", base_url="https://localhost")
    assert "Secure" in cookie_header(page, "calmops_login")
    csrf = _CSRF.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    answer = client.post("/ops/login", base_url="https://localhost",
                         data={"csrf": csrf, "token": secret("root")})  # fmt: skip
    assert "Secure" in cookie_header(answer, "calmops_session")


def test_a_wrong_token_is_a_401_page_and_no_session(board: Board) -> None:
    answer = board.client.post("/ops/login", data={"csrf": board.csrf("/ops/login"),
                                                   "token": "secret-nobody"})  # fmt: skip
    assert answer.status_code == 401
    assert "That token was not accepted." in answer.get_data(as_text=True)
    assert not [h for h in answer.headers.getlist("Set-Cookie") if "calmops_session=" in h]


def test_signing_in_without_the_forms_own_token_is_refused(board: Board) -> None:
    answer = board.client.post("/ops/login", data={"token": secret("root")})
    assert answer.status_code == 403
    assert board.client.get("/ops/incidents").status_code == 303  # still signed out


def test_pages_need_a_session_and_send_the_browser_to_sign_in(board: Board) -> None:
    answer = board.client.get("/company/acme/ops/incidents")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/ops/login?next=/company/acme/ops/incidents"


def test_signing_out_ends_the_session_even_for_a_copied_cookie(board: Board) -> None:
    board.sign_in("root")
    stolen = board.client.get_cookie("calmops_session")
    assert stolen is not None
    assert board.client.get("/ops/incidents").status_code == 200
    board.client.post("/ops/logout", data={"csrf": board.csrf("/ops/incidents")})
    board.client.set_cookie("calmops_session", stolen.value)
    assert board.client.get("/ops/incidents").status_code == 303


def test_a_session_ends_at_its_expiry_by_the_daemons_clock(board: Board) -> None:
    board.sign_in("root")
    board.clock.advance(LIFETIME - timedelta(seconds=1))
    assert board.client.get("/ops/incidents").status_code == 200
    board.clock.advance(timedelta(seconds=1))
    assert board.client.get("/ops/incidents").status_code == 303


def test_a_token_dropped_by_a_reload_ends_its_sessions_at_once(board: Board) -> None:
    board.sign_in("acme-op")
    assert board.client.get("/company/acme/ops/incidents").status_code == 200
    board.tokens.replace([e for e in token_entries() if e.name != "acme-op"])
    assert board.client.get("/company/acme/ops/incidents").status_code == 303


def test_after_signing_in_the_browser_goes_back_only_to_a_dashboard_page(board: Board) -> None:
    for wanted, landed in (("/company/acme/ops/history", "/company/acme/ops/history"),
                           ("https://evil.example/", "/company/acme/ops/incidents"),
                           ("//evil.example/ops/", "/company/acme/ops/incidents")):  # fmt: skip
        form = {"csrf": board.csrf("/ops/login"), "token": secret("acme-op"), "next": wanted}
        answer = board.client.post("/ops/login", data=form)
        assert answer.headers["Location"] == landed


# -- CSRF -------------------------------------------------------------------------------


def test_a_post_without_the_sessions_form_token_decides_nothing(board: Board) -> None:
    board.sign_in("root")
    incident, rec = board.template.incident["acme"], board.template.recommendation["acme"]
    path = f"/ops/incidents/{incident}/recommendations/{rec}/reject"
    for data in ({}, {"csrf": "forged"}, {"csrf": ""}):
        answer = board.client.post(path, data=data)
        assert answer.status_code == 403
        assert "Form refused" in answer.get_data(as_text=True)
        # Signed in all along: the way on is back to the incidents, not to sign in.
        assert 'href="/ops/incidents">Back to the incidents' in answer.get_data(as_text=True)
    found = get_recommendation(board.database, PLATFORM, rec)
    assert found is not None and found.status is RecommendationStatus.PROPOSED


def test_another_sessions_form_token_is_refused(board: Board) -> None:
    board.sign_in("acme-view")
    theirs = board.csrf("/company/acme/ops/incidents")
    board.sign_in("root")
    incident = board.template.incident["acme"]
    answer = board.client.post(f"/ops/incidents/{incident}/resolve",
                               data={"csrf": theirs, "note": "done"})  # fmt: skip
    assert answer.status_code == 403


# -- decisions through Operations --------------------------------------------------------


def test_a_rejection_from_the_page_is_audited_as_the_tokens_name(board: Board) -> None:
    board.sign_in("acme-op")
    incident, rec = board.template.incident["acme"], board.template.recommendation["acme"]
    page = f"/company/acme/ops/incidents/{incident}"
    answer = board.client.post(f"{page}/recommendations/{rec}/reject",
                               data={"csrf": board.csrf(page), "note": "not now"})  # fmt: skip
    assert (answer.status_code, answer.headers["Location"]) == (303, f"{page}#recommendations")
    found = get_recommendation(board.database, PLATFORM, rec)
    assert found is not None
    assert (found.status, found.decided_by, found.decision_note) == (
        RecommendationStatus.REJECTED,
        "token:acme-op",
        "not now",
    )
    assert "Recommendation" in board.client.get(page).get_data(as_text=True)


def test_an_organization_may_not_approve_a_host_wide_action_from_the_page_either(
    board: Board,
) -> None:
    incident = board.template.incident["acme"]
    rec = add_recommendation(
        board.database, PLATFORM, incident, kind="safe_action", action="pause_jobs",
        params={"ttl": "10m"}, rationale="pause the jobs", at=board.template.now, actor=AGENT,
        expires_at=board.template.now + timedelta(hours=1), preconditions={"unresolved": True},
    )  # fmt: skip
    board.sign_in("acme-op")
    page = f"/company/acme/ops/incidents/{incident}"
    board.client.post(f"{page}/recommendations/{rec}/approve", data={"csrf": board.csrf(page)})
    shown = board.client.get(page).get_data(as_text=True)
    assert "Not approved: pause_jobs stops the background jobs of every organization" in shown
    found = get_recommendation(board.database, PLATFORM, rec)
    assert found is not None and found.status is RecommendationStatus.PROPOSED


def test_a_viewer_is_told_it_may_not_act(board: Board) -> None:
    board.sign_in("acme-view")
    incident, rec = board.template.incident["acme"], board.template.recommendation["acme"]
    page = f"/company/acme/ops/incidents/{incident}"
    board.client.post(f"{page}/recommendations/{rec}/reject", data={"csrf": board.csrf(page)})
    assert "is a viewer: it may read, not act" in board.client.get(page).get_data(as_text=True)


def test_a_viewer_is_offered_no_form_it_would_be_refused(board: Board) -> None:
    """Found by a tester: a viewer's incident page showed "Resolve by hand" and the
    approve and reject buttons, each refused once sent."""
    incident = board.template.incident["acme"]
    page = f"/company/acme/ops/incidents/{incident}"
    board.sign_in("acme-view")
    seen = board.client.get(page).get_data(as_text=True)
    assert "Resolve by hand" not in seen and "Approve…" not in seen and "Reject…" not in seen
    assert "Recommendations" in seen  # still read: what was proposed, and its status
    board.sign_in("root")
    operator = board.client.get(page).get_data(as_text=True)
    assert "Resolve by hand" in operator and "Approve…" in operator


def test_resolving_from_the_page_needs_a_note_and_records_it(board: Board) -> None:
    board.sign_in("root")
    incident = board.template.incident["globex"]
    page = f"/company/globex/ops/incidents/{incident}"
    assert board.client.post(f"{page}/resolve", data={"csrf": board.csrf(page)}).status_code == 400
    board.client.post(f"{page}/resolve", data={"csrf": board.csrf(page), "note": "fixed nginx"})
    events = list_events(board.database, PLATFORM, incident_id=incident)
    (event,) = [e for e in events if e.kind == "incident.status_changed"
                and e.data.get("to") == "resolved"]  # fmt: skip
    assert (event.actor, event.data["note"], event.data["bypass"]) == (
        "token:root",
        "fixed nginx",
        True,
    )


# -- scoping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page",
    ["/company/globex/ops/incidents", "/company/globex/ops/health", "/ops/incidents",
     "/ops/health", "/ops/summary", "/company/acme/ops/incidents/{globex}",
     "/company/acme/ops/incidents/{platform}", "/company/acme/ops/incidents/999999",
     "/company/acme/ops/incidents/{globex}/recommendations/{globex_rec}/approve"],
)  # fmt: skip
def test_an_organization_gets_a_404_page_for_what_is_not_its_own(board: Board, page: str) -> None:
    board.sign_in("acme-op")
    t = board.template
    path = page.format(globex=t.incident["globex"], platform=t.incident["platform"],
                       globex_rec=t.recommendation["globex"])  # fmt: skip
    answer = board.client.get(path)
    assert answer.status_code == 404
    assert answer.mimetype == "text/html"
    assert "There is no such page here." in answer.get_data(as_text=True)


def test_a_super_admin_on_an_organizations_pages_sees_only_that_organization(
    board: Board,
) -> None:
    board.sign_in("root")
    shown = board.client.get("/company/acme/ops/incidents").get_data(as_text=True)
    ids = set(re.findall(r'id="incident-(\d+)"', shown))
    assert ids == {str(board.template.incident["acme"])}
    across = board.client.get("/ops/incidents").get_data(as_text=True)
    assert set(re.findall(r'id="incident-(\d+)"', across)) >= {
        str(i) for i in board.template.incident.values()
    }
    url = f"/company/acme/ops/incidents/{board.template.incident['globex']}"
    assert board.client.get(url).status_code == 404


def test_text_from_the_store_is_escaped_on_every_page(board: Board) -> None:
    from calmopsd.serve.tokens import caller_for

    (root,) = [e for e in token_entries() if e.name == "root"]
    opened = board.operations.open_incident(
        caller_for(root, None), title="<script>alert(1)</script>", type=IncidentType.APP,
        severity=Severity.WARNING,
    )  # fmt: skip
    board.sign_in("root")
    for page in ("/ops/incidents", f"/ops/incidents/{opened.id}"):
        shown = board.client.get(page).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in shown
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown


# -- no 500 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/ops/incidents/0", 404), ("GET", "/ops/incidents/abc", 404),
     ("GET", "/ops/incidents/99999999999999999999", 404), ("GET", "/ops/incidents?limit=0", 400),
     ("GET", "/ops/incidents?cursor=garbage", 400), ("GET", "/ops/incidents?since=yesterday", 400),
     ("GET", "/ops/incidents?status=open&status=resolved", 400), ("GET", "/ops/incidents?x=1", 400),
     ("GET", "/ops/incidents?organization_id=Bad!", 400), ("GET", "/ops/health?x=1", 400),
     ("GET", "/ops/history?status=open", 400), ("GET", "/company/acme/ops/incidents?"
      "organization_id=globex", 400), ("GET", "/company/%00/ops/health", 404),
     ("GET", "/company/" + "a" * 300 + "/ops/health", 404), ("GET", "/ops/no/such/page", 404),
     ("POST", "/ops/incidents/{acme}/recommendations/{acme_rec}/approve?x", 400),
     ("POST", "/ops/incidents/{acme}/resolve", 400),
     ("POST", "/ops/incidents/{acme}/recommendations/999/reject", 404)],
)  # fmt: skip
def test_odd_requests_get_a_clear_page_never_a_500(
    board: Board, method: str, path: str, status: int
) -> None:
    board.sign_in("root")
    t = board.template
    url = path.format(acme=t.incident["acme"], acme_rec=t.recommendation["acme"])
    data = {"csrf": board.csrf("/ops/incidents")}
    if url.endswith("approve?x"):
        url, data["extra"] = url[:-2], "1"
    answer = board.client.open(url, method=method, data=data if method == "POST" else None)
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "text/html"


def test_a_method_no_page_has_is_the_same_401_page_as_any_other_without_a_session(
    board: Board,
) -> None:
    """Probing learns nothing: signed out, a method no page takes is answered exactly as
    one a page takes (the sign-in check runs first); signed in, it is a 405 page."""
    missing, existing = (
        board.client.put("/ops/incidents"),
        board.client.post("/ops/incidents/1/resolve"),
    )
    assert (missing.status_code, missing.mimetype) == (existing.status_code, existing.mimetype)
    assert (missing.status_code, missing.mimetype) == (401, "text/html")
    board.sign_in("root")
    answer = board.client.put("/ops/incidents")
    assert (answer.status_code, answer.mimetype) == (405, "text/html")


def test_a_body_over_the_limit_is_a_413_page(board: Board) -> None:
    board.sign_in("root")
    incident = board.template.incident["acme"]
    form = {"csrf": board.csrf("/ops/incidents"), "note": "x" * 70000}
    answer = board.client.post(f"/ops/incidents/{incident}/resolve", data=form)
    assert (answer.status_code, answer.mimetype) == (413, "text/html")


def test_the_api_still_answers_json_and_401_without_a_token(board: Board) -> None:
    board.sign_in("root")  # a session cookie is no API credential
    answer = board.client.get("/api/ops/incidents")
    assert (answer.status_code, answer.json) == (401, {
        "error": "unauthorized",
        "detail": "a valid token is required: Authorization: Bearer TOKEN"})  # fmt: skip


def test_a_config_change_dialog_shows_the_diff_as_approving_now_gives_it(
    board: Board, tmp_path: Path
) -> None:
    """The approval dialog of an alert_tuning recommendation shows the diff made afresh
    against the file as it is (not the stored one), and the approval's notice keeps its
    lines; an organization's operator does not see it at all."""
    config = tmp_path / "calmops.yaml"
    config.write_text("# edited since\nthresholds:\n  memory_percent: 85\n", encoding="utf-8")
    incident = board.template.incident["acme"]
    rec = add_recommendation(
        board.database, PLATFORM, incident, kind="alert_tuning", at=board.template.now,
        actor=AGENT, rationale="Tune rule memory_used: thresholds.memory_percent 85 → 90.",
        params={"rule": "memory_used", "key": "thresholds.memory_percent", "value": "90",
                "path": ["thresholds", "memory_percent"], "config": str(config)},
        evidence={"config_sha256": "not this file", "diff": "the stored diff <b>\n"},
    )  # fmt: skip
    board.sign_in("acme-op")
    page = f"/company/acme/ops/incidents/{incident}"
    assert "Tune rule memory_used" not in board.client.get(page).get_data(as_text=True)
    assert board.client.get(f"{page}/recommendations/{rec}/approve").status_code == 404
    board.client.post("/ops/logout", data={"csrf": board.csrf(page)})

    board.sign_in("root")
    dialog = board.client.get(f"{page}/recommendations/{rec}/approve").get_data(as_text=True)
    assert "This changes the config: calmopsd records the approval and writes nothing." in dialog
    assert "the stored diff" not in dialog
    assert "-  memory_percent: 85\n+  memory_percent: 90\n" in dialog
    board.client.post(f"{page}/recommendations/{rec}/approve", data={"csrf": board.csrf(page)})
    shown = board.client.get(page).get_data(as_text=True)
    assert "+  memory_percent: 90" in shown  # in the notice, lines kept (white-space: pre-wrap)
    assert config.read_text(encoding="utf-8").endswith("memory_percent: 85\n")  # never written
    found = get_recommendation(board.database, PLATFORM, rec)
    assert found is not None and found.status is RecommendationStatus.APPROVED


def test_a_next_with_a_line_break_is_ignored_and_signing_in_still_works(board: Board) -> None:
    """``next`` goes into the Location header: a CR or LF in it would have been a 500
    after the session was opened (found by a tester following a crafted link)."""
    for wanted in ("/ops/incidents%0d%0aSet-Cookie:%20x=y", "/ops/incidents%09", "/ops/%7f"):
        form = board.client.get(f"/ops/login?next={wanted}").get_data(as_text=True)
        assert "\r" not in form and "Set-Cookie" not in form
        csrf = _CSRF.search(form).group(1)  # type: ignore[union-attr]
        answer = board.client.post(f"/ops/login?next={wanted}",
                                   data={"csrf": csrf, "token": secret("root")})  # fmt: skip
        assert (answer.status_code, answer.headers["Location"]) == (303, "/ops/incidents")
        assert "x=y" not in " ".join(answer.headers.getlist("Set-Cookie"))


def test_a_dashboard_path_no_page_has_is_the_dashboards_own_answer_not_the_apis(
    board: Board,
) -> None:
    """No route matched, but the path is the dashboard's: its sign-in check and its HTML
    pages answer (found by a tester: these were the API's JSON 401 to a signed-in browser)."""
    signed_out = board.client.get("/ops/")
    assert (signed_out.status_code, signed_out.headers["Location"]) == (
        303, "/ops/login?next=/ops/"
    )  # fmt: skip
    assert board.client.put("/company/acme/ops/incidents/1").mimetype == "text/html"
    board.sign_in("root")
    for method, path, status in (
        ("GET", "/ops/", 404),
        ("GET", "/company/acme/ops/", 404),
        ("PUT", "/ops/incidents/1", 405),
        ("DELETE", "/company/acme/ops/incidents/1", 405),
    ):
        answer = board.client.open(path, method=method)
        assert (answer.status_code, answer.mimetype) == (status, "text/html"), (method, path)
    posted = board.client.post("/ops/incidents", data={"csrf": board.csrf("/ops/incidents")})
    assert (posted.status_code, posted.mimetype) == (405, "text/html")
    # The API's own paths are untouched: no token there is still its JSON 401.
    assert board.client.get("/api/ops/incidents").get_json()["error"] == "unauthorized"
    assert board.client.get("/opsx").status_code == 401
