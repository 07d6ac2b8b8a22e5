"""A person changed an incident, or decided the recommendation its next step points
at: the agent follows, and its summary says what is."""

from __future__ import annotations

from datetime import datetime

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.model import (
    Incident,
    IncidentStatus,
    Recommendation,
    RecommendationStatus,
)
from calmopsd.respond.decide.facts import (
    ACTOR,
)
from calmopsd.respond.decision import (
    Decision,
    Effect,
    Note,
    Summarize,
    Untrack,
    Why,
)
from calmopsd.respond.tracked import Tracked

AFTER_DECISION = {
    RecommendationStatus.REJECTED: "a person's call: recommendation #{id} was rejected{who}; "
    "calmopsd keeps watching.",
    RecommendationStatus.APPROVED: "carry out recommendation #{id} (approved{who}) and "
    "resolve the incident once it holds.",
    RecommendationStatus.EXECUTED: "see that it holds: recommendation #{id} was carried out{who}.",
    RecommendationStatus.EXPIRED: "a person's call: recommendation #{id} expired unanswered; "
    "calmopsd keeps watching.",
    RecommendationStatus.OBSOLETE: "recommendation #{id} ended with the incident.",
}


def follow_decision(
    tracked: Tracked,
    stored: Incident | None,
    recommendation: Recommendation | None,
    *,
    resolution_note: str | None,
    settings: IncidentsConfig,
    now: datetime,
) -> Decision:
    """A person changed the incident (``stored``) or decided the recommendation its next
    step points at: follow it, and rewrite the summary where it no longer says what is."""
    incident_id = tracked.incident.id
    if stored is None:
        return Decision(Why.GONE, (Untrack(incident_id, forget=True),))
    effects: list[Effect] = [Note(incident_id, {"incident": stored})]
    # Against what the summary was written from: a change landing while it was being
    # written is still seen.
    moved = (stored.status, stored.severity) != tracked.summarized
    decided = recommendation_followed(tracked, recommendation)
    effects += decided
    if stored.status is IncidentStatus.RESOLVED:
        quiet = {
            "clearing_since": None,
            "monitor_until": None,
            "next_step": None,
            "next_recommendation": None,
            "resolution_note": resolution_note,
        }
        effects += [Note(incident_id, quiet), Summarize(incident_id)]
        return Decision(Why.PERSON_RESOLVED, (*effects, Untrack(incident_id, forget=True)))
    why = Why.PERSON_CHANGED if moved else Why.RECOMMENDATION_DECIDED if decided else None
    watched = tracked.summarized is not None and tracked.summarized[0] == stored.status
    if stored.status is IncidentStatus.MONITORING and not (watched and tracked.monitor_until):
        effects.append(Note(incident_id, {"monitor_until": now + settings.monitor_for}))
        why = Why.PERSON_WATCHES
    if moved or decided:
        effects.append(Summarize(incident_id))
    return Decision(why or Why.NOTHING_NEW, tuple(effects))


def recommendation_followed(
    tracked: Tracked, recommendation: Recommendation | None
) -> list[Effect]:
    """The recommendation the next step points at was decided since: say what follows."""
    if recommendation is None or recommendation.id != tracked.next_recommendation:
        return []  # not the one the next step points at (an older one expiring, say)
    if recommendation.status is RecommendationStatus.PROPOSED:
        return []
    by = recommendation.decided_by
    who = f" by {by}" if by and by != ACTOR else ""
    next_step = AFTER_DECISION[recommendation.status].format(id=recommendation.id, who=who)
    return [Note(tracked.incident.id, {"next_recommendation": None, "next_step": next_step})]
