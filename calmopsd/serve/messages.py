"""Customer messages as the API and the CLI work on them: list, show, edit, approve, discard.

Every call goes through the caller's scope (an organization's token sees and decides
only messages about its own organization's incidents; a platform message is a
super-admin's), acting needs an operator, and every text that could go to customers
passes the leak check first — an edit that names something internal changes
nothing and says which part failed; so does an approval of a draft that does. An
approval names the text the person saw: if the draft changed meanwhile (an edit, a
racing approval) it is a conflict, never an approval of words nobody read.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from calmopsd.clock import Clock
from calmopsd.config import Config
from calmopsd.customers.courier import channels_for
from calmopsd.customers.leaks import Known, find_leaks, leak_report
from calmopsd.customers.status import phase_of
from calmopsd.errors import Conflict, Forbidden, InvalidRequest, NotFound
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.messages import (
    CustomerMessage,
    MessageDelivery,
    MessageStatus,
    approve_message,
    discard_message,
    edit_message,
    get_message,
    list_deliveries,
    list_messages,
    text_digest,
)
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import latest_snapshots
from calmopsd.serve.tokens import Caller
from calmopsd.shapes import Pm2Values

MAX_MESSAGE = 1000
MAX_NOTE = 2000


@dataclass(frozen=True)
class MessageRules:
    """What the daemon's config says about customer messages, for one call."""

    # (channel, audience) → the configured channel names a message goes to
    channels: Callable[[str, tuple[str, ...]], Sequence[str]]
    # (text, the message's organization) → why it leaks something internal, or None
    leaks: Callable[[str, str | None], str | None]


@dataclass(frozen=True)
class MessageView:
    message: CustomerMessage
    deliveries: list[MessageDelivery]
    leaks: str | None  # what the leak check says of its text now


