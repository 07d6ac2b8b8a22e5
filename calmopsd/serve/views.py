"""What each answer looks like as JSON (the API's bodies, and the CLI's ``--json``).

Times are ISO 8601 in UTC; ids are numbers; an incident's organization is
``null`` when it is platform-wide. Hashes of the audit chain are shown so a
reader can check a timeline against ``/api/ops/audit/verify``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calmopsd import runbook
from calmopsd.customers.channel import suggest
from calmopsd.customers.status import customer_impact
from calmopsd.model import ActionOutcome, AuditEvent, Incident, Reading, Recommendation
from calmopsd.record.actions import ActiveAction
from calmopsd.record.audit import Verdict
from calmopsd.respond.approvals import Decision
from calmopsd.serve.answers import Health, IncidentDetail, Page


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def incident(found: Incident, *, full: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": found.id,
        "organization": found.organization_id,
        "type": found.type.value,
        "severity": found.severity.value,
        "status": found.status.value,
        "title": found.title,
        "resolution": found.resolution,
        "opened_at": _time(found.opened_at),
        "updated_at": _time(found.updated_at),
        "resolved_at": _time(found.resolved_at),
        "flaps": found.flaps,
    }
    if full:
        shown |= {
            "fingerprint": found.fingerprint,
            "description": found.description,
            "summary": found.summary,
            "impact": found.impact,
            "customer_impact": _customers(found),
            "runbook": {
                "command": runbook.command(found.type.value),
                "page": runbook.page(found.type.value, found.organization_id),
            },
            "evidence": found.evidence,
            "last_breach_at": _time(found.last_breach_at),
        }
    return shown


def _customers(found: Incident) -> dict[str, Any]:
    """What customers see, in a status page's words, and where a message would go."""
    seen = customer_impact(found)
    suggestion = suggest(seen)
    return {
        **seen.as_dict(),
        "channel": {
            "suggested": suggestion.channel.value,
            "organizations": list(suggestion.organizations),
            "why": suggestion.why,
        },
    }


def page(found: Page) -> dict[str, Any]:
    return {
        "incidents": [incident(i) for i in found.incidents],
        "next_cursor": found.next_cursor,
    }


def event(found: AuditEvent, *, chain: bool = True) -> dict[str, Any]:
    """One timeline entry; ``chain`` adds its place in the global hash chain.

    An organization's caller gets no ``seq`` or ``hash``: both move with every
    other tenant's events, so they would tell how busy the others are.
    """
    shown: dict[str, Any] = {
        "at": _time(found.at),
        "kind": found.kind,
        "actor": found.actor,
        "data": found.data,
    }
    if chain:
        shown = {"seq": found.seq, **shown, "hash": found.hash}
    return shown


def recommendation(found: Recommendation) -> dict[str, Any]:
    return {
        "id": found.id,
        "incident_id": found.incident_id,
        "kind": found.kind,
        "action": found.action,
        "params": found.params,
        "rationale": found.rationale,
        "status": found.status.value,
        "created_at": _time(found.created_at),
        "expires_at": _time(found.expires_at),
        "decided_at": _time(found.decided_at),
        "decided_by": found.decided_by,
        "decision_note": found.decision_note,
    }


def detail(found: IncidentDetail, *, chain: bool = True) -> dict[str, Any]:
    return {
        "incident": incident(found.incident, full=True),
        "summary": found.incident.summary,
        "events": [event(e, chain=chain) for e in found.events],
        "actions": [
            {k: row[k] for k in ("id", "action", "params", "status", "requested_by",
                                 "requested_at", "finished_at", "outcome") if k in row}
            for row in found.actions
        ],
        "recommendations": [recommendation(r) for r in found.recommendations],
    }  # fmt: skip


def outcome(found: ActionOutcome | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"status": found.status.value, "detail": found.detail, "reason": found.reason}


def decision(found: Decision) -> dict[str, Any]:
    return {"status": found.status, "detail": found.detail, "outcome": outcome(found.outcome)}


def active(found: ActiveAction) -> dict[str, Any]:
    return {
        "id": found.id,
        "action": found.action,
        "target": found.target,
        "incident_id": found.incident_id,
        "organization": found.organization_id,
        "params": found.params,
        "started_at": _time(found.started_at),
        "expires_at": _time(found.expires_at),
    }


def reading(found: Reading) -> dict[str, Any]:
    return {
        "sampler": found.sampler,
        "taken_at": _time(found.taken_at),
        "ok": found.ok,
        "error": found.error,
        "values": found.values,
    }


def health(found: Health) -> dict[str, Any]:
    return {
        "checked": found.checked,
        "open_incidents": found.open_incidents,
        "by_severity": found.by_severity,
        "by_status": found.by_status,
        "readings": [reading(r) for r in found.readings],
    }


def verdict(found: Verdict) -> dict[str, Any]:
    return {
        "ok": found.ok,
        "verified": found.verified,
        "first_bad_seq": found.first_bad_seq,
        "reason": found.reason,
    }
