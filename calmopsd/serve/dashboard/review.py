"""The incident page's post-incident review, and editing it.

The review is read through the page's own scope (:meth:`Reviews.find`: one read by the
incident's id) and edited through :class:`~calmopsd.serve.reviews.Reviews` with the
signed-in caller — the same role check, field checks and ``review.edited`` audit event
as the API's ``PATCH``, the actor ``token:NAME`` — once the incident has been found
through the page's scope (another organization's is a 404 page, even to a super-admin).

The form holds every field, and beside each the SHA-256 of the words it started from.
Only the fields a person changed go on to ``Reviews.edit``, so the rest stay calmopsd's
and a redraft (the incident reopened and resolved again) still rewrites them; a changed
field that someone else changed since the page was read is a conflict. A refusal — a
conflict, a field too long, a control character — is a page of its own with its
status, saying why, with the review as it is now and the person's words back in the
form, so nothing they wrote is lost. A save redirects to the incident
(post/redirect/get).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from calmopsd.errors import Conflict, Forbidden, InvalidRequest
from calmopsd.learn.timings import spoken
from calmopsd.model import Incident, IncidentStatus
from calmopsd.record.reviews import FIELDS, MAX_FIELD, Review
from calmopsd.serve.bodies import parse_id
from calmopsd.serve.dashboard.access import Viewer, viewer
from calmopsd.serve.dashboard.pages import Pages
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.operations import Operations
from calmopsd.serve.review_titles import FIGURES, TITLES
from calmopsd.serve.reviews import Reviews
from calmopsd.serve.web import Response, redirect, request

log = structlog.get_logger("calmopsd.serve")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_STARTED = "sha256_"  # the form's name for the digest beside each field


@dataclass(frozen=True)
class Part:
    """One field as the page shows it."""

    name: str
    title: str
    text: str
    sha256: str  # of its words as shown (stripped): what an edit says it started from


@dataclass(frozen=True)
class ReviewCard:
    """The review section of one incident's page, as one viewer may see and edit it."""

    incident_id: int
    review: Review | None  # None: not drafted yet (resolved) — the page says so
    parts: tuple[Part, ...]
    figures: tuple[tuple[str, str], ...]  # (title, in words), those the review carries
    may_edit: bool
    resolved: bool  # False with a review: it reopened; redrafted when it resolves again

    @property
    def limit(self) -> int:
        """The most characters a field may hold (the textareas' ``maxlength``)."""
        return MAX_FIELD

    def texts(self) -> dict[str, str]:
        return {p.name: p.text for p in self.parts}


