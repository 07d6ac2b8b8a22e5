"""The weekly stability summary through the notifier (``notify.weekly_summary``).

Two halves, like the incident notices:

* :meth:`WeeklyNotifier.queue` — the daemon's weekly cron job (at ``day`` and ``hour``,
  UTC, and once at start and on reload, to catch up a moment the daemon was down for):
  once that moment of the ISO week has passed, and for a day after it, last week's
  summary is written for each chosen target — an organization's target gets its own
  organization's summary, any other the platform's — and queued in ``weekly_notices``
  under its (target, week), so it is queued at most once per target and week;
* :meth:`WeeklyNotifier.run_once` — a round in the notifier's thread (``Notifier.also``):
  pending summaries are sent through the same sender, retried after a growing delay
  across restarts, given up after ``give_up_after`` (after a try), dropped when their
  target is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from calmopsd.clock import Clock
from calmopsd.config.notify import NotifyConfig, NotifyTargetConfig, WeeklySummaryConfig
from calmopsd.learn.periods import Period, last_week, week_holding
from calmopsd.learn.stability import weekly_summary
from calmopsd.learn.weekly_report import lines, title
from calmopsd.notices.notifier import retry_delay
from calmopsd.notices.send import Sender
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.record.weekly_notices import (
    WeeklyNotice,
    drop_weekly_of_targets_other_than,
    due_weekly,
    end_weekly,
    mark_weekly_failed,
    queue_weekly,
    queued,
)

log = structlog.get_logger("calmopsd.notify")

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CATCH_UP = timedelta(days=1)  # a summary later than this waits for next week's


@dataclass(frozen=True)
class WeeklyTarget:
    name: str
    url: str
    organization_id: str | None


def moment(now: datetime, settings: WeeklySummaryConfig) -> datetime:
    """When this ISO week's summary (of the week before) is due."""
    monday = week_holding(now).start
    return monday + timedelta(days=DAYS.index(settings.day), hours=settings.hour)


def is_due(now: datetime, settings: WeeklySummaryConfig) -> bool:
    """Enabled, and ``now`` within a day after this week's moment."""
    due = moment(now, settings)
    return settings.enabled and due <= now < due + CATCH_UP


def chosen_targets(config: NotifyConfig) -> Mapping[str, WeeklyTarget]:
    names = set(config.weekly_summary.targets)
    return {t.name: _target(t) for t in config.targets if not names or t.name in names}


def _target(t: NotifyTargetConfig) -> WeeklyTarget:
    return WeeklyTarget(t.name, t.url, t.organization)


class WeeklyNotifier:
    def __init__(
        self, database: Database, clock: Clock, sender: Sender, host: str, config: NotifyConfig
    ):
        self.database = database
        self.clock = clock
        self.sender = sender
        self.host = host
        self.configure(config)

    def configure(self, config: NotifyConfig) -> None:
        """Follow a reload: the targets and settings from the next call on."""
        self.config = config

    def queue(self, now: datetime) -> int:
        """Queue last week's summary for each chosen target not yet sent it; how many."""
        config = self.config
        if not is_due(now, config.weekly_summary):
            return 0
        period = last_week(now)
        week = period.week or period.label
        count = 0
        for target in chosen_targets(config).values():
            if not queued(self.database, target.name, week):
                count += self._queue_one(config, target, period, now)
        return count

    def _queue_one(
        self, config: NotifyConfig, target: WeeklyTarget, period: Period, now: datetime
    ) -> int:
        week = period.week or period.label
        owner = target.organization_id
        scope = Scope.platform() if owner is None else Scope.organization(owner)
        summary = weekly_summary(self.database, scope, period)
        body = "\n".join([*lines(summary), *self._link(config, target, week)])
        notice_id = queue_weekly(
            self.database, target=target.name, week=week, organization_id=owner,
            title=f"{title(summary)} ({self.host})", body=body, at=now,
        )  # fmt: skip
        if notice_id is None:
            return 0  # queued meanwhile (a reload's catch-up beside the cron job)
        log.info("notify.weekly_queued", target=target.name, week=week, organization_id=owner,
                 notice_id=notice_id)  # fmt: skip
        return 1

    def _link(self, config: NotifyConfig, target: WeeklyTarget, week: str) -> list[str]:
        if config.dashboard_url is None:
            return []
        base = str(config.dashboard_url).rstrip("/")
        where = (
            "/ops" if target.organization_id is None else f"/company/{target.organization_id}/ops"
        )
        return ["", f"{base}{where}/summary?week={week}"]

    def run_once(self, now: datetime) -> int:
        """Send what is due; how many went."""
        targets = chosen_targets(self.config)
        all_targets = {t.name for t in self.config.targets}
        if drop_weekly_of_targets_other_than(self.database, all_targets, now):
            log.warning("notify.weekly_dropped", reason="target_removed")
        sent = 0
        down: set[str] = set()
        for notice in due_weekly(self.database, now):
            target = targets.get(notice.target)
            if target is None or target.name in down:
                continue  # not chosen any more: it waits, in case it is chosen again
            outcome = self._deliver(target, notice, now)
            sent += outcome == "sent"
            if outcome == "failed":
                down.add(target.name)
        return sent

    def _deliver(self, target: WeeklyTarget, notice: WeeklyNotice, now: datetime) -> str:
        fields = {"target": target.name, "week": notice.week, "notice_id": notice.id,
                  "organization_id": notice.organization_id}  # fmt: skip
        give_up_after = self.config.give_up_after
        if notice.attempts > 0 and now - notice.created_at > give_up_after:
            reason = f"not delivered within {give_up_after}; last try: {notice.last_error}"
            if end_weekly(self.database, notice, "given_up", now, reason):
                log.error("notify.weekly_given_up", **fields, attempts=notice.attempts)
            return "given_up"
        delivery = self.sender.send(target.url, title=notice.title, body=notice.body,
                                    key=notice.key)  # fmt: skip
        done = self.clock.now()
        if delivery.ok:
            if end_weekly(self.database, notice, "sent", done):
                log.info("notify.weekly_sent", **fields, attempts=notice.attempts + 1)
            return "sent"
        delay = retry_delay(notice.attempts + 1)
        reason = delivery.reason or "failed"
        mark_weekly_failed(self.database, notice, reason, done + delay)
        log.warning("notify.weekly_failed", **fields, attempts=notice.attempts + 1, reason=reason,
                    retry_in_s=delay.total_seconds())  # fmt: skip
        return "failed"
