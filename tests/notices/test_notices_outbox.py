"""Notices end to end on a real store: the follower's intake, the outbox, grouping with a
manual clock, and delivery through apprise to a real webhook receiver on loopback."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
import structlog
from support.clock import ManualClock
from support.notify_rig import PLATFORM, Rig, make_rig, notify_config
from support.receivers import Webhook, smtp_sink, webhook

from calmopsd.model import IncidentStatus, Severity
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.incidents import update_incident
from calmopsd.record.outbox import NoticeStatus, delivery_counts, list_notices
from calmopsd.record.recommendations import add_recommendation

S = timedelta(seconds=1)
M = timedelta(minutes=1)


def titles(hook: Webhook, path: str = "/hook") -> list[str]:
    return [r.body["title"] for r in hook.delivered() if r.path == path]


def test_the_first_notice_waits_group_wait_and_carries_what_followed_at_once(
    rig: Rig, hook: Webhook
) -> None:
    incident = rig.open("api memory high")
    rig.round()
    rec = add_recommendation(
        rig.database, PLATFORM, incident.id, kind="safe_action", action="pm2_restart",
        params={"target": "api"}, rationale="memory climbed before each restart",
        at=rig.clock.advance(5 * S), actor="calmopsd",
    )  # fmt: skip
    assert rig.round(24 * S).queued == 0  # 29 s after it opened
    assert hook.received == []

    assert rig.round(1 * S).sent == 1  # 30 s
    (notice,) = hook.delivered()
    assert notice.body["title"] == (
        f"[calmopsd web-1] Incident #{incident.id} (warning, memory, platform): api memory high"
    )
    text = notice.body["message"]
    assert f"#{rec} pm2_restart on api: memory climbed before each restart" in text
    assert f"approve: calmopsd approve {incident.id} {rec}" in text
    assert f"reject:  calmopsd reject {incident.id} {rec}" in text
    assert notice.headers["Idempotency-Key"] == f"oncall:{incident.id}:opened:{rec_seq(rig)}"
    assert rig.round(M).sent == 0  # nothing new: nothing sent


def rec_seq(rig: Rig) -> int:
    """The seq of the last noteworthy event: the recommendation's."""
    return max(e.seq for e in list_events(rig.database, PLATFORM) if e.kind.startswith("rec"))


def test_changes_go_out_together_once_per_group_interval_then_the_resolved_notice(
    rig: Rig, hook: Webhook
) -> None:
    incident = rig.open()
    rig.round(30 * S)
    assert len(hook.delivered()) == 1
    rig.move(incident.id, IncidentStatus.STABILIZING)
    rig.round(M)
    rig.move(incident.id, IncidentStatus.MONITORING)
    assert rig.round(3 * M).queued == 0  # 4 min since the first notice
    assert rig.round(M).sent == 1  # 5 min: both changes in one update
    assert [t.split("]")[1].split("#")[0].strip() for t in titles(hook)] == ["Incident", "Update"]

    rig.resolve(incident.id)
    assert rig.round(M).queued == 0  # within the group interval of the update
    assert rig.round(4 * M).sent == 1
    assert "] Resolved #" in titles(hook)[-1]
    for _ in range(3):  # done: nothing more, not even a reminder
        assert rig.round(timedelta(hours=5)).queued == 0
    assert len(hook.delivered()) == 3


def test_an_open_incident_is_reminded_of_every_repeat_interval(rig: Rig, hook: Webhook) -> None:
    rig.open()
    rig.round(30 * S)
    assert rig.round(timedelta(hours=3, minutes=59)).queued == 0
    assert rig.round(M).sent == 1
    assert rig.round(timedelta(hours=4)).sent == 1
    assert [t.split("]")[1].split("#")[0].strip() for t in titles(hook)] == [
        "Incident", "Still open", "Still open",
    ]  # fmt: skip
    keys = [r.headers["Idempotency-Key"] for r in hook.delivered()]
    assert len(set(keys)) == 3


def test_an_incident_resolved_within_group_wait_is_never_notified(rig: Rig, hook: Webhook) -> None:
    incident = rig.open()
    rig.round(10 * S)
    rig.resolve(incident.id)
    for _ in range(3):
        assert rig.round(10 * M).queued == 0
    assert hook.received == []
    # It reopens: now it is news again, after its own group wait.
    rig.move(incident.id, IncidentStatus.OPEN)
    assert rig.round(10 * S).queued == 0
    assert rig.round(20 * S).sent == 1


