"""The weekly stability summary through the notifier: queued once per target and week at the
configured moment, delivered by apprise to a real webhook receiver, an organization's
target only its own organization's summary; retried after a failure; the config's
checks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock
from support.receivers import Webhook
from support.weeks import PLATFORM, at, recorded

from calmopsd.config.load import load_config_text
from calmopsd.config.notify import NotifyConfig
from calmopsd.errors import ConfigError
from calmopsd.notices.send import AppriseSender
from calmopsd.notices.weekly import WeeklyNotifier
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.weekly_notices import list_weekly

MOMENT = at(7, 8, 0)  # Monday 2026-03-09 08:00 UTC: 2026-W10's summary is due


def _config(hook: Webhook, **weekly: Any) -> NotifyConfig:
    return NotifyConfig.model_validate({
        "targets": [{"name": "oncall", "url": hook.url("/oncall")},
                    {"name": "acme", "url": hook.url("/acme"), "organization": "acme"},
                    {"name": "quiet", "url": hook.url("/quiet")}],
        "dashboard_url": "http://ops.example:8080",
        "weekly_summary": {"enabled": True, "day": "monday", "hour": 8,
                           "targets": ["oncall", "acme"], **weekly},
    })  # fmt: skip


@pytest.fixture
def history(tmp_path: Path) -> Database:
    database = Database.open(database_path(tmp_path / "state"))
    recorded(database)
    return database


def _weekly(history: Database, hook: Webhook, **weekly: Any) -> WeeklyNotifier:
    return WeeklyNotifier(history, ManualClock(MOMENT), AppriseSender(timeout_s=5), "host1",
                          _config(hook, **weekly))  # fmt: skip


def test_each_chosen_target_gets_last_weeks_summary_once(history: Database, hook: Webhook) -> None:
    weekly = _weekly(history, hook)
    assert weekly.queue(MOMENT - timedelta(minutes=1)) == 0  # not yet: Monday 08:00
    assert weekly.queue(MOMENT) == 2
    assert weekly.queue(MOMENT + timedelta(hours=1)) == 0  # a reload's catch-up: queued already
    assert weekly.run_once(MOMENT) == 2
    assert weekly.run_once(MOMENT + timedelta(minutes=5)) == 0
    got = {r.path: r for r in hook.delivered()}
    assert sorted(got) == ["/acme", "/oncall"]  # "quiet" is not among weekly_summary.targets
    oncall, acme = got["/oncall"], got["/acme"]
    assert oncall.body["title"] == "Stability summary, 2026-W10 (host1)"
    assert oncall.body["message"].splitlines()[0] == (
        "4 incidents opened (2026-W09: 2): 1 app critical, 1 app warning, 1 disk warning, "
        "1 memory warning."
    )
    assert oncall.body["message"].splitlines()[-1] == (
        "http://ops.example:8080/ops/summary?week=2026-W10"
    )
    assert oncall.headers["Idempotency-Key"] == "oncall:weekly:2026-W10"
    assert acme.body["title"] == "Stability summary for acme, 2026-W10 (host1)"
    assert "2 incidents opened (2026-W09: 1)" in acme.body["message"]
    assert "globex" not in acme.body["message"] and "disk:/" not in acme.body["message"]
    assert acme.body["message"].endswith("/company/acme/ops/summary?week=2026-W10")
    sent = [e for e in list_events(history, PLATFORM) if e.kind == "weekly_summary.sent"]
    assert [(e.data["target"], e.organization_id) for e in sent] == [
        ("oncall", None), ("acme", "acme")
    ]  # fmt: skip


def test_a_missed_moment_is_caught_up_within_a_day_and_not_after(
    history: Database, hook: Webhook
) -> None:
    assert _weekly(history, hook).queue(MOMENT + timedelta(days=1)) == 0  # too late: next week
    assert _weekly(history, hook).queue(MOMENT + timedelta(hours=23)) == 2
    assert _weekly(history, hook, enabled=False).queue(at(14, 8, 0)) == 0


def test_a_failed_delivery_is_retried_and_goes_once(history: Database, hook: Webhook) -> None:
    hook.answers = [500]
    weekly = _weekly(history, hook, targets=["acme"])
    assert weekly.queue(MOMENT) == 1
    assert weekly.run_once(MOMENT) == 0
    (waiting,) = list_weekly(history, PLATFORM)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.next_attempt_at == MOMENT + timedelta(seconds=10)
    assert weekly.run_once(MOMENT + timedelta(seconds=9)) == 0  # not due yet
    assert weekly.run_once(MOMENT + timedelta(seconds=10)) == 1
    assert [r.answered for r in hook.received] == [500, 200]
    (sent,) = list_weekly(history, PLATFORM)
    assert (sent.status, sent.attempts) == ("sent", 2)


def test_a_summary_for_a_removed_target_is_dropped(history: Database, hook: Webhook) -> None:
    hook.answers = [500]
    weekly = _weekly(history, hook, targets=["acme"])
    weekly.queue(MOMENT)
    weekly.run_once(MOMENT)
    weekly.configure(NotifyConfig.model_validate({"targets": [
        {"name": "oncall", "url": hook.url("/oncall")}]}))  # fmt: skip
    assert weekly.run_once(MOMENT + timedelta(minutes=1)) == 0
    assert [n.status for n in list_weekly(history, PLATFORM)] == ["dropped"]
    assert len(hook.received) == 1


def test_weekly_targets_must_be_notify_targets() -> None:
    text = (
        "notify:\n  targets:\n    - {name: oncall, url: 'json://127.0.0.1:9/x'}\n"
        "  weekly_summary: {enabled: true, targets: [oncall, pager]}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config_text(Path("calmops.yaml"), text)
    assert any("'pager', not among notify.targets" in p for p in raised.value.problems)
    with pytest.raises(ConfigError):
        load_config_text(Path("calmops.yaml"), "notify:\n  weekly_summary: {hour: 24}\n")
