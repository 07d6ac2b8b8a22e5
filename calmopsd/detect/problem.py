"""Which problem a breach belongs to: its organization and its fingerprint (pure).

Here in detect, beside classification, because the agent (respond) and the backtest
(which replays breaches without the agent) must group breaches the same way.

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
from calmopsd.shapes import LogsValues, Windows

HOST_SAMPLERS = frozenset({"memory", "disk"})


@dataclass(frozen=True)
class Problem:
    organization_id: str | None
    fingerprint: str
    resource: Labels  # the labels without the organization


def problem_of(
    breach: Breach,
    incident_type: IncidentType,
    dominant: str | None = None,
    resource: Labels | None = None,
) -> Problem:
    """The problem ``breach`` is evidence of, once classified as ``incident_type``.

    ``dominant`` is the organization whose own traffic makes up the breach of a
    platform-wide log rate (see :func:`dominant_organization`); ``resource``, the
    one classification pointed at (a probe down is the problem behind the server
    errors, so both are one incident).
    """
    labels = dict(breach.labels)
    organization = labels.pop("organization", None) or dominant
    if resource is None:
        resource = tuple(sorted(labels.items()))
    if resource:
        where = ",".join(f"{k}={v}" for k, v in resource)
    else:
        where = "host" if breach.evidence.get("sampler") in HOST_SAMPLERS else "platform"
    return Problem(organization, f"{incident_type}:{where}", resource)


DOMINANT_SHARE = 0.9
# For a platform log metric, the count each organization's share is measured by.
_SHARE_OF = {"upload_failure_rate": "upload_failures", "server_error_rate": "server_errors"}


def dominant_organization(
    logs: LogsValues, breach: Breach, share: float = DOMINANT_SHARE
) -> str | None:
    """The one organization behind ≥ ``share`` (90 %) of a platform log breach, if any.

    A spike of server errors that all come from ``acme``'s requests is
    ``acme``'s incident (its own scope); one spread over several organizations,
    or from lines that name none, stays platform-wide.
    """
    metric = str(breach.evidence.get("metric", ""))
    if breach.evidence.get("sampler") != "logs":
        return None
    total = share_figure(logs, metric)
    if not total:
        return None
    shares = {org: share_figure(logs, metric, org) / total for org in logs.organizations}
    leaders = [org for org, part in shares.items() if part >= share]
    return leaders[0] if len(leaders) == 1 else None


def share_figure(logs: LogsValues, metric: str, organization: str | None = None) -> float:
    """The count a platform log metric is shared out by (``platform.5m.upload_failure_rate``:
    the 5 minutes' upload failures), for the platform or one organization; 0 for none."""
    parts = metric.split(".")
    if len(parts) != 3 or parts[0] != "platform":
        return 0.0
    width, name = parts[1], _SHARE_OF.get(parts[2], parts[2])
    windows = logs.platform if organization is None else logs.organizations.get(organization)
    return _figure(windows, width, name) if windows is not None else 0.0


def _figure(windows: Windows, width: str, name: str) -> float:
    """The figure a metric path names (``5m``, ``upload_failures``); 0 when there is none."""
    rates = windows.window(width)
    return float(rates.figure(name)) if rates is not None else 0.0


def resource_of(fingerprint: str) -> dict[str, str]:
    """The resource labels written in a fingerprint (``disk:mount=/`` → ``{"mount": "/"}``)."""
    where = fingerprint.split(":", 1)[-1]
    pairs = [part.split("=", 1) for part in where.split(",") if "=" in part]
    return {key: value for key, value in pairs}
