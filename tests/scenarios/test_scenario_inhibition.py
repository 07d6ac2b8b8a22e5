"""One fault, one incident: an organization's incident holds back the platform's view of it.

One organization's failing uploads (some of them answered 5xx) also push the platform's
upload failure rate and server error share over their thresholds. Those breaches join the
organization's incident when the rest of the platform is healthy without its traffic; a
platform fault beyond that organization still opens a platform incident of its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from support.scenario import Scenario, pm2

from calmopsd.config import Config
from calmopsd.model import IncidentType
from calmopsd.record.database import Database
from calmopsd.shapes import LogsValues
from calmopsd.shapes.logs import Rates, SourceRates, Windows

MIN = timedelta(minutes=1)

ORG_UPLOADS = {
    "name": "organization_upload_failures", "sampler": "logs",
    "metric": "organizations.{organization}.5m.upload_failure_rate", "op": ">",
    "threshold": 0.1, "type": "upload", "clear_for": "2m",
    "volume": {"metric": "organizations.{organization}.5m.uploads", "at_least": 20},
}  # fmt: skip
PLATFORM_UPLOADS = {
    "name": "upload_failures", "sampler": "logs", "metric": "platform.5m.upload_failure_rate",
    "op": ">", "threshold": 0.1, "type": "upload", "clear_for": "2m",
    "volume": {"metric": "platform.5m.uploads", "at_least": 20},
}  # fmt: skip
SERVER_ERRORS = {
    "name": "server_errors", "sampler": "logs", "metric": "platform.1m.server_error_rate",
    "op": ">", "threshold": 0.05, "clear": 0.025, "type": "network", "clear_for": "2m",
    "volume": {"metric": "platform.1m.requests", "at_least": 100},
}  # fmt: skip


def traffic(requests: int, errors: int, uploads: int = 0, failures: int = 0) -> Windows:
    """One minute of ``requests`` with ``errors`` 5xx; five minutes of uploads."""
    minute = Rates(requests=requests, server_errors=errors).less(Rates(), 1)
    five = Rates(
        requests=5 * requests, server_errors=5 * errors, uploads=uploads, upload_failures=failures
    ).less(Rates(), 5)
    return Windows(minute, five)


def reading(acme: Windows, beta: Windows, rest: Windows | None = None) -> dict[str, Any]:
    """The platform is acme's, beta's and unattributed traffic together."""
    platform = Windows()
    for part in (acme, beta, rest or Windows()):
        platform = Windows(
            _plus(platform.one_minute, part.one_minute, 1),
            _plus(platform.five_minutes, part.five_minutes, 5),
        )
    values = LogsValues(
        platform=platform,
        organizations={"acme": acme, "beta": beta},
        sources={"web": SourceRates(windows=platform)},
    )
    return values.to_values()


def _plus(a: Rates, b: Rates, minutes: int) -> Rates:
    total = Rates(
        requests=a.requests + b.requests,
        server_errors=a.server_errors + b.server_errors,
        uploads=a.uploads + b.uploads,
        upload_failures=a.upload_failures + b.upload_failures,
    )
    return total.less(Rates(), minutes)


# acme: 60 % of its uploads fail, half of those answered 5xx (30 % of its requests);
# beta: a normal 2 % trickle of errors. acme makes 60 of the platform's 68 errors (88 %,
# under the 90 % that would make the platform breach acme's on its own).
ACME_FAILING = traffic(200, 60, uploads=100, failures=60)
BETA_NORMAL = traffic(400, 8, uploads=200, failures=4)


@pytest.fixture
def scenario(database: Database) -> Scenario:
    # The platform rules are listed first: the agent takes an organization's breach
    # before the platform's whatever the order of the rules.
    config = Config.model_validate({"rules": [SERVER_ERRORS, PLATFORM_UPLOADS, ORG_UPLOADS]})
    return Scenario(database, config)


def test_one_organizations_failing_uploads_are_one_incident_not_three(scenario: Scenario) -> None:
    s = scenario
    s.feed("logs", reading(ACME_FAILING, BETA_NORMAL, traffic(400, 0)), times=4, every=MIN)

    (incident,) = s.incidents()
    assert (incident.organization_id, incident.type) == ("acme", IncidentType.UPLOAD)
    joined = [e.data["rule"] for e in s.events(incident.id) if e.kind == "incident.breach_added"]
    assert {"server_errors", "upload_failures"} <= set(joined)
    # The platform's view of the fault adds no network playbook step (no nginx reload).
    assert all(r.action.value != "nginx_reload" for r in s.executor.requests)


def test_a_platform_fault_beyond_the_organization_still_opens_its_own_incident(
    scenario: Scenario,
) -> None:
    s = scenario
    s.feed("logs", reading(ACME_FAILING, BETA_NORMAL, traffic(400, 0)), times=4, every=MIN)
    # Now beta and the unattributed traffic fail too: without acme, 100 of 800 (12.5 %).
    s.feed("logs", reading(ACME_FAILING, traffic(400, 50), traffic(400, 50)), times=4, every=MIN)

    scopes = sorted((i.organization_id or "-", i.type.value) for i in s.incidents())
    assert scopes == [("-", "network"), ("acme", "upload")]
    acme = next(i for i in s.incidents() if i.organization_id == "acme")
    released = [e.data["rule"] for e in s.events(acme.id) if e.kind == "incident.breach_released"]
    assert released == ["server_errors"]


def test_a_breach_of_the_organization_joins_its_log_incident_whatever_the_rule(
    database: Database,
) -> None:
    """acme's server errors confirm first (platform rule, acme dominant), its upload
    failures after: one incident, acme's."""
    quick = {**SERVER_ERRORS, "for": 1}
    s = Scenario(database, Config.model_validate({"rules": [quick, ORG_UPLOADS]}))
    only_acme = traffic(300, 90, uploads=100, failures=60)
    s.feed("logs", reading(only_acme, traffic(400, 0)), times=4, every=MIN)

    (incident,) = s.incidents()
    assert incident.organization_id == "acme"
    rules = [e.data["rule"] for e in s.events(incident.id) if e.kind == "incident.breach_added"]
    assert "organization_upload_failures" in rules


