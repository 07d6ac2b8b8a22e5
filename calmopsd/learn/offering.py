"""Offering: when an incident opens (or reopens) and the reviews of its problem support a
playbook reorder (:mod:`calmopsd.learn.reorder`), it is proposed to a person as a
``playbook_order`` recommendation with its evidence and the YAML diff — a consumer of
the event log (cursor ``playbook_advice``), registered by the daemon for the playbook in
force. Never applied: approving it records the decision and nothing else. One per
incident: a redelivered event finds it there and offers nothing new.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from calmopsd.config import Config
from calmopsd.learn.reorder import reorder
from calmopsd.model import AGENT, AuditEvent
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.recommendations import add_recommendation, list_recommendations
from calmopsd.record.reviews import learnings_for
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.learn")

PLATFORM = Scope.platform()
KIND = "playbook_order"


def offering(
    database: Database, config: Callable[[], Config] = Config
) -> Callable[[AuditEvent], None]:
    """The handler for ``database``'s event log; ``config``: the config in force."""

    def consume(event: AuditEvent) -> None:
        if event.kind not in ("incident.opened", "incident.reopened") or event.incident_id is None:
            return
        incident = get_incident(database, PLATFORM, event.incident_id)
        if incident is None:
            return
        history = learnings_for(database, organization_id=incident.organization_id,
                                fingerprint=incident.fingerprint, before=incident.id)  # fmt: skip
        listed = [str(a) for a in getattr(config().playbook, incident.type.value)]
        offer = reorder(incident.type.value, listed, history)
        if offer is None:
            return
        earlier = list_recommendations(database, PLATFORM, incident.id)
        if any(r.kind == KIND for r in earlier):
            return
        rec_id = add_recommendation(
            database, PLATFORM, incident.id, kind=KIND, at=event.at, actor=AGENT,
            rationale=(f"Try {offer.proposed[0]} first for {offer.incident_type}: "
                       + " ".join(offer.evidence)
                       + " Approving records the decision only: apply the diff to "
                         "config/calmops.yaml yourself and reload."),
            params={"type": offer.incident_type, "current": list(offer.current),
                    "proposed": list(offer.proposed)},
            evidence={"reason": offer.reason.value, "history": [h.incident_id for h in history],
                      "diff": offer.diff},
        )  # fmt: skip
        log.info("review.reorder_offered", incident_id=incident.id,
                 organization_id=incident.organization_id, recommendation_id=rec_id,
                 proposed=list(offer.proposed))  # fmt: skip

    return consume
