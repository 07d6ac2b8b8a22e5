"""Customer messages on the dashboard's incident page, without a browser: the impact in a
status page's words, edit / approve / discard through Messages as the signed-in token,
form tokens, viewers, other organizations, leaking edits, stale approvals and odd input
(werkzeug's test client on a copy of the template store, drafted by the real consumer)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.api import Template, secret
from support.customer_board import Drafted, drafted_copy
from werkzeug.test import Client

from calmopsd.model import AGENT
from calmopsd.record.audit import list_events
from calmopsd.record.database import connect
from calmopsd.record.messages import (
    DeliveryStatus,
    MessageStatus,
    edit_message,
    get_message,
    list_deliveries,
    text_digest,
)
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Desk:
    def __init__(self, drafted: Drafted):
        self.d = drafted
        self.client: Client = drafted.app.test_client()

    def sign_in(self, token: str) -> None:
        form = {"csrf": self.csrf("/ops/login"), "token": secret(token)}
        assert self.client.post("/ops/login", data=form).status_code == 303

    def csrf(self, page: str) -> str:
        found = _CSRF.search(self.client.get(page).get_data(as_text=True))
        assert found is not None, page
        return found.group(1)

    def page(self, org: str, base: str | None = None) -> str:
        return f"{base or f'/company/{org}/ops'}/incidents/{self.d.incident[org]}"

    def post(self, org: str, decision: str, base: str | None = None, **form: str) -> Any:
        page = self.page(org, base)
        data = {"csrf": self.csrf(page), **form}
        return self.client.post(f"{page}/messages/{self.d.message[org]}/{decision}", data=data)

    def message(self, org: str) -> Any:
        found = get_message(self.d.database, PLATFORM, self.d.message[org])
        assert found is not None
        return found

    def kinds(self, org: str) -> list[tuple[str, str]]:
        events = list_events(self.d.database, PLATFORM, incident_id=self.d.incident[org])
        return [(e.kind, e.actor) for e in events if e.kind.startswith("message.")]

    def dump(self) -> dict[str, list[Any]]:
        conn = connect(self.d.database.path, query_only=True)
        try:
            tables = ("customer_messages", "message_deliveries", "incident_events")
            return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
        finally:
            conn.close()


@pytest.fixture
def desk(template: Template, tmp_path: Path) -> Iterator[Desk]:
    drafted = drafted_copy(template, tmp_path)
    yield Desk(drafted)
    drafted.database.close()


def shown(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


# -- what the page shows ------------------------------------------------------------------


def test_the_impact_is_told_in_a_status_pages_words_with_the_figures_folded_away(
    desk: Desk,
) -> None:
    desk.sign_in("root")
    page = shown(desk.client.get(desk.page("acme")))
    impact = page[page.index('id="customer-impact"') : page.index('id="messages"')]
    # acme's own traffic: its uploads failing, none of globex's 42 server errors a minute
    # (the host's figure, which acme's incident once showed).
    for fact in ("degraded performance</span> 20% of uploads failing",
                 "<dt>Phase</dt><dd>investigating</dd>", "<dd>acme only</dd>",
                 "a message to acme only: only acme&#39;s traffic is affected",
                 "<code>acme-mail</code>", "<summary>The figures behind it</summary>",
                 "<dt>server errors per min</dt><dd>0.0</dd>",
                 "<dt>upload failure rate</dt><dd>0.2</dd>"):  # fmt: skip
        assert fact in impact, fact
    assert "42.0" not in impact
    quiet = shown(desk.client.get(desk.page("platform", "/ops")))
    assert "operational</span> nothing customers can see" in quiet
    assert "no customer: internal only" in quiet
    assert "<p>None: customers cannot see this incident.</p>" in quiet


def test_a_draft_shows_its_words_its_leak_check_and_its_approval_dialog(desk: Desk) -> None:
    desk.sign_in("acme-op")
    m = desk.message("acme")
    page = shown(desk.client.get(desk.page("acme")))
    quoted = f'<blockquote class="message-text" id="message-text-{m.id}">{m.text}</blockquote>'
    assert quoted in page
    assert "passes: it names nothing internal" in page
    assert "none until it is approved" in page
    dialog = page[page.index(f'id="dialog-message-approve-{m.id}"') :]
    dialog = dialog[: dialog.index("</dialog>")]
    for fact in ("<dt>Title</dt><dd>Investigating</dd>", m.text, "<code>acme-mail</code>",
                 text_digest(m.text), f'name="sha256" value="{text_digest(m.text)}"',
                 "Approve and send", 'name="csrf"'):  # fmt: skip
        assert fact in dialog, fact
    assert f'id="dialog-message-discard-{m.id}"' in page
    assert "globex" not in page  # nothing of another organization's messages


def test_text_from_the_store_is_escaped(desk: Desk) -> None:
    m = desk.message("acme")
    assert edit_message(desk.d.database, PLATFORM, m.id, text="<script>alert(1)</script>",
                        at=desk.d.clock.now(), actor="test")  # fmt: skip
    desk.sign_in("acme-op")
    page = shown(desk.client.get(desk.page("acme")))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# -- decisions --------------------------------------------------------------------------


def test_an_operator_edits_then_approves_what_it_read_and_a_reload_approves_nothing_twice(
    desk: Desk,
) -> None:
    desk.sign_in("acme-op")
    m = desk.message("acme")
    typed = "Some file uploads are failing for your account.\r\nWe are looking into it."
    edited = desk.post("acme", "edit", text=typed, sha256=text_digest(m.text))
    assert (edited.status_code, edited.headers["Location"]) == (
        303, f"{desk.page('acme')}#message-{m.id}",
    )  # fmt: skip
    now = desk.message("acme")
    assert now.text == "Some file uploads are failing for your account.\nWe are looking into it."
    approved = desk.post("acme", "approve", sha256=text_digest(now.text))
    assert approved.status_code == 303
    assert desk.message("acme").status is MessageStatus.APPROVED
    assert [(d.channel_name, d.status) for d in list_deliveries(desk.d.database, m.id)] == [
        ("acme-mail", DeliveryStatus.PENDING)
    ]
    page = shown(desk.client.get(desk.page("acme")))
    assert f"Message {m.id} approved: it goes to acme-mail." in page
    assert "delivery-pending" in page and f"message-approve-{m.id}" not in page
    again = desk.post("acme", "approve", sha256=text_digest(now.text))  # the POST resent
    assert again.status_code == 409
    assert f"message {m.id} is approved, not a draft" in shown(again)
    assert desk.kinds("acme") == [("message.drafted", AGENT), ("message.edited", "token:acme-op"),
                                  ("message.approved", "token:acme-op")]  # fmt: skip


def test_a_leaking_edit_is_refused_says_which_part_failed_and_changes_nothing(
    desk: Desk,
) -> None:
    desk.sign_in("acme-op")
    m = desk.message("acme")
    before = desk.dump()
    typed = "The server at 10.0.3.7 ran out of disk; globex was hit too."
    answer = desk.post("acme", "edit", text=typed, sha256=text_digest(m.text))
    page = shown(answer)
    assert answer.status_code == 400
    assert "the text is not customer-safe" in page
    assert "10.0.3.7" in page and "another organization" in page
    assert f">{typed}</textarea>" in page  # the words typed are kept, to fix
    assert m.text in page  # and the message as it still is
    assert desk.dump() == before


def test_an_approval_of_a_text_edited_since_it_was_read_is_a_conflict_shown_plainly(
    desk: Desk,
) -> None:
    desk.sign_in("acme-op")
    m = desk.message("acme")
    read = text_digest(m.text)  # the dialog's sha256, then someone else edits
    assert edit_message(desk.d.database, PLATFORM, m.id, text="We are on it.",
                        at=desk.d.clock.now(), actor="token:root")  # fmt: skip
    before = desk.dump()
    answer = desk.post("acme", "approve", sha256=read)
    assert answer.status_code == 409
    page = shown(answer)
    assert "<h1>Not approved</h1>" in page
    assert f"message {m.id} changed since it was read: read it again" in page
    assert ">We are on it.</blockquote>" in page
    assert desk.dump() == before


def test_an_edit_started_from_an_older_text_is_a_conflict_never_an_overwrite(
    desk: Desk,
) -> None:
    desk.sign_in("acme-op")
    m = desk.message("acme")
    assert edit_message(desk.d.database, PLATFORM, m.id, text="We are on it.",
                        at=desk.d.clock.now(), actor="token:root")  # fmt: skip
    answer = desk.post("acme", "edit", text="Mine instead.", sha256=text_digest(m.text))
    assert answer.status_code == 409
    assert "changed since it was read" in shown(answer)
    assert desk.message("acme").text == "We are on it."


def test_discarding_records_the_note_and_the_page_says_it(desk: Desk) -> None:
    desk.sign_in("root")
    answer = desk.post("globex", "discard", base="/ops", note="told them by phone")
    assert answer.status_code == 303
    assert desk.message("globex").status is MessageStatus.DISCARDED
    (event,) = [e for e in list_events(desk.d.database, PLATFORM)
                if e.kind == "message.discarded"]  # fmt: skip
    assert (event.actor, event.data["note"]) == ("token:root", "told them by phone")
    page = shown(desk.client.get(desk.page("globex", "/ops")))
    assert "discarded</span> by token:root" in page and "“told them by phone”" in page


def test_with_no_channel_for_its_audience_the_dialog_and_the_outcome_say_post_it_by_hand(
    desk: Desk,
) -> None:
    desk.sign_in("globex-op")
    m = desk.message("globex")
    page = shown(desk.client.get(desk.page("globex")))
    assert "Approve (post it by hand)" in page
    assert "<dt>Channels</dt><dd>no channel configured: post it by hand</dd>" in page
    desk.post("globex", "approve", sha256=text_digest(m.text))
    page = shown(desk.client.get(desk.page("globex")))
    assert f"Message {m.id} approved: no channel configured: post it by hand." in page
    assert list_deliveries(desk.d.database, m.id) == []


def test_a_draft_the_leak_check_refuses_offers_no_approval(desk: Desk) -> None:
    m = desk.message("acme")
    assert edit_message(desk.d.database, PLATFORM, m.id, text="We restarted it on 10.0.3.7.",
                        at=desk.d.clock.now(), actor="test")  # fmt: skip
    desk.sign_in("acme-op")
    page = shown(desk.client.get(desk.page("acme")))
    assert "refuses it now:" in page and "10.0.3.7" in page
    assert f'id="message-approve-{m.id}"' not in page
    confirm = desk.client.get(f"{desk.page('acme')}/messages/{m.id}/approve")
    assert "The leak check refuses this text: edit it first." in shown(confirm)
    answer = desk.post("acme", "approve", sha256=text_digest("We restarted it on 10.0.3.7."))
    assert answer.status_code == 400
    assert desk.message("acme").status is MessageStatus.DRAFT


# -- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["edit", "approve", "discard"])
@pytest.mark.parametrize("token", [None, "forged", ""])
def test_a_post_without_the_sessions_form_token_decides_nothing(
    desk: Desk, decision: str, token: str | None
) -> None:
    desk.sign_in("acme-op")
    m = desk.message("acme")
    before = desk.dump()
    data = {"sha256": text_digest(m.text), "text": "We are on it."}
    if token is not None:
        data["csrf"] = token
    answer = desk.client.post(f"{desk.page('acme')}/messages/{m.id}/{decision}", data=data)
    assert answer.status_code == 403
    assert "Form refused" in shown(answer)
    assert desk.dump() == before


def test_a_viewer_sees_no_buttons_and_its_posts_are_refused(desk: Desk) -> None:
    desk.sign_in("acme-view")
    m = desk.message("acme")
    page = shown(desk.client.get(desk.page("acme")))
    assert m.text in page
    for control in (f'id="message-approve-{m.id}"', f'id="message-discard-{m.id}"',
                    f'id="edit-{m.id}"', "<dialog id=\"dialog-message"):  # fmt: skip
        assert control not in page, control
    before = desk.dump()
    for decision, form in (("approve", {"sha256": text_digest(m.text)}),
                           ("edit", {"text": "We are on it.", "sha256": text_digest(m.text)}),
                           ("discard", {})):  # fmt: skip
        answer = desk.post("acme", decision, **form)
        assert answer.status_code == 403, decision
        assert "is a viewer: it may read, not act" in shown(answer)
    assert desk.dump() == before
    confirm = desk.client.get(f"{desk.page('acme')}/messages/{m.id}/approve")
    assert "is a viewer: it may read, not act" in shown(confirm)


@pytest.mark.parametrize(
    "path",
    ["/company/acme/ops/incidents/{acme}/messages/{globex_m}/approve",
     "/company/acme/ops/incidents/{globex}/messages/{globex_m}/approve",
     "/company/globex/ops/incidents/{globex}/messages/{globex_m}/discard",
     "/ops/incidents/{globex}/messages/{globex_m}/approve"],
)  # fmt: skip
def test_another_organizations_message_is_a_404_to_read_and_to_decide(
    desk: Desk, path: str
) -> None:
    desk.sign_in("acme-op")
    url = path.format(acme=desk.d.incident["acme"], globex=desk.d.incident["globex"],
                      globex_m=desk.d.message["globex"])  # fmt: skip
    before = desk.dump()
    assert desk.client.get(url).status_code == 404
    csrf = desk.csrf(desk.page("acme"))
    m = desk.message("globex")
    answer = desk.client.post(url, data={"csrf": csrf, "sha256": text_digest(m.text)})
    assert answer.status_code == 404
    assert "There is no such page here." in shown(answer)
    assert desk.dump() == before


def test_a_super_admin_on_an_organizations_page_cannot_reach_another_incidents_message(
    desk: Desk,
) -> None:
    desk.sign_in("root")
    url = f"{desk.page('acme')}/messages/{desk.d.message['globex']}/discard"
    answer = desk.client.post(url, data={"csrf": desk.csrf(desk.page("acme"))})
    assert answer.status_code == 404
    assert desk.message("globex").status is MessageStatus.DRAFT


# -- no 500 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "tail", "form", "status"),
    [("GET", "/messages/abc/approve", {}, 404), ("GET", "/messages/0/approve", {}, 404),
     ("GET", "/messages/99999999999999999999/approve", {}, 404),
     ("GET", "/messages/999999/discard", {}, 404), ("GET", "/messages/{m}", {}, 404),
     ("GET", "/messages/{m}/edit", {}, 404), ("POST", "/messages/{m}/approve", {}, 400),
     ("POST", "/messages/{m}/approve", {"sha256": "XYZ"}, 400),
     ("POST", "/messages/{m}/approve", {"sha256": "A" * 64}, 400),
     ("POST", "/messages/{m}/approve", {"sha256": "{sha}", "text": "x"}, 400),
     ("POST", "/messages/{m}/edit", {"text": "We are on it."}, 400),
     ("POST", "/messages/{m}/edit", {"text": "   ", "sha256": "{sha}"}, 400),
     ("POST", "/messages/{m}/edit", {"text": "a\x00b", "sha256": "{sha}"}, 400),
     ("POST", "/messages/{m}/edit", {"text": "a\u202eb", "sha256": "{sha}"}, 400),
     ("POST", "/messages/{m}/edit", {"text": "x" * 1001, "sha256": "{sha}"}, 400),
     ("POST", "/messages/{m}/edit", {"sha256": "{sha}"}, 400),
     ("POST", "/messages/{m}/discard", {"note": "n" * 2001}, 400),
     ("POST", "/messages/{m}/discard", {"note": "ok", "extra": "1"}, 400),
     ("POST", "/messages/999999/discard", {}, 404)],
)  # fmt: skip
def test_odd_requests_get_a_clear_page_never_a_500(
    desk: Desk, method: str, tail: str, form: dict[str, str], status: int
) -> None:
    desk.sign_in("root")
    m = desk.message("acme")
    before = desk.dump()
    page = desk.page("acme", "/ops")
    data = {k: v.replace("{sha}", text_digest(m.text)) for k, v in form.items()}
    if method == "POST":
        data["csrf"] = desk.csrf(page)
    answer = desk.client.open(page + tail.replace("{m}", str(m.id)), method=method,
                              data=data if method == "POST" else None)  # fmt: skip
    assert answer.status_code == status, shown(answer)[:800]
    assert answer.mimetype == "text/html"
    assert desk.dump() == before
