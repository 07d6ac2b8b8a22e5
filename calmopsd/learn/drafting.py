"""Drafting: a post-incident review for each incident that resolves — a consumer of the
event log (cursor ``reviews``), registered by the daemon (it reads the config in force
for the breached rule's ``for`` and ``clear_for``).

Follows ``incident.status_changed`` to ``resolved``, whoever resolved it. The review is
drafted from the incident's events up to that one, and the PM2, disk and dependency
snapshots from an hour before its first breach to its resolution, so a redelivered
event drafts the same review (and :func:`~calmopsd.record.reviews.save_draft` refuses
one from an event it already drafted from). One reopened and resolved again is
redrafted, keeping what a person edited.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from calmopsd.config import Config
from calmopsd.learn.advice import RuleTiming
from calmopsd.learn.clues import LOOKBACK
from calmopsd.learn.review import draft
from calmopsd.learn.timings import first_breach_at
from calmopsd.model import AuditEvent, HealthSnapshot, Incident
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.reviews import save_draft
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import snapshots_since

log = structlog.get_logger("calmopsd.learn")

PLATFORM = Scope.platform()
READ = ("pm2", "disk", "dependencies")  # the samplers the root-cause rows read


def reviewing(
    database: Database, config: Callable[[], Config] = Config
) -> Callable[[AuditEvent], None]:
    """The handler for ``database``'s event log; ``config``: the config in force."""

    def consume(event: AuditEvent) -> None:
        if event.kind != "incident.status_changed" or event.data.get("to") != "resolved":
            return
        if event.incident_id is None:
            return
        incident = get_incident(database, PLATFORM, event.incident_id)
        if incident is None:
            return
        events = [e for e in list_events(database, PLATFORM, incident_id=incident.id)
                  if e.seq <= event.seq]  # fmt: skip
        settings = config()
        review = draft(
            incident, events, _snapshots(database, incident, event),
            rule=_rule(settings, incident), deploy_window=settings.incidents.deploy_window,
        )  # fmt: skip
        if save_draft(database, review, at=event.at):
            log.info(
                "review.drafted", incident_id=incident.id,
                organization_id=incident.organization_id, cause=review.figures.get("cause"),
                upto_seq=review.seq,
            )  # fmt: skip

    return consume


def _snapshots(database: Database, incident: Incident, event: AuditEvent) -> list[HealthSnapshot]:
    since = (first_breach_at(incident.evidence) or incident.opened_at) - LOOKBACK
    # Read from ``since`` on; what came after the resolution is left out here (a review
    # drafted late, after a restart, reads more than it keeps).
    return [
        snapshot
        for sampler in READ
        for snapshot in snapshots_since(database, PLATFORM, sampler=sampler, since=since)
        if snapshot.taken_at <= event.at
    ]


def _rule(config: Config, incident: Incident) -> RuleTiming | None:
    evidence = incident.evidence
    breach = evidence.get("first_breach") or evidence.get("breach")
    name = breach.get("rule") if isinstance(breach, dict) else None
    rule = next((r for r in config.detection_rules() if r.name == name), None)
    return RuleTiming.of(rule) if rule is not None else None
