"""What the agent does on the clock alone: stale incidents, expired recommendations,
and following what a person decided on a recommendation meanwhile."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from calmopsd.detect import State
from calmopsd.model import (
    AGENT,
    MANUAL_FINGERPRINT,
    Incident,
    IncidentStatus,
    RecommendationStatus,
    Resolution,
)
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, list_incidents
from calmopsd.record.recommendations import (
    decide_recommendation,
    due_to_expire,
    get_recommendation,
)
from calmopsd.record.scope import Scope
from calmopsd.respond.lifecycle import check_transition
from calmopsd.respond.tracked import Tracked

if TYPE_CHECKING:
    from calmopsd.respond.agent import Agent


ACTOR = AGENT


def resolve_stale(agent: Agent, now: datetime) -> None:
    """No news of the problem for ``stale_after``: stale_resolved, not proof of recovery.

    News is a breach, or a reading that still shows one of its series in
    breach; a sampler that fell silent leaves its series firing with no news.
    """
    cutoff = now - agent.settings.stale_after
    for incident in list_incidents(agent.database, agent.scope, unresolved=True):
        if incident.fingerprint.startswith(MANUAL_FINGERPRINT):
            continue  # a person's incident: calmopsd's sensors carry no news of it either way
        tracked = agent.tracked.get(incident.id)
        if tracked is not None and any(
            agent.detector.state(*k) in (State.FIRING, State.CLEARING)
            and (agent.detector.last_seen(*k) or cutoff) > cutoff
            for k in tracked.series
        ):
            continue
        if (incident.last_breach_at or incident.opened_at) > cutoff:
            continue
        if tracked is not None:
            agent.resolve(tracked, Resolution.STALE_RESOLVED, now)
        else:
            _resolve_untracked(agent, incident, now)


def _resolve_untracked(agent: Agent, incident: Incident, now: datetime) -> None:
    check_transition(incident.status, IncidentStatus.RESOLVED)
    # Compare-and-set: a person's change first wins. Its journal line comes from the
    # event (calmopsd.follow.journal).
    change_status(
        agent.database,
        agent.scope,
        incident.id,
        expected=incident.status,
        new=IncidentStatus.RESOLVED,
        at=now,
        actor=ACTOR,
        resolution=Resolution.STALE_RESOLVED,
    )


def expire_recommendations(agent: Agent, now: datetime) -> None:
    for recommendation in due_to_expire(agent.database, agent.scope, now):
        expired = decide_recommendation(
            agent.database,
            agent.scope,
            recommendation.id,
            expected=RecommendationStatus.PROPOSED,
            new=RecommendationStatus.EXPIRED,
            at=now,
            actor=ACTOR,
            note="nobody approved or rejected it in time",
        )
        tracked = agent.tracked.get(recommendation.incident_id)
        if expired and tracked is not None and follow_decision(agent, tracked):
            agent.refresh(tracked, now)


_AFTER_DECISION = {
    RecommendationStatus.REJECTED: "a person's call: recommendation #{id} was rejected{who}; "
    "calmopsd keeps watching.",
    RecommendationStatus.APPROVED: "carry out recommendation #{id} (approved{who}) and "
    "resolve the incident once it holds.",
    RecommendationStatus.EXECUTED: "see that it holds: recommendation #{id} was carried out{who}.",
    RecommendationStatus.EXPIRED: "a person's call: recommendation #{id} expired unanswered; "
    "calmopsd keeps watching.",
}


def follow_decision(agent: Agent, tracked: Tracked) -> bool:
    """The recommendation the next step points at was decided since: say what follows.

    True when the next step changed (the summary is then rewritten).
    """
    recommendation_id = tracked.next_recommendation
    if recommendation_id is None:
        return False
    found = get_recommendation(agent.database, agent.scope, recommendation_id)
    if found is None or found.status is RecommendationStatus.PROPOSED:
        return False
    who = f" by {found.decided_by}" if found.decided_by and found.decided_by != ACTOR else ""
    tracked.next_recommendation = None
    tracked.next_step = _AFTER_DECISION[found.status].format(id=found.id, who=who)
    return True


def resolution_note(database: Database, scope: Scope, incident_id: int) -> str | None:
    """The note of the person who resolved the incident, if it was a person."""
    for event in reversed(list_events(database, scope, incident_id=incident_id)):
        if event.kind == "incident.status_changed" and event.data.get("to") == "resolved":
            note = event.data.get("note")
            return note if isinstance(note, str) and event.actor != ACTOR else None
    return None
