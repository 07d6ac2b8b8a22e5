"""An incident as an alert, without Alertmanager: labels, annotations, times, the URL as
logs show it, and the settings read from the config."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calmopsd.config.alertmanager import AlertmanagerConfig
from calmopsd.fleet.alertmanager import Settings, redact, scrub
from calmopsd.fleet.alerts import firing, resolved
from calmopsd.model import (
    Incident,
    IncidentStatus,
    IncidentType,
    Recommendation,
    RecommendationStatus,
    Severity,
)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INCIDENT = Incident(
    id=7, organization_id=None, fingerprint="disk:/", type=IncidentType.DISK,
    severity=Severity.CRITICAL, status=IncidentStatus.STABILIZING, title="/ at 97 %",
    description="", summary="", evidence={}, resolution=None, opened_at=AT, updated_at=AT,
    resolved_at=None,
)  # fmt: skip


def recommendation(id: int, status: RecommendationStatus) -> Recommendation:
    return Recommendation(
        id=id, incident_id=7, organization_id=None, kind="safe_action", action="clear_temp",
        params={}, rationale="clear /tmp", status=status, created_at=AT, expires_at=None,
        evidence={}, preconditions={},
    )  # fmt: skip


def test_a_platform_incident_has_no_organization_label_and_an_organizations_has_its_own() -> None:
    alert = firing(INCIDENT, (), host="web-1", now=AT, lifetime=timedelta(minutes=4))
    assert alert.labels == {
        "alertname": "CalmopsdIncident", "host": "web-1", "incident_id": "7", "type": "disk",
        "severity": "critical",
    }  # fmt: skip
    theirs = replace(INCIDENT, organization_id="acme")
    assert firing(theirs, (), host="web-1", now=AT, lifetime=timedelta(minutes=4)).labels == {
        **alert.labels,
        "organization": "acme",
    }


def test_only_proposed_recommendations_are_offered_for_approval() -> None:
    recs = [
        recommendation(3, RecommendationStatus.PROPOSED),
        recommendation(4, RecommendationStatus.REJECTED),
        recommendation(5, RecommendationStatus.PROPOSED),
    ]
    alert = firing(INCIDENT, recs, host="web-1", now=AT, lifetime=timedelta(minutes=4))
    assert alert.annotations == {
        "summary": "/ at 97 %",
        "description": "/ at 97 %",  # no decision summary yet: the headline
        "status": "stabilizing",
        "show": "calmopsd show 7",
        "approve": "calmopsd approve 7 3\ncalmopsd approve 7 5",
    }


def test_the_payload_is_what_alertmanagers_v2_api_takes() -> None:
    alert = firing(INCIDENT, (), host="web-1", now=AT, lifetime=timedelta(minutes=4))
    assert alert.payload() == {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": "2024-05-01T12:00:00.000Z",
        "endsAt": "2024-05-01T12:04:00.000Z",
    }


def test_an_alert_never_ends_before_it_starts_whatever_the_clocks_say() -> None:
    # Alertmanager refuses the whole post if one alert ends before it starts.
    skewed = replace(INCIDENT, status=IncidentStatus.RESOLVED, resolved_at=AT - timedelta(hours=1))
    ended = resolved(skewed, host="web-1", now=AT)
    assert (ended.starts_at, ended.ends_at) == (AT, AT)
    early = firing(INCIDENT, (), host="web-1", now=AT - timedelta(hours=1), lifetime=timedelta(1))
    assert early.starts_at <= early.ends_at
    late = firing(INCIDENT, (), host="web-1", now=AT - timedelta(days=2), lifetime=timedelta(1))
    assert late.starts_at == late.ends_at == AT - timedelta(days=1)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9093/", "http://127.0.0.1:9093/"),
        ("https://ops:p%40ss@am.example:9093/am/?token=x#f", "https://am.example:9093/am/"),
    ],
)
def test_a_url_is_shown_without_credentials_query_or_fragment(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_reason_is_scrubbed_of_the_credentials_as_written_and_decoded() -> None:
    url = "https://ops:p%40ss@am.example:9093/?token=abc"
    said = scrub("for ops:p%40ss, p@ss and token=abc: refused", url)
    assert said == "for ***, *** and ***: refused"
    assert len(scrub("x" * 1000, url)) == 300


def test_settings_are_none_without_a_url_and_name_this_host_by_default() -> None:
    assert Settings.of(AlertmanagerConfig()) is None
    config = AlertmanagerConfig.model_validate({"url": "http://127.0.0.1:9093", "interval": "30s"})
    settings = Settings.of(config, hostname="web-1")
    assert settings == Settings(
        "http://127.0.0.1:9093/", timedelta(seconds=30), "web-1", timedelta(seconds=10)
    )
    assert settings.endpoint == "http://127.0.0.1:9093/api/v2/alerts"
    assert settings.lifetime == timedelta(minutes=2)
    named = AlertmanagerConfig.model_validate({"url": "http://am:9093", "host": "web-7"})
    assert Settings.of(named, hostname="web-1") == replace(
        settings, url="http://am:9093/", interval=timedelta(minutes=1), host="web-7"
    )
