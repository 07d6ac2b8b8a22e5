"""What the agent knew of an incident, rebuilt from the store after a restart or reload.

The summary is written from :class:`~calmopsd.respond.tracked.Tracked`, which lives in
memory; everything in it that the summary tells and the decisions read is also in
the event log or the incident's rows, and is read back from there: what was done
and tried (the action rows), why it opened (the classification), how long it is
watched (when it went to monitoring), what was held back and why (the last
``incident.held``), which advice it was given (the recommendations, so none is asked
twice) and the next step (the newest recommendation and how it was decided).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.model import (
    AuditEvent,
    Incident,
    IncidentStatus,
    Recommendation,
    RecommendationStatus,
)
from calmopsd.respond.decide.breach import PLAIN_BASES
from calmopsd.respond.decide.facts import ACTOR
from calmopsd.respond.decide.people import AFTER_DECISION
from calmopsd.respond.decide.stabilizing import HOLD_WORDS
from calmopsd.respond.playbook import HoldReason
from calmopsd.respond.summary import Done, clip


def remembered(
    incident: Incident,
    events: Sequence[AuditEvent],
    done: Sequence[Done],
    advice: Sequence[Recommendation],
    settings: IncidentsConfig,
) -> dict[str, Any]:
    """The :class:`~calmopsd.respond.tracked.Tracked` fields the store can tell."""
    kept: dict[str, Any] = {
        "done": list(done),
        "tried": {d.action for d in done},
        "cause": _cause(incident),
        "proposed": {(r.kind, r.action, r.rationale) for r in advice},
    }
    watched_since = _watched_since(incident, events)
    if watched_since is not None:
        kept["monitor_until"] = watched_since + settings.monitor_for
    held = _held(events)
    if held is not None:
        kept["not_done"] = held
    kept.update(_next_step(advice, events))
    return kept


def _cause(incident: Incident) -> str | None:
    decided = incident.evidence.get("classification")
    if not isinstance(decided, dict) or decided.get("basis") in PLAIN_BASES:
        return None
    detail = decided.get("detail")
    return detail if isinstance(detail, str) and detail else None


def _watched_since(incident: Incident, events: Sequence[AuditEvent]) -> datetime | None:
    if incident.status is not IncidentStatus.MONITORING:
        return None
    moved = [
        e
        for e in events
        if e.kind == "incident.status_changed" and e.data.get("to") == "monitoring"
    ]
    return moved[-1].at if moved else None


def _held(events: Sequence[AuditEvent]) -> str | None:
    """What the last hold said, unless an action was requested after it."""
    for event in reversed(events):
        if event.kind == "action.requested":
            return None
        if event.kind == "incident.held":
            try:
                reason = HoldReason(str(event.data.get("reason")))
            except ValueError:
                return None
            return HOLD_WORDS[reason].format(detail=event.data.get("detail") or "")
    return None


def _next_step(advice: Sequence[Recommendation], events: Sequence[AuditEvent]) -> dict[str, Any]:
    """The next step as the summary last said it: the newest recommendation, in the
    words it was proposed with (or its rationale, for one stored before they were kept),
    or what followed its decision."""
    if not advice:
        return {}
    newest = max(advice, key=lambda r: r.id)
    if newest.status is RecommendationStatus.PROPOSED:
        said = next(
            (
                e.data.get("next_step")
                for e in events
                if e.kind == "recommendation.proposed" and e.data.get("id") == newest.id
            ),
            None,
        )
        words = said if isinstance(said, str) and said else clip(newest.rationale, 120)
        return {
            "next_step": f"{words} (recommendation #{newest.id}).",
            "next_recommendation": newest.id,
        }
    by = newest.decided_by
    who = f" by {by}" if by and by != ACTOR else ""
    return {"next_step": AFTER_DECISION[newest.status].format(id=newest.id, who=who)}