def test_without_its_organizations_traffic_the_platform_reads_as_the_rest() -> None:
    values = LogsValues.parse(reading(ACME_FAILING, BETA_NORMAL, traffic(400, 0)))

    rest = values.without(["acme"]).platform
    assert (rest.one_minute.requests, rest.one_minute.server_errors) == (800, 8)
    assert rest.one_minute.server_error_rate == 0.01
    assert (rest.five_minutes.uploads, rest.five_minutes.upload_failures) == (200, 4)
    assert rest.five_minutes.upload_failure_rate == 0.02
    assert set(values.without(["acme"]).organizations) == {"beta"}
    assert values.without(["nobody"]) == values


def test_a_platform_incident_leaves_out_the_traffic_an_organizations_incident_explains(
    database: Database,
) -> None:
    errored = {
        "name": "pm2_app_errored", "sampler": "pm2", "metric": "apps.{app}.status",
        "op": "==", "threshold": "errored", "for": 1, "type": "app",
    }  # fmt: skip
    config = Config.model_validate({"rules": [SERVER_ERRORS, ORG_UPLOADS, errored]})
    s = Scenario(database, config)
    s.feed("logs", reading(ACME_FAILING, BETA_NORMAL, traffic(400, 0)), times=4, every=MIN)
    s.feed("pm2", pm2(web={"status": "errored"}))

    app = next(i for i in s.incidents() if i.type is IncidentType.APP)
    assert app.organization_id is None
    # acme's 30 % errors are its own incident's: without them the platform is at 1 %.
    assert (app.impact["organizations"], app.impact["server_errors_high"]) == ([], False)
    customers = next(line for line in app.summary.splitlines() if line.startswith("Customers"))
    assert "acme" not in customers
    acme = next(i for i in s.incidents() if i.organization_id == "acme")
    assert acme.impact["organizations"] == ["acme"]


def test_a_platform_wide_burst_is_one_platform_incident_not_one_per_organization(
    scenario: Scenario,
) -> None:
    """Found by the fault harness: a 5xx burst failed every organization's uploads and
    opened five incidents. Each organization's part of a shared fault is held back until
    the platform's incident opens, then joins it."""
    s = scenario
    acme = traffic(300, 60, uploads=100, failures=40)
    beta = traffic(300, 60, uploads=100, failures=40)
    s.feed("logs", reading(acme, beta, traffic(400, 80)), times=4, every=MIN)
    s.feed("logs", reading(acme, beta, traffic(400, 80)), times=4, every=MIN)

    (incident,) = s.incidents()  # the server errors, with the uploads they fail
    assert (incident.organization_id, incident.type) == (None, IncidentType.NETWORK)
    rules = {e.data["rule"] for e in s.events(incident.id) if e.kind == "incident.breach_added"}
    assert rules == {"upload_failures", "organization_upload_failures"}
    joined = {
        e.data["labels"].get("organization")
        for e in s.events(incident.id)
        if e.kind == "incident.breach_added" and e.data["rule"] == "organization_upload_failures"
    }
    assert joined == {"acme", "beta"}


def test_an_organizations_upload_incident_reads_in_percent_with_its_scope(
    scenario: Scenario,
) -> None:
    s = scenario
    s.feed("logs", reading(ACME_FAILING, BETA_NORMAL, traffic(400, 0)), times=4, every=MIN)
    calm = traffic(200, 0, uploads=100, failures=3)
    s.feed("logs", reading(calm, BETA_NORMAL, traffic(400, 0)), times=3, every=MIN)
    (incident,) = s.incidents()
    assert incident.resolution == "recovered"
    # Found by the fault harness: it read "…for organization acme… (last read 0.03)".
    assert incident.summary.splitlines()[0] == (
        "Upload failures at 60 % of uploads (5 min) for organization acme since 14:00 "
        "(threshold 10 %; last read 3 %)."
    )
