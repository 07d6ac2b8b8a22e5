"""Customer messages on a real store: impact in status-page terms, drafts from the event
log, approval by compare-and-set, and delivery through apprise to a real webhook —
never without an approval event in the chain, never a "resolved" nobody was told of."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.clock import ManualClock
from support.receivers import Webhook, webhook

from calmopsd.config.customers import CustomersConfig
from calmopsd.customers.channel import Channel, suggest
from calmopsd.customers.courier import Courier, channels_for
from calmopsd.customers.drafting import drafting
from calmopsd.customers.status import Audience, ComponentStatus, Phase, customer_impact
from calmopsd.follow.bus import Follower
from calmopsd.model import IncidentStatus, IncidentType, Severity
from calmopsd.notices.send import AppriseSender
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import change_status, get_incident, open_incident, update_incident
from calmopsd.record.messages import (
    DeliveryStatus,
    MessageStatus,
    approve_message,
    discard_message,
    edit_message,
    list_deliveries,
    list_messages,
)
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()
T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
UPLOADS_FAILING = {"uploads_failing": True, "upload_failure_rate": 0.3, "seen": True}
DOWN = {"health_failing": ["site"], "seen": True}


class Rig:
    def __init__(self, path: Path, hook_url: str, clock: ManualClock):
        self.database = Database.open(path)
        self.clock = clock
        self.follower = Follower(self.database, {"messages": drafting(self.database)}, clock)
        self.follower.begin(clock.now())
        config = CustomersConfig.model_validate({"channels": [
            {"name": "statuspage", "url": hook_url + "/status", "audience": "status_page"},
            {"name": "acme-mail", "url": hook_url + "/acme", "audience": "organization",
             "organization": "acme"},
        ]})  # fmt: skip
        self.config = config
        self.courier = Courier(self.database, AppriseSender(10), config, timedelta(hours=6))

    def open(self, org: str | None = None, impact: dict[str, object] | None = None) -> int:
        incident = open_incident(
            self.database, PLATFORM, organization_id=org, fingerprint=f"upload:{org}",
            type=IncidentType.UPLOAD, severity=Severity.WARNING, title="uploads failing",
            at=self.clock.now(), actor="calmopsd",
        )  # fmt: skip
        if impact is not None:
            self.impact(incident.id, impact)
        return incident.id

    def impact(self, incident_id: int, impact: dict[str, object]) -> None:
        update_incident(self.database, PLATFORM, incident_id, at=self.clock.now(),
                        actor="calmopsd", event=None, impact=impact)  # fmt: skip

    def move(self, incident_id: int, new: IncidentStatus) -> None:
        incident = get_incident(self.database, PLATFORM, incident_id)
        assert incident is not None
        assert change_status(
            self.database, PLATFORM, incident_id, expected=incident.status, new=new,
            at=self.clock.now(), actor="calmopsd",
            resolution="recovered" if new is IncidentStatus.RESOLVED else None,
        )  # fmt: skip

    def round(self, after: timedelta = timedelta(0)) -> dict[str, int]:
        now = self.clock.advance(after)
        self.follower.run_once(now)
        return self.courier.run_once(now)

    def approve(self, message_id: int, scope: Scope = PLATFORM, actor: str = "dana") -> bool:
        (message,) = [m for m in list_messages(self.database, PLATFORM) if m.id == message_id]
        channels = [c.name for c in channels_for(self.config, message.channel, message.audience)]
        return approve_message(self.database, scope, message_id, text=message.text,
                               channels=channels, at=self.clock.now(), actor=actor)  # fmt: skip


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook() as receiver:
        yield receiver


@pytest.fixture
def rig(tmp_path: Path, hook: Webhook) -> Iterator[Rig]:
    made = Rig(database_path(tmp_path / "state"), f"json://127.0.0.1:{hook.port}", ManualClock(T0))
    yield made
    made.database.close()


def test_impact_in_status_page_terms(rig: Rig) -> None:
    quiet = get_incident(rig.database, PLATFORM, rig.open(org="globex"))
    down = get_incident(rig.database, PLATFORM, rig.open(impact=DOWN))
    acme = get_incident(rig.database, PLATFORM, rig.open(org="acme", impact=UPLOADS_FAILING))
    assert quiet and down and acme
    assert customer_impact(quiet).affected is False
    assert suggest(customer_impact(quiet)).channel is Channel.NONE
    seen = customer_impact(down)
    assert (seen.component, seen.phase, seen.audience) == (
        ComponentStatus.MAJOR_OUTAGE, Phase.INVESTIGATING, Audience.PLATFORM,
    )  # fmt: skip
    assert suggest(seen).channel is Channel.STATUS_PAGE
    theirs = customer_impact(acme)
    assert (theirs.component, theirs.audience, theirs.organizations) == (
        ComponentStatus.DEGRADED_PERFORMANCE, Audience.ORGANIZATIONS, ("acme",),
    )  # fmt: skip
    assert suggest(theirs).channel is Channel.ORGANIZATIONS
    assert theirs.line == "degraded performance for acme, investigating"


def test_a_draft_per_phase_only_while_customers_see_it_and_none_sent_without_approval(
    rig: Rig, hook: Webhook
) -> None:
    quiet = rig.open(org="globex")
    rig.round()
    assert list_messages(rig.database, PLATFORM, incident_id=quiet) == []

    incident = rig.open(org="acme", impact=UPLOADS_FAILING)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert (draft.status, draft.phase, draft.channel, draft.audience) == (
        MessageStatus.DRAFT, "investigating", "organizations", ("acme",),
    )  # fmt: skip
    assert draft.text.startswith("We are investigating reports of some file uploads failing")
    for _ in range(3):
        rig.round(timedelta(minutes=10))
    assert hook.received == []  # a draft is never sent

    rig.move(incident, IncidentStatus.STABILIZING)
    rig.round()
    newest, older = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert (newest.phase, older.status) == ("identified", MessageStatus.DISCARDED)
    assert rig.approve(newest.id)
    assert not rig.approve(newest.id)  # once
    assert rig.round()["sent"] == 1
    (sent,) = hook.delivered()
    assert (sent.path, sent.body["title"], sent.body["message"]) == (
        "/acme", "Identified", newest.text,
    )  # fmt: skip
    kinds = [e.kind for e in list_events(rig.database, PLATFORM) if e.kind.startswith("message.")]
    assert kinds == ["message.drafted", "message.drafted", "message.discarded",
                     "message.approved", "message.sent"]  # fmt: skip
    assert verify_file(rig.database.path).ok


def test_resolved_goes_only_where_an_earlier_message_reached(rig: Rig, hook: Webhook) -> None:
    never_told = rig.open(org="acme", impact=UPLOADS_FAILING)
    rig.round()
    rig.impact(never_told, {})
    rig.move(never_told, IncidentStatus.RESOLVED)
    rig.round()
    assert {m.phase for m in list_messages(rig.database, PLATFORM, incident_id=never_told)} == {
        "investigating"
    }  # nobody was told: no resolved draft

    told = rig.open(impact=DOWN)
    rig.round()
    (first,) = list_messages(rig.database, PLATFORM, incident_id=told)
    assert rig.approve(first.id)
    rig.round()
    rig.impact(told, {})
    rig.move(told, IncidentStatus.RESOLVED)
    rig.round()
    resolved = list_messages(rig.database, PLATFORM, incident_id=told)[0]
    assert (resolved.phase, resolved.channel) == ("resolved", "status_page")
    assert resolved.text.startswith("This incident has been resolved.")
    assert rig.approve(resolved.id)
    rig.round()
    assert [r.body["title"] for r in hook.delivered()] == ["Investigating", "Resolved"]


def test_a_row_approved_behind_calmopsd_s_back_is_never_sent(rig: Rig, hook: Webhook) -> None:
    incident = rig.open(impact=DOWN)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    with rig.database.write() as tx:  # what someone with the database file could do
        tx.db.execute("UPDATE customer_messages SET status = 'approved' WHERE id = ?", [draft.id])
        tx.db.execute(
            "INSERT INTO message_deliveries (message_id, channel_name, incident_id, "
            "organization_id, status, attempts, created_at, next_attempt_at) "
            "VALUES (?, 'statuspage', ?, NULL, 'pending', 0, ?, ?)",
            [draft.id, incident, T0.isoformat(), T0.isoformat()],
        )
    assert rig.round()["dropped"] == 1
    (delivery,) = list_deliveries(rig.database, draft.id)
    assert delivery.status is DeliveryStatus.DROPPED
    assert delivery.last_error == "no approval of this text in the audit chain"
    assert hook.received == []


def test_an_edit_after_the_approver_looked_loses_the_race_and_racing_approvals_win_once(
    rig: Rig, hook: Webhook
) -> None:
    incident = rig.open(impact=DOWN)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert edit_message(rig.database, PLATFORM, draft.id, text="We are looking into it.",
                        at=T0, actor="erin")  # fmt: skip
    # Dana approves the text she saw, which is no longer the draft's.
    assert not approve_message(rig.database, PLATFORM, draft.id, text=draft.text,
                               channels=["statuspage"], at=T0, actor="dana")  # fmt: skip
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def race(name: str) -> None:
        barrier.wait(5)
        wins.append(approve_message(rig.database, PLATFORM, draft.id,
                                    text="We are looking into it.", channels=["statuspage"],
                                    at=T0, actor=name))  # fmt: skip

    threads = [threading.Thread(target=race, args=(f"op{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(wins) == [False] * 7 + [True]
    assert len(list_deliveries(rig.database, draft.id)) == 1
    rig.round()
    assert [r.body["message"] for r in hook.delivered()] == ["We are looking into it."]


def test_an_organization_sees_and_approves_only_its_own_messages(rig: Rig) -> None:
    platform = rig.open(impact=DOWN)
    globex = rig.open(org="globex", impact=UPLOADS_FAILING)
    acme = rig.open(org="acme", impact=UPLOADS_FAILING)
    rig.round()
    acme_scope = Scope.organization("acme")
    assert {m.incident_id for m in list_messages(rig.database, acme_scope)} == {acme}
    (theirs,) = list_messages(rig.database, PLATFORM, incident_id=globex)
    (public,) = list_messages(rig.database, PLATFORM, incident_id=platform)
    for other in (theirs, public):
        assert not approve_message(rig.database, acme_scope, other.id, text=other.text,
                                   channels=[], at=T0, actor="acme-op")  # fmt: skip
        assert not edit_message(rig.database, acme_scope, other.id, text="x", at=T0, actor="a")
        assert not discard_message(rig.database, acme_scope, other.id, at=T0, actor="a")
    assert rig.approve(list_messages(rig.database, acme_scope)[0].id, scope=acme_scope)


def test_a_channel_that_fails_then_recovers_gets_the_message_once(rig: Rig, hook: Webhook) -> None:
    hook.answers = [500, 502]
    incident = rig.open(impact=DOWN)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert rig.approve(draft.id)
    assert rig.round()["failed"] == 1
    assert rig.round(timedelta(seconds=10))["failed"] == 1
    assert rig.round(timedelta(seconds=10))["sent"] == 0  # the second wait is 20 s
    assert rig.round(timedelta(seconds=10))["sent"] == 1
    for _ in range(3):
        assert rig.round(timedelta(minutes=10)) == {"sent": 0, "failed": 0, "given_up": 0,
                                                     "dropped": 0}  # fmt: skip
    assert len(hook.delivered()) == 1
    (message,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert message.status is MessageStatus.SENT


def test_every_template_passes_the_leak_check_of_a_busy_config() -> None:
    from calmopsd.config import Config
    from calmopsd.customers.drafts import draft_text
    from calmopsd.customers.leaks import Known, find_leaks
    from calmopsd.customers.status import CustomerImpact

    config = Config.model_validate(
        {
            "actions": {
                "pm2_restart": {"apps": ["api", "web", "uploads", "worker"]},
                "pause_jobs": {"apps": ["jobs", "mailer"]},
            },
            "api": {"tokens": [{"name": "service", "organization": "acme", "role": "operator",
                                "sha256": "a" * 64}]},
        }
    )  # fmt: skip
    known = Known.from_config(
        config, apps=["api", "web", "checkout"], organizations=["acme", "globex"],
        own_organization="acme", machine=["web-1", "web-1.internal.example"],
    )  # fmt: skip
    texts = {
        draft_text(kind, CustomerImpact(True, component, phase, Audience.PLATFORM, (), ""),
                   audience=audience)
        for kind in IncidentType for component in ComponentStatus for phase in Phase
        for audience in ("platform", "organization")
    }  # fmt: skip
    assert len(texts) > 40
    for text in texts:
        assert find_leaks(text, known) == [], text


def test_a_message_being_sent_cannot_be_discarded(rig: Rig, hook: Webhook) -> None:
    from calmopsd.record.messages import claim_delivery

    incident = rig.open(impact=DOWN)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert rig.approve(draft.id)
    (delivery,) = list_deliveries(rig.database, draft.id)
    assert claim_delivery(rig.database, delivery)  # the courier has it on its way
    assert not discard_message(rig.database, PLATFORM, draft.id, at=T0, actor="erin")
    # A superseding draft never takes back an approval either.
    assert not discard_message(rig.database, PLATFORM, draft.id, at=T0, actor="calmopsd",
                               only_draft=True)  # fmt: skip


def test_a_draft_left_when_customers_no_longer_see_it_is_discarded_and_cannot_be_approved(
    rig: Rig, hook: Webhook
) -> None:
    incident = rig.open(impact=DOWN)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    rig.impact(incident, {})
    rig.move(incident, IncidentStatus.RESOLVED)
    rig.round()
    (ended,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert ended.status is MessageStatus.DISCARDED
    assert not rig.approve(draft.id)
    rig.round(timedelta(minutes=5))
    assert hook.received == []


def test_a_fault_that_spreads_within_a_phase_gets_a_draft_for_its_new_audience(
    rig: Rig,
) -> None:
    incident = rig.open(impact={"uploads_failing": True, "upload_failure_rate": 0.2,
                                "organizations": ["acme"]})  # fmt: skip
    rig.round()
    (first,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert (first.channel, first.audience) == ("organizations", ("acme",))
    rig.impact(incident, DOWN)  # now the site is down for everyone
    update_incident(rig.database, PLATFORM, incident, at=rig.clock.now(), actor="calmopsd",
                    event="incident.escalated", data={"to": "critical"},
                    severity=Severity.CRITICAL)  # fmt: skip
    rig.round()
    newest, older = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert (newest.channel, newest.phase, older.status) == (
        "status_page", "investigating", MessageStatus.DISCARDED,
    )  # fmt: skip


def test_a_channel_a_reload_gives_to_another_audience_gets_nothing_of_the_old_one(
    rig: Rig, hook: Webhook
) -> None:
    incident = rig.open(org="acme", impact=UPLOADS_FAILING)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert rig.approve(draft.id)
    hooked = f"json://127.0.0.1:{hook.port}"
    moved = CustomersConfig.model_validate({"channels": [
        {"name": "acme-mail", "url": hooked + "/acme", "audience": "organization",
         "organization": "globex"},
    ]})  # fmt: skip
    rig.courier.configure(moved, timedelta(hours=6))
    assert rig.round()["dropped"] == 1
    (delivery,) = list_deliveries(rig.database, draft.id)
    assert delivery.last_error == "the channel no longer serves this message's audience"
    assert hook.received == []


def test_a_message_sent_that_the_store_could_not_record_is_not_sent_again(
    rig: Rig, hook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refusing once (a full disk, a held lock) is made by failing the recording
    function: a real lock would hold for the 10 s busy timeout."""
    import sqlite3

    from calmopsd.customers import courier as module

    real, calls = module.end_delivery, []

    def refusing(*args: object, **kwargs: object) -> bool:
        calls.append(kwargs)
        if args[2] is DeliveryStatus.SENT and len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "end_delivery", refusing)
    incident = rig.open(impact=DOWN)
    rig.round()
    (draft,) = list_messages(rig.database, PLATFORM, incident_id=incident)
    assert rig.approve(draft.id)
    with pytest.raises(sqlite3.OperationalError):
        rig.round()
    for _ in range(3):
        rig.round(timedelta(minutes=1))
    assert len(hook.received) == 1
    (delivery,) = list_deliveries(rig.database, draft.id)
    assert delivery.status is DeliveryStatus.SENT
