"""The whole pipeline on a manual clock: readings → detection → the agent → the store."""

from __future__ import annotations

from datetime import timedelta

from support.scenario import Scenario, disk, logs, memory, pm2

from calmopsd.config import Config
from calmopsd.model import IncidentStatus, IncidentType, Severity
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, open_incident
from calmopsd.record.scope import Scope

MIN = timedelta(minutes=1)


def test_a_blip_shorter_than_for_opens_nothing(database: Database) -> None:
    s = Scenario(database)
    s.feed("memory", memory(50), times=3)
    s.feed("memory", memory(97), times=2)  # `for` is 3 readings
    s.feed("memory", memory(50), times=3)
    s.feed("memory", memory(97), times=2)
    assert s.incidents() == []


def test_a_sustained_breach_opens_exactly_one_incident(database: Database) -> None:
    s = Scenario(database)
    s.feed("memory", memory(90), times=40)
    incident = s.only()
    assert (incident.type, incident.severity, incident.fingerprint) == (
        IncidentType.MEMORY,
        Severity.WARNING,
        "memory:host",
    )
    assert s.kinds(incident.id).count("incident.opened") == 1


def test_a_second_rule_on_the_same_mount_adds_an_event_not_an_incident(database: Database) -> None:
    s = Scenario(database)
    s.feed("disk", disk(70, hours_until_full=6), times=3)  # disk_filling fires
    s.feed("disk", disk(85, hours_until_full=5), times=3)  # then disk_used
    incident = s.only()
    assert incident.fingerprint == "disk:mount=/"
    assert s.kinds(incident.id).count("incident.breach_added") == 1


def test_hysteresis_holds_the_incident_open_between_the_two_thresholds(database: Database) -> None:
    s = Scenario(database)
    s.feed("memory", memory(90), times=3)
    s.feed("memory", memory(82), every=MIN, times=60)  # below 85, above the clear at 80
    assert s.only().status is not IncidentStatus.RESOLVED


def test_escalation_raises_severity_once_and_says_why(database: Database) -> None:
    s = Scenario(database)
    s.feed("memory", memory(90), times=3)
    s.feed("memory", memory(97), times=5)
    incident = s.only()
    assert incident.severity is Severity.CRITICAL
    escalations = [e for e in s.events(incident.id) if e.kind == "incident.escalated"]
    assert [(e.data["from"], e.data["to"]) for e in escalations] == [("warning", "critical")]