class ReviewSection:
    def __init__(self, operations: Operations, reviews: Reviews, pages: Pages):
        self.ops = operations
        self.reviews = reviews
        self.pages = pages

    def card(self, v: Viewer, incident: Incident) -> ReviewCard | None:
        """What the page shows: the review; a line that it is being drafted (resolved,
        none yet); or nothing (None: never resolved, so no review)."""
        review = self.reviews.find(v.reader, incident.id)
        resolved = incident.status is IncidentStatus.RESOLVED
        if review is None and not resolved:
            return None
        return _card(incident.id, review, resolved, v.caller.may_act)

    def edit(self, incident_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        incident = self.ops.incident(v.reader, parse_id(incident_id, "incident")).incident
        if not v.caller.may_act:
            # Refused before the form is read, whatever it holds; Reviews.edit refuses too.
            raise Forbidden(f"token {v.caller.name!r} is a viewer: it may read, not act")
        now = self.card(v, incident)
        if now is None or now.review is None:
            raise InvalidRequest(f"incident {incident.id} has no review yet: it is drafted "
                                 "when it resolves", "no_review")  # fmt: skip
        typed, started = _form()
        changed = {name: text for name, text in typed.items() if _digest(text) != started[name]}
        if not changed:
            v.session.say("Nothing changed: the review is as it was.")
            return self._back(v, incident.id)
        try:
            _unchanged_since(now, changed, started)
            self.reviews.edit(v.caller, incident.id, changed)
        except (Conflict, InvalidRequest) as exc:
            return self._refused(v, incident, exc, {**now.texts(), **typed})
        fields = ", ".join(TITLES[name].lower() for name in FIELDS if name in changed)
        v.session.say(f"Review saved: {fields} changed.")
        log.info("dashboard.review_edited", token=v.caller.name, incident_id=incident.id,
                 fields=sorted(changed))  # fmt: skip
        return self._back(v, incident.id)

    def _refused(
        self, v: Viewer, incident: Incident, exc: Conflict | InvalidRequest, typed: dict[str, str]
    ) -> Response:
        log.info("dashboard.review_refused", token=v.caller.name, incident_id=incident.id,
                 code=exc.code)  # fmt: skip
        return page("review_refused.html", exc.status, **self.pages.context(
            v, "Review not saved", review=self.card(v, incident), detail=exc.detail,
            typed=typed, incident_id=incident.id,
        ))  # fmt: skip

    def _back(self, v: Viewer, incident_id: int) -> Response:
        return redirect(f"{v.base}/incidents/{incident_id}#review", 303)


def _card(incident_id: int, review: Review | None, resolved: bool, may_act: bool) -> ReviewCard:
    texts = review.texts if review is not None else {}
    parts = tuple(
        Part(name, TITLES[name], str(texts.get(name) or ""), _digest(str(texts.get(name) or "")))
        for name in FIELDS
    )
    carried = review.figures if review is not None else {}
    figures = tuple((title, _spoken(carried[key])) for key, title in FIGURES.items()
                    if key in carried)  # fmt: skip
    return ReviewCard(incident_id, review, parts, figures, may_act and review is not None,
                      resolved)  # fmt: skip


def _spoken(seconds: Any) -> str:
    """A figure as the review's own timeline says it ("22 min", "not reached")."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return spoken(None)
    return spoken(timedelta(seconds=seconds))


def _form() -> tuple[dict[str, str], dict[str, str]]:
    """The fields the form sent (line breaks as ``\\n``, as stored) and, for each, the
    digest of the words it started from; a 400 for anything else in it."""
    allowed = {"csrf", *FIELDS, *(_STARTED + name for name in FIELDS)}
    extra = sorted(set(request.form) - allowed)
    if extra:
        raise InvalidRequest(f"{extra[0][:40]!r} is not a review field ({', '.join(FIELDS)})",
                             "unknown_field")  # fmt: skip
    doubled = sorted(name for name in request.form if len(request.form.getlist(name)) > 1)
    if doubled:
        raise InvalidRequest(f"{doubled[0]} was sent twice", "invalid_body")
    typed: dict[str, str] = {}
    started: dict[str, str] = {}
    for name in FIELDS:
        if name not in request.form:
            continue
        sent = request.form.get(_STARTED + name, "")
        if not _SHA256.fullmatch(sent):
            raise InvalidRequest(f"{name}: an edit names the words it started from (64 "
                                 "lowercase hex digits): reload the page and edit again",
                                 "unread_edit")  # fmt: skip
        # Browsers send a textarea's line breaks as CRLF; the review holds plain \n.
        typed[name] = request.form[name].replace("\r\n", "\n").replace("\r", "\n")
        started[name] = sent
    return typed, started


def _unchanged_since(now: ReviewCard, changed: dict[str, str], started: dict[str, str]) -> None:
    """A conflict when a field this edit changes was changed by someone else since the
    page was read (another tab, the CLI, the API): their words are never overwritten
    unread."""
    moved = [p.title for p in now.parts if p.name in changed and p.sha256 != started[p.name]]
    if moved:
        raise Conflict(f"{', '.join(moved)} changed since you read the review: read it as it "
                       "is now, then save your words again", "conflict")  # fmt: skip


def _digest(text: str) -> str:
    """The words as compared: without the leading and trailing blanks a textarea adds or
    drops (Reviews.edit strips them too)."""
    return hashlib.sha256(text.strip().encode()).hexdigest()
