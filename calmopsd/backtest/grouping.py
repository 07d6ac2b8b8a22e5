"""Confirmed breaches → the incidents the agent would have kept, grouped by fingerprint.

The agent (respond/decide/breach.py) joins a breach to the unresolved incident of its
problem (same organization and fingerprint) or of another series with the same
labels, reopens one of its problem resolved within ``reopen_within`` (a flap when it
had recovered, which grows the clear hold), and otherwise opens one. An incident
ends when its last series clears (recovered) or vanishes, or when nothing was heard
of it for ``stale_after`` (stale_resolved). This module keeps that bookkeeping for a
replay; it never touches a store. What it leaves out, and why, is in docs/decisions.md
(issue 17): actions and their effects, pauses, the log-scope hold-back of a platform
breach an organization's incident explains.

The grouper answers what the detector must be told (:class:`HoldClear`,
:class:`Forget`), as the agent's effects tell its own detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.detect.problem import Problem
from calmopsd.model import Breach, IncidentType, Labels, Resolution, Severity

SeriesKey = tuple[str, Labels]
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Source(StrEnum):
    """Where a replayed reading came from."""

    RAW = "raw"
    ROLLUP = "rollup"


@dataclass(frozen=True)
class HoldClear:
    """The series must hold its clear condition this long (the incident's clear hold)."""

    key: SeriesKey
    clear_for: timedelta


@dataclass(frozen=True)
class Forget:
    """Drop the series' state: a breach still there confirms afresh (after stale)."""

    key: SeriesKey


Instruction = HoldClear | Forget


@dataclass(frozen=True)
class WouldOpen:
    """An incident the replay opened: by which rule's breach, when, from which source,
    and how it ended (None: still unresolved when the history ends)."""

    rule: str
    organization_id: str | None
    fingerprint: str
    type: IncidentType
    labels: Labels
    severity: Severity
    opened_at: datetime
    source: Source
    ended_at: datetime | None
    ending: Resolution | None
    reopened: int  # times it reopened (flaps and after being resolved otherwise)
    rules: tuple[str, ...]  # every rule whose breach it took


@dataclass
class _Episode:
    rule: str
    problem: Problem
    type: IncidentType
    labels: Labels
    severity: Severity
    opened_at: datetime
    source: Source
    clear_hold: timedelta
    last_breach: datetime
    series: set[SeriesKey] = field(default_factory=set)
    rules: list[str] = field(default_factory=list)
    ended_at: datetime | None = None
    ending: Resolution | None = None
    reopened: int = 0
    flaps: int = 0

    @property
    def key(self) -> tuple[str | None, str]:
        return self.problem.organization_id, self.problem.fingerprint

    def take(self, breach: Breach) -> None:
        self.series.add((breach.rule, breach.labels))
        if breach.rule not in self.rules:
            self.rules.append(breach.rule)
        if _RANK[breach.severity] > _RANK[self.severity]:
            self.severity = breach.severity
        self.last_breach = breach.confirmed_at

    def frozen(self) -> WouldOpen:
        return WouldOpen(
            self.rule,
            self.problem.organization_id,
            self.problem.fingerprint,
            self.type,
            self.labels,
            self.severity,
            self.opened_at,
            self.source,
            self.ended_at,
            self.ending,
            self.reopened,
            tuple(self.rules),
        )


def flapped_hold(base: timedelta, flaps: int, settings: IncidentsConfig) -> timedelta:
    """A flapping incident's clear hold, as the agent grows it (a test holds the two equal)."""
    if not flaps:
        return base
    return min(base * (settings.flap_hold_growth**flaps), settings.max_clear_hold)


class Grouper:
    """The incidents of one replay, in the order they opened."""

    def __init__(self, settings: IncidentsConfig) -> None:
        self.settings = settings
        self.episodes: list[_Episode] = []
        self._open: dict[tuple[str | None, str], _Episode] = {}
        self._ended: dict[tuple[str | None, str], _Episode] = {}  # the latest per problem

    def confirmed(
        self,
        breach: Breach,
        problem: Problem,
        incident_type: IncidentType,
        source: Source,
        base_hold: timedelta,
    ) -> list[Instruction]:
        """A confirmed breach joins, reopens or opens; the series then holds its
        incident's clear hold."""
        key, at = (problem.organization_id, problem.fingerprint), breach.confirmed_at
        episode = self._open.get(key) or self._sibling(breach.labels)
        if episode is None:
            episode = self._reopened(key, at, base_hold)
        if episode is None:
            episode = _Episode(
                breach.rule,
                problem,
                incident_type,
                breach.labels,
                breach.severity,
                at,
                source,
                base_hold,
                at,
            )
            self.episodes.append(episode)
            self._open[key] = episode
        episode.take(breach)
        return [HoldClear((breach.rule, breach.labels), episode.clear_hold)]

    def _sibling(self, labels: Labels) -> _Episode | None:
        """An unresolved incident owning a series with the same labels: the same fault
        seen by another rule."""
        if not labels:
            return None
        return next(
            (e for e in self._open.values() if any(own == labels for _, own in e.series)), None
        )

    def _reopened(
        self, key: tuple[str | None, str], at: datetime, base_hold: timedelta
    ) -> _Episode | None:
        within = self.settings.reopen_within
        episode = self._ended.get(key)
        if not within or episode is None or episode.ended_at is None:
            return None
        if episode.ended_at < at - within:
            return None
        flap = episode.ending is Resolution.RECOVERED
        episode.clear_hold = flapped_hold(base_hold, episode.flaps + int(flap), self.settings)
        episode.flaps += int(flap)
        episode.reopened += 1
        episode.ended_at = episode.ending = None
        del self._ended[key]
        self._open[key] = episode
        return episode

    def ended(self, key: SeriesKey, cleared: bool, at: datetime) -> None:
        """A series cleared (or vanished): its incident ends with its last series."""
        episode = next((e for e in self._open.values() if key in e.series), None)
        if episode is None:
            return
        episode.series.discard(key)
        if not episode.series:
            self._end(episode, Resolution.RECOVERED if cleared else Resolution.VANISHED, at)

    def stale(
        self, at: datetime, last_seen: Callable[[SeriesKey], datetime | None]
    ) -> list[Instruction]:
        """End, as stale_resolved, every incident with no news for ``stale_after``: no new
        breach, and no reading that showed one of its series (the agent's rule)."""
        forget: list[Instruction] = []
        for episode in list(self._open.values()):
            seen = [s for k in episode.series if (s := last_seen(k)) is not None]
            news = max([episode.last_breach, *seen])
            if at - news >= self.settings.stale_after:
                self._end(episode, Resolution.STALE_RESOLVED, news + self.settings.stale_after)
                forget.extend(Forget(k) for k in sorted(episode.series))
                episode.series.clear()
        return forget

    def _end(self, episode: _Episode, how: Resolution, at: datetime) -> None:
        episode.ended_at, episode.ending = at, how
        del self._open[episode.key]
        self._ended[episode.key] = episode

    def result(self) -> tuple[WouldOpen, ...]:
        return tuple(e.frozen() for e in self.episodes)