def test_a_target_that_fails_then_recovers_gets_the_notice_once_across_a_restart(
    rig: Rig, hook: Webhook, clock: ManualClock
) -> None:
    hook.answers = [500, 503]
    incident = rig.open()
    assert rig.round(30 * S).failed == 1
    (pending,) = list_notices(rig.database, PLATFORM)
    assert (pending.status, pending.attempts) == (NoticeStatus.PENDING, 1)
    assert "error=500" in (pending.last_error or "")
    rig.database.close()  # the daemon stops; the outbox is in the store

    again = make_rig(rig.path, notify_config({"name": "oncall", "url": hook.url()}), clock)
    try:
        assert again.round(5 * S).sent == 0  # the retry waits 10 s
        assert again.round(5 * S).failed == 1  # 503
        assert again.round(20 * S).sent == 1  # 20 s after the second failure
        for _ in range(3):
            assert again.round(M).queued == 0
        assert len(hook.received) == 3 and len(hook.delivered()) == 1
        (sent,) = list_notices(again.database, PLATFORM)
        assert (sent.status, sent.attempts) == (NoticeStatus.SENT, 3)
        (event,) = [e for e in list_events(again.database, PLATFORM) if e.kind == "notice.sent"]
        assert (event.incident_id, event.data["target"], event.data["attempts"]) == (
            incident.id, "oncall", 3,
        )  # fmt: skip
        assert delivery_counts(again.database) == {("oncall", "sent"): 1}
        assert verify_file(again.path).ok
    finally:
        again.database.close()


