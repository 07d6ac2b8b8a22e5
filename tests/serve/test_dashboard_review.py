"""The post-incident review on the dashboard's incident page, without a browser: shown
under the same headings as the CLI's, edited through Reviews as the signed-in token,
form tokens, viewers, other organizations, bad input, edits made meanwhile and escaping
(werkzeug's test client on a copy of the template store, reviewed by the real drafting
consumer)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from support.api import Template, secret
from support.review_board import Reviewed, reviewed_copy
from werkzeug.test import Client

from calmopsd.model import IncidentStatus
from calmopsd.record.incidents import change_status
from calmopsd.record.reviews import FIELDS, MAX_FIELD, edit_review
from calmopsd.record.scope import Scope
from calmopsd.serve.dashboard.review import _digest
from calmopsd.serve.review_titles import FIGURES, TITLES

PLATFORM = Scope.platform()
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_HEADINGS = re.compile(r"<h([1-6])[^>]*>(.*?)</h\1>", re.S)


class Desk:
    def __init__(self, reviewed: Reviewed):
        self.r = reviewed
        self.client: Client = reviewed.app.test_client()

    def sign_in(self, token: str) -> None:
        form = {"csrf": self.csrf("/ops/login"), "token": secret(token)}
        assert self.client.post("/ops/login", data=form).status_code == 303

    def csrf(self, page: str) -> str:
        found = _CSRF.search(self.client.get(page).get_data(as_text=True))
        assert found is not None, page
        return found.group(1)

    def page(self, kind: str = "acme", org: str | None = None) -> str:
        base = "/ops" if org == "" else f"/company/{org or kind}/ops"
        return f"{base}/incidents/{self.r.incident[kind]}"

    def form(self, page: str, **changes: str) -> dict[str, str]:
        """The edit form as a browser sends it: every field with the digest it started
        from, ``changes`` typed over them."""
        review = self.r.review()
        form = {"csrf": self.csrf(page)}
        for name in FIELDS:
            form[name] = review.texts[name].replace("\n", "\r\n")
            form[f"sha256_{name}"] = _digest(review.texts[name])
        return form | changes

    def post(self, page: str, form: dict[str, Any]) -> Any:
        return self.client.post(f"{page}/review", data=form)


@pytest.fixture
def desk(template: Template, tmp_path: Path) -> Iterator[Desk]:
    reviewed = reviewed_copy(template, tmp_path)
    yield Desk(reviewed)
    reviewed.database.close()


def shown(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def section(page: str) -> str:
    start = page.index('<section aria-labelledby="review-h" id="review">')
    return page[start : page.index("</section>", start)]


# -- what the page shows ------------------------------------------------------------------


def test_every_review_field_has_a_title_in_the_fields_order() -> None:
    assert tuple(TITLES) == FIELDS


def test_the_review_is_shown_under_the_clis_headings_with_its_figures_and_who_drafted_it(
    desk: Desk,
) -> None:
    review = desk.r.review()
    desk.sign_in("acme-op")
    page = shown(desk.client.get(desk.page()))
    part = section(page)
    headings = [(int(level), re.sub(r"<[^>]+>", "", text).strip())
                for level, text in _HEADINGS.findall(part)]  # fmt: skip
    assert headings == [(2, "Post-incident review")] + [
        (3, TITLES[name])
        for name in FIELDS
        if name != "notes"  # notes: empty, not shown
    ]
    for name in FIELDS[:-1]:
        text = escape(review.texts[name])
        assert f'<div class="review-text" id="review-{name}">{text}</div>' in part
    assert review.texts["timeline"] and review.texts["root_cause"]
    # The figures in the words of the review's own timeline ("Time to detect: 30 s; …").
    assert (review.figures["time_to_detect_s"], review.figures["time_to_stabilize_s"],
            review.figures["time_to_resolve_s"]) == (30.0, None, 1320.0)  # fmt: skip
    assert review.texts["timeline"].startswith(
        "Time to detect: 30 s; to stabilize: not reached; to resolve: 22 min."
    )
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", part))
    assert {t: figures[t] for t in FIGURES.values()} == {
        "Time to detect": "30 s", "Time to stabilize": "not reached", "Time to resolve": "22 min",
    }  # fmt: skip
    assert 'draft</span>\n  drafted by calmopsd <time datetime="' in part
    assert "last edited by" not in part
    # The form: a labelled textarea per field, its digest, the form token.
    for name in FIELDS:
        assert f'<label for="review-text-{name}">{TITLES[name]}</label>' in part
        assert f'id="review-text-{name}" name="{name}"' in part
        assert f'name="sha256_{name}" value="{_digest(review.texts[name])}"' in part
    assert f'maxlength="{MAX_FIELD}"' in part and 'name="csrf"' in part


def test_the_super_admin_sees_it_on_the_ops_page_too(desk: Desk) -> None:
    desk.sign_in("root")
    part = section(shown(desk.client.get(desk.page(org=""))))
    assert 'id="review-form"' in part
    assert 'action="/ops/incidents/' in part


def test_a_resolved_incident_without_a_review_yet_says_it_is_being_drafted(desk: Desk) -> None:
    desk.sign_in("globex-op")
    part = section(shown(desk.client.get(desk.page("globex"))))
    assert 'id="review-drafting"' in part and "calmopsd is drafting its review" in part
    assert "<form" not in part


def test_an_open_incident_has_no_review_section(desk: Desk) -> None:
    desk.sign_in("root")
    answer = desk.client.get(desk.page("platform", org=""))
    assert answer.status_code == 200
    assert 'id="review"' not in shown(answer) and "Post-incident review" not in shown(answer)


def test_a_viewer_sees_the_review_but_no_form(desk: Desk) -> None:
    desk.sign_in("acme-view")
    part = section(shown(desk.client.get(desk.page())))
    assert 'id="review-timeline"' in part
    assert "<form" not in part and "<textarea" not in part


def test_text_from_the_store_is_escaped(desk: Desk) -> None:
    edit_review(desk.r.database, PLATFORM, desk.r.incident["acme"],
                {"root_cause": "<script>alert(1)</script>", "notes": '"><img src=x onerror=1>'},
                at=desk.r.clock.now(), actor="test")  # fmt: skip
    desk.sign_in("acme-op")
    page = shown(desk.client.get(desk.page()))
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    part = section(page)  # shown, and in the form (the timeline's review.edited has it too)
    assert part.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert "&#34;&gt;&lt;img src=x onerror=1&gt;" in part


# -- editing ----------------------------------------------------------------------------


def test_an_operator_edits_the_notes_and_only_the_notes_are_saved_and_audited(
    desk: Desk,
) -> None:
    before = desk.r.review()
    desk.sign_in("acme-op")
    page = desk.page()
    answer = desk.post(page, desk.form(page, notes="Temp uploads now expire after a day.\r\n"
                                                   "Checked the cron job."))  # fmt: skip
    assert (answer.status_code, answer.headers["Location"]) == (303, f"{page}#review")
    after = desk.r.review()
    assert after.texts["notes"] == "Temp uploads now expire after a day.\nChecked the cron job."
    assert {n: after.texts[n] for n in FIELDS[:-1]} == {n: before.texts[n] for n in FIELDS[:-1]}
    assert (after.status.value, after.edited_by, after.edited_fields) == (
        "edited", "token:acme-op", ("notes",),
    )  # fmt: skip
    assert desk.r.edits() == [(desk.r.incident["acme"], "token:acme-op", {
        "notes": "Temp uploads now expire after a day.\nChecked the cron job.",
    })]  # fmt: skip
    shown_now = shown(desk.client.get(page))
    assert "Review saved: notes changed." in shown_now
    part = section(shown_now)
    assert ('<div class="review-text" id="review-notes">Temp uploads now expire after a day.\n'
            "Checked the cron job.</div>") in part  # fmt: skip
    assert 'Notes <span class="edited">(edited)</span>' in part
    assert "last edited by token:acme-op <time" in part


def test_the_super_admin_edits_on_an_organizations_page_as_itself(desk: Desk) -> None:
    desk.sign_in("root")
    page = desk.page()
    answer = desk.post(page, desk.form(page, prevention="Alert at 70 % of the temp disk."))
    assert answer.status_code == 303
    assert desk.r.edits() == [
        (desk.r.incident["acme"], "token:root", {"prevention": "Alert at 70 % of the temp disk."})
    ]


def test_saving_an_unchanged_form_changes_nothing_and_says_so(desk: Desk) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    before = desk.r.dump()
    answer = desk.post(page, desk.form(page))
    assert answer.status_code == 303
    assert desk.r.dump() == before
    assert "Nothing changed: the review is as it was." in shown(desk.client.get(page))


def test_a_viewers_forged_post_is_refused_and_changes_nothing(desk: Desk) -> None:
    desk.sign_in("acme-view")
    page = desk.page()
    before = desk.r.dump()
    answer = desk.post(page, desk.form(page, notes="mine now"))
    assert answer.status_code == 403
    assert "token &#39;acme-view&#39; is a viewer: it may read, not act" in shown(answer)
    assert desk.r.dump() == before


@pytest.mark.parametrize("csrf", [None, "", "not-the-token"])
def test_a_post_without_the_pages_form_token_is_refused(desk: Desk, csrf: str | None) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    form = desk.form(page, notes="from another site")
    if csrf is None:
        del form["csrf"]
    else:
        form["csrf"] = csrf
    before = desk.r.dump()
    answer = desk.post(page, form)
    assert answer.status_code == 403 and "Form refused" in shown(answer)
    assert desk.r.dump() == before


@pytest.mark.parametrize(
    ("changes", "status", "told"),
    [
        ({"verdict": "mine"}, 400, "&#39;verdict&#39; is not a review field (timeline, "),
        ({"notes": "x" * (MAX_FIELD + 1)}, 400, f"notes is longer than {MAX_FIELD} characters"),
        ({"notes": "a\x00b"}, 400, "notes must not contain control characters"),
        ({"sha256_notes": "abc", "notes": "new"}, 400, "notes: an edit names the words it"),
    ],
)
def test_bad_input_is_a_4xx_page_naming_the_problem_and_changes_nothing(
    desk: Desk, changes: dict[str, str], status: int, told: str
) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    before = desk.r.dump()
    answer = desk.post(page, desk.form(page, **changes))
    assert answer.status_code == status
    assert told in shown(answer)
    assert desk.r.dump() == before


def test_a_field_missing_its_digest_is_refused(desk: Desk) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    form = desk.form(page, notes="new")
    del form["sha256_notes"]
    before = desk.r.dump()
    answer = desk.post(page, form)
    assert answer.status_code == 400 and "reload the page and edit again" in shown(answer)
    assert desk.r.dump() == before


def test_a_field_sent_twice_is_refused(desk: Desk) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    form: dict[str, Any] = desk.form(page)
    form["notes"] = ["one", "two"]
    before = desk.r.dump()
    answer = desk.post(page, form)
    assert answer.status_code == 400 and "notes was sent twice" in shown(answer)
    assert desk.r.dump() == before


def test_a_refused_edit_gives_the_typed_words_back_in_the_form(desk: Desk) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    typed = "y" * (MAX_FIELD + 1)
    answer = desk.post(page, desk.form(page, notes=typed))
    body = shown(answer)
    assert "Nothing was changed." in body
    assert (f'name="notes" rows="3" maxlength="{MAX_FIELD}" aria-describedby="review-form-hint">'
            f"{typed}</textarea>") in body  # fmt: skip


def test_a_field_someone_else_changed_since_the_page_was_read_is_a_conflict(desk: Desk) -> None:
    desk.sign_in("acme-op")
    page = desk.page()
    form = desk.form(page, notes="my words")
    edit_review(desk.r.database, PLATFORM, desk.r.incident["acme"], {"notes": "the CLI's words"},
                at=desk.r.clock.now(), actor="cli:alice")  # fmt: skip
    before = desk.r.dump()
    answer = desk.post(page, form)
    assert answer.status_code == 409
    body = shown(answer)
    assert "Notes changed since you read the review" in body
    assert '<div class="review-text" id="review-notes">the CLI&#39;s words</div>' in body
    assert ">my words</textarea>" in body
    assert f'name="sha256_notes" value="{_digest("the CLI" + chr(39) + "s words")}"' in body
    assert desk.r.dump() == before
    # Saved again from the refusal's form (it names the words as they are now): it goes in.
    again = desk.post(page, {**form, "sha256_notes": _digest("the CLI's words")})
    assert again.status_code == 303
    assert desk.r.review().texts["notes"] == "my words"


def test_another_organizations_incident_is_a_404_to_read_and_to_edit(desk: Desk) -> None:
    acme = desk.r.incident["acme"]
    desk.sign_in("acme-op")
    form = desk.form(desk.page())
    before = desk.r.dump()
    desk.sign_in("globex-op")
    for path in (f"/company/globex/ops/incidents/{acme}", f"/company/acme/ops/incidents/{acme}",
                 f"/ops/incidents/{acme}"):  # fmt: skip
        assert desk.client.get(path).status_code == 404, path
        token = desk.csrf("/company/globex/ops/incidents")
        posted = desk.client.post(f"{path}/review", data={**form, "csrf": token})
        assert posted.status_code == 404, path
    desk.sign_in("root")  # a super-admin, but on globex's pages: not found there either
    path = f"/company/globex/ops/incidents/{acme}"
    assert desk.client.get(path).status_code == 404
    posted = desk.client.post(f"{path}/review", data={**form, "csrf": desk.csrf("/ops/incidents")})
    assert posted.status_code == 404
    assert desk.r.dump() == before


def test_an_incident_without_a_review_takes_no_edit(desk: Desk) -> None:
    desk.sign_in("globex-op")
    page = desk.page("globex")
    before = desk.r.dump()
    answer = desk.post(page, {"csrf": desk.csrf(page), "notes": "early"})
    assert answer.status_code == 400 and "has no review yet" in shown(answer)
    assert desk.r.dump() == before


def test_a_reopened_incident_keeps_its_review_and_says_it_is_redrafted(desk: Desk) -> None:
    assert change_status(desk.r.database, PLATFORM, desk.r.incident["acme"],
                         expected=IncidentStatus.RESOLVED, new=IncidentStatus.OPEN,
                         at=desk.r.clock.now(), actor="calmopsd")  # fmt: skip
    desk.sign_in("acme-op")
    part = section(shown(desk.client.get(desk.page())))
    assert "Drafted when this incident last resolved; calmopsd drafts it again" in part
    assert 'id="review-timeline"' in part and 'id="review-form"' in part
