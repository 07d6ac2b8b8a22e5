"""Recorded scenario histories: readings through the real agent *and* into the store's
snapshots, as the daemon's sampling jobs do, on the scenario's manual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from support.scenario import EVERY, PLATFORM, Scenario

from calmopsd.learn.drafting import reviewing
from calmopsd.record.audit import list_events
from calmopsd.record.reviews import Review, get_review
from calmopsd.record.snapshots import add_snapshot

MIN = timedelta(minutes=1)
MiB = 1 << 20


def record(
    s: Scenario, sampler: str, values: dict[str, Any], times: int = 1, every: timedelta = EVERY
) -> None:
    """``times`` readings of ``values``, each stored as a snapshot and fed to the agent."""
    for _ in range(times):
        add_snapshot(s.database, PLATFORM, sampler=sampler, taken_at=s.now, ok=True,
                     duration_ms=1.0, readings=values)  # fmt: skip
        s.feed(sampler, values, every=every)


def follow(s: Scenario) -> None:
    """The review consumer over the whole event log, as the follower delivers it."""
    handle = reviewing(s.database)
    for event in list_events(s.database, PLATFORM):
        handle(event)


def review_of(s: Scenario, incident_id: int) -> Review:
    follow(s)
    review = get_review(s.database, PLATFORM, incident_id)
    assert review is not None
    return review


def until_resolved(
    s: Scenario, sampler: str, values: dict[str, Any], every: timedelta, **also: dict[str, Any]
) -> None:
    """Healthy readings (``values``, and each of ``also`` by sampler) until every incident
    resolved (at most two hours of them)."""
    for _ in range(int(timedelta(hours=2) / every)):
        if all(i.status == "resolved" for i in s.incidents()):
            return
        for other, healthy in also.items():
            record(s, other, healthy, every=timedelta(0))
        record(s, sampler, values, every=every)
    raise AssertionError("never resolved")
