"""When a target hears of an incident: the grouping decision as a table, no store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calmopsd.model import Severity
from calmopsd.notices.grouping import Close, Policy, Send, Wait, Why, next_step
from calmopsd.record.outbox import NoticeGroup, NoticeKind, NoticeStatus

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
POLICY = Policy(
    group_wait=30 * S,
    group_interval=5 * M,
    repeat_interval=timedelta(hours=4),
    min_severity=Severity.WARNING,
    max_per_hour=3,
)
NEW = NoticeGroup(
    target="oncall", incident_id=7, organization_id=None, first_at=T0, changed_seq=10,
    changed_at=T0, resolved=False, notified_seq=0, notified_at=None, opening_id=None,
    reminders=0, closed=False,
)  # fmt: skip
NOTIFIED = replace(NEW, notified_seq=10, notified_at=T0 + 30 * S, opening_id=1)
CHANGED = replace(NOTIFIED, changed_seq=14, changed_at=T0 + M)


def step(
    group: NoticeGroup,
    now: datetime,
    *,
    severity: Severity = Severity.WARNING,
    opening: NoticeStatus | None = None,
    recent: tuple[datetime, ...] = (),
) -> Send | Wait | Close:
    return next_step(group, severity, opening, POLICY, now, recent)


@pytest.mark.parametrize(
    ("group", "now", "opening", "expected"),
    [
        (NEW, T0, None, Wait(Why.GROUP_WAIT, T0 + 30 * S)),
        (NEW, T0 + 29 * S, None, Wait(Why.GROUP_WAIT, T0 + 30 * S)),
        (NEW, T0 + 30 * S, None, Send(NoticeKind.OPENED, Why.FIRST)),
        (replace(NEW, resolved=True), T0 + 10 * S, None, Close(Why.RESOLVED_UNNOTIFIED)),
        (replace(NEW, resolved=True), T0 + M, None, Close(Why.RESOLVED_UNNOTIFIED)),
        (NOTIFIED, T0 + M, NoticeStatus.SENT, Wait(Why.REPEAT_INTERVAL, T0 + 30 * S + 4 * 60 * M)),
        (CHANGED, T0 + M, NoticeStatus.SENT, Wait(Why.GROUP_INTERVAL, T0 + 30 * S + 5 * M)),
        (CHANGED, T0 + 30 * S + 5 * M, NoticeStatus.SENT, Send(NoticeKind.UPDATED, Why.CHANGED)),
        (CHANGED, T0 + 6 * M, NoticeStatus.PENDING, Send(NoticeKind.UPDATED, Why.CHANGED)),
        (
            replace(CHANGED, resolved=True),
            T0 + 6 * M,
            NoticeStatus.SENT,
            Send(NoticeKind.RESOLVED, Why.CHANGED),
        ),
        (
            NOTIFIED,
            T0 + 30 * S + 4 * 60 * M,
            NoticeStatus.SENT,
            Send(NoticeKind.REMINDER, Why.REMINDER),
        ),
        (replace(CHANGED, resolved=True), T0 + 6 * M, NoticeStatus.GIVEN_UP,
         Close(Why.OPENING_UNDELIVERED)),
        (CHANGED, T0 + 6 * M, NoticeStatus.DROPPED, Send(NoticeKind.OPENED, Why.FIRST_AGAIN)),
        (NOTIFIED, T0 + 6 * M, NoticeStatus.GIVEN_UP, Close(Why.OPENING_UNDELIVERED)),
        (replace(NOTIFIED, resolved=True), T0 + 6 * M, NoticeStatus.SENT, Close(Why.DONE)),
    ],
)  # fmt: skip
def test_the_table(
    group: NoticeGroup, now: datetime, opening: NoticeStatus | None, expected: object
) -> None:
    assert step(group, now, opening=opening) == expected


def test_below_the_least_severity_nothing_until_it_escalates() -> None:
    assert step(NEW, T0 + M, severity=Severity.INFO) == Wait(Why.BELOW_SEVERITY, None)
    assert step(NEW, T0 + M, severity=Severity.CRITICAL) == Send(NoticeKind.OPENED, Why.FIRST)


def test_once_notified_a_change_goes_out_whatever_the_severity() -> None:
    sent = step(CHANGED, T0 + 6 * M, severity=Severity.INFO, opening=NoticeStatus.SENT)
    assert sent == Send(NoticeKind.UPDATED, Why.CHANGED)


def test_the_hourly_cap_holds_a_due_notice_until_the_oldest_of_the_hour_leaves_the_window() -> None:
    recent = (T0 - 50 * M, T0 - 20 * M, T0 - 10 * M)
    assert step(NEW, T0 + M, recent=recent) == Wait(Why.RATE_LIMITED, T0 + 10 * M)
    assert step(NEW, T0 + M, recent=recent[1:]) == Send(NoticeKind.OPENED, Why.FIRST)
    # A wait that is not a send is told as it is, cap or not.
    assert step(NEW, T0, recent=recent) == Wait(Why.GROUP_WAIT, T0 + 30 * S)


def test_a_resolved_incident_gets_nothing_more_whatever_its_group_missed() -> None:
    # The group never heard of the resolve (its target was away): the incident says it.
    assert next_step(NOTIFIED, Severity.WARNING, NoticeStatus.SENT, POLICY,
                     T0 + timedelta(hours=5), (), resolved_now=True) == Close(Why.DONE)  # fmt: skip
    assert next_step(NEW, Severity.WARNING, None, POLICY, T0 + M, (),
                     resolved_now=True) == Close(Why.RESOLVED_UNNOTIFIED)  # fmt: skip
    assert next_step(CHANGED, Severity.WARNING, NoticeStatus.GIVEN_UP, POLICY, T0 + 6 * M, (),
                     resolved_now=True) == Close(Why.OPENING_UNDELIVERED)  # fmt: skip
