"""Incidents as Alertmanager alerts: the labels that name one, the annotations that tell it.

Pure: an incident (and its recommendations) in, a frozen :class:`Alert` out.

Alertmanager identifies an alert by its label set, so the labels hold what names the
incident and routes it, and nothing that changes while it lasts:

- ``alertname`` is one name for every incident (:data:`ALERTNAME`); ``type`` says
  which kind, so a route matches one label instead of a list of names;
- ``host``, ``type``, ``severity`` route and group it;
- ``incident_id`` keeps two incidents of one type on one host two alerts (without it
  the second would overwrite the first, and resolving one would end both);
- ``organization`` only on an organization's incident: a platform incident has no such
  label (Alertmanager drops empty ones anyway, and ``organization=""`` matches the absence).

Status, headline, summary and the commands to approve change while the incident
lasts: they are annotations, so a change updates the alert instead of making another.
Severity and type may change too (escalation, reclassification): the forwarder then
ends the alert under the old labels (:meth:`Alert.ended`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from calmopsd.model import Incident, Recommendation, RecommendationStatus

ALERTNAME = "CalmopsdIncident"


@dataclass(frozen=True)
class Alert:
    """One alert as Alertmanager's ``POST /api/v2/alerts`` takes it.

    It fires until ``ends_at``: a firing alert's end is a little ahead of now, so it
    ends by itself if calmopsd stops posting; a resolved one's is its resolution.
    """

    incident_id: int
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime

    def ended(self, at: datetime) -> Alert:
        """This alert ending at ``at`` (never before it started: Alertmanager refuses that)."""
        return replace(self, ends_at=max(at, self.starts_at))

    def payload(self) -> dict[str, Any]:
        """The JSON object of the v2 API."""
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": _rfc3339(self.starts_at),
            "endsAt": _rfc3339(self.ends_at),
        }


def firing(
    incident: Incident,
    recommendations: Iterable[Recommendation],
    *,
    host: str,
    now: datetime,
    lifetime: timedelta,
) -> Alert:
    """The alert of an unresolved incident: firing until ``now + lifetime``."""
    ends_at = now + lifetime
    return Alert(
        incident_id=incident.id,
        labels=labels(incident, host),
        annotations=annotations_of(incident, recommendations),
        starts_at=min(incident.opened_at, ends_at),
        ends_at=ends_at,
    )


def resolved(incident: Incident, *, host: str, now: datetime) -> Alert:
    """The alert of a resolved incident, ended when it resolved (``now`` if that is unknown)."""
    alert = Alert(
        incident_id=incident.id,
        labels=labels(incident, host),
        annotations=annotations_of(incident, ()),
        starts_at=incident.opened_at,
        ends_at=incident.opened_at,
    )
    return alert.ended(incident.resolved_at or now)


def labels(incident: Incident, host: str) -> dict[str, str]:
    """The label set that identifies the incident's alert (see the module's docstring)."""
    named = {
        "alertname": ALERTNAME,
        "host": host,
        "incident_id": str(incident.id),
        "type": incident.type.value,
        "severity": incident.severity.value,
    }
    if incident.organization_id is not None:
        named["organization"] = incident.organization_id
    return named


def annotations_of(incident: Incident, recommendations: Iterable[Recommendation]) -> dict[str, str]:
    """What a person reads: the headline, the decision summary, the commands to go on with."""
    told = {
        "summary": incident.title,
        "description": incident.summary or incident.description or incident.title,
        "status": incident.status.value,
        "show": f"calmopsd show {incident.id}",
    }
    approve = [
        f"calmopsd approve {incident.id} {rec.id}"
        for rec in recommendations
        if rec.status is RecommendationStatus.PROPOSED
    ]
    if approve:
        told["approve"] = "\n".join(approve)
    return told


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
