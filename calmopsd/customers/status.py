"""Customer impact in status-page terms: is anyone outside affected, whom, how badly, and
which phase the incident is in — Statuspage's vocabulary, so an operator can post it as is.

Read from the incident as stored: its ``impact`` (what the latest readings showed
customers: health checks failing, server errors or upload failures over their levels,
which organizations' own traffic), its organization and its status. Pure.

- **Component status**: a failing health check is a *major outage* (the app does not
  answer its own check); server errors over their share, or at least half the uploads
  failing, a *partial outage*; fewer uploads failing, *degraded performance*; nothing
  customers can see, *operational*.
- **Phase**: open → *investigating*; stabilizing (an action is under way: the cause is
  known well enough to act on) → *identified*; monitoring → *monitoring*; resolved →
  *resolved*.
- **Audience**: an organization's incident, or a platform incident whose impact shows in
  some organizations' traffic only, is theirs alone; anything else seen is platform-wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from calmopsd.model import Incident, IncidentStatus

HALF = 0.5


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")


class Phase(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Audience(StrEnum):
    """Who customers affected are: everyone, some organizations, or nobody outside."""

    PLATFORM = "platform"
    ORGANIZATIONS = "organizations"
    INTERNAL = "internal"


_PHASES = {
    IncidentStatus.OPEN: Phase.INVESTIGATING,
    IncidentStatus.STABILIZING: Phase.IDENTIFIED,
    IncidentStatus.MONITORING: Phase.MONITORING,
    IncidentStatus.RESOLVED: Phase.RESOLVED,
}


@dataclass(frozen=True)
class Seen:
    """What the incident's stored impact says customers see."""

    health_failing: tuple[str, ...] = ()
    server_errors_high: bool = False
    uploads_failing: bool = False
    upload_failure_rate: float | None = None
    organizations: tuple[str, ...] = ()

    @classmethod
    def parse(cls, impact: Mapping[str, Any]) -> Seen:
        """From the stored ``impact`` JSON; whatever is missing or malformed is not seen."""
        rate = impact.get("upload_failure_rate")
        return cls(
            health_failing=_names(impact.get("health_failing")),
            server_errors_high=impact.get("server_errors_high") is True,
            uploads_failing=impact.get("uploads_failing") is True,
            upload_failure_rate=float(rate) if isinstance(rate, int | float) else None,
            organizations=_names(impact.get("organizations")),
        )

    @property
    def any(self) -> bool:
        return bool(self.health_failing or self.server_errors_high or self.uploads_failing)


@dataclass(frozen=True)
class CustomerImpact:
    """What customers see of one incident now."""

    affected: bool
    component: ComponentStatus
    phase: Phase
    audience: Audience
    organizations: tuple[str, ...]  # for Audience.ORGANIZATIONS: whose
    why: str  # one plain line for the operator

    def as_dict(self) -> dict[str, Any]:
        return {
            "affected": self.affected,
            "component_status": self.component.value,
            "phase": self.phase.value,
            "audience": self.audience.value,
            "organizations": list(self.organizations),
            "why": self.why,
        }

    @property
    def line(self) -> str:
        """How the summary's customer line begins: ``partial outage, investigating``."""
        if not self.affected:
            return "operational (internal only)"
        whose = (
            f" for {', '.join(self.organizations)}"
            if self.audience is Audience.ORGANIZATIONS
            else ""
        )
        return f"{self.component.words}{whose}, {self.phase.value}"


def phase_of(status: IncidentStatus) -> Phase:
    """The status page's phase of an incident in ``status``."""
    return _PHASES[status]


def customer_impact(incident: Incident) -> CustomerImpact:
    """The customer impact of ``incident`` as stored."""
    seen = Seen.parse(incident.impact or {})
    phase = _PHASES[incident.status]
    if incident.status is IncidentStatus.RESOLVED or not seen.any:
        why = "resolved" if incident.status is IncidentStatus.RESOLVED else _quiet(seen)
        return CustomerImpact(False, ComponentStatus.OPERATIONAL, phase, Audience.INTERNAL, (), why)
    component, why = _component(seen)
    whose: tuple[str, ...]
    if incident.organization_id is not None:
        audience, whose = Audience.ORGANIZATIONS, (incident.organization_id,)
    elif seen.organizations and not seen.health_failing and not seen.server_errors_high:
        audience, whose = Audience.ORGANIZATIONS, seen.organizations
    else:
        audience, whose = Audience.PLATFORM, ()
    return CustomerImpact(True, component, phase, audience, whose, why)


def _component(seen: Seen) -> tuple[ComponentStatus, str]:
    if seen.health_failing:
        return ComponentStatus.MAJOR_OUTAGE, "the app fails its health check"
    if seen.server_errors_high:
        return ComponentStatus.PARTIAL_OUTAGE, "server errors over their level"
    rate = seen.upload_failure_rate
    if rate is not None and rate >= HALF:
        return ComponentStatus.PARTIAL_OUTAGE, f"{rate:.0%} of uploads failing"
    shown = f"{rate:.0%} of uploads failing" if rate is not None else "uploads failing"
    return ComponentStatus.DEGRADED_PERFORMANCE, shown


def _quiet(seen: Seen) -> str:
    return "nothing customers can see in the latest readings"


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str))
