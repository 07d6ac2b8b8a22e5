"""One incident's page, and the decisions taken from it: approve, reject, resolve.

Every decision goes through :class:`~calmopsd.serve.operations.Operations` with the
signed-in caller — the same visibility, role and reach checks as the API, the same
audit events, the actor ``token:NAME`` — after the incident has been found through
the page's own scope (an incident of another organization than the URL's is a 404,
even to a super-admin). The outcome is told on the incident's page after a redirect
(post/redirect/get), so reloading never approves twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from calmopsd.config import Config
from calmopsd.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unavailable
from calmopsd.model import AuditEvent, IncidentStatus, RecommendationStatus
from calmopsd.serve.answers import IncidentDetail
from calmopsd.serve.bodies import parse_id
from calmopsd.serve.dashboard.access import Viewer, viewer
from calmopsd.serve.dashboard.confirm import checks, preview
from calmopsd.serve.dashboard.customer_messages import CustomerMessages
from calmopsd.serve.dashboard.impact import impact_words
from calmopsd.serve.dashboard.pages import Pages
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.dashboard.review import ReviewSection
from calmopsd.serve.operations import MAX_TEXT, Operations
from calmopsd.serve.web import Response, redirect, request

log = structlog.get_logger("calmopsd.serve")
REFUSALS = (Conflict, Forbidden, InvalidRequest, Unavailable)


class Detail:
    def __init__(
        self,
        operations: Operations,
        settings: Callable[[], Config],
        pages: Pages,
        customers: CustomerMessages | None = None,
        review: ReviewSection | None = None,
    ):
        self.ops = operations
        self.settings = settings
        self.pages = pages
        self.customers = customers  # None: the app serves no customer messages
        self.review = review  # None: no post-incident review section

    def incident(self, incident_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        found = self.ops.incident(v.reader, parse_id(incident_id, "incident"))
        actions = self.settings().actions
        now = self.ops.clock.now()
        acts = v.caller.may_act  # a viewer is offered no form it would be refused
        previews = {
            r.id: preview(self.ops.database, actions, r, now)
            for r in found.recommendations
            if r.status is RecommendationStatus.PROPOSED and acts
        }
        rechecks = {r.id: checks(r, actions) for r in found.recommendations}  # fmt: skip
        told = None
        if self.customers is not None:
            told = self.customers.cards(v, found.incident.id, found.events)
        return page("incident.html", **self.pages.context(
            v, f"Incident {found.incident.id}", found=found, previews=previews,
            rechecks=rechecks, verifications=_verifications(found.events),
            may_resolve=acts and found.incident.status is not IncidentStatus.RESOLVED,
            impact_words=impact_words(found.incident, self.settings().customers),
            customer_messages=told,
            review=self.review.card(v, found.incident) if self.review is not None else None,
        ))  # fmt: skip

    def confirm(self, incident_id: str, rec_id: str, org: str | None = None) -> Response:
        """The confirmation as a page of its own, for a browser without the dialog's script."""
        v = viewer(org)
        decision = request.path.rsplit("/", 1)[-1]
        found, rec_number = self._found(v, incident_id, rec_id)
        rec = next(r for r in found.recommendations if r.id == rec_number)
        actions = self.settings().actions
        return page("confirm.html", **self.pages.context(
            v, f"{decision.title()} recommendation {rec.id}", found=found, rec=rec,
            decision=decision, preview=preview(self.ops.database, actions, rec,
                                               self.ops.clock.now()),
            rechecks=checks(rec, actions),
        ))  # fmt: skip

    def approve(self, incident_id: str, rec_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        found, rec = self._found(v, incident_id, rec_id)
        _only_csrf()
        try:
            decided = self.ops.approve(v.caller, found.incident.id, rec)
        except REFUSALS as exc:
            v.session.say(f"Not approved: {exc.detail}")
        else:
            told = f" — {decided.outcome.detail}" if decided.outcome is not None else ""
            v.session.say(f"Recommendation {rec} {decided.status}: {decided.detail}{told}")
        log.info("dashboard.approve", token=v.caller.name, incident_id=found.incident.id,
                 recommendation_id=rec)  # fmt: skip
        return redirect(f"{v.base}/incidents/{found.incident.id}#recommendations", 303)

    def reject(self, incident_id: str, rec_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        found, rec = self._found(v, incident_id, rec_id)
        note = _note(required=False)
        try:
            decided = self.ops.reject(v.caller, found.incident.id, rec, note=note)
        except REFUSALS as exc:
            v.session.say(f"Not rejected: {exc.detail}")
        else:
            v.session.say(f"Recommendation {rec} {decided.status}: {decided.detail}")
        return redirect(f"{v.base}/incidents/{found.incident.id}#recommendations", 303)

    def resolve(self, incident_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        number = parse_id(incident_id, "incident")
        self.ops.incident(v.reader, number)  # visible on this page's scope, or a 404
        note = _note(required=True)
        try:
            self.ops.change_status(v.caller, number, IncidentStatus.RESOLVED, note)
        except REFUSALS as exc:
            v.session.say(f"Not resolved: {exc.detail}")
        else:
            v.session.say(f"Incident {number} resolved.")
        return redirect(f"{v.base}/incidents/{number}", 303)

    def _found(self, v: Viewer, incident_id: str, rec_id: str) -> tuple[IncidentDetail, int]:
        found = self.ops.incident(v.reader, parse_id(incident_id, "incident"))
        rec = parse_id(rec_id, "recommendation")
        if all(r.id != rec for r in found.recommendations):
            raise NotFound(f"no recommendation {rec} on incident {found.incident.id}")
        return found, rec


def _verifications(events: list[AuditEvent]) -> dict[int, dict[str, Any]]:
    """Each recorded action's ``action.executed`` facts (status, detail, duration, commands),
    by the action row's id: the result event comes just before the row is recorded."""
    last: dict[str, dict[str, Any]] = {}
    found: dict[int, dict[str, Any]] = {}
    for event in events:
        action = event.data.get("action")
        if event.kind in ("action.executed", "action.shadowed", "action.refused"):
            last[str(action)] = {"kind": event.kind, **event.data}
        elif (
            event.kind == "action.recorded"
            and isinstance(event.data.get("id"), int)
            and str(action) in last
        ):
            found[event.data["id"]] = last.pop(str(action))
    return found


def _only_csrf() -> None:
    extra = sorted(set(request.form) - {"csrf"})
    if extra:
        raise InvalidRequest(f"approving takes no fields (got {extra[0][:40]!r})", "unknown_field")


def _note(*, required: bool) -> str | None:
    extra = sorted(set(request.form) - {"csrf", "note"})
    if extra:
        raise InvalidRequest(f"unknown field {extra[0][:40]!r}", "unknown_field")
    note = request.form.get("note", "").strip()
    if len(note) > MAX_TEXT:
        raise InvalidRequest(f"the note is longer than {MAX_TEXT} characters", "invalid_note")
    if required and not note:
        raise InvalidRequest("resolving needs a note: what was done", "note_required")
    return note or None
