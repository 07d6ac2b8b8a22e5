"""Incidents forwarded to a real Alertmanager (Debian's 0.25) on loopback, round by round
on a manual clock: what it shows active, with which labels, and what its receiver gets."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs
from support.alertmanager import (
    Alertmanager,
    Hook,
    eventually,
    free_port,
    incident,
    resolve,
    start_alertmanager,
)
from support.clock import ManualClock

from calmopsd.fleet.alertmanager import Settings
from calmopsd.fleet.forwarder import Forwarder, Round
from calmopsd.model import IncidentType, Severity
from calmopsd.record.database import Database
from calmopsd.record.incidents import update_incident
from calmopsd.record.recommendations import add_recommendation
from calmopsd.record.scope import Scope

MINUTE = timedelta(minutes=1)


def settings(url: str, host: str) -> Settings:
    return Settings(url=url, interval=MINUTE, host=host, timeout=timedelta(seconds=5))


def forwarder(database: Database, url: str, host: str, clock: ManualClock, **kw: int) -> Forwarder:
    return Forwarder(database, settings(url, host), clock, **kw)


def labels(alerts: list[dict[str, object]]) -> list[object]:
    return [alert["labels"] for alert in alerts]


def test_an_unresolved_incident_is_active_with_its_labels_annotations_and_end(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    opened = incident(database, now - MINUTE)
    add_recommendation(
        database, Scope.platform(), opened.id, kind="safe_action", action="pm2_restart",
        rationale="restart the leaking app", at=now, actor="calmopsd",
    )  # fmt: skip
    update_incident(
        database, Scope.platform(), opened.id, summary="memory climbs", at=now,
        actor="calmopsd", event=None,
    )  # fmt: skip

    done = forwarder(database, alertmanager.url, host, ManualClock(now)).run_once(now)

    assert done == Round(firing=1, ended=0, ok=True)
    [alert] = alertmanager.alerts(host)
    assert alert["labels"] == {
        "alertname": "CalmopsdIncident", "host": host, "incident_id": str(opened.id),
        "type": "memory", "severity": "warning",
    }  # fmt: skip
    assert alert["annotations"] == {
        "summary": "memory at 93 %",
        "description": "memory climbs",
        "status": "open",
        "show": f"calmopsd show {opened.id}",
        "approve": f"calmopsd approve {opened.id} 1",
    }
    assert alert["status"]["state"] == "active"
    assert alert["startsAt"] == (now - MINUTE).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert alert["endsAt"] == (now + 4 * MINUTE).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_resolved_incident_is_ended_once_and_no_longer_active(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    clock = ManualClock(now)
    forwarding = forwarder(database, alertmanager.url, host, clock)
    opened = incident(database, now)
    forwarding.run_once(now)
    assert len(alertmanager.alerts(host)) == 1

    resolve(database, opened.id, now + timedelta(seconds=20))  # in Alertmanager's past
    with capture_logs() as logs:
        done = forwarding.run_once(clock.advance(MINUTE))

    assert done == Round(firing=0, ended=1, ok=True)
    assert alertmanager.alerts(host) == []
    assert [(e["event"], e["incident_id"]) for e in logs] == [("alertmanager.ended", opened.id)]
    assert forwarding.run_once(clock.advance(MINUTE)) == Round(firing=0, ended=0, ok=True)
    assert (forwarding.counts.sent, forwarding.counts.failed) == (2, 0)  # nothing to post: none


def test_two_incidents_of_one_type_on_one_host_stay_two_alerts(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    first = incident(database, now, type=IncidentType.APP, resource="api")
    second = incident(database, now, type=IncidentType.APP, resource="worker")
    forwarding = forwarder(database, alertmanager.url, host, ManualClock(now))
    forwarding.run_once(now)
    assert [a["labels"]["incident_id"] for a in alertmanager.alerts(host)] == [
        str(first.id),
        str(second.id),
    ]

    resolve(database, first.id, now)
    forwarding.run_once(now + MINUTE)
    assert [a["labels"]["incident_id"] for a in alertmanager.alerts(host)] == [str(second.id)]


def test_an_organizations_incident_carries_its_organization_and_a_platform_one_none(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    incident(database, now, type=IncidentType.UPLOAD, organization="acme")
    incident(database, now, type=IncidentType.DISK, severity=Severity.CRITICAL)
    forwarder(database, alertmanager.url, host, ManualClock(now)).run_once(now)

    assert [
        (a["labels"]["type"], a["labels"]["severity"], a["labels"].get("organization"))
        for a in alertmanager.alerts(host)
    ] == [("upload", "warning", "acme"), ("disk", "critical", None)]


def test_an_escalation_ends_the_alert_under_the_old_severity(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    opened = incident(database, now)
    forwarding = forwarder(database, alertmanager.url, host, ManualClock(now))
    forwarding.run_once(now)
    update_incident(
        database, Scope.platform(), opened.id, severity=Severity.CRITICAL, at=now + MINUTE,
        actor="calmopsd", event="incident.escalated", data={"severity": "critical"},
    )  # fmt: skip

    assert forwarding.run_once(now + MINUTE) == Round(firing=1, ended=1, ok=True)
    assert [a["labels"]["severity"] for a in alertmanager.alerts(host)] == ["critical"]


def test_more_alerts_than_a_batch_go_in_several_posts_and_all_arrive(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    for app in ("a", "b", "c", "d", "e"):
        incident(database, now, type=IncidentType.APP, resource=app)
    forwarding = forwarder(database, alertmanager.url, host, ManualClock(now), batch=2)
    forwarding.run_once(now)
    assert (forwarding.counts.sent, forwarding.counts.alerts_sent) == (3, 5)
    assert len(alertmanager.alerts(host)) == 5


def test_a_restarted_forwarder_ends_what_resolved_in_the_last_four_intervals(
    database: Database, alertmanager: Alertmanager, host: str, now: datetime
) -> None:
    recent = incident(database, now - 10 * MINUTE, resource="recent")
    long_ago = incident(database, now - 10 * MINUTE, resource="long-ago")
    resolve(database, long_ago.id, now - 6 * MINUTE)
    forwarder(database, alertmanager.url, host, ManualClock(now)).run_once(now - MINUTE)
    assert len(alertmanager.alerts(host)) == 1
    resolve(database, recent.id, now - timedelta(seconds=30))

    # The process that posted them is gone; the next one starts afresh.
    after_restart = forwarder(database, alertmanager.url, host, ManualClock(now))
    assert after_restart.run_once(now) == Round(firing=0, ended=1, ok=True)
    assert alertmanager.alerts(host) == []


def test_a_down_alertmanager_is_counted_failed_and_the_next_round_delivers(
    database: Database, tmp_path: Path, hook: Hook, host: str, now: datetime
) -> None:
    port = free_port()
    url = f"http://calm:s3cr%2Ft@127.0.0.1:{port}/"  # credentials that must never be logged
    clock = ManualClock(now)
    forwarding = forwarder(database, url, host, clock)
    opened = incident(database, now)
    with capture_logs() as logs:
        assert forwarding.run_once(now) == Round(firing=1, ended=0, ok=False)
    [failed] = logs
    assert failed["event"] == "alertmanager.failed"
    assert failed["url"] == f"http://127.0.0.1:{port}/"
    assert "Connection refused" in failed["reason"]
    assert "s3cr" not in repr(failed) and "calm:" not in repr(failed)
    assert (forwarding.counts.sent, forwarding.counts.failed) == (0, 1)

    alertmanager = start_alertmanager(tmp_path / "am", hook, port)
    try:
        with capture_logs() as logs:
            assert forwarding.run_once(clock.advance(MINUTE)).ok
        assert [e["event"] for e in logs] == ["alertmanager.recovered"]
        assert [a["labels"]["incident_id"] for a in alertmanager.alerts(host)] == [str(opened.id)]
        assert (forwarding.counts.sent, forwarding.counts.failed) == (1, 1)
    finally:
        alertmanager.stop()


def test_alertmanager_notifies_its_receiver_of_the_firing_and_the_resolved_alert(
    database: Database, alertmanager: Alertmanager, hook: Hook, host: str, now: datetime
) -> None:
    forwarding = forwarder(database, alertmanager.url, host, ManualClock(now))
    opened = incident(database, now, organization="acme")
    forwarding.run_once(now)
    [fired] = eventually(lambda: hook.notified(opened.id, host, "firing"), what="firing notice")
    assert fired["labels"]["organization"] == "acme"
    assert fired["annotations"]["summary"] == "memory at 93 %"

    resolve(database, opened.id, now + timedelta(seconds=1))
    forwarding.run_once(now + timedelta(seconds=2))
    [ended] = eventually(lambda: hook.notified(opened.id, host, "resolved"), what="resolved one")
    assert ended["endsAt"] == (now + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
