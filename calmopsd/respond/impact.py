"""Customer impact, from the latest readings: is anyone outside noticing?

Assessed on every change to an incident and stored with it; the decision
summary's second line reads it, and so will customer status messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from calmopsd.shapes import CheckResult, LogsValues, Rates, Windows


@dataclass(frozen=True)
class ImpactLevels:
    """Where errors and upload failures start to count as customer impact.

    Server errors count as a share of requests, as the shipped rule judges them: a
    busy host's normal trickle of errors is no impact. ``server_errors_per_min`` is
    for a reading that carries no share (one stored before shares were read).
    """

    server_error_rate: float = 0.05
    min_requests: int = 100  # the platform's minute is judged over at least this many
    upload_failure_rate: float = 0.1
    server_errors_per_min: float = 10
    # An organization's own minute is judged over at least this many of its requests.
    organization_min_requests: int = 10


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


def assess(
    checks: Mapping[str, CheckResult],
    logs: LogsValues,
    levels: ImpactLevels = ImpactLevels(),
    organization_id: str | None = None,
) -> Impact:
    """Impact from the latest ``http`` checks and ``logs`` windows: the platform's, or with
    ``organization_id`` the impact as that organization's incident tells it, from its own
    traffic alone (another tenant's name and the host's totals are not its business)."""
    failing = tuple(sorted(n for n, c in checks.items() if c.down))
    if not logs.sources:  # logs on but no source configured: zero is not "normal", it is unknown
        return Impact(health_failing=failing)
    if organization_id is not None:
        return _of_organization(failing, logs, organization_id, levels)
    minute = logs.platform.one_minute
    errors = float(minute.server_errors_per_min)
    window = logs.platform.five_minutes
    rate = float(window.upload_failure_rate) if window.upload_failure_rate is not None else None
    orgs = logs.organizations
    affected = tuple(sorted(name for name, windows in orgs.items() if _hurt(windows, levels)))
    return Impact(
        health_failing=failing,
        server_errors_per_min=errors,
        upload_failure_rate=rate,
        uploads=window.uploads,
        server_errors_high=_errors_high(minute, levels.min_requests, levels),
        uploads_failing=rate is not None and rate > levels.upload_failure_rate,
        organizations=affected,
    )


def _of_organization(
    failing: tuple[str, ...], logs: LogsValues, organization_id: str, levels: ImpactLevels
) -> Impact:
    windows = logs.organizations.get(organization_id, Windows())  # no line of it: none failed
    minute, window = windows.one_minute, windows.five_minutes
    rate = float(window.upload_failure_rate) if window.upload_failure_rate is not None else None
    return Impact(
        health_failing=failing,  # the host's checks: its customers are everyone's
        server_errors_per_min=float(minute.server_errors_per_min),
        upload_failure_rate=rate,
        uploads=window.uploads,
        server_errors_high=_errors_high(minute, levels.organization_min_requests, levels),
        uploads_failing=rate is not None and rate > levels.upload_failure_rate,
        organizations=(organization_id,) if _hurt(windows, levels) else (),
    )


def _errors_high(minute: Rates, min_requests: int, levels: ImpactLevels) -> bool:
    """Server errors over the impact share of enough requests (or, for a reading that
    carries no share, over the per-minute count)."""
    if minute.server_error_rate is None:
        return minute.server_errors_per_min > levels.server_errors_per_min
    return minute.requests >= min_requests and minute.server_error_rate > levels.server_error_rate


def _hurt(windows: Windows, levels: ImpactLevels) -> bool:
    """An organization is affected when its own minute's share of server errors, or its
    5-minute upload failures, pass the levels (one stray error of many is not)."""
    errors = _errors_high(windows.one_minute, levels.organization_min_requests, levels)
    rate = windows.five_minutes.upload_failure_rate or 0
    return errors or rate > levels.upload_failure_rate
