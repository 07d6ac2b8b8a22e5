"""One incident's story from its audit chain: the action runs and the moments a person
reads in its review (detected, acted, verified, resolved). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calmopsd.model import AuditEvent

# How each safe action reads in a sentence, by its parameters.
_WORDS = {
    "pm2_restart": "restarting `{app}`",
    "nginx_reload": "reloading nginx",
    "pause_jobs": "pausing background jobs",
    "rate_limit_uploads": "rate-limiting uploads",
    "clear_temp": "clearing old temp uploads",
}


@dataclass(frozen=True)
class Run:
    """One action asked for on the incident, and what came of it.

    ``ineffective``: it worked by its own check, and the symptom came back soon after
    (the executor's ``action.ineffective``)."""

    seq: int
    at: datetime
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    status: str = ""
    detail: str = ""
    actor: str = ""
    ineffective: bool = False

    @property
    def held(self) -> bool:
        return self.status == "succeeded" and not self.ineffective


@dataclass(frozen=True)
class Moment:
    at: datetime
    text: str


def action_words(action: str, params: Mapping[str, Any]) -> str:
    """ "restarting `api`", "reloading nginx"…: an action as the review says it."""
    if action == "rate_limit_uploads" and params.get("organization"):
        return f"rate-limiting organization {params['organization']}'s uploads"
    try:
        return _WORDS[action].format(**params)
    except (KeyError, IndexError):
        return action.replace("_", " ")


def runs(events: Sequence[AuditEvent]) -> tuple[Run, ...]:
    """Every action the agent or a person asked for on the incident, oldest first, from
    its ``action.recorded`` events; marked ineffective by a later ``action.ineffective``."""
    found: list[Run] = []
    for event in events:
        if event.kind == "action.recorded":
            data, outcome = event.data, event.data.get("outcome")
            detail = outcome.get("detail") if isinstance(outcome, Mapping) else None
            params = data.get("params")
            found.append(Run(
                event.seq, event.at, str(data.get("action", "")),
                dict(params) if isinstance(params, Mapping) else {},
                str(data.get("status", "")), str(detail or ""),
                str(data.get("requested_by") or event.actor),
            ))  # fmt: skip
        elif event.kind == "action.ineffective":
            action = event.data.get("action")
            found = [
                Run(r.seq, r.at, r.action, r.params, r.status, r.detail, r.actor, True)
                if r.action == action and r.seq < event.seq and r.status == "succeeded"
                else r
                for r in found
            ]
    return tuple(found)


def moments(events: Sequence[AuditEvent], first_breach: datetime | None) -> tuple[Moment, ...]:
    """What a person reads in the timeline, oldest first."""
    told: list[Moment] = []
    if first_breach is not None:
        told.append(Moment(first_breach, "first bad reading of the breach that opened it"))
    for event in events:
        text = _moment(event)
        if text is not None:
            told.append(Moment(event.at, text))
    return tuple(sorted(told, key=lambda m: m.at))


def _moment(event: AuditEvent) -> str | None:
    data = event.data
    match event.kind:
        case "incident.opened":
            return f"detected: opened as {data.get('type')}, {data.get('severity')}"
        case "incident.classified" | "incident.reclassified":
            return f"classified {data.get('type')}: {data.get('detail')}"
        case "incident.escalated":
            return f"escalated: {data.get('reason') or data.get('severity')}"
        case "incident.held":
            return f"held back: {data.get('detail') or data.get('reason')}"
        case "action.recorded":
            words = action_words(str(data.get("action")), _mapping(data.get("params")))
            return f"acted: {words}, {data.get('status')} (by {data.get('requested_by')})"
        case "action.ineffective":
            return f"{data.get('action')} did not hold: the symptom came back"
        case "incident.status_changed":
            return _status_moment(data)
        case "incident.reopened":
            return f"reopened: {data.get('reason')}"
        case "recommendation.approved" | "recommendation.rejected":
            verb = event.kind.split(".")[1]
            return f"recommendation {data.get('id') or ''} {verb} by {event.actor}".replace(
                "  ", " "
            )
    return None


def _status_moment(data: Mapping[str, Any]) -> str | None:
    to = data.get("to")
    if to == "monitoring":
        return "verified: the action held its check; monitoring"
    if to == "resolved":
        return f"resolved ({data.get('resolution') or 'resolved'})"
    if to == "open" and data.get("from") == "monitoring":
        return "the breach went on while monitoring: open again"
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
