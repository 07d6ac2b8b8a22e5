"""Customer impact from the latest readings: shares of requests, not counts."""

from __future__ import annotations

from typing import Any

import pytest

from calmopsd.respond.impact import ImpactLevels, assess
from calmopsd.shapes import LogsValues

LEVELS = ImpactLevels(server_error_rate=0.05, min_requests=100, upload_failure_rate=0.1)


def minute(requests: int, errors: int, *, share: bool = True) -> dict[str, Any]:
    said: dict[str, Any] = {
        "requests": requests,
        "requests_per_min": float(requests),
        "server_errors": errors,
        "server_errors_per_min": float(errors),
    }
    if share:
        said["server_error_rate"] = errors / requests if requests else None
    return {"1m": said, "5m": {"uploads": 0, "upload_failures": 0}}


def logs(platform: dict[str, Any], **organizations: dict[str, Any]) -> LogsValues:
    return LogsValues.parse(
        {"sources": {"web": platform}, "platform": platform, "organizations": organizations}
    )


@pytest.mark.parametrize(
    ("platform", "high"),
    [
        (minute(1200, 6), False),  # a busy host's 0.5 %: 6 errors a minute, no impact
        (minute(1200, 240), True),  # 20 %
        (minute(40, 10), False),  # 25 % of too few requests to judge
        (minute(100, 6), True),  # 6 % of exactly the minimum
        (minute(0, 0), False),
        (minute(1200, 12, share=False), True),  # an old reading: the per-minute count
        (minute(1200, 6, share=False), False),
    ],
)
def test_server_errors_count_as_impact_by_their_share(platform: dict[str, Any], high: bool) -> None:
    assert assess({}, logs(platform), LEVELS).server_errors_high is high


def test_an_organization_with_one_stray_error_is_not_named_as_affected() -> None:
    impact = assess(
        {},
        logs(minute(2000, 11), acme=minute(1000, 1), globex=minute(40, 10)),
        LEVELS,
    )
    assert (impact.seen, impact.organizations) == (False, ("globex",))


def test_an_organizations_incident_tells_its_own_traffic_never_the_hosts_or_a_neighbours() -> None:
    """Found by a tester: acme's incident said "128 server errors/min", the host's figure
    (acme's own was 71): other tenants' traffic shown to acme's token."""
    readings = logs(minute(1000, 128), acme=minute(300, 71), globex=minute(600, 57))
    acme = assess({}, readings, LEVELS, "acme")
    assert (acme.server_errors_per_min, acme.server_errors_high) == (71.0, True)
    assert acme.organizations == ("acme",)
    quiet = assess({}, logs(minute(1000, 128), globex=minute(600, 57)), LEVELS, "acme")
    assert (quiet.server_errors_per_min, quiet.seen, quiet.organizations) == (0.0, False, ())
    platform = assess({}, readings, LEVELS)
    assert (platform.server_errors_per_min, platform.organizations) == (128.0, ("acme", "globex"))