class Messages:
    def __init__(self, database: Database, clock: Clock, rules: Callable[[], MessageRules]):
        self.database = database
        self.clock = clock
        self.rules = rules

    def list(
        self, caller: Caller, *, incident_id: int | None = None, status: str | None = None
    ) -> list[CustomerMessage]:
        wanted = None
        if status is not None:
            try:
                wanted = MessageStatus(status)
            except ValueError:
                known = ", ".join(s.value for s in MessageStatus)
                raise InvalidRequest(f"status must be one of {known}", "invalid_status") from None
        return list_messages(self.database, caller.scope, incident_id=incident_id, status=wanted)

    def show(self, caller: Caller, message_id: int) -> MessageView:
        message = self._visible(caller, message_id)
        rules = self.rules()
        return MessageView(
            message,
            list_deliveries(self.database, message.id),
            rules.leaks(message.text, message.organization_id),
        )

    def edit(
        self, caller: Caller, message_id: int, text: str, seen_sha256: str | None = None
    ) -> MessageView:
        """Replace a draft's text; with ``seen_sha256`` (the SHA-256 of the text the editor
        started from, as the dashboard's form carries it) an edit made meanwhile by someone
        else is a conflict, never overwritten unread."""
        message = self._visible(caller, message_id)
        _must_act(caller)
        text = _clean(text)
        refusal = self.rules().leaks(text, message.organization_id)
        if refusal is not None:
            raise InvalidRequest(f"the text is not customer-safe: {refusal}", "leaks_internal")
        if message.status is not MessageStatus.DRAFT:
            raise Conflict(f"message {message.id} is {message.status}: only a draft is edited")
        if not edit_message(self.database, caller.scope, message.id, text=text,
                            at=self.clock.now(), actor=caller.actor,
                            expected_sha256=seen_sha256):  # fmt: skip
            raise Conflict(
                f"message {message.id} changed since it was read (edited, approved or "
                "discarded): read it again"
            )
        return self.show(caller, message.id)

    def approve(
        self,
        caller: Caller,
        message_id: int,
        seen_text: str | None,
        seen_sha256: str | None = None,
    ) -> MessageView:
        """Approve the draft as the caller read it: its text (``seen_text``) or that text's
        SHA-256 (``seen_sha256``, as ``show`` gives it); one of the two is required, so an
        edit made after the caller read it is never approved unread."""
        message = self._visible(caller, message_id)
        _must_act(caller)
        if seen_text is None and seen_sha256 is None:
            raise InvalidRequest(
                "say what you approve: the text you read, or its sha256 (as shown)",
                "unread_approval",
            )
        if message.status is not MessageStatus.DRAFT:
            raise Conflict(f"message {message.id} is {message.status}, not a draft")
        incident = get_incident(self.database, caller.scope, message.incident_id)
        if incident is None or phase_of(incident.status) != message.phase:
            now = "gone" if incident is None else phase_of(incident.status).value
            raise Conflict(
                f"message {message.id} is for the {message.phase} phase, and the incident is "
                f"{now} now: it would tell customers what is no longer true"
            )
        if seen_sha256 is not None and seen_sha256 != text_digest(message.text):
            raise Conflict(f"message {message.id} changed since it was read: read it again")
        text = message.text if seen_text is None else seen_text
        rules = self.rules()
        refusal = rules.leaks(text, message.organization_id)
        if refusal is not None:
            raise InvalidRequest(
                f"the text is not customer-safe: {refusal}; edit it first", "leaks_internal"
            )
        channels = list(rules.channels(message.channel, message.audience))
        if not approve_message(self.database, caller.scope, message.id, text=text,
                               channels=channels, at=self.clock.now(),
                               actor=caller.actor):  # fmt: skip
            raise Conflict(
                f"message {message.id} changed since it was read (edited, approved or "
                "discarded): read it again"
            )
        return self.show(caller, message.id)

    def discard(self, caller: Caller, message_id: int, note: str | None) -> MessageView:
        message = self._visible(caller, message_id)
        _must_act(caller)
        if note is not None and len(note) > MAX_NOTE:
            raise InvalidRequest(f"note is longer than {MAX_NOTE} characters", "invalid_note")
        if not discard_message(self.database, caller.scope, message.id, at=self.clock.now(),
                               actor=caller.actor, note=note):  # fmt: skip
            raise Conflict(f"message {message.id} is {message.status}: it cannot be discarded")
        return self.show(caller, message.id)

    def _visible(self, caller: Caller, message_id: int) -> CustomerMessage:
        message = get_message(self.database, caller.scope, message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        return message


def _must_act(caller: Caller) -> None:
    if not caller.may_act:
        raise Forbidden(f"token {caller.name!r} is a viewer: it may read, not act")


def _clean(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidRequest("text must not be empty", "invalid_text")
    if len(text) > MAX_MESSAGE:
        raise InvalidRequest(f"text is longer than {MAX_MESSAGE} characters", "invalid_text")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c != "\n" for c in text):
        raise InvalidRequest("text must not contain control characters", "invalid_text")
    return text


def message_rules(
    config: Config, database: Database, served: Callable[[], Iterable[str]] = tuple
) -> MessageRules:
    """The rules of ``config``: its channels, and the leak check with every internal name
    it and the store know (PM2's apps as last read, every organization seen) and those
    ``served()`` says nginx serves (:class:`calmopsd.customers.served.ServedNames`)."""

    def leaks(text: str, organization_id: str | None) -> str | None:
        known = Known.from_config(
            config,
            apps=_apps_last_read(database),
            organizations=_organizations(config, database),
            hostnames=served(),
            own_organization=organization_id,
        )
        found = find_leaks(text, known)
        return leak_report(found) if found else None

    def channels(channel: str, audience: tuple[str, ...]) -> list[str]:
        return [c.name for c in channels_for(config.customers, channel, audience)]

    return MessageRules(channels=channels, leaks=leaks)


def _apps_last_read(database: Database) -> list[str]:
    for snapshot in latest_snapshots(database, Scope.platform()):
        if snapshot.sampler == "pm2":
            return sorted(Pm2Values.parse(snapshot.readings).apps)
    return []


def _organizations(config: Config, database: Database) -> list[str]:
    """Every organization calmopsd knows of: its incidents', and the config's."""
    with database.read() as db:
        rows = db.execute(
            "SELECT DISTINCT organization_id FROM incidents WHERE organization_id IS NOT NULL"
        ).fetchall()
    named = {str(row[0]) for row in rows}
    named.update(t.organization for t in config.api.tokens if t.organization)
    named.update(t.organization for t in config.notify.targets if t.organization)
    named.update(c.organization for c in config.customers.channels if c.organization)
    return sorted(named)
