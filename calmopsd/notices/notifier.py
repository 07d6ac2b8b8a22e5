"""The notifier: queues each due notice in the outbox and delivers what is pending.

A round (:meth:`Notifier.run_once`), in the notifier's own thread, so a slow mail
server never holds up the agent or the other consumers of the event log:

1. notices pending for a target no longer in the config are dropped;
2. for each target, each of its open groups is decided by
   :func:`calmopsd.notices.grouping.next_step`, and a due notice is written and queued
   with its group's move in one transaction;
3. pending notices that are due are sent, each the oldest of its target and incident:
   sent → ``notice.sent``; failed → tried again after a growing delay (10 s doubling to
   10 min), across restarts since the outbox is in the store; not delivered within
   ``give_up_after`` → ``notice.given_up``.

A crash after a send and before it is recorded sends that one notice again at the
next start (it carries its key, for receivers that drop repeats); nothing else is
ever sent twice, and nothing queued is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from calmopsd.clock import Clock
from calmopsd.config.notify import NotifyConfig
from calmopsd.model import CONFIG_CHANGES, IncidentStatus, RecommendationStatus, Severity
from calmopsd.notices.grouping import Close, Policy, Send, Wait, next_step
from calmopsd.notices.intake import TargetScope
from calmopsd.notices.send import Sender
from calmopsd.notices.text import notice_text
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.outbox import (
    Notice,
    NoticeGroup,
    close_group,
    close_group_now,
    close_groups_of_targets_other_than,
    drop_notices,
    due_notices,
    get_notice,
    give_up,
    mark_failed,
    mark_sent,
    notice_key,
    open_groups,
    pending_for_targets_other_than,
    queue_notice,
    queued_since,
)
from calmopsd.record.recommendations import list_recommendations
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.notify")

POLL_S = 5.0
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(minutes=10)
SENDS_PER_ROUND = 50
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Target:
    """A target as the notifier uses it."""

    name: str
    url: str
    organization_id: str | None
    policy: Policy

    @property
    def scope(self) -> TargetScope:
        return TargetScope(self.name, self.organization_id)


@dataclass(frozen=True)
class Settings:
    targets: Mapping[str, Target]
    give_up_after: timedelta
    dashboard_url: str | None


def settings_from(config: NotifyConfig) -> Settings:
    targets = {
        t.name: Target(
            name=t.name,
            url=t.url,
            organization_id=t.organization,
            policy=Policy(
                group_wait=config.group_wait,
                group_interval=config.group_interval,
                repeat_interval=config.repeat_interval,
                min_severity=Severity(t.min_severity),
                max_per_hour=t.max_per_hour,
            ),
        )
        for t in config.targets
    }
    dashboard = None if config.dashboard_url is None else str(config.dashboard_url)
    return Settings(targets, config.give_up_after, dashboard)


@dataclass(frozen=True)
class Round:
    """What one round did."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    dropped: int = 0
    next_due: datetime | None = None  # the soonest a group waits for, if any


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try in a row."""
    delay: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(delay, LONGEST_RETRY)


class Notifier:
    """Notices for ``database``'s incidents, through ``sender``; ``host`` names this machine
    in every title."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        sender: Sender,
        host: str,
        config: NotifyConfig,
        *,
        poll_s: float = POLL_S,
    ):
        self.database = database
        self.clock = clock
        self.sender = sender
        self.host = host
        self.poll_s = poll_s
        self.settings = settings_from(config)
        self.also: list[Callable[[datetime], object]] = []  # more rounds in this thread
        # Notices sent whose "sent" could not be written (the store locked, the disk
        # full): the next round records them again, never sends them again.
        self._unrecorded: dict[int, datetime] = {}
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def configure(self, config: NotifyConfig) -> None:
        """Follow a reload: the new targets and settings from the next round on."""
        self.settings = settings_from(config)
        self._woken.set()

    def scopes(self) -> Sequence[TargetScope]:
        """The targets in force, as the intake needs them."""
        return [t.scope for t in self.settings.targets.values()]

    # -- one round -----------------------------------------------------------------

    def run_once(self, now: datetime) -> Round:
        settings = self.settings  # one round, one config
        dropped = self._drop_removed(settings, now)
        self._soonest: datetime | None = None
        queued = sum(self._queue_due(settings, target, now) for target in settings.targets.values())
        sent = failed = given_up = 0
        down: set[str] = set()  # targets that failed this round: the rest wait, not hang
        for notice in due_notices(self.database, now, limit=SENDS_PER_ROUND):
            if self._stopping.is_set():
                break
            target = settings.targets.get(notice.target)
            if target is None or target.name in down:
                continue  # removed since this round began: dropped next round
            if not target.scope.hears_of(notice.organization_id):
                dropped += self._drop(notice, now, "its target no longer hears of it")
                continue
            outcome = self._deliver(settings, target, notice, now)
            sent += outcome == "sent"
            failed += outcome == "failed"
            given_up += outcome == "given_up"
            if outcome == "failed":
                down.add(target.name)
        return Round(queued, sent, failed, given_up, dropped, self._soonest)

    def _drop(self, notice: Notice, now: datetime, reason: str) -> int:
        dropped = drop_notices(self.database, [notice], now, reason)
        if dropped:
            log.warning("notify.dropped", target=notice.target, notice_id=notice.id,
                        incident_id=notice.incident_id,
                        organization_id=notice.organization_id, reason=reason)  # fmt: skip
        return dropped

    def _drop_removed(self, settings: Settings, now: datetime) -> int:
        close_groups_of_targets_other_than(self.database, settings.targets)
        orphans = pending_for_targets_other_than(self.database, settings.targets)
        if not orphans:
            return 0
        dropped = drop_notices(self.database, orphans, now, "its target was removed")
        for notice in orphans:
            log.warning(
                "notify.dropped",
                target=notice.target,
                notice_id=notice.id,
                incident_id=notice.incident_id,
                organization_id=notice.organization_id,
                reason="target_removed",
            )
        return dropped

    def _queue_due(self, settings: Settings, target: Target, now: datetime) -> int:
        queued = 0
        for group in open_groups(self.database, target.name):
            incident = get_incident(self.database, Scope.platform(), group.incident_id)
            if incident is None:
                continue
            if not target.scope.hears_of(group.organization_id):
                # A reload gave the target to one organization: another's incident is
                # none of its business any more, not even a reminder.
                if close_group_now(self.database, target.name, group.incident_id):
                    log.warning("notify.out_of_scope", target=target.name,
                                incident_id=group.incident_id,
                                organization_id=group.organization_id)  # fmt: skip
                continue
            opening = None
            if group.opening_id is not None:
                notice = get_notice(self.database, group.opening_id)
                opening = None if notice is None else notice.status
            recent = queued_since(self.database, target.name, now - HOUR)
            step = next_step(
                group, incident.severity, opening, target.policy, now, recent,
                resolved_now=incident.status is IncidentStatus.RESOLVED,
            )  # fmt: skip
            if isinstance(step, Wait):
                if step.until is not None and (self._soonest is None or step.until < self._soonest):
                    self._soonest = step.until
                continue
            if isinstance(step, Close):
                if close_group(self.database, group):
                    log.debug(
                        "notify.closed",
                        target=target.name,
                        incident_id=group.incident_id,
                        organization_id=group.organization_id,
                        reason=step.why.value,
                    )
                continue
            queued += self._queue(settings, target, group, step, now)
        return queued

    def _queue(
        self, settings: Settings, target: Target, group: NoticeGroup, step: Send, now: datetime
    ) -> int:
        scope = Scope.platform()
        incident = get_incident(self.database, scope, group.incident_id)
        if incident is None:
            return 0
        # A config change is the host's: an organization's target is not told of one.
        pending = [
            rec
            for rec in list_recommendations(self.database, scope, incident.id)
            if rec.status is RecommendationStatus.PROPOSED
            and (target.organization_id is None or rec.kind not in CONFIG_CHANGES)
        ]
        key = notice_key(group, step.kind)
        text = notice_text(
            step.kind,
            incident,
            pending,
            host=self.host,
            dashboard_url=settings.dashboard_url,
            key=key,
        )
        notice_id = queue_notice(
            self.database, group, kind=step.kind, title=text.title, body=text.body, at=now
        )
        if notice_id is None:
            return 0
        log.info(
            "notify.queued",
            target=target.name,
            notice_id=notice_id,
            kind=step.kind.value,
            incident_id=incident.id,
            organization_id=incident.organization_id,
        )
        return 1

    def _deliver(self, settings: Settings, target: Target, notice: Notice, now: datetime) -> str:
        fields = {
            "target": target.name,
            "notice_id": notice.id,
            "kind": notice.kind.value,
            "incident_id": notice.incident_id,
            "organization_id": notice.organization_id,
        }
        if notice.id in self._unrecorded:
            return self._record_sent(notice, fields, self._unrecorded[notice.id])
        # Given up only after a try: a daemon stopped for longer than give_up_after still
        # tries what it queued before it stopped, once.
        if notice.attempts > 0 and now - notice.created_at > settings.give_up_after:
            reason = f"not delivered within {settings.give_up_after}"
            if notice.last_error:
                reason += f"; last try: {notice.last_error}"
            if give_up(self.database, notice, now, reason):
                log.error("notify.given_up", **fields, attempts=notice.attempts, reason=reason)
            return "given_up"
        delivery = self.sender.send(
            target.url, title=notice.title, body=notice.body, key=notice.key
        )
        done = self.clock.now()
        if delivery.ok:
            self._unrecorded[notice.id] = done
            return self._record_sent(notice, fields, done)
        delay = retry_delay(notice.attempts + 1)
        reason = delivery.reason or "failed"
        mark_failed(self.database, notice, done, reason, done + delay)
        log.warning("notify.failed", **fields, attempts=notice.attempts + 1, reason=reason,
                    retry_in_s=delay.total_seconds())  # fmt: skip
        return "failed"

    def _record_sent(self, notice: Notice, fields: dict[str, object], done: datetime) -> str:
        """Write that ``notice`` went; if the store refuses, the next round tries again."""
        recorded = mark_sent(self.database, notice, done)  # raises: kept in _unrecorded
        self._unrecorded.pop(notice.id, None)
        if recorded:
            log.info("notify.sent", **fields, attempts=notice.attempts + 1)
        return "sent"

    # -- the daemon's thread -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the next round now (an incident changed)."""
        self._woken.set()

    def stop(self, timeout: float) -> bool:
        """Stop after the send in flight; False if that did not end within ``timeout``
        (the notice stays pending and goes at the next start)."""
        self._stopping.set()
        self._woken.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()
            wait = self.poll_s
            for one_round in (self.run_once, *self.also):
                try:
                    done = one_round(self.clock.now())
                except Exception:  # the store failed (locked, disk): try again next round
                    log.exception(
                        "notify.round_failed", round=getattr(one_round, "__qualname__", "")
                    )
                    continue
                if isinstance(done, Round) and done.next_due is not None:
                    # A group's wait ends before the next poll: look again then.
                    soon = (done.next_due - self.clock.now()).total_seconds()
                    wait = min(wait, max(soon, 0.05))
            self._woken.wait(wait)
