"""Recommendations end with their incident: once it resolves, what was still proposed is
``obsolete`` (a person approving it later would act on a problem that is over).

Follows ``incident.status_changed`` to ``resolved``, whoever resolved it (the agent,
a person through the API, the CLI on the store while no daemon ran: the follower
catches up at the next start). A ``playbook_order`` or ``alert_tuning`` recommendation
(a change of the config the history supports) outlives its incident and stays proposed.
Each recommendation moves by compare-and-set from
``proposed``, so a repeated delivery changes nothing and a recommendation approved
first stays approved. One reopened later gets fresh advice from the agent.
"""

from __future__ import annotations

from collections.abc import Callable

from calmopsd.model import AGENT, CONFIG_CHANGES, AuditEvent, RecommendationStatus
from calmopsd.record.database import Database
from calmopsd.record.recommendations import decide_recommendation, list_recommendations
from calmopsd.record.scope import Scope

NOTE = "its incident was resolved"


def obsolete_with_incident(database: Database) -> Callable[[AuditEvent], None]:
    """The handler for ``database``'s event log."""

    def consume(event: AuditEvent) -> None:
        if event.kind != "incident.status_changed" or event.data.get("to") != "resolved":
            return
        if event.incident_id is None:
            return
        scope = Scope.platform()
        for rec in list_recommendations(database, scope, event.incident_id):
            if rec.status is RecommendationStatus.PROPOSED and rec.kind not in CONFIG_CHANGES:
                decide_recommendation(
                    database, scope, rec.id, expected=RecommendationStatus.PROPOSED,
                    new=RecommendationStatus.OBSOLETE, at=event.at, actor=AGENT, note=NOTE,
                )  # fmt: skip

    return consume