def test_a_notice_never_delivered_is_given_up_and_no_resolved_follows_it(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    hook.answers = [500] * 1000
    config = notify_config({"name": "oncall", "url": hook.url()}, give_up_after="1h")
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        incident = rig.open()
        rig.round(30 * S)
        for _ in range(7):
            rig.round(10 * M)
        (notice,) = list_notices(rig.database, PLATFORM)
        assert notice.status is NoticeStatus.GIVEN_UP
        assert "not delivered within 1:00:00" in (notice.last_error or "")
        tried = len(hook.received)
        assert 5 <= tried <= 12  # 10 s doubling to 10 min: bounded, not one per round
        rig.resolve(incident.id)
        for _ in range(3):
            assert rig.round(10 * M).queued == 0
        assert len(hook.received) == tried and hook.delivered() == []
        kinds = [e.kind for e in list_events(rig.database, PLATFORM)]
        assert kinds.count("notice.given_up") == 1 and "notice.sent" not in kinds
    finally:
        rig.database.close()


def test_an_organization_s_target_hears_only_of_its_own_organization_s_incidents(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    config = notify_config(
        {"name": "acme-chat", "url": hook.url("/acme"), "organization": "acme"},
        {"name": "globex-chat", "url": hook.url("/globex"), "organization": "globex"},
        {"name": "oncall", "url": hook.url("/all")},
    )
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        acme = rig.open("acme uploads failing", org="acme")
        globex = rig.open("globex uploads failing", org="globex")
        platform = rig.open("host memory high")
        rig.round(30 * S)
        for incident in (acme, globex, platform):
            rig.resolve(incident.id)
        rig.round(5 * M)
        acme_texts = [json.dumps(r.body) for r in hook.delivered() if r.path == "/acme"]
        assert len(acme_texts) == 2 and all(f"#{acme.id} " in t for t in acme_texts)
        assert not any("globex" in t or "host memory" in t for t in acme_texts)
        assert all(f"#{globex.id} " in t for t in map(json.dumps, (
            r.body for r in hook.delivered() if r.path == "/globex")))  # fmt: skip
        assert len(titles(hook, "/all")) == 6
        # What an organization's token may read of the outbox is its own too.
        from calmopsd.record.scope import Scope

        seen = {n.incident_id for n in list_notices(rig.database, Scope.organization("acme"))}
        assert seen == {acme.id}
    finally:
        rig.database.close()


def test_below_a_target_s_least_severity_nothing_until_the_incident_escalates(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    config = notify_config({"name": "pager", "url": hook.url(), "min_severity": "critical"})
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        incident = rig.open(severity=Severity.WARNING)
        assert rig.round(10 * M).queued == 0
        update_incident(
            rig.database, PLATFORM, incident.id, at=clock.now(), actor="calmopsd",
            event="incident.escalated", data={"from": "warning", "to": "critical"},
            severity=Severity.CRITICAL,
        )  # fmt: skip
        assert rig.round(S).sent == 1  # first seen long ago: no second group wait
        assert "(critical, memory, platform)" in titles(hook)[0]
    finally:
        rig.database.close()


def test_the_hourly_cap_holds_the_rest_back_and_they_go_when_the_hour_has_room(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    config = notify_config({"name": "oncall", "url": hook.url(), "max_per_hour": 2})
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        for n in range(3):
            rig.open(f"app {n} memory high")
        assert rig.round(30 * S).sent == 2
        assert rig.round(50 * M).sent == 0
        assert rig.round(10 * M).sent == 1  # an hour after the first two
        assert len(hook.delivered()) == 3
    finally:
        rig.database.close()


def test_a_target_removed_from_the_config_gets_nothing_more(rig: Rig, hook: Webhook) -> None:
    hook.answers = [500] * 10
    rig.open()
    assert rig.round(30 * S).failed == 1
    rig.notifier.configure(notify_config())
    assert rig.round(M).dropped == 1
    (notice,) = list_notices(rig.database, PLATFORM)
    assert (notice.status, notice.last_error) == (NoticeStatus.DROPPED, "its target was removed")
    assert rig.round(M).queued == 0


def test_a_redelivered_event_changes_nothing(rig: Rig, hook: Webhook) -> None:
    from calmopsd.notices.intake import intake

    incident = rig.open()
    rig.round(30 * S)
    again = intake(rig.database, rig.notifier.scopes)
    for event in list_events(rig.database, PLATFORM):
        again(event)  # what a crash before the cursor was stored would hand over again
    for _ in range(3):
        assert rig.round(10 * M).queued == 0
    assert len(hook.delivered()) == 1 and f"#{incident.id} " in titles(hook)[0]


def test_mail_reaches_a_real_smtp_server_and_its_password_is_never_told(
    store: object, clock: ManualClock
) -> None:
    with smtp_sink() as box, structlog.testing.capture_logs() as lines:
        config = notify_config({"name": "mail", "url": box.url()})
        rig = make_rig(store, config, clock)  # type: ignore[arg-type]
        try:
            incident = rig.open("api memory high", org="acme")
            assert rig.round(30 * S).sent == 1
        finally:
            rig.database.close()
    (message,) = box.messages
    assert message["To"] == "oncall@example.com"
    assert message["Subject"].endswith(
        f"Incident #{incident.id} (warning, memory, organization acme): api memory high"
    )
    body = "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
    )
    assert "api memory high" in body and f"calmopsd show {incident.id}" in body
    assert "secret-pw" not in repr(lines)
    assert any(line["event"] == "notify.sent" and line["target"] == "mail" for line in lines)


def test_a_failure_s_reason_keeps_the_url_s_secrets_out(store: object, clock: ManualClock) -> None:
    with webhook() as hook, structlog.testing.capture_logs() as lines:
        hook.answers = [500]
        url = f"json://bot:hunter22@127.0.0.1:{hook.port}/T0KEN-abcdef?secret=zz-9876"
        rig = make_rig(store, notify_config({"name": "chat", "url": url}), clock)  # type: ignore[arg-type]
        try:
            rig.open()
            assert rig.round(30 * S).failed == 1
            (notice,) = list_notices(rig.database, PLATFORM)
        finally:
            rig.database.close()
    told = repr(lines) + (notice.last_error or "")
    for secret in ("hunter22", "T0KEN-abcdef", "zz-9876"):
        assert secret not in told
    assert any(line["event"] == "notify.failed" for line in lines)


def test_deliveries_by_target_and_outcome_are_on_metrics(rig: Rig, hook: Webhook) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from calmopsd.serve.metrics import store as families
    from calmopsd.serve.metrics.scrape import Scrape

    hook.answers = [500]
    rig.open("one")
    rig.open("two")
    rig.round(30 * S)  # one fails, one is sent
    rig.round(M)  # the failed one is sent on its retry

    class Notices:
        def collect(self) -> object:
            scrape = Scrape(rig.clock.now(), {}, {}, rig.database, None, None)  # type: ignore[arg-type]
            return families.notices(scrape)

    registry = CollectorRegistry()
    registry.register(Notices())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    (family,) = text_string_to_metric_families(text)
    samples = {(s.name, s.labels["target"], s.labels["status"]): s.value for s in family.samples}
    assert samples == {("calmopsd_notifications_total", "oncall", "sent"): 2.0}


def test_status_says_when_notices_do_not_get_through(rig: Rig, hook: Webhook) -> None:
    import subprocess
    import sys

    from support.process import clean_env

    hook.answers = [503] * 10
    rig.open()
    rig.round(30 * S)
    done = subprocess.run(
        [sys.executable, "-m", "calmopsd", "status", "--state-dir", str(rig.path.parent)],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )  # fmt: skip
    assert "Notifications NOT getting through" in done.stdout, done
    assert "oncall: 1 being retried, 0 given up in 24 h; last error: " in done.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "calmopsd", "status", "--json", "--state-dir",
         str(rig.path.parent)],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )  # fmt: skip
    (trouble,) = json.loads(as_json.stdout)["notifications_not_getting_through"]
    assert (trouble["target"], trouble["retrying"]) == ("oncall", 1)
    assert "error=503" in trouble["last_error"]


def test_a_reload_that_gives_a_target_to_one_organization_stops_another_s_news(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    everything = notify_config({"name": "chat", "url": hook.url()})
    rig = make_rig(store, everything, clock)  # type: ignore[arg-type]
    try:
        globex = rig.open("globex secret project down", org="globex")
        rig.round(30 * S)
        assert len(hook.delivered()) == 1
        rig.move(globex.id, IncidentStatus.STABILIZING)  # an update is now owed
        rig.notifier.configure(
            notify_config({"name": "chat", "url": hook.url(), "organization": "acme"})
        )
        for _ in range(4):
            assert rig.round(timedelta(hours=5)).queued == 0
        assert len(hook.delivered()) == 1  # no update, no reminder: globex is not acme's
    finally:
        rig.database.close()


def test_a_target_removed_and_added_back_is_not_reminded_of_what_resolved_meanwhile(
    rig: Rig, hook: Webhook
) -> None:
    incident = rig.open()
    rig.round(30 * S)
    config = notify_config({"name": "oncall", "url": hook.url()})
    rig.notifier.configure(notify_config())
    rig.round(M)
    rig.resolve(incident.id)
    rig.round(M)
    rig.notifier.configure(config)
    for _ in range(3):
        assert rig.round(timedelta(hours=5)).queued == 0
    assert [r.body["title"].split("]")[1].split("#")[0].strip() for r in hook.delivered()] == [
        "Incident"
    ]


def test_an_opening_never_delivered_is_sent_afresh_at_the_incident_s_next_change(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    hook.answers = [500] * 12
    config = notify_config({"name": "pager", "url": hook.url()}, give_up_after="1h")
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        incident = rig.open()
        rig.round(30 * S)
        for _ in range(8):
            rig.round(10 * M)
        (first,) = list_notices(rig.database, PLATFORM)
        assert first.status is NoticeStatus.GIVEN_UP
        hook.answers = []  # the pager is back
        update_incident(
            rig.database, PLATFORM, incident.id, at=clock.now(), actor="calmopsd",
            event="incident.escalated", data={"from": "warning", "to": "critical"},
            severity=Severity.CRITICAL,
        )  # fmt: skip
        assert rig.round(S).sent == 1
        (notice,) = hook.delivered()
        assert "] Incident #" in notice.body["title"] and "(critical," in notice.body["title"]
    finally:
        rig.database.close()


def test_a_notice_queued_before_a_long_stop_is_tried_once_before_it_is_given_up(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    hook.answers = [500]
    config = notify_config({"name": "pager", "url": hook.url()}, give_up_after="1h")
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        rig.open()
        rig.follower.run_once(clock.advance(30 * S))
        rig.notifier.run_once(clock.now())  # queued and tried: 500
        clock.advance(timedelta(hours=3))  # the daemon was stopped
        assert rig.round().given_up == 1
        (notice,) = list_notices(rig.database, PLATFORM)
        assert (notice.status, notice.attempts) == (NoticeStatus.GIVEN_UP, 1)
        (event,) = [e for e in list_events(rig.database, PLATFORM) if e.kind == "notice.given_up"]
        assert event.data["attempts"] == 1  # giving up is not a try
    finally:
        rig.database.close()


def test_a_sent_notice_the_store_could_not_record_is_recorded_later_not_sent_again(
    rig: Rig, hook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refusing the write once (as a full disk or a held lock would) is made by
    failing the recording function: a real lock holds for the 10 s busy timeout."""
    from calmopsd.notices import notifier as module

    real = module.mark_sent
    calls: list[int] = []

    def refusing(*args: object, **kwargs: object) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "mark_sent", refusing)
    rig.open()
    with pytest.raises(sqlite3.OperationalError):
        rig.round(30 * S)
    for _ in range(3):
        rig.round(M)
    assert len(hook.received) == 1  # sent once
    (notice,) = list_notices(rig.database, PLATFORM)
    assert notice.status is NoticeStatus.SENT


def test_one_target_failing_does_not_hold_up_the_others_in_a_round(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    hook.answers = [500]  # the first request: the broken target's
    config = notify_config(
        {"name": "broken", "url": hook.url("/broken")}, {"name": "fine", "url": hook.url("/fine")}
    )
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        rig.open("one")
        rig.open("two")
        result = rig.round(30 * S)
        broken = [r for r in hook.received if r.path == "/broken"]
        assert result.failed == 1 and len(broken) == 1  # its second notice waits
        assert len([r for r in hook.delivered() if r.path == "/fine"]) == 2
    finally:
        rig.database.close()


def test_the_scrubber_takes_every_part_of_the_url_out_of_a_reason() -> None:
    from calmopsd.notices.send import scrubbed

    url = (
        "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi/d%2Bv?k=ab%2Bcd%2Fef"
    )
    reason = (
        "failed for uQiRzpo4DXghDmr9QzzfQu27cmVRsG at azGDORePK8gMaC0QOYAMyEEuzJnyUi "
        "path d+v query ab%2Bcd%2Fef / ab+cd/ef"
    )
    told = scrubbed(reason, url)
    for secret in ("uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
                   "ab%2Bcd%2Fef", "ab+cd/ef"):  # fmt: skip
        assert secret not in told, told
    assert told.startswith("failed for … at …")


def test_an_organization_s_target_is_not_told_of_proposed_config_changes(
    store: object, clock: ManualClock, hook: Webhook
) -> None:
    """A config change (playbook order, alert tuning) is the host's to approve: the
    platform's target is told of it with the rest, the organization's target only of the
    steps about its own service."""
    config = notify_config(
        {"name": "acme-chat", "url": hook.url("/acme"), "organization": "acme"},
        {"name": "oncall", "url": hook.url("/all")},
    )
    rig = make_rig(store, config, clock)  # type: ignore[arg-type]
    try:
        incident = rig.open("acme uploads failing", org="acme")
        rig.round()
        at = rig.clock.advance(5 * S)
        restart = add_recommendation(
            rig.database, PLATFORM, incident.id, kind="safe_action", action="pm2_restart",
            params={"target": "api"}, rationale="uploads fail since the deploy", at=at,
            actor="calmopsd",
        )  # fmt: skip
        tuning = add_recommendation(
            rig.database, PLATFORM, incident.id, kind="alert_tuning",
            params={"rule": "upload_failures"}, rationale="the rule fired on 3 quiet days",
            at=at, actor="calmopsd",
        )  # fmt: skip
        reorder = add_recommendation(
            rig.database, PLATFORM, incident.id, kind="playbook_order",
            params={"classification": "upload"}, rationale="clear_temp worked first twice",
            at=at, actor="calmopsd",
        )  # fmt: skip
        assert rig.round(30 * S).sent == 2

        def text_to(path: str) -> str:
            (delivered,) = [r for r in hook.delivered() if r.path == path]
            return str(delivered.body["message"])

        everything, acme = text_to("/all"), text_to("/acme")
        for rec in (restart, tuning, reorder):
            assert f"#{rec} " in everything
        assert f"#{restart} pm2_restart on api: uploads fail since the deploy" in acme
        assert f"#{tuning} " not in acme and f"#{reorder} " not in acme
        assert "quiet days" not in acme and "clear_temp worked" not in acme
    finally:
        rig.database.close()
