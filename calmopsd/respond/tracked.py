"""What the agent keeps in memory about each incident it is working on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from calmopsd.model import (
    ActionOutcome,
    ActionRequest,
    Breach,
    Incident,
    Labels,
    Learning,
    SafeAction,
)
from calmopsd.respond.impact import Impact
from calmopsd.respond.playbook import Step
from calmopsd.respond.summary import Done, Facts

SeriesKey = tuple[str, Labels]


@dataclass(frozen=True)
class Pending:
    """The action in flight on an incident: requested, its outcome not in yet.

    ``pass_over``: the agent's own step, whose passable refusal lets the next
    listed action run; a person's approved step is never passed over.
    """

    step: Step
    actor: str
    pass_over: bool
    request: ActionRequest | None = None  # the request whose outcome this waits for


@dataclass
class Tracked:
    """One unresolved incident as the agent sees it.

    ``series`` are the (rule, labels) series whose breach belongs to it; the
    incident recovers when the last of them clears. The rest is what the
    decision summary tells: what was done, what was held back and why, and
    the one next step for a human.
    """

    incident: Incident
    breach: Breach
    resource: dict[str, str]
    clear_hold: timedelta
    series: set[SeriesKey] = field(default_factory=set)
    cause: str | None = None
    impact: Impact = field(default_factory=Impact)
    current: Any = None  # the headline series' value as last read
    peak: Any = None  # its worst value since it opened
    shown: Any = None  # the value the stored summary shows
    done: list[Done] = field(default_factory=list)
    tried: set[SafeAction] = field(default_factory=set)
    not_done: str | None = None
    clearing_since: datetime | None = None
    monitor_until: datetime | None = None
    next_step: str | None = None
    next_recommendation: int | None = None  # the recommendation the next step points at
    resolution_note: str | None = None  # what the person who resolved it wrote
    summarized: tuple[str, str] | None = None  # (status, severity) the summary was written from
    proposed: set[tuple[str, str | None, str]] = field(default_factory=set)
    pending: Pending | None = None  # the action in flight, while stabilizing
    passed: tuple[Step, ActionOutcome] | None = None  # the first refusal passed over this round
    replan: bool = False  # an action was interrupted: plan again while it still fires
    history: tuple[Learning, ...] = ()  # what earlier incidents of its problem taught

    @property
    def headline(self) -> SeriesKey:
        """The series whose figure the summary shows: the breach that opened it."""
        return (self.breach.rule, self.breach.labels)

    def facts(self, now: datetime) -> Facts:
        return Facts(
            incident=self.incident,
            breach=self.breach,
            impact=self.impact,
            now=now,
            cause=self.cause,
            current=self.current,
            peak=self.peak,
            done=tuple(self.done),
            not_done=self.not_done,
            clearing_since=self.clearing_since,
            clear_hold=self.clear_hold if (self.clearing_since or self.incident.flaps) else None,
            monitor_until=self.monitor_until,
            next_step=self.next_step,
            resolution_note=self.resolution_note,
            history=self.history,
        )
