"""The incident page's customer messages, and the decisions taken on them: edit, approve,
discard.

Every message is found through the page's own scope first (a message of another
organization, or of another incident than the URL's, is a 404 page), then decided
through :class:`~calmopsd.serve.messages.Messages` with the signed-in caller — the same
role check, leak check and audit events as the API, the actor ``token:NAME``.

An approval posts the SHA-256 of the text the dialog showed, and an edit the SHA-256 of
the text it started from: words changed meanwhile (an edit in another tab, the CLI)
are a conflict, shown with the text as it is now, never approved or overwritten unread.
A decision that worked redirects to the incident (post/redirect/get: reloading never
approves twice); one refused — a leak, a conflict, a viewer — is a page of its own with
its status, saying why, with the message as it is now and, for an edit, the words the
person typed back in the form so nothing they wrote is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import structlog

from calmopsd.customers.courier import TITLES
from calmopsd.errors import Conflict, Forbidden, InvalidRequest, NotFound
from calmopsd.model import AuditEvent
from calmopsd.record.messages import (
    CustomerMessage,
    DeliveryStatus,
    MessageStatus,
    text_digest,
)
from calmopsd.serve.bodies import parse_id
from calmopsd.serve.dashboard.access import Viewer, viewer
from calmopsd.serve.dashboard.impact import channel_words
from calmopsd.serve.dashboard.pages import Pages
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.messages import MAX_NOTE, Messages, MessageView
from calmopsd.serve.operations import Operations
from calmopsd.serve.web import Response, redirect, request

log = structlog.get_logger("calmopsd.serve")

REFUSALS = (Conflict, Forbidden, InvalidRequest)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNDONE = (DeliveryStatus.SENT, DeliveryStatus.SENDING)
_VERBS = {"edit": "Not saved", "approve": "Not approved", "discard": "Not discarded"}


@dataclass(frozen=True)
class Card:
    """One message as the page shows it, with what this viewer may do to it."""

    view: MessageView
    title: str  # the title it is sent with: its phase's
    sha256: str  # of its text as shown: what an approval or an edit names
    channel: str  # in words: "the status page", "a message to acme only"
    channels: tuple[str, ...]  # the configured channels an approval sends it to now
    discard_note: str | None  # why it was discarded, from its audit event
    may_edit: bool
    may_approve: bool  # a draft whose text passes the leak check now
    may_discard: bool  # a draft, or approved with nothing sent or being sent

    @property
    def message(self) -> CustomerMessage:
        return self.view.message


class CustomerMessages:
    def __init__(self, operations: Operations, messages: Messages, pages: Pages):
        self.ops = operations
        self.messages = messages
        self.pages = pages

    def cards(self, v: Viewer, incident_id: int, events: list[AuditEvent]) -> list[Card]:
        """The incident's messages, newest first, as ``v`` may see and act on them."""
        notes = {
            e.data.get("message_id"): e.data.get("note")
            for e in events
            if e.kind == "message.discarded"
        }
        found = self.messages.list(v.reader, incident_id=incident_id)
        return [self._card(v, self.messages.show(v.reader, m.id), notes) for m in found]

    def confirm(self, incident_id: str, message_id: str, org: str | None = None) -> Response:
        """The confirmation as a page of its own, for a browser without the dialog's script."""
        v = viewer(org)
        decision = request.path.rsplit("/", 1)[-1]
        card = self._find(v, incident_id, message_id)
        return page("message_confirm.html", **self.pages.context(
            v, f"{decision.title()} message {card.message.id}", card=card, decision=decision,
            incident_id=card.message.incident_id,
        ))  # fmt: skip

    def edit(self, incident_id: str, message_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        card = self._find(v, incident_id, message_id)
        _fields({"text", "sha256"})
        # Browsers send a textarea's line breaks as CRLF; customers' texts hold plain \n.
        text = request.form.get("text", "").replace("\r\n", "\n").replace("\r", "\n")
        started_from = _sha256()
        if started_from is None:
            raise InvalidRequest("an edit names the text it started from: reload the page and "
                                 "edit again", "unread_edit")  # fmt: skip
        try:
            self.messages.edit(v.caller, card.message.id, text, started_from)
        except REFUSALS as exc:
            return self._refused(v, card, "edit", exc, typed=text)
        v.session.say(f"Message {card.message.id} edited: the new text passes the leak check.")
        log.info("dashboard.message_edited", token=v.caller.name, message_id=card.message.id)
        return self._back(v, card)

    def approve(self, incident_id: str, message_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        card = self._find(v, incident_id, message_id)
        _fields({"sha256"})
        seen = _sha256()
        if seen is None:
            raise InvalidRequest("approving names the text you read: reload the page and "
                                 "confirm again", "unread_approval")  # fmt: skip
        try:
            done = self.messages.approve(v.caller, card.message.id, None, seen)
        except REFUSALS as exc:
            return self._refused(v, card, "approve", exc)
        where = ", ".join(d.channel_name for d in done.deliveries)
        v.session.say(f"Message {card.message.id} approved: " + (
            f"it goes to {where}." if where else "no channel configured: post it by hand."
        ))  # fmt: skip
        log.info("dashboard.message_approved", token=v.caller.name, message_id=card.message.id)
        return self._back(v, card)

    def discard(self, incident_id: str, message_id: str, org: str | None = None) -> Response:
        v = viewer(org)
        card = self._find(v, incident_id, message_id)
        _fields({"note"})
        note = request.form.get("note", "").strip()
        if len(note) > MAX_NOTE:
            raise InvalidRequest(f"the note is longer than {MAX_NOTE} characters", "invalid_note")
        try:
            self.messages.discard(v.caller, card.message.id, note or None)
        except REFUSALS as exc:
            return self._refused(v, card, "discard", exc)
        v.session.say(f"Message {card.message.id} discarded: it will not be sent.")
        log.info("dashboard.message_discarded", token=v.caller.name, message_id=card.message.id)
        return self._back(v, card)

    def _find(self, v: Viewer, incident_id: str, message_id: str) -> Card:
        """The message, if it is of this incident and the page's scope sees both."""
        found = self.ops.incident(v.reader, parse_id(incident_id, "incident"))
        number = parse_id(message_id, "message")
        shown = self.messages.show(v.reader, number)
        if shown.message.incident_id != found.incident.id:
            raise NotFound(f"no message {number} on incident {found.incident.id}")
        return self._card(v, shown, {})

    def _card(self, v: Viewer, shown: MessageView, notes: dict[Any, Any]) -> Card:
        m = shown.message
        draft = m.status is MessageStatus.DRAFT
        acts = v.caller.may_act
        unsent = m.status is MessageStatus.APPROVED and all(
            d.status not in _UNDONE for d in shown.deliveries
        )
        channels = self.messages.rules().channels(m.channel, m.audience)
        note = notes.get(m.id)
        return Card(
            view=shown, title=TITLES.get(m.phase, m.phase), sha256=text_digest(m.text),
            channel=channel_words(m.channel, m.audience), channels=tuple(channels),
            discard_note=note if isinstance(note, str) else None,
            may_edit=acts and draft, may_approve=acts and draft and shown.leaks is None,
            may_discard=acts and (draft or unsent),
        )  # fmt: skip

    def _refused(
        self, v: Viewer, card: Card, decision: str, exc: InvalidRequest | Conflict | Forbidden,
        typed: str | None = None,
    ) -> Response:  # fmt: skip
        log.info("dashboard.message_refused", token=v.caller.name, message_id=card.message.id,
                 decision=decision, code=exc.code)  # fmt: skip
        now = self._card(v, self.messages.show(v.reader, card.message.id), {})
        return page("message_refused.html", exc.status, **self.pages.context(
            v, _VERBS[decision], card=now, decision=decision, detail=exc.detail, typed=typed,
            incident_id=now.message.incident_id,
        ))  # fmt: skip

    def _back(self, v: Viewer, card: Card) -> Response:
        return redirect(f"{v.base}/incidents/{card.message.incident_id}#message-"
                        f"{card.message.id}", 303)  # fmt: skip


def _fields(allowed: set[str]) -> None:
    extra = sorted(set(request.form) - {"csrf", *allowed})
    if extra:
        raise InvalidRequest(f"unknown field {extra[0][:40]!r}", "unknown_field")


def _sha256() -> str | None:
    """The form's ``sha256``: None when absent; a 400 when it is not one."""
    sent = request.form.get("sha256")
    if sent is None:
        return None
    if not _SHA256.fullmatch(sent):
        raise InvalidRequest("sha256 must be 64 lowercase hex digits", "invalid_sha256")
    return sent
