"""Customer impact, from the latest readings: is anyone outside noticing?

Assessed on every change to an incident and stored with it; the decision
summary's second line reads it, and so will customer status messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from calmopsd.shapes import CheckResult, LogsValues, Windows


@dataclass(frozen=True)
class ImpactLevels:
    """Where errors and upload failures start to count as customer impact."""

    server_errors_per_min: float = 10
    upload_failure_rate: float = 0.1


@dataclass(frozen=True)
class Impact:
    health_failing: tuple[str, ...] = ()  # names of failing health checks
    server_errors_per_min: float | None = None
    upload_failure_rate: float | None = None
    uploads: int | None = None
    server_errors_high: bool = False
    uploads_failing: bool = False
    organizations: tuple[str, ...] = ()  # whose own traffic shows errors or failed uploads

    @property
    def seen(self) -> bool:
        return bool(self.health_failing or self.server_errors_high or self.uploads_failing)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seen": self.seen}

    def within(self, organization_id: str | None) -> Impact:
        """The impact as one organization's incident tells it: of the organizations
        affected, that one alone; another tenant's name is not its business. A
        platform-wide incident (None) names every one."""
        if organization_id is None:
            return self
        return replace(
            self, organizations=tuple(o for o in self.organizations if o == organization_id)
        )


def assess(
    checks: Mapping[str, CheckResult], logs: LogsValues, levels: ImpactLevels = ImpactLevels()
) -> Impact:
    """Impact from the latest ``http`` checks and ``logs`` windows."""
    failing = tuple(sorted(n for n, c in checks.items() if c.down))
    if not logs.sources:  # logs on but no source configured: zero is not "normal", it is unknown
        return Impact(health_failing=failing)
    errors = float(logs.platform.one_minute.server_errors_per_min)
    window = logs.platform.five_minutes
    rate = float(window.upload_failure_rate) if window.upload_failure_rate is not None else None
    orgs = logs.organizations
    affected = tuple(sorted(name for name, windows in orgs.items() if _hurt(windows, levels)))
    return Impact(
        health_failing=failing,
        server_errors_per_min=errors,
        upload_failure_rate=rate,
        uploads=window.uploads,
        server_errors_high=errors > levels.server_errors_per_min,
        uploads_failing=rate is not None and rate > levels.upload_failure_rate,
        organizations=affected,
    )


def _hurt(windows: Windows, levels: ImpactLevels) -> bool:
    """An organization is affected when its own 1-minute errors or 5-minute uploads fail."""
    errors = windows.one_minute.server_errors_per_min
    rate = windows.five_minutes.upload_failure_rate or 0
    return errors > 0 or rate > levels.upload_failure_rate
