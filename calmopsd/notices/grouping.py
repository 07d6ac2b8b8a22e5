"""When a target hears about an incident: a pure decision over where its notices stand.

Like Alertmanager's aggregation groups, with one group per incident and target:

- the first notice waits ``group_wait`` after the incident is first seen, so what
  follows at once (its first action) is in it; an incident resolved before then is
  never notified (a blip nobody needs to hear of);
- changes after a notice wait until ``group_interval`` has passed since it, and go out
  together as one update (or as the resolved notice);
- an unresolved incident with nothing new is reminded of every ``repeat_interval``;
- a "resolved" goes only to a target whose opening notice was delivered (or is still
  on its way, ahead of it in the outbox); an opening never delivered is sent afresh at
  the incident's next change while it is unresolved (a target down for hours must not
  stay deaf to that incident for good);
- a resolved incident gets nothing more once its resolved notice went (nor any notice,
  if it resolved before the first), whatever the group missed while its target was
  away;
- below the target's least severity nothing is sent until the incident escalates;
- at most ``max_per_hour`` notices per target in any hour: the rest wait, and carry
  the latest state when they go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from calmopsd.model import Severity
from calmopsd.record.outbox import NoticeGroup, NoticeKind, NoticeStatus

HOUR = timedelta(hours=1)
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Why(StrEnum):
    """The named reason of each decision."""

    FIRST = "first"  # the opening notice is due
    CHANGED = "changed"  # an update (or the resolved notice) is due
    REMINDER = "reminder"  # unchanged and unresolved for a repeat interval
    GROUP_WAIT = "group_wait"
    GROUP_INTERVAL = "group_interval"
    REPEAT_INTERVAL = "repeat_interval"
    BELOW_SEVERITY = "below_severity"
    RATE_LIMITED = "rate_limited"
    RESOLVED_UNNOTIFIED = "resolved_unnotified"  # resolved before anyone was told
    OPENING_UNDELIVERED = "opening_undelivered"  # its opening was given up or dropped
    FIRST_AGAIN = "first_again"  # a fresh opening: the last one never got through
    DONE = "done"  # resolved, and said so


@dataclass(frozen=True)
class Policy:
    """One target's grouping settings."""

    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    min_severity: Severity
    max_per_hour: int


@dataclass(frozen=True)
class Send:
    kind: NoticeKind
    why: Why


@dataclass(frozen=True)
class Wait:
    """Nothing now; look again at ``until`` (None: only when something changes)."""

    why: Why
    until: datetime | None


@dataclass(frozen=True)
class Close:
    """Nothing more to send for the group as it stands."""

    why: Why


Step = Send | Wait | Close


def next_step(
    group: NoticeGroup,
    severity: Severity,
    opening: NoticeStatus | None,
    policy: Policy,
    now: datetime,
    queued_last_hour: Sequence[datetime],
    *,
    resolved_now: bool = False,
) -> Step:
    """What to do for ``group`` at ``now``; ``severity`` is its incident's now,
    ``resolved_now`` whether it is resolved now (the group may have missed the event),
    ``opening`` the status of its opening notice (None: none queued),
    ``queued_last_hour`` when the target's notices of the past hour were queued (oldest
    first)."""
    step = _unlimited_step(group, severity, opening, policy, now, resolved_now)
    if not isinstance(step, Send) or len(queued_last_hour) < policy.max_per_hour:
        return step
    # The hour's oldest notice leaves the window first; this one goes then.
    return Wait(Why.RATE_LIMITED, queued_last_hour[-policy.max_per_hour] + HOUR)


def _unlimited_step(
    group: NoticeGroup,
    severity: Severity,
    opening: NoticeStatus | None,
    policy: Policy,
    now: datetime,
    resolved_now: bool,
) -> Step:
    if not group.opening_queued:
        if group.resolved or resolved_now:
            return Close(Why.RESOLVED_UNNOTIFIED)
        if _RANK[severity] < _RANK[policy.min_severity]:
            return Wait(Why.BELOW_SEVERITY, None)
        due = group.first_at + policy.group_wait
        return Send(NoticeKind.OPENED, Why.FIRST) if now >= due else Wait(Why.GROUP_WAIT, due)
    if opening in (NoticeStatus.GIVEN_UP, NoticeStatus.DROPPED):
        if group.resolved or resolved_now or not group.changed_since_notified:
            return Close(Why.OPENING_UNDELIVERED)
        if _RANK[severity] < _RANK[policy.min_severity]:
            return Wait(Why.BELOW_SEVERITY, None)
        return Send(NoticeKind.OPENED, Why.FIRST_AGAIN)
    last = group.notified_at or group.first_at
    if group.changed_since_notified:
        due = last + policy.group_interval
        if now < due:
            return Wait(Why.GROUP_INTERVAL, due)
        kind = NoticeKind.RESOLVED if group.resolved else NoticeKind.UPDATED
        return Send(kind, Why.CHANGED)
    if group.resolved or resolved_now:
        return Close(Why.DONE)
    due = last + policy.repeat_interval
    return Send(NoticeKind.REMINDER, Why.REMINDER) if now >= due else Wait(Why.REPEAT_INTERVAL, due)