def test_a_rate_over_too_few_uploads_never_opens_but_enough_volume_does(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("logs", logs(uploads=10, upload_failures=5), times=10)  # 50 % of 10
    assert s.incidents() == []
    s.feed("logs", logs(uploads=40, upload_failures=20), times=3)
    assert s.only().type is IncidentType.UPLOAD


def test_it_resolves_as_recovered_once_the_clear_held_for_fifteen_minutes(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("memory", memory(90), times=3)
    s.feed("memory", memory(60), every=MIN, times=15)
    assert s.only().status is not IncidentStatus.RESOLVED
    s.feed("memory", memory(60), every=MIN, times=2)
    incident = s.only()
    assert (incident.status, incident.resolution) == (IncidentStatus.RESOLVED, "recovered")


def test_with_nothing_new_for_24_hours_it_resolves_as_stale(database: Database) -> None:
    s = Scenario(database)
    s.feed("disk", disk(85), times=3)
    s.wait(timedelta(hours=23))  # the disk sampler fell silent; nothing fires or clears
    assert s.only().status is not IncidentStatus.RESOLVED
    s.feed("memory", memory(50))
    s.wait(timedelta(hours=1, minutes=1))
    incident = s.only()
    assert (incident.status, incident.resolution) == (IncidentStatus.RESOLVED, "stale_resolved")


def test_an_incident_still_firing_is_never_stale(database: Database) -> None:
    s = Scenario(database)
    s.feed("disk", disk(85), every=timedelta(hours=1), times=30)
    assert s.only().status is not IncidentStatus.RESOLVED


def test_a_flapping_breach_reopens_the_same_incident_and_its_clear_hold_grows(
    database: Database,
) -> None:
    s = Scenario(database)
    holds = []
    for _ in range(3):
        s.feed("memory", memory(90), times=3)
        incident = s.only()
        holds.append(s.agent.tracked[incident.id].clear_hold)
        s.feed("memory", memory(60), every=MIN, times=70)  # clears whatever the hold
        assert s.only().status is IncidentStatus.RESOLVED
    incident = s.only()
    assert incident.flaps == 2
    assert holds == [timedelta(minutes=15), timedelta(minutes=22.5), timedelta(minutes=33.75)]
    assert s.kinds(incident.id).count("incident.reopened") == 2


def test_a_flapping_clear_hold_stops_growing_at_one_hour(database: Database) -> None:
    s = Scenario(database)
    for _ in range(7):
        s.feed("memory", memory(90), times=3)
        s.feed("memory", memory(60), every=MIN, times=62)
    incident = s.only()
    assert incident.flaps == 6
    s.feed("memory", memory(90), times=3)
    assert s.agent.tracked[incident.id].clear_hold == timedelta(hours=1)


def test_a_breach_more_than_an_hour_after_resolving_opens_a_new_incident(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("memory", memory(90), times=3)
    s.feed("memory", memory(60), every=MIN, times=16)
    s.wait(timedelta(minutes=61))
    s.feed("memory", memory(90), times=3)
    assert [i.flaps for i in s.incidents()] == [0, 0]


def test_thresholds_from_the_config_are_the_ones_detection_uses(database: Database) -> None:
    s = Scenario(database, Config.model_validate({"thresholds": {"memory_percent": 95}}))
    s.feed("memory", memory(93), times=10)
    assert s.incidents() == []


def test_an_app_deleted_while_its_incident_is_watched_is_not_acted_on_and_vanishes(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"status": "errored"}, worker={}))
    assert s.only().status is IncidentStatus.MONITORING  # restarted; watching
    # `pm2 delete api`: PM2 goes on reporting, without it.
    s.feed("pm2", pm2(worker={}), every=timedelta(minutes=1), times=20)  # past monitor_for
    incident = s.only()
    assert incident.status is IncidentStatus.MONITORING
    assert "incident.not_holding" not in s.kinds(incident.id)
    assert [r.action.value for r in s.executor.requests] == ["pm2_restart"]
    s.feed("pm2", pm2(worker={}), every=timedelta(minutes=1), times=45)  # past forget_after
    incident = s.only()
    assert (incident.status, incident.resolution) == (IncidentStatus.RESOLVED, "vanished")
    assert [r.action.value for r in s.executor.requests] == ["pm2_restart"]


def test_a_problem_a_person_resolved_too_early_reopens_without_counting_a_flap(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("memory", memory(92), times=3)
    incident = s.only()
    assert s.person(
        incident.id,
        lambda: change_status(
            database, Scope.platform(), incident.id, expected=incident.status,
            new=IncidentStatus.RESOLVED, at=s.now, actor="dana", resolution="manual",
            data={"note": "looks fine to me"},
        ),
    )  # fmt: skip
    s.wait(timedelta(seconds=30))
    s.feed("memory", memory(92), times=3)  # it never went away
    incident = s.only()
    assert (incident.status, incident.flaps) == (IncidentStatus.OPEN, 0)
    (reopened,) = [e for e in s.events(incident.id) if e.kind == "incident.reopened"]
    assert reopened.data["reason"].endswith("of being resolved (manual)")
    assert "Flapping" not in incident.summary


def test_an_incident_a_person_opened_is_never_resolved_as_stale(database: Database) -> None:
    s = Scenario(database)
    opened = open_incident(
        database, Scope.platform(), organization_id=None, fingerprint="manual:abc",
        type=IncidentType.DEPENDENCY, severity=Severity.WARNING, title="Payments slow",
        at=s.now, actor="token:dana",
    )  # fmt: skip
    s.feed("disk", disk(85), times=3)  # one of calmopsd's own, to end as stale beside it
    s.wait(timedelta(hours=25))
    assert s.get(opened.id).status is IncidentStatus.OPEN
    assert [i.resolution for i in s.incidents() if i.id != opened.id] == ["stale_resolved"]
