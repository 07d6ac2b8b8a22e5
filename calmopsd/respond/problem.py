"""Which problem a breach belongs to: its organization and its fingerprint.

A fingerprint is the incident type plus the resource, written from the
breach's labels (``disk:mount=/``, ``memory:app=api``, ``network:check=web``);
the ``organization`` label is not part of it but makes the incident that
organization's. A breach with no labels is the host's (``memory:host``) or,
for log rates, the platform's. Two rules on the same resource (a mount filling
up and a mount above 80 %) are one problem and so one incident.
"""

from __future__ import annotations

from dataclasses import dataclass

from calmopsd.model import Breach, IncidentType, Labels

HOST_SAMPLERS = frozenset({"memory", "disk"})


@dataclass(frozen=True)
class Problem:
    organization_id: str | None
    fingerprint: str
    resource: Labels  # the labels without the organization


def problem_of(breach: Breach, incident_type: IncidentType) -> Problem:
    """The problem ``breach`` is evidence of, once classified as ``incident_type``."""
    labels = dict(breach.labels)
    organization = labels.pop("organization", None)
    resource = tuple(sorted(labels.items()))
    if resource:
        where = ",".join(f"{k}={v}" for k, v in resource)
    else:
        where = "host" if breach.evidence.get("sampler") in HOST_SAMPLERS else "platform"
    return Problem(organization, f"{incident_type}:{where}", resource)
