"""Drafting: a customer message for each phase an incident customers can see goes
through — a consumer of the event log (cursor ``customer_messages``), never sent by
itself.

On each event of an incident, its impact as stored now (:mod:`calmopsd.customers.status`)
decides whether a draft is due for its phase: while customers are affected, one per
phase (investigating, identified, monitoring); after customers were told, a
monitoring and a resolved one too, so nobody is left reading "investigating". One per
phase and reopening (the key), so a redelivered event drafts nothing new. A draft a
later phase overtakes, still unapproved, is discarded by calmopsd: approving it would
post news that is no longer true.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from calmopsd.customers.channel import Channel, suggest
from calmopsd.customers.drafts import draft_text
from calmopsd.customers.status import Phase, customer_impact
from calmopsd.model import AGENT, AuditEvent, Incident
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.messages import (
    CustomerMessage,
    Draft,
    MessageStatus,
    add_draft,
    discard_message,
    list_messages,
)
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.customers")

_TOLD = (MessageStatus.APPROVED, MessageStatus.SENT)


def draft_for(incident: Incident, earlier: list[CustomerMessage]) -> Draft | None:
    """The draft due for ``incident`` now, given its ``earlier`` messages (newest first);
    None when none is. Pure."""
    impact = customer_impact(incident)
    told = [m for m in earlier if m.status in _TOLD]
    if impact.affected:
        suggestion = suggest(impact)
        channel, audience, why = suggestion.channel, suggestion.organizations, suggestion.why
    elif told and impact.phase in (Phase.MONITORING, Phase.RESOLVED):
        last = told[0]  # the same people hear how it ended
        channel, audience = Channel(last.channel), last.audience
        why = f"customers were told of it in message {last.id}"
    else:
        return None
    if channel is Channel.NONE:
        return None
    # Who it is for is part of what it is: a fault first seen in one organization's
    # traffic that then takes the site down needs the status page, in the same phase.
    key = ":".join(
        (str(incident.id), str(incident.flaps), impact.phase.value, channel.value, *audience)
    )
    text = draft_text(
        incident.type,
        impact,
        audience="organization" if channel is Channel.ORGANIZATIONS else "platform",
    )
    return Draft(
        key=key, incident_id=incident.id, phase=impact.phase.value,
        component_status=impact.component.value, channel=channel.value,
        audience=tuple(audience), why=why, text=text,
    )  # fmt: skip


def drafting(database: Database) -> Callable[[AuditEvent], None]:
    """The handler for ``database``'s event log."""
    scope = Scope.platform()

    def consume(event: AuditEvent) -> None:
        if event.incident_id is None or event.kind.startswith(("message.", "notice.")):
            return
        incident = get_incident(database, scope, event.incident_id)
        if incident is None:
            return
        earlier = list_messages(database, scope, incident_id=incident.id)
        draft = draft_for(incident, earlier)
        if draft is None:
            # Nothing is due (customers no longer see it and were never told): a draft
            # left over says what is no longer true.
            _discard_drafts(database, earlier, event, "customers no longer see this incident")
            return
        if any(m.key == draft.key for m in earlier):
            _discard_drafts(database, [m for m in earlier if m.key != draft.key], event,
                            "a later draft says what is true now")  # fmt: skip
            return
        message_id = add_draft(database, draft, at=event.at)
        if message_id is None:
            return
        log.info("customers.drafted", incident_id=incident.id,
                 organization_id=incident.organization_id, message_id=message_id,
                 phase=draft.phase, channel=draft.channel)  # fmt: skip
        _discard_drafts(database, earlier, event, f"superseded by message {message_id}")

    return consume


def _discard_drafts(
    database: Database, messages: list[CustomerMessage], event: AuditEvent, note: str
) -> None:
    """Discard the unapproved drafts among ``messages`` (never one approved meanwhile)."""
    for stale in messages:
        if stale.status is MessageStatus.DRAFT:
            discard_message(database, Scope.platform(), stale.id, at=event.at, actor=AGENT,
                            note=note, only_draft=True)  # fmt: skip
